package dsp

import (
	"math"
	"testing"
	"time"

	"github.com/tipring/tipring/boards"
	"github.com/tipring/tipring/boards/region"
)

const tms = time.Millisecond

func sigRMS(x []int16) float64 {
	var s float64
	for _, v := range x {
		s += float64(v) * float64(v)
	}
	return math.Sqrt(s / float64(len(x)))
}

func TestToneGenLevelAndFrequency(t *testing.T) {
	tone := boards.Tone{Segments: []boards.Segment{{Freqs: []float64{1004}, LevelDBm0: -10}}, LoopFrom: -1}
	x := AppendTone(nil, tone, time.Second)
	if l := LevelDBm0(x); math.Abs(l+10) > 0.02 {
		t.Errorf("level %.3f dBm0, want -10", l)
	}
	// Count rising zero crossings over a second.
	n := 0
	for i := 1; i < len(x); i++ {
		if x[i-1] < 0 && x[i] >= 0 {
			n++
		}
	}
	if n < 1003 || n > 1005 {
		t.Errorf("%d cycles in a second, want 1004", n)
	}
}

// TestToneGenPhaseContinuous: rendering frame by frame gives exactly the
// sine computed in one go (within rounding), so no frame boundary clicks.
func TestToneGenPhaseContinuous(t *testing.T) {
	tone := boards.Tone{Segments: []boards.Segment{{Freqs: []float64{350, 440}, LevelDBm0: -13}}, LoopFrom: -1}
	x := AppendTone(nil, tone, 10*time.Second)
	a := AmplitudeForDBm0(-13)
	for i, v := range x {
		ph := 2 * math.Pi * float64(i) / boards.SampleRate
		want := a * (math.Sin(350*ph) + math.Sin(440*ph))
		if math.Abs(float64(v)-want) > 1.5 {
			t.Fatalf("sample %d = %d, want %.1f", i, v, want)
		}
	}
}

func TestToneGenSegmentChangeWithoutClick(t *testing.T) {
	tone := boards.Tone{LoopFrom: 0, Segments: []boards.Segment{
		{Freqs: []float64{913.8}, LevelDBm0: -10, Duration: 13 * tms},
		{Freqs: []float64{1370.6}, LevelDBm0: -10, Duration: 7 * tms},
		{Freqs: []float64{1776.7}, LevelDBm0: -10, Duration: 11 * tms},
	}}
	x := AppendTone(nil, tone, time.Second)
	a := AmplitudeForDBm0(-10)
	// The largest step of a sine of amplitude a at 1776.7 Hz.
	maxStep := a*2*math.Sin(math.Pi*1776.7/boards.SampleRate) + 2
	for i := 1; i < len(x); i++ {
		if d := math.Abs(float64(x[i]) - float64(x[i-1])); d > maxStep {
			t.Fatalf("step of %v at sample %d, want at most %.0f", d, i, maxStep)
		}
	}
}

func TestToneGenCadenceIsSampleExact(t *testing.T) {
	us, err := region.Lookup("us")
	if err != nil {
		t.Fatal(err)
	}
	// Reorder: 250 ms on, 250 ms off, looping: 2000 samples each.
	x := AppendTone(nil, us.Reorder, 3*time.Second)
	for p := 0; p+4000 <= len(x); p += 4000 {
		on := x[p : p+2000]
		off := x[p+2000 : p+4000]
		if sigRMS(on[:40]) == 0 || sigRMS(on[len(on)-40:]) == 0 {
			t.Fatalf("period at %d: tone missing at the edges of its 250 ms", p)
		}
		if sigRMS(off) != 0 {
			t.Fatalf("period at %d: sound during the 250 ms off", p)
		}
	}
}

func TestToneGenLoopFrom(t *testing.T) {
	tone := boards.Tone{LoopFrom: 1, Segments: []boards.Segment{
		{Freqs: []float64{1000}, LevelDBm0: -10, Duration: 30 * tms}, // once
		{Duration: 10 * tms},
		{Freqs: []float64{2000}, LevelDBm0: -10, Duration: 10 * tms},
	}}
	x := AppendTone(nil, tone, 110*tms)
	seg := func(ms0, ms1 int) []int16 { return x[ms0*8 : ms1*8] }
	if sigRMS(seg(0, 30)) == 0 || sigRMS(seg(30, 40)) != 0 || sigRMS(seg(40, 50)) == 0 ||
		sigRMS(seg(50, 60)) != 0 || sigRMS(seg(60, 70)) == 0 || sigRMS(seg(70, 80)) != 0 {
		t.Error("the first segment is not played once followed by the loop of the other two")
	}
}

func TestToneGenDone(t *testing.T) {
	for _, c := range []struct {
		name       string
		tone       boards.Tone
		doneFrame  int // index of the first frame reporting done
		soundUntil int // samples of sound (incl. silence segments) before zeros
	}{
		{"ends on a frame boundary", DTMFTone('5', 60*tms, 20*tms, -10), 3, 480}, // 80 ms: done with the 4th frame
		{"ends inside a frame", DTMFTone('5', 70*tms, 0, -10), 3, 560},
		{"empty", boards.Tone{LoopFrom: -1}, 0, 0},
		{"bad LoopFrom ends", boards.Tone{LoopFrom: 7, Segments: []boards.Segment{{Freqs: []float64{500}, Duration: 30 * tms}}}, 1, 240},
	} {
		t.Run(c.name, func(t *testing.T) {
			g := NewToneGen(c.tone)
			var all []int16
			for i := range 6 {
				var f boards.Frame
				for j := range f {
					f[j] = 1234 // Fill must overwrite
				}
				done := g.Fill(&f)
				if done != (i >= c.doneFrame) {
					t.Fatalf("frame %d: done = %v", i, done)
				}
				all = append(all, f[:]...)
			}
			if c.soundUntil > 0 && sigRMS(all[:c.soundUntil-160]) == 0 {
				t.Errorf("no sound before sample %d", c.soundUntil)
			}
			for i, v := range all[c.soundUntil:] {
				if v != 0 {
					t.Fatalf("sample %d = %d after the tone ended", c.soundUntil+i, v)
				}
			}
		})
	}
}

