// Package logtail keeps the last lines the firmware logged, for the
// diagnostics bundle's log.txt: a device has no log files to rotate, and
// support wants the minutes before the problem, not the whole history.
package logtail

import (
	"bytes"
	"strconv"
	"strings"
	"sync"
)

// Tail is an io.Writer that keeps the most recent lines written to it. A
// slog text or JSON handler writes one record per Write, so a line is a
// record. It is safe for concurrent use.
type Tail struct {
	mu      sync.Mutex
	lines   []string // ring of the last max lines
	next    int      // where the next line goes
	full    bool
	partial []byte // a line not yet ended by a newline
	maxLine int
	dropped int // lines pushed out of the ring
}

// New returns a Tail keeping up to n lines of up to maxLine bytes each
// (longer lines are cut and marked), so its memory is bounded.
func New(n, maxLine int) *Tail {
	return &Tail{lines: make([]string, max(n, 1)), maxLine: max(maxLine, 16)}
}

// Write implements io.Writer; it never fails.
func (t *Tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	rest := p
	for len(rest) > 0 {
		i := bytes.IndexByte(rest, '\n')
		if i < 0 {
			if room := t.maxLine + 1 - len(t.partial); room > 0 {
				t.partial = append(t.partial, rest[:min(len(rest), room)]...)
			}
			break
		}
		line := rest[:i]
		if len(t.partial) > 0 {
			line = append(t.partial, line...)
			t.partial = t.partial[:0]
		}
		t.add(line)
		rest = rest[i+1:]
	}
	return len(p), nil
}

func (t *Tail) add(line []byte) {
	s := string(line)
	if len(s) > t.maxLine {
		s = s[:t.maxLine] + " …[cut]"
	}
	if t.full {
		t.dropped++
	}
	t.lines[t.next] = s
	t.next++
	if t.next == len(t.lines) {
		t.next, t.full = 0, true
	}
}

// Lines returns the kept lines, oldest first, and how many older lines
// were dropped.
func (t *Tail) Lines() (lines []string, dropped int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.full {
		lines = append(lines, t.lines[t.next:]...)
	}
	lines = append(lines, t.lines[:t.next]...)
	return lines, t.dropped
}

// Text is the kept lines as one text, with a first line saying how many
// older lines are missing, if any.
func (t *Tail) Text() string {
	lines, dropped := t.Lines()
	var sb strings.Builder
	if dropped > 0 {
		sb.WriteString("… ")
		sb.WriteString(strconv.Itoa(dropped))
		sb.WriteString(" older lines not kept\n")
	}
	for _, l := range lines {
		sb.WriteString(l)
		sb.WriteByte('\n')
	}
	return sb.String()
}
