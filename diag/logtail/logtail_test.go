package logtail

import (
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

func TestKeepsTheLastRecordsOfASlogHandler(t *testing.T) {
	tail := New(3, 200)
	log := slog.New(slog.NewTextHandler(tail, nil))
	for i := 1; i <= 5; i++ {
		log.Info("register", "attempt", i)
	}
	lines, dropped := tail.Lines()
	if len(lines) != 3 || dropped != 2 {
		t.Fatalf("got %d lines, %d dropped; want 3 and 2:\n%s", len(lines), dropped, strings.Join(lines, "\n"))
	}
	for i, want := range []string{"attempt=3", "attempt=4", "attempt=5"} {
		if !strings.HasSuffix(lines[i], want) {
			t.Errorf("line %d = %q, want it to end with %q", i, lines[i], want)
		}
	}
	if text := tail.Text(); !strings.HasPrefix(text, "… 2 older lines not kept\n") {
		t.Errorf("Text does not say what was dropped:\n%s", text)
	}
}

func TestJoinsLinesSplitAcrossWritesAndCutsLongOnes(t *testing.T) {
	tail := New(10, 20)
	fmt.Fprint(tail, "first ha")
	fmt.Fprint(tail, "lf\nsecond\n")
	fmt.Fprintln(tail, strings.Repeat("x", 100))
	fmt.Fprint(tail, "unfinished")
	lines, _ := tail.Lines()
	if len(lines) != 3 || lines[0] != "first half" || lines[1] != "second" {
		t.Fatalf("lines = %q", lines)
	}
	if lines[2] != strings.Repeat("x", 20)+" …[cut]" {
		t.Errorf("long line = %q, want 20 bytes and a cut mark", lines[2])
	}
}

func TestEmptyTailHasNoText(t *testing.T) {
	if got := New(5, 100).Text(); got != "" {
		t.Errorf("Text() = %q, want empty", got)
	}
}
