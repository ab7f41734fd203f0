package dsp

import (
	"math"
	"testing"
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
