package main

import (
	"math"
	"testing"

	"github.com/tipring/tipring/boards/dsp"
)

// tone is seconds of a sine at hz and the given level, sampled at rate.
func tone(rate int, hz, dbm0, seconds float64) []float64 {
	a := dsp.AmplitudeForDBm0(dbm0)
	x := make([]float64, int(float64(rate)*seconds))
	for i := range x {
		x[i] = a * math.Sin(2*math.Pi*hz*float64(i)/float64(rate))
	}
	return x
}

// resampledMiddle resamples 1.5 s of a 0 dBm0 tone to 8 kHz and returns the
// middle second, away from the filter's start and end.
func resampledMiddle(t *testing.T, inRate int, hz float64) []int16 {
	t.Helper()
	r, err := newResampler(inRate, 8000)
	if err != nil {
		t.Fatal(err)
	}
	y := r.resample(tone(inRate, hz, 0, 1.5))
	if want := 12000; len(y) != want {
		t.Fatalf("%d Hz → 8000 Hz: 1.5 s gave %d samples, want %d", inRate, len(y), want)
	}
	return quantize(y[2000:10000], 1)
}

// Speech in the telephone band comes through at its level and frequency.
func TestResamplePassBand(t *testing.T) {
	for _, rate := range []int{22050, 16000, 44100, 48000} {
		for _, c := range []struct{ hz, tolDB float64 }{{300, 0.1}, {1000, 0.1}, {3000, 0.1}, {3400, 0.5}} {
			y := resampledMiddle(t, rate, c.hz)
			at := dsp.ToneLevelDBm0(y, c.hz)
			total := dsp.LevelDBm0(y)
			if math.Abs(at) > c.tolDB {
				t.Errorf("%d Hz: a 0 dBm0 tone at %.0f Hz comes out at %.2f dBm0 (tolerance %.1f dB)", rate, c.hz, at, c.tolDB)
			}
			// Nothing but the tone: no alias, no other frequency.
			if total-at > 0.05 {
				t.Errorf("%d Hz: tone at %.0f Hz: %.2f dBm0 in all, %.2f at the tone", rate, c.hz, total, at)
			}
		}
	}
}

// Anything the 8 kHz rate cannot carry is removed, not folded back into
// the band as an alias.
func TestResampleStopBand(t *testing.T) {
	for _, rate := range []int{22050, 44100} {
		for _, hz := range []float64{4001, 4050, 4500, 5000, 6000, 7000, 8000, 9000, 10000, 11000} {
			y := resampledMiddle(t, rate, hz)
			if l := dsp.LevelDBm0(y); l > -40 {
				t.Errorf("%d Hz: a 0 dBm0 tone at %.0f Hz comes out at %.1f dBm0, want at most -40", rate, hz, l)
			}
		}
	}
}

func TestResamplerRefusesBadRates(t *testing.T) {
	for _, c := range [][2]int{{0, 8000}, {22050, -1}, {22051, 8000}} {
		if _, err := newResampler(c[0], c[1]); err == nil {
			t.Errorf("newResampler(%d, %d) succeeded", c[0], c[1])
		}
	}
}
