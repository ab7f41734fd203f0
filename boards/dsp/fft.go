package dsp

import (
	"math"
	"math/bits"
	"math/cmplx"
)

// realFFT computes the spectrum of real blocks of n samples (n a power of
// two, at least 4) with a complex FFT of n/2 points, reusing its buffers:
// after New it does not allocate.
type realFFT struct {
	n    int
	z    []complex128 // n/2 points
	rev  []int        // bit reversal permutation of n/2
	tw   []complex128 // e^{-2πjk/(n/2)}, k < n/4: the complex FFT's twiddles
	post []complex128 // e^{-2πjk/n}, k < n/2: splitting the packed spectrum
}

// newRealFFT prepares transforms of n samples; n must be a power of two of
// at least 4 (callers pass constants).
func newRealFFT(n int) *realFFT {
	h := n / 2
	f := &realFFT{n: n, z: make([]complex128, h), rev: make([]int, h), tw: make([]complex128, h/2), post: make([]complex128, h)}
	shift := bits.UintSize - bits.TrailingZeros(uint(h))
	for i := range h {
		f.rev[i] = int(bits.Reverse(uint(i)) >> shift)
	}
	for k := range f.tw {
		s, c := math.Sincos(-2 * math.Pi * float64(k) / float64(h))
		f.tw[k] = complex(c, s)
	}
	for k := range f.post {
		s, c := math.Sincos(-2 * math.Pi * float64(k) / float64(n))
		f.post[k] = complex(c, s)
	}
	return f
}

// power writes |X[k]|² for k = 0..n/2 of the real block x (len n) into
// out (len n/2+1).
func (f *realFFT) power(x []float64, out []float64) {
	h := f.n / 2
	// Pack even samples as real parts, odd ones as imaginary parts, in
	// bit-reversed order for the in-place transform.
	for i := range h {
		f.z[f.rev[i]] = complex(x[2*i], x[2*i+1])
	}
	for size := 2; size <= h; size <<= 1 {
		half, step := size/2, h/size
		for start := 0; start < h; start += size {
			for k := range half {
				t := f.tw[k*step] * f.z[start+k+half]
				u := f.z[start+k]
				f.z[start+k] = u + t
				f.z[start+k+half] = u - t
			}
		}
	}
	// Z[k] = E[k] + jO[k], with E and O the spectra of the even and odd
	// samples; X[k] = E[k] + e^{-2πjk/n}·O[k].
	for k := 0; k <= h; k++ {
		zk := f.z[k%h]
		zc := cmplx.Conj(f.z[(h-k)%h])
		e := (zk + zc) / 2
		o := (zk - zc) / complex(0, 2)
		tw := complex(-1, 0) // e^{-πj} for k = n/2
		if k < h {
			tw = f.post[k]
		}
		v := e + tw*o
		out[k] = real(v)*real(v) + imag(v)*imag(v)
	}
}
