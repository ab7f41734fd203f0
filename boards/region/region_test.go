package region

import (
	"math"
	"strings"
	"testing"
	"time"
)

func TestLookup(t *testing.T) {
	for _, code := range Codes() {
		r, err := Lookup(strings.ToUpper(code))
		if err != nil || r.Code != code {
			t.Fatalf("Lookup(%q) = %v, %v", code, r, err)
		}
	}
	if _, err := Lookup("mars"); err == nil || !strings.Contains(err.Error(), "us") {
		t.Fatalf("unknown region error should list the known ones: %v", err)
	}
	a, _ := Lookup("us")
	b, _ := Lookup("us")
	a.Dial.Segments[0].Freqs[0] = 1
	if b.Dial.Segments[0].Freqs[0] == 1 {
		t.Fatal("regions share mutable tone data")
	}
}

// Every tone is playable as written: one-shot tones end, tones that loop
// have a cadence, and no tone clips the 16-bit line.
func TestTonesAreWellFormed(t *testing.T) {
	for _, code := range Codes() {
		r, _ := Lookup(code)
		for _, tone := range r.Tones() {
			if tone.Name == "" || len(tone.Segments) == 0 {
				t.Errorf("%s: unnamed or empty tone %+v", code, tone)
			}
			if tone.LoopFrom >= len(tone.Segments) {
				t.Errorf("%s %s: LoopFrom %d past the end", code, tone.Name, tone.LoopFrom)
			}
			for i, s := range tone.Segments {
				if s.Duration == 0 && i != len(tone.Segments)-1 {
					t.Errorf("%s %s: segment %d lasts forever but is not the last", code, tone.Name, i)
				}
				// Peak of the sum of the components at their level, as a
				// fraction of full scale (+3.17 dBm0 is a full-scale sine).
				peak := float64(len(s.Freqs)) * math.Pow(10, (s.LevelDBm0-3.17)/20)
				if peak > 1 {
					t.Errorf("%s %s: segment %d would clip (peak %.2f of full scale)", code, tone.Name, i, peak)
				}
			}
		}
		if r.SIT.Continuous() {
			t.Errorf("%s: the SIT must end so reorder can follow it", code)
		}
		if r.Dial.Continuous() != true || r.Ring.Period() < 3*time.Second {
			t.Errorf("%s: dial tone must be steady and the ring cadence a real one", code)
		}
		if len(r.Emergency) == 0 || r.DialPlan == "" {
			t.Errorf("%s: no emergency numbers or dial plan", code)
		}
	}
}
