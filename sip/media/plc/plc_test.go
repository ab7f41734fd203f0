package plc

import (
	"math"
	"testing"
)

// voiced is a crude vowel: a 125 Hz fundamental (period 64 samples) with two
// harmonics, the kind of signal concealment is built for.
func voiced(n, from int) []int16 { return vowel(n, from, 125) }

func vowel(n, from int, f0 float64) []int16 {
	out := make([]int16, n)
	for i := range out {
		t := float64(from+i) / 8000
		v := 6000*math.Sin(2*math.Pi*f0*t) + 3000*math.Sin(2*math.Pi*2*f0*t+0.5) + 1500*math.Sin(2*math.Pi*3*f0*t+1)
		out[i] = int16(v)
	}
	return out
}

func sine(n, from int, hz, amp float64) []int16 {
	out := make([]int16, n)
	for i := range out {
		out[i] = int16(amp * math.Sin(2*math.Pi*hz*float64(from+i)/8000))
	}
	return out
}

func rms(s []int16) float64 {
	var e float64
	for _, v := range s {
		e += float64(v) * float64(v)
	}
	return math.Sqrt(e / float64(len(s)))
}

func snrDB(ref, got []int16) float64 {
	var sig, noise float64
	for i := range ref {
		sig += float64(ref[i]) * float64(ref[i])
		d := float64(ref[i]) - float64(got[i])
		noise += d * d
	}
	return 10 * math.Log10(sig/math.Max(noise, 1))
}

func TestNoHistoryConcealsSilence(t *testing.T) {
	var c Concealer
	out := make([]int16, 160)
	for i := range out {
		out[i] = 1234
	}
	c.Conceal(out)
	if r := rms(out); r != 0 {
		t.Fatalf("concealment without history has rms %.1f, want silence", r)
	}
}

func TestContinuesVoicedSignal(t *testing.T) {
	var c Concealer
	c.Good(voiced(800, 0))
	got := make([]int16, 80)
	c.Conceal(got)
	want := voiced(80, 800)
	// A periodic signal repeated at its own period is nearly its own
	// continuation; silence would score 0 dB.
	if s := snrDB(want, got); s < 15 {
		t.Fatalf("first 10 ms of concealment: SNR %.1f dB against the true continuation, want >= 15", s)
	}
	if c.pitch%64 != 0 {
		t.Errorf("pitch %d samples, want a multiple of the 64-sample period", c.pitch)
	}
}

func TestFadesToSilenceAfter60ms(t *testing.T) {
	var c Concealer
	c.Good(voiced(800, 0))
	out := make([]int16, 560)
	// Conceal in uneven pieces: the result must not depend on how the
	// jitter buffer slices the gap.
	for _, r := range [][2]int{{0, 37}, {37, 160}, {160, 333}, {333, 560}} {
		c.Conceal(out[r[0]:r[1]])
	}
	prev := math.Inf(1)
	for blk := 1; blk < 6; blk++ { // 10 ms blocks from 10 ms to 60 ms
		r := rms(out[blk*80 : (blk+1)*80])
		if r >= prev {
			t.Errorf("block %d (%d-%d ms) rms %.0f did not fall (previous %.0f)", blk, blk*10, blk*10+10, r, prev)
		}
		prev = r
	}
	if r := rms(out[:80]); r < 0.8*rms(voiced(800, 0)) {
		t.Errorf("first 10 ms attenuated to rms %.0f", r)
	}
	if r := rms(out[480:]); r != 0 {
		t.Errorf("after 60 ms rms %.1f, want silence", r)
	}
}

// maxCurve is the largest second difference in s: small for smooth audio,
// large at a click.
func maxCurve(s []int16) int {
	m := 0
	for i := 2; i < len(s); i++ {
		d := int(s[i]) - 2*int(s[i-1]) + int(s[i-2])
		if d < 0 {
			d = -d
		}
		m = max(m, d)
	}
	return m
}

func TestJoinDoesNotClick(t *testing.T) {
	// Real audio rarely resumes where the concealment's guess has got to;
	// resume at the point of a 130 Hz vowel that jumps furthest from the
	// last concealed sample, the worst case for a plain splice.
	var c Concealer
	c.Good(vowel(800, 0, 130))
	lost := make([]int16, 200)
	c.Conceal(lost)
	tail := lost[len(lost)-2:]
	var resumed []int16
	worst := -1
	for k := range 62 {
		r := vowel(160, 1000+k, 130)
		if d := abs(int(r[0]) - int(tail[1])); d > worst {
			worst, resumed = d, r
		}
	}
	raw := append(append([]int16{}, tail...), resumed...)
	joined := append(append([]int16{}, tail...), resumed...)
	c.Good(joined[2:])

	natural := maxCurve(vowel(800, 0, 130))
	if maxCurve(raw) <= 3*natural {
		t.Fatalf("test setup: the raw splice should click (curvature %d, natural %d)", maxCurve(raw), natural)
	}
	if s := maxCurve(joined); s > 2*natural {
		t.Fatalf("join has curvature %d, natural signal at most %d (raw splice %d)", s, natural, maxCurve(raw))
	}
	if c.Erasing() {
		t.Fatal("still erasing after good audio")
	}
	// The tail of the resumed audio is untouched.
	for i := 100; i < 160; i++ {
		if joined[2+i] != resumed[i] {
			t.Fatalf("sample %d after join altered: %d, want %d", i, joined[2+i], resumed[i])
		}
	}
}

func TestLoopIsContinuous(t *testing.T) {
	var c Concealer
	c.Good(vowel(800, 0, 130))
	out := make([]int16, 240)
	c.Conceal(out)
	natural := maxCurve(vowel(800, 0, 130))
	if s := maxCurve(out); s > 2*natural {
		t.Fatalf("concealment has curvature %d, natural signal at most %d", s, natural)
	}
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

func TestSlicingDoesNotMatter(t *testing.T) {
	// A jitter buffer conceals whatever runs of samples it is missing; the
	// concealment must be the same however the gap is cut up.
	var whole, sliced Concealer
	whole.Good(vowel(800, 0, 130))
	sliced.Good(vowel(800, 0, 130))
	want := make([]int16, 400)
	whole.Conceal(want)
	got := make([]int16, 400)
	for _, r := range [][2]int{{0, 75}, {75, 235}, {235, 236}, {236, 400}} {
		sliced.Conceal(got[r[0]:r[1]])
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("sample %d: %d when concealed in slices, %d in one go", i, got[i], want[i])
		}
	}
}

func TestReset(t *testing.T) {
	var c Concealer
	c.Good(voiced(800, 0))
	c.Reset()
	out := make([]int16, 160)
	c.Conceal(out)
	if r := rms(out); r != 0 {
		t.Fatalf("after Reset concealment rms %.1f, want silence", r)
	}
}

func BenchmarkConcealFrame(b *testing.B) {
	var c Concealer
	good := voiced(160, 0)
	out := make([]int16, 160)
	b.ReportAllocs()
	for b.Loop() {
		// one good frame, one lost: each iteration runs a pitch search
		c.Good(good)
		c.Conceal(out)
	}
}
