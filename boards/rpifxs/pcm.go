package rpifxs

import (
	"context"

	"github.com/tipring/tipring/boards"
)

// Audio format on the SLIC's PCM bus: 8 kHz, one 16-bit channel per port,
// 20 ms periods.
const (
	sampleRate  = boards.SampleRate
	framePeriod = boards.FrameSamples // frames per period
	// bufferPeriods is the kernel buffer: room for jitter in our
	// scheduling without adding more than 40 ms of latency (the prefill).
	bufferPeriods = 4
	// playbackPrefill is how far playback runs ahead of capture: two
	// periods, so that one late wake-up does not underrun.
	playbackPrefill = 2 * framePeriod
)

// PCM is the board's audio device: interleaved signed 16-bit samples, one
// channel per port. The capture side is the board's clock: Read blocks
// until a period has been captured, so frames are paced by the codec, not
// by a timer that would drift from it.
type PCM interface {
	// Read fills buf (whole frames) with captured audio, blocking until it
	// is there or ctx ends.
	Read(ctx context.Context, buf []int16) error
	// Write queues buf (whole frames) for playback.
	Write(buf []int16) error
	// Queued is how many frames wait in the playback buffer.
	Queued() (int, error)
	Close() error
}

// driftGuard keeps the playback queue near its target when the playback
// clock runs at a slightly different rate from the capture clock that
// paces the frames (separate crystals, or a device that reports its rate
// inexactly). Each period it decides how many frames to write: one period,
// one sample more when the queue runs low (the playback clock is fast and
// would underrun), one less when it grows (slow, latency would build up).
// With a single codec both clocks are one and it never acts.
//
// The far end's RTP clock is another matter: sip/media's jitter buffer
// absorbs its drift against our 20 ms frames.
type driftGuard struct {
	target int     // frames the queue should hold
	slack  int     // tolerated deviation before correcting
	avg    float64 // smoothed queue length, in frames
	primed bool
	// Inserted and Dropped count the corrections, for diagnostics.
	inserted, dropped int
}

func newDriftGuard(target int) *driftGuard {
	return &driftGuard{target: target, slack: framePeriod / 4}
}

// frames returns how many frames to write this period, given the playback
// queue measured right after the capture read.
func (g *driftGuard) frames(queued int) int {
	if !g.primed {
		g.avg, g.primed = float64(queued), true
	}
	// The measurement jitters with scheduling; a slow average follows
	// the drift (a few samples a second) and ignores the jitter.
	g.avg += (float64(queued) - g.avg) / 16
	switch {
	case g.avg < float64(g.target-g.slack):
		g.inserted++
		g.avg++ // the correction shows in the next measurements
		return framePeriod + 1
	case g.avg > float64(g.target+g.slack):
		g.dropped++
		g.avg--
		return framePeriod - 1
	}
	return framePeriod
}

// interleave writes the ports' down frames into out, which holds n frames
// of len(frames) channels. n is framePeriod±1: a longer period repeats the
// last sample, a shorter one leaves it out, one sample in 160 either way.
func interleave(out []int16, frames []boards.Frame, n int) []int16 {
	ch := len(frames)
	out = out[:n*ch]
	for i := range n {
		s := min(i, framePeriod-1)
		for c := range ch {
			out[i*ch+c] = frames[c][s]
		}
	}
	return out
}

// deinterleave splits one captured period into the ports' up frames.
func deinterleave(in []int16, frames []boards.Frame) {
	ch := len(frames)
	for i := range framePeriod {
		for c := range ch {
			frames[c][i] = in[i*ch+c]
		}
	}
}
