package update

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzBootState: whatever the boot state file holds (a damaged flash, a
// hand edit), boot either refuses with an error or picks slot a or b.
func FuzzBootState(f *testing.F) {
	f.Add([]byte(`{"active":"a","trial":"b","tries":2,"slots":{"a":{"state":"ready","version":"1.0.0"},"b":{"state":"ready","version":"1.1.0"}}}`))
	f.Add([]byte(`{"active":"c"}`))
	f.Add([]byte(`{"active":"a","tries":-5,"trial":"a"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, StateFile), data, 0o644); err != nil {
			t.Fatal(err)
		}
		u, err := New(Options{DataDir: dir})
		if err != nil {
			t.Fatal(err)
		}
		c, err := u.Boot(3)
		if err == nil && c.Slot != SlotA && c.Slot != SlotB {
			t.Fatalf("boot chose slot %q", c.Slot)
		}
	})
}
