package update

import (
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/tipring/tipring/internal/durable"
)

// The two slots.
const (
	SlotA = "a"
	SlotB = "b"
)

// Slots is where images are installed. The sim board's slots are two
// directories (DirSlots). A real board with raw A/B partitions implements
// the same calls over a filesystem it formats in the partition, and keeps
// the boot pointer and counter where its bootloader reads them (U-Boot's
// environment: bootcount, bootlimit, upgrade_available, with altbootcmd
// booting the other slot), with the boot state file mirroring them.
type Slots interface {
	// Clear empties a slot.
	Clear(slot string) error
	// Create creates a file in a slot, with its parent directories; Close
	// makes its content durable.
	Create(slot, path string, mode fs.FileMode) (io.WriteCloser, error)
	// Sync makes the slot's directory entries durable.
	Sync(slot string) error
	// Open reads a file of a slot.
	Open(slot, path string) (io.ReadCloser, error)
	// Dir is the slot's directory, from which its firmware runs.
	Dir(slot string) string
}

// DirSlots are slots as directories: A and B relative to Root.
type DirSlots struct {
	Root string
	A, B string
}

// NewDirSlots returns the sim board's layout: dataDir/slots/a and /b
// (boards/sim/board.toml's storage).
func NewDirSlots(dataDir string) DirSlots {
	return DirSlots{Root: dataDir, A: "slots/a", B: "slots/b"}
}

// Dir implements Slots.
func (s DirSlots) Dir(slot string) string {
	if slot == SlotA {
		return filepath.Join(s.Root, s.A)
	}
	return filepath.Join(s.Root, s.B)
}

// Clear implements Slots.
func (s DirSlots) Clear(slot string) error {
	dir := s.Dir(slot)
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("clear slot %s: %w", slot, err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("clear slot %s: %w", slot, err)
	}
	return durable.SyncDir(filepath.Dir(dir))
}

// Create implements Slots.
func (s DirSlots) Create(slot, path string, mode fs.FileMode) (io.WriteCloser, error) {
	full := filepath.Join(s.Dir(slot), filepath.FromSlash(path))
	if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
		return nil, fmt.Errorf("slot %s: %w", slot, err)
	}
	f, err := os.OpenFile(full, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode.Perm())
	if err != nil {
		return nil, fmt.Errorf("slot %s: %w", slot, err)
	}
	return syncedFile{f}, nil
}

// syncedFile syncs on Close: a file of a slot is durable before the slot
// is marked ready.
type syncedFile struct{ *os.File }

func (f syncedFile) Close() error {
	if err := f.File.Sync(); err != nil {
		f.File.Close()
		return fmt.Errorf("sync %s: %w", f.Name(), err)
	}
	return f.File.Close()
}

// Sync implements Slots: every directory of the slot, and the one holding
// it.
func (s DirSlots) Sync(slot string) error {
	dir := s.Dir(slot)
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			return durable.SyncDir(p)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("slot %s: %w", slot, err)
	}
	return durable.SyncDir(filepath.Dir(dir))
}

// Open implements Slots.
func (s DirSlots) Open(slot, path string) (io.ReadCloser, error) {
	return os.Open(filepath.Join(s.Dir(slot), filepath.FromSlash(path)))
}
