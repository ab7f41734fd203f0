//go:build unix

package update

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// LockFile guards installs across processes: the running firmware (an
// upload, a pull) and `tipring update --offline` must not write a slot at
// the same time.
const LockFile = "update.lock"

// lock takes the install lock, or fails at once naming the reason.
func lock(dataDir string) (unlock func(), err error) {
	if err := os.MkdirAll(dataDir, 0o755); err != nil {
		return nil, fmt.Errorf("update: %w", err)
	}
	f, err := os.OpenFile(filepath.Join(dataDir, LockFile), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("update: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, errors.New("update refused: another update is being installed on this device right now")
		}
		return nil, fmt.Errorf("update: lock: %w", err)
	}
	return func() { f.Close() }, nil
}
