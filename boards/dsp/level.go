package dsp

import "math"

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