func TestToneGenModulated(t *testing.T) {
	// 400 Hz modulated at 25 Hz: silent at the envelope's troughs (every
	// 40 ms from the start), full amplitude at its crests.
	tone := boards.Tone{LoopFrom: -1, Segments: []boards.Segment{{Freqs: []float64{400}, LevelDBm0: -10, ModulateHz: 25}}}
	x := AppendTone(nil, tone, 400*tms)
	a := AmplitudeForDBm0(-10)
	peak := func(c int) float64 {
		var m float64
		for _, v := range x[max(0, c-10):min(len(x), c+10)] {
			m = max(m, math.Abs(float64(v)))
		}
		return m
	}
	for k := 1; k < 9; k++ {
		if p := peak(k * 320); p > 0.01*a {
			t.Errorf("trough at %d ms: peak %.0f, want near 0", k*40, p)
		}
		if p := peak(k*320 + 160); p < 0.95*a {
			t.Errorf("crest at %d ms: peak %.0f, want about %.0f", k*40+20, p, a)
		}
	}
}

func TestToneGenClipsInsteadOfWrapping(t *testing.T) {
	tone := boards.Tone{LoopFrom: -1, Segments: []boards.Segment{{Freqs: []float64{500, 500}, LevelDBm0: 0}}}
	x := AppendTone(nil, tone, 20*tms)
	// 500 Hz is 16 samples per cycle: sample 4 is the crest, 12 the trough.
	if x[4] != 32767 || x[12] != -32768 {
		t.Errorf("crest %d, trough %d: want clipped to full scale", x[4], x[12])
	}
}

func TestToneGenOddInput(t *testing.T) {
	tone := boards.Tone{LoopFrom: 0, Segments: []boards.Segment{
		{Freqs: []float64{math.NaN(), math.Inf(1), 700}, LevelDBm0: -10, Duration: -5 * tms}, // skipped
		{Freqs: []float64{800, math.NaN()}, LevelDBm0: math.Inf(1), Duration: time.Nanosecond},
		{Freqs: []float64{900}, LevelDBm0: -10, Duration: time.Nanosecond, ModulateHz: math.NaN()},
	}}
	g := NewToneGen(tone)
	var f boards.Frame
	for range 10 {
		if g.Fill(&f) {
			t.Fatal("a looping tone reported done")
		}
	}
}

func TestToneGenNoAllocation(t *testing.T) {
	uk, _ := region.Lookup("uk")
	g := NewToneGen(uk.Ringback)
	var f boards.Frame
	if n := testing.AllocsPerRun(100, func() { g.Fill(&f) }); n != 0 {
		t.Errorf("Fill allocates %v times per frame", n)
	}
	if n := testing.AllocsPerRun(100, func() { g.Reset(uk.Busy); g.Reset(uk.Ringback) }); n != 0 {
		t.Errorf("Reset to a tone no bigger than before allocates %v times", n)
	}
}

func BenchmarkToneGenFill(b *testing.B) {
	us, _ := region.Lookup("us")
	g := NewToneGen(us.Dial)
	var f boards.Frame
	b.ReportAllocs()
	for b.Loop() {
		g.Fill(&f)
	}
}

func TestAppendToneIsToneGen(t *testing.T) {
	us, err := region.Lookup("us")
	if err != nil {
		t.Fatal(err)
	}
	busy := us.Busy
	var want []int16
	g := NewToneGen(busy)
	var f boards.Frame
	for range 62 {
		g.Fill(&f)
		want = append(want, f[:]...)
	}
	head := []int16{7, 8}
	got := AppendTone(head, busy, 1234567*time.Microsecond) // 9876.5 samples: rounds up
	if len(got) != 2+9877 || got[0] != 7 || got[1] != 8 {
		t.Fatalf("appended %d samples after %v, want 9877 after [7 8]", len(got)-2, got[:2])
	}
	for i, v := range got[2:] {
		if v != want[i] {
			t.Fatalf("sample %d: %d, ToneGen gives %d", i, v, want[i])
		}
	}
	// A tone that ends is followed by silence.
	beep := boards.Tone{LoopFrom: -1, Segments: []boards.Segment{{Freqs: []float64{1000}, LevelDBm0: -10, Duration: 10 * tms}}}
	x := AppendTone(nil, beep, 30*tms)
	if len(x) != 240 || sigRMS(x[:80]) == 0 || sigRMS(x[80:]) != 0 {
		t.Errorf("10 ms beep in 30 ms: %d samples, sound %v then %v", len(x), sigRMS(x[:80]), sigRMS(x[80:]))
	}
	for _, d := range []time.Duration{0, -time.Second, 62 * time.Microsecond} {
		if got := AppendTone(head, busy, d); len(got) != 2 {
			t.Errorf("AppendTone for %v appended %d samples", d, len(got)-2)
		}
	}
}
