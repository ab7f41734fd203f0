package dsp

import (
	"time"

	"github.com/tipring/tipring/boards"
)

// cidRenderTone appends the whole of t, a tone that ends, rendered by
// ToneGen; exactly as many samples as its segments last.
func cidRenderTone(dst []int16, t boards.Tone) []int16 {
	var n int64
	for _, s := range t.Segments {
		n += durationSamples(s.Duration)
	}
	return appendTone(dst, t, n)
}

// cidRenderTones appends d of the sum of freqs, each at levelDBm0; no
// frequencies is silence.
func cidRenderTones(dst []int16, d time.Duration, levelDBm0 float64, freqs ...float64) []int16 {
	return cidRenderTone(dst, boards.Tone{LoopFrom: -1, Segments: []boards.Segment{{Freqs: freqs, LevelDBm0: levelDBm0, Duration: d}}})
}
