package peers

import (
	"math"
	"testing"
	"time"

	"github.com/tipring/tipring/boards"
	"github.com/tipring/tipring/boards/dsp"
	"github.com/tipring/tipring/sip/media/g711"
)

// Audio here is what the telephone network carries: 8 kHz, 16-bit linear,
// mono, with levels in dBm0 as boards/dsp measures them (dsp.LevelDBm0,
// dsp.ToneLevelDBm0); WAV files are read and written by boards/sim.

// sine returns d of a sine at hz and levelDBm0, rendered as the boards
// render tones.
func sine(hz, levelDBm0 float64, d time.Duration) []int16 {
	return dsp.AppendTone(nil, boards.Tone{LoopFrom: -1, Segments: []boards.Segment{{Freqs: []float64{hz}, LevelDBm0: levelDBm0}}}, d)
}

// EncodeUlaw returns samples as G.711 μ-law bytes, the raw format SIPp's
// rtp_stream plays with payload type 0.
func EncodeUlaw(samples []int16) []byte {
	out := make([]byte, len(samples))
	g711.UlawEncodeFrame(out, samples)
	return out
}

// DecodeUlaw returns linear samples for G.711 μ-law bytes.
func DecodeUlaw(b []byte) []int16 {
	out := make([]int16, len(b))
	g711.UlawDecodeFrame(out, b)
	return out
}

// TrimSilence drops the 20 ms frames quieter than thresholdDBm0 from both
// ends of samples: the silence before a far end starts sending and after it
// stops would otherwise dilute a level measurement.
func TrimSilence(samples []int16, thresholdDBm0 float64) []int16 {
	const frame = boards.FrameSamples
	quiet := func(i int) bool { return dsp.LevelDBm0(samples[i:min(i+frame, len(samples))]) < thresholdDBm0 }
	start := 0
	for start < len(samples) && quiet(start) {
		start += frame
	}
	end := len(samples)
	for end > start {
		i := max(start, end-frame)
		if !quiet(i) {
			break
		}
		end = i
	}
	if start >= end {
		return nil
	}
	return samples[start:end]
}

// AssertTone fails the test unless audio, once trimmed of silence at its
// ends, is at least half a second of a tone at hz and about levelDBm0
// (± 3 dB: G.711 and a little jitter cost a dB or two) that is the dominant
// sound (all of the audio at most 1.5 dB louder than the tone).
func AssertTone(t testing.TB, what string, audio []int16, hz, levelDBm0 float64) {
	t.Helper()
	audio = TrimSilence(audio, -40)
	if len(audio) < boards.SampleRate/2 {
		t.Fatalf("%s: only %d samples of audio, want at least half a second", what, len(audio))
	}
	got := dsp.ToneLevelDBm0(audio, hz)
	total := dsp.LevelDBm0(audio)
	if math.Abs(got-levelDBm0) > 3 {
		t.Fatalf("%s: %v Hz at %.1f dBm0 (all audio %.1f dBm0), want %.1f dBm0 ± 3", what, hz, got, total, levelDBm0)
	}
	if total-got > 1.5 {
		t.Fatalf("%s: %v Hz is %.1f dBm0 but all audio is %.1f dBm0: something else is in there", what, hz, got, total)
	}
}
