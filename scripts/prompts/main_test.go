package main

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

func TestTextsCoverExactlyTheKeys(t *testing.T) {
	if _, err := checkedTexts(); err != nil {
		t.Fatal(err)
	}
}

// committed is where the firmware's recordings live, from this directory.
const committed = "../../firmware/prompts/data"

// Regenerating gives the same bytes: the committed recordings when this
// espeak-ng is the version that made them, and otherwise at least the same
// bytes twice. A recording that no key names any more is removed, so that
// the firmware's Load does not refuse the data.
func TestRegenerateIsDeterministic(t *testing.T) {
	if _, err := exec.LookPath("espeak-ng"); err != nil {
		t.Skip("espeak-ng is not installed (scripts/prompts.sh installs it)")
	}
	ctx := context.Background()
	g := generator{espeak: "espeak-ng", log: slog.New(slog.DiscardHandler)}
	first := t.TempDir()
	stale := filepath.Join(first, "yen.ul")
	if err := os.WriteFile(stale, []byte{1, 2}, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := g.generate(ctx, first); err != nil {
		t.Fatal(err)
	}
	want := committed
	ours, _ := os.ReadFile(filepath.Join(first, "VERSION"))
	theirs, _ := os.ReadFile(filepath.Join(committed, "VERSION"))
	if !bytes.Equal(ours, theirs) {
		t.Logf("committed recordings are from %q, this is %q: comparing two runs instead", theirs, ours)
		want = t.TempDir()
		if err := g.generate(ctx, want); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Errorf("stale yen.ul still there (%v)", err)
	}
	compareDirs(t, first, want)
}

func compareDirs(t *testing.T, got, want string) {
	t.Helper()
	wantFiles, err := filepath.Glob(filepath.Join(want, "*"))
	if err != nil {
		t.Fatal(err)
	}
	gotFiles, _ := filepath.Glob(filepath.Join(got, "*"))
	if len(gotFiles) != len(wantFiles) {
		t.Errorf("%d files generated, %d in %s", len(gotFiles), len(wantFiles), want)
	}
	for _, w := range wantFiles {
		name := filepath.Base(w)
		a, err := os.ReadFile(filepath.Join(got, name))
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		b, _ := os.ReadFile(w)
		if !bytes.Equal(a, b) {
			t.Errorf("%s differs from %s (%d bytes, want %d)", name, want, len(a), len(b))
		}
	}
}

func TestGenerateWithoutEspeak(t *testing.T) {
	g := generator{espeak: filepath.Join(t.TempDir(), "no-espeak-ng"), log: slog.New(slog.DiscardHandler)}
	err := g.generate(context.Background(), t.TempDir())
	if err == nil || !bytes.Contains([]byte(err.Error()), []byte("espeak-ng installed")) {
		t.Errorf("err = %v, want one saying espeak-ng is missing", err)
	}
}
