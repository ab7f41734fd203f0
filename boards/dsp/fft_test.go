package dsp

import (
	"math"
	"math/cmplx"
	"math/rand/v2"
	"testing"
)

func TestRealFFTMatchesDFT(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	for _, n := range []int{4, 8, 64, 512} {
		f := newRealFFT(n)
		x := make([]float64, n)
		for i := range x {
			x[i] = rng.NormFloat64() * 1000
		}
		got := make([]float64, n/2+1)
		f.power(x, got)
		for k := 0; k <= n/2; k++ {
			var s complex128
			for i, v := range x {
				s += complex(v, 0) * cmplx.Rect(1, -2*math.Pi*float64(k*i)/float64(n))
			}
			want := sq(cmplx.Abs(s))
			if math.Abs(got[k]-want) > 1e-6*(want+1e6) {
				t.Fatalf("n=%d bin %d: %g, want %g", n, k, got[k], want)
			}
		}
	}
}
