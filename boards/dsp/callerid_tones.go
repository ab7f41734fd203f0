package dsp

import (
	"slices"
	"time"

	"github.com/tipring/tipring/boards"
)

// cidDurationSamples is d in samples, rounded as ToneGen rounds segments.
func cidDurationSamples(d time.Duration) int {
	return int((d*boards.SampleRate + time.Second/2) / time.Second)
}

// cidRenderTone appends the whole of t, a tone that ends, rendered by
// ToneGen; exactly as many samples as its segments last.
func cidRenderTone(dst []int16, t boards.Tone) []int16 {
	n := 0
	for _, s := range t.Segments {
		n += cidDurationSamples(s.Duration)
	}
	dst = slices.Grow(dst, n)
	g := NewToneGen(t)
	var f boards.Frame
	for n > 0 {
		g.Fill(&f)
		k := min(n, len(f))
		dst = append(dst, f[:k]...)
		n -= k
	}
	return dst
}

// cidRenderTones appends d of the sum of freqs, each at levelDBm0; no
// frequencies is silence.
func cidRenderTones(dst []int16, d time.Duration, levelDBm0 float64, freqs ...float64) []int16 {
	return cidRenderTone(dst, boards.Tone{LoopFrom: -1, Segments: []boards.Segment{{Freqs: freqs, LevelDBm0: levelDBm0, Duration: d}}})
}
