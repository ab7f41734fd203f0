package dsp

import (
	"math"

	"github.com/tipring/tipring/boards"
)

// Levels follow ITU-T G.711: a sine of peak amplitude 32767 (full scale) is
// +3.17 dBm0, so 0 dBm0 is a sine of peak amplitude about 22 750.
const (
	fullScale      = 32767.0
	fullScaleDBm0  = 3.17
	sineRMSPerPeak = math.Sqrt2 / 2
)

// FloorDBm0 is the level reported for silence, instead of minus infinity,
// so that levels stay ordinary numbers (JSON has no infinities). It is below
// the level of any audio that holds a single non-zero sample per second.
const FloorDBm0 = -99.0

// AmplitudeForDBm0 is the peak amplitude, in int16 sample units, of a sine
// at the given level.
func AmplitudeForDBm0(dbm0 float64) float64 {
	return fullScale * math.Pow(10, (dbm0-fullScaleDBm0)/20)
}

// DBm0 is the level of audio whose int16 samples have the given RMS value:
// the level of the sine with that RMS (a sine's RMS is its amplitude / √2).
// It never goes below FloorDBm0.
func DBm0(rms float64) float64 {
	return amplitudeDBm0(rms / sineRMSPerPeak)
}

// amplitudeDBm0 is the inverse of AmplitudeForDBm0, floored at FloorDBm0.
func amplitudeDBm0(amp float64) float64 {
	if !(amp > 0) { // also catches NaN
		return FloorDBm0
	}
	return max(FloorDBm0, 20*math.Log10(amp/fullScale)+fullScaleDBm0)
}

// powerDBm0 is the level of audio whose mean square sample value is ms.
func powerDBm0(ms float64) float64 {
	if !(ms > 0) {
		return FloorDBm0
	}
	return DBm0(math.Sqrt(ms))
}

// LevelDBm0 is the level of samples, in dBm0: the level of the sine with
// the same power (their RMS level, as DBm0 defines it). Silence, and no
// samples at all, measure FloorDBm0.
func LevelDBm0(samples []int16) float64 {
	if len(samples) == 0 {
		return FloorDBm0
	}
	var sum float64
	for _, s := range samples {
		sum += float64(s) * float64(s)
	}
	return powerDBm0(sum / float64(len(samples)))
}

// ToneLevelDBm0 is the level, in dBm0, of the component of samples at
// exactly hz (0 < hz < 4000): the amplitude of their correlation with a
// sine and cosine at hz over all of samples, every sample weighted alike
// (one term of a DFT without a window). It is a yardstick for audio whose
// frequency is known — it tells 1004 Hz from 800 Hz, and a tone a few
// hertz away measures far lower over a second — not a way to find an
// unknown one (Listener does that). Because every sample counts alike, a
// tone present in half of samples measures 6 dB below its level, and a dip
// anywhere in a block lowers the block's measure. Silence, and no samples
// at all, measure FloorDBm0.
func ToneLevelDBm0(samples []int16, hz float64) float64 {
	if len(samples) == 0 {
		return FloorDBm0
	}
	inc := phasorFor(hz)
	p := phasor{1, 0}
	var re, im float64
	for i, s := range samples {
		re += float64(s) * p.re
		im += float64(s) * p.im
		p = p.mul(inc)
		if i%boards.FrameSamples == boards.FrameSamples-1 {
			p = p.normalized()
		}
	}
	return amplitudeDBm0(2 * math.Hypot(re, im) / float64(len(samples)))
}

// saturate rounds v to the nearest int16, clipping as a codec would.
func saturate(v float64) int16 {
	switch {
	case v >= 32767:
		return 32767
	case v <= -32768:
		return -32768
	case v != v: // NaN
		return 0
	}
	return int16(math.Round(v))
}
