package main

import (
	"fmt"
	"math"
)

// The filter keeps the telephone band and removes everything the lower of
// the two rates cannot carry: its pass band ends at 92.5 % of that rate's
// Nyquist frequency (3.7 kHz at 8 kHz), and its transition band, half above
// and half below that cutoff, is 7.5 % of the rate wide (600 Hz at 8 kHz),
// so that the stop band starts at Nyquist. A Blackman window holds the
// stop band about 74 dB down; the length follows from the transition width
// (about 5.5 / taps of the rate the filter runs at, for Blackman), with some
// margin.
const (
	cutoffOfNyquist  = 0.925
	transitionOfRate = 0.075
	blackmanWidth    = 6.5 // transition width × taps / rate, with margin
	maxPhases        = 4096
)

// resampler changes the sample rate by a rational factor with a
// windowed-sinc low-pass, computed once per phase: output sample n sits at
// input position n·down/up, whose fractional part takes only up values.
type resampler struct {
	up, down int
	half     int         // taps on each side of the output position
	phases   [][]float64 // phases[p][j] weighs input k0-half+1+j at fraction p/up
}

func newResampler(inRate, outRate int) (*resampler, error) {
	if inRate <= 0 || outRate <= 0 {
		return nil, fmt.Errorf("resample: rates must be positive, got %d Hz to %d Hz", inRate, outRate)
	}
	g := gcd(inRate, outRate)
	r := &resampler{up: outRate / g, down: inRate / g}
	if r.up > maxPhases {
		return nil, fmt.Errorf("resample: %d Hz to %d Hz needs %d filter phases (at most %d)", inRate, outRate, r.up, maxPhases)
	}
	low := float64(min(inRate, outRate))
	cutoff := cutoffOfNyquist * low / 2 / float64(inRate) // cycles per input sample
	transition := transitionOfRate * low / float64(inRate)
	r.half = int(math.Ceil(blackmanWidth / transition / 2))

	r.phases = make([][]float64, r.up)
	for p := range r.phases {
		frac := float64(p) / float64(r.up)
		h := make([]float64, 2*r.half)
		var sum float64
		for j := range h {
			d := frac - float64(j-r.half+1) // distance from the output position, in input samples
			h[j] = 2 * cutoff * sinc(2*cutoff*d) * blackman(d/float64(r.half))
			sum += h[j]
		}
		// Unity gain at DC for every phase, so that the phases do not
		// differ in level and leave a ripple at the phase rate.
		for j := range h {
			h[j] /= sum
		}
		r.phases[p] = h
	}
	return r, nil
}

// resample returns x at the output rate. Samples outside x count as
// silence.
func (r *resampler) resample(x []float64) []float64 {
	n := (len(x)*r.up + r.down - 1) / r.down
	y := make([]float64, n)
	for i := range y {
		pos := i * r.down
		k0, p := pos/r.up, pos%r.up
		h := r.phases[p]
		start := k0 - r.half + 1
		var acc float64
		for j, c := range h {
			if k := start + j; k >= 0 && k < len(x) {
				acc += c * x[k]
			}
		}
		y[i] = acc
	}
	return y
}

func sinc(x float64) float64 {
	if x == 0 {
		return 1
	}
	return math.Sin(math.Pi*x) / (math.Pi * x)
}

// blackman is the Blackman window over u in [-1, 1], zero outside.
func blackman(u float64) float64 {
	if u <= -1 || u >= 1 {
		return 0
	}
	return 0.42 + 0.5*math.Cos(math.Pi*u) + 0.08*math.Cos(2*math.Pi*u)
}

func gcd(a, b int) int {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}
