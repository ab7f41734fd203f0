// Package durable writes files so that they survive a power cut: a device
// loses power without warning, and a half-written boot state or
// configuration must never be what it finds when it comes back.
package durable

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// WriteFile replaces the file at path with data so that a power cut leaves
// either the old file or the new one, never a mix or an empty file: a
// temporary file in the same directory (so the rename stays on one file
// system), synced, renamed over path, and the directory synced so the
// rename itself is on the medium. The directory is created if missing.
// The file gets mode perm, whatever the umask.
func WriteFile(path string, data []byte, perm os.FileMode) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".new-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	_, werr := f.Write(data)
	merr := f.Chmod(perm)
	serr := f.Sync()
	cerr := f.Close()
	if err := errors.Join(werr, merr, serr, cerr); err != nil {
		_ = os.Remove(tmp)
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		_ = os.Remove(tmp)
		return err
	}
	return SyncDir(dir)
}

// SyncDir makes the creations, renames and removals in dir durable: they
// live in the directory's own blocks, which syncing a file does not write.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	serr := d.Sync()
	cerr := d.Close()
	if err := errors.Join(serr, cerr); err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	return nil
}
