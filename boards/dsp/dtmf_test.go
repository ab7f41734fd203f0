package dsp

import (
	"strings"
	"testing"
	"time"

	"github.com/tipring/tipring/boards"
)

func TestDTMFFreqs(t *testing.T) {
	for _, c := range []struct {
		d      byte
		lo, hi float64
	}{{'1', 697, 1209}, {'5', 770, 1336}, {'9', 852, 1477}, {'0', 941, 1336}, {'*', 941, 1209}, {'#', 941, 1477}, {'D', 941, 1633}, {'a', 697, 1633}} {
		lo, hi, ok := DTMFFreqs(c.d)
		if !ok || lo != c.lo || hi != c.hi {
			t.Errorf("DTMFFreqs(%q) = %v, %v, %v", c.d, lo, hi, ok)
		}
	}
	for _, d := range []byte{'E', 'e', ' ', 0, 'x', ','} {
		if _, _, ok := DTMFFreqs(d); ok {
			t.Errorf("DTMFFreqs(%q) accepted", d)
		}
	}
}

func TestDTMFStringErrors(t *testing.T) {
	for _, c := range []struct {
		digits  string
		on, off time.Duration
		want    string
	}{
		{"12x4", 50 * tms, 50 * tms, `character 'x' at position 3`},
		{"", 50 * tms, 50 * tms, "no digits"},
		{"1", 0, 50 * tms, "not positive"},
		{"1", 50 * tms, -1, "negative"},
	} {
		_, err := DTMFString(c.digits, c.on, c.off, -10)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("DTMFString(%q, %v, %v): error %v, want one naming %q", c.digits, c.on, c.off, err, c.want)
		}
	}
	tone, err := DTMFString("1#", 50*tms, 30*tms, -7)
	if err != nil || len(tone.Segments) != 4 || tone.LoopFrom != -1 || tone.Continuous() {
		t.Fatalf("DTMFString(1#) = %+v, %v", tone, err)
	}
	if s := tone.Segments[2]; s.Duration != 50*tms || s.LevelDBm0 != -7 || s.Freqs[0] != 941 || s.Freqs[1] != 1477 {
		t.Errorf("segment for # = %+v", s)
	}
}

func TestDTMFTone(t *testing.T) {
	tone := DTMFTone('7', 80*time.Millisecond, 70*time.Millisecond, -8)
	if len(tone.Segments) != 2 || tone.LoopFrom != -1 || tone.Continuous() {
		t.Fatalf("DTMFTone(7) = %+v", tone)
	}
	if s := tone.Segments[0]; s.Duration != 80*time.Millisecond || s.LevelDBm0 != -8 || s.Freqs[0] != 852 || s.Freqs[1] != 1209 {
		t.Errorf("digit segment %+v", s)
	}
	// Mistakes give silence of the same length, never a tone that lasts
	// for ever (a zero Duration would).
	for _, tone := range []boards.Tone{DTMFTone('x', 50*time.Millisecond, 50*time.Millisecond, -8), DTMFTone('1', 0, 0, -8), DTMFTone('1', 50*time.Millisecond, 0, -8)} {
		if tone.Continuous() {
			t.Errorf("%+v never ends", tone)
		}
		for _, s := range tone.Segments {
			if s.Duration <= 0 || (len(s.Freqs) > 0 && s.Freqs[0] == 0) {
				t.Errorf("%+v has a bad segment", tone)
			}
		}
	}
	if s := DTMFTone('x', 50*time.Millisecond, 0, -8).Segments; len(s) != 1 || len(s[0].Freqs) != 0 {
		t.Errorf("unknown digit: %+v, want one silent segment", s)
	}
}
