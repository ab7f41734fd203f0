package dsp

import (
	"math"
	"testing"
	"time"

	"github.com/tipring/tipring/boards"
)

func TestLevelConversions(t *testing.T) {
	if a := AmplitudeForDBm0(3.17); math.Abs(a-32767) > 0.01 {
		t.Errorf("AmplitudeForDBm0(3.17) = %v, want full scale", a)
	}
	if a := AmplitudeForDBm0(0); math.Abs(a-22750) > 5 {
		t.Errorf("AmplitudeForDBm0(0) = %v, want about 22750", a)
	}
	for _, l := range []float64{0, -10, -13, -24.5, -60} {
		if got := DBm0(AmplitudeForDBm0(l) / math.Sqrt2); math.Abs(got-l) > 1e-9 {
			t.Errorf("DBm0(rms of a %v dBm0 sine) = %v", l, got)
		}
	}
	for _, rms := range []float64{0, -1, math.NaN(), 1e-9} {
		if got := DBm0(rms); got != FloorDBm0 {
			t.Errorf("DBm0(%v) = %v, want the floor %v", rms, got, FloorDBm0)
		}
	}
}

// sine is d of hz at levelDBm0, as the boards play it.
func sine(hz, levelDBm0 float64, d time.Duration) []int16 {
	return AppendTone(nil, boards.Tone{LoopFrom: -1, Segments: []boards.Segment{{Freqs: []float64{hz}, LevelDBm0: levelDBm0}}}, d)
}

func TestLevelDBm0(t *testing.T) {
	for _, l := range []float64{-10, -30, -55} {
		if got := LevelDBm0(sine(1004, l, time.Second)); math.Abs(got-l) > 0.1 {
			t.Errorf("%v dBm0 sine measures %.2f dBm0", l, got)
		}
	}
	// Full scale is +3.17 dBm0 (G.711).
	if got := LevelDBm0(sine(1000, 3.17, time.Second)); math.Abs(got-3.17) > 0.05 {
		t.Errorf("full-scale sine %.2f dBm0, want 3.17", got)
	}
	// Two tones at -13 dBm0 each carry twice the power of one: -10 dBm0.
	two := AppendTone(nil, boards.Tone{LoopFrom: -1, Segments: []boards.Segment{{Freqs: []float64{350, 440}, LevelDBm0: -13}}}, time.Second)
	if got := LevelDBm0(two); math.Abs(got+9.99) > 0.1 {
		t.Errorf("350+440 Hz at -13 dBm0 each: %.2f dBm0, want -10", got)
	}
	// Half a second of tone in a second of audio: 3 dB down in power.
	half := append(sine(1004, -10, 500*time.Millisecond), make([]int16, 4000)...)
	if got := LevelDBm0(half); math.Abs(got+13.01) > 0.1 {
		t.Errorf("tone in half the samples: %.2f dBm0, want -13", got)
	}
	for name, x := range map[string][]int16{"nil": nil, "zeros": make([]int16, 800)} {
		if got := LevelDBm0(x); got != FloorDBm0 {
			t.Errorf("%s measures %v, want the floor %v", name, got, FloorDBm0)
		}
	}
}

func TestToneLevelDBm0(t *testing.T) {
	tone := sine(1004, -10, time.Second)
	if got := ToneLevelDBm0(tone, 1004); math.Abs(got+10) > 0.1 {
		t.Errorf("1004 Hz component %.2f dBm0, want -10", got)
	}
	for _, hz := range []float64{800, 1000, 2008} {
		if got := ToneLevelDBm0(tone, hz); got > -40 {
			t.Errorf("%v Hz measured %.1f dBm0 in a 1004 Hz tone, want below -40", hz, got)
		}
	}
	// In a mixture each component measures at its own level.
	mix := AppendTone(nil, boards.Tone{LoopFrom: -1, Segments: []boards.Segment{{Freqs: []float64{697, 1209}, LevelDBm0: -7}}}, 100*time.Millisecond)
	for _, hz := range []float64{697, 1209} {
		if got := ToneLevelDBm0(mix, hz); math.Abs(got+7) > 0.3 {
			t.Errorf("%v Hz of DTMF '1' at %.2f dBm0, want -7", hz, got)
		}
	}
	// Every sample counts alike: a tone in half of the block is 6 dB down,
	// wherever in the block it is.
	gap := make([]int16, 4000)
	early := append(sine(1004, -10, 500*time.Millisecond), gap...)
	late := append(gap, sine(1004, -10, 500*time.Millisecond)...)
	for name, x := range map[string][]int16{"first half": early, "second half": late} {
		if got := ToneLevelDBm0(x, 1004); math.Abs(got+16.02) > 0.1 {
			t.Errorf("tone in the %s: %.2f dBm0, want -16", name, got)
		}
	}
	// A long block stays accurate (the reference phasor does not drift).
	if got := ToneLevelDBm0(sine(3400, -20, 20*time.Second), 3400); math.Abs(got+20) > 0.05 {
		t.Errorf("20 s of 3400 Hz at %.3f dBm0, want -20", got)
	}
	for name, x := range map[string][]int16{"nil": nil, "zeros": make([]int16, 800)} {
		if got := ToneLevelDBm0(x, 1004); got != FloorDBm0 {
			t.Errorf("%s measures %v, want the floor %v", name, got, FloorDBm0)
		}
	}
}
