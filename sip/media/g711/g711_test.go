package g711

import (
	"math"
	"testing"
)

func TestKnownCodePoints(t *testing.T) {
	cases := []struct {
		name string
		dec  func(byte) int16
		code byte
		want int16
	}{
		{"ulaw +0", DecodeUlaw, 0xFF, 0},
		{"ulaw -0", DecodeUlaw, 0x7F, 0},
		{"ulaw max", DecodeUlaw, 0x80, 32124},
		{"ulaw min", DecodeUlaw, 0x00, -32124},
		{"ulaw smallest step", DecodeUlaw, 0xFE, 8},
		{"alaw +8", DecodeAlaw, 0xD5, 8},
		{"alaw -8", DecodeAlaw, 0x55, -8},
		{"alaw max", DecodeAlaw, 0xAA, 32256},
		{"alaw min", DecodeAlaw, 0x2A, -32256},
	}
	for _, c := range cases {
		if got := c.dec(c.code); got != c.want {
			t.Errorf("%s: decode(%#02x) = %d, want %d", c.name, c.code, got, c.want)
		}
	}
	if got := EncodeUlaw(0); got != UlawSilence {
		t.Errorf("EncodeUlaw(0) = %#02x, want %#02x", got, UlawSilence)
	}
	if got := EncodeAlaw(0); got != AlawSilence {
		t.Errorf("EncodeAlaw(0) = %#02x, want %#02x", got, AlawSilence)
	}
	if got := EncodeUlaw(math.MaxInt16); got != 0x80 {
		t.Errorf("EncodeUlaw(max) = %#02x, want 0x80", got)
	}
	if got := EncodeUlaw(math.MinInt16); got != 0x00 {
		t.Errorf("EncodeUlaw(min) = %#02x, want 0x00", got)
	}
	if got := EncodeAlaw(math.MaxInt16); got != 0xAA {
		t.Errorf("EncodeAlaw(max) = %#02x, want 0xAA", got)
	}
	if got := EncodeAlaw(math.MinInt16); got != 0x2A {
		t.Errorf("EncodeAlaw(min) = %#02x, want 0x2A", got)
	}
}

// ulawStep is the width of μ-law's quantisation interval around magnitude m,
// in 16-bit units: 8 in the first segment, doubling every segment (G.711
// table 2a, scaled by 4 from 14 bits).
func ulawStep(m int) int {
	step := 8
	for edge := 256 - 132; m+132 >= edge+132 && step < 1024; edge = (edge+132)*2 - 132 {
		step *= 2
	}
	return step
}

// alawStep: 16 in segments 0 and 1, then doubling (table 1a, scaled by 8).
func alawStep(m int) int {
	step := 16
	for edge := 512; m >= edge && step < 1024; edge *= 2 {
		step *= 2
	}
	return step
}

func TestRoundTripWithinHalfStep(t *testing.T) {
	for x := math.MinInt16; x <= math.MaxInt16; x++ {
		m := x
		if m < 0 {
			m = -m
		}
		u := int(DecodeUlaw(EncodeUlaw(int16(x))))
		if m <= ulawClip {
			if d := abs(u - x); d > ulawStep(m)/2 {
				t.Fatalf("ulaw: x=%d decoded %d, error %d > half step %d", x, u, d, ulawStep(m)/2)
			}
		} else if abs(u) != 32124 || (u < 0) != (x < 0) {
			t.Fatalf("ulaw: x=%d beyond clip decoded %d, want ±32124", x, u)
		}
		a := int(DecodeAlaw(EncodeAlaw(int16(x))))
		if d := abs(a - x); d > alawStep(m)/2 {
			t.Fatalf("alaw: x=%d decoded %d, error %d > half step %d", x, a, d, alawStep(m)/2)
		}
	}
}

func TestMonotonic(t *testing.T) {
	prevU, prevA := math.MinInt32, math.MinInt32
	for x := math.MinInt16; x <= math.MaxInt16; x++ {
		u := int(DecodeUlaw(EncodeUlaw(int16(x))))
		a := int(DecodeAlaw(EncodeAlaw(int16(x))))
		if u < prevU || a < prevA {
			t.Fatalf("not monotonic at x=%d: ulaw %d after %d, alaw %d after %d", x, u, prevU, a, prevA)
		}
		prevU, prevA = u, a
	}
}

func TestCodesRoundTrip(t *testing.T) {
	for c := range 256 {
		code := byte(c)
		want := code
		if code == 0x7F { // μ-law negative zero is re-encoded as positive zero
			want = 0xFF
		}
		if got := EncodeUlaw(DecodeUlaw(code)); got != want {
			t.Errorf("ulaw code %#02x -> %d -> %#02x", code, DecodeUlaw(code), got)
		}
		if got := EncodeAlaw(DecodeAlaw(code)); got != code {
			t.Errorf("alaw code %#02x -> %d -> %#02x", code, DecodeAlaw(code), got)
		}
		// Both laws are symmetric about zero: flipping the sign bit negates.
		if DecodeUlaw(code) != -DecodeUlaw(code^0x80) {
			t.Errorf("ulaw %#02x not symmetric", code)
		}
		if DecodeAlaw(code) != -DecodeAlaw(code^0x80) {
			t.Errorf("alaw %#02x not symmetric", code)
		}
	}
}

func TestFrameHelpers(t *testing.T) {
	pcm := []int16{0, 1000, -1000, 32767, -32768}
	enc := make([]byte, 3) // shorter than pcm: helpers stop at the shorter one
	if n := UlawEncodeFrame(enc, pcm); n != 3 {
		t.Fatalf("UlawEncodeFrame wrote %d, want 3", n)
	}
	out := make([]int16, 8)
	if n := UlawDecodeFrame(out, enc); n != 3 {
		t.Fatalf("UlawDecodeFrame wrote %d, want 3", n)
	}
	for i := range 3 {
		if out[i] != DecodeUlaw(EncodeUlaw(pcm[i])) {
			t.Errorf("ulaw frame sample %d = %d", i, out[i])
		}
	}
	if n := AlawEncodeFrame(enc, pcm); n != 3 {
		t.Fatalf("AlawEncodeFrame wrote %d, want 3", n)
	}
	if n := AlawDecodeFrame(out, enc); n != 3 {
		t.Fatalf("AlawDecodeFrame wrote %d, want 3", n)
	}
	for i := range 3 {
		if out[i] != DecodeAlaw(EncodeAlaw(pcm[i])) {
			t.Errorf("alaw frame sample %d = %d", i, out[i])
		}
	}
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

func frame() []int16 {
	pcm := make([]int16, 160)
	for i := range pcm {
		pcm[i] = int16(12000 * math.Sin(2*math.Pi*1004*float64(i)/8000))
	}
	return pcm
}

func BenchmarkUlawEncodeFrame(b *testing.B) {
	pcm, dst := frame(), make([]byte, 160)
	b.ReportAllocs()
	for b.Loop() {
		UlawEncodeFrame(dst, pcm)
	}
}

func BenchmarkUlawDecodeFrame(b *testing.B) {
	src, dst := make([]byte, 160), make([]int16, 160)
	UlawEncodeFrame(src, frame())
	b.ReportAllocs()
	for b.Loop() {
		UlawDecodeFrame(dst, src)
	}
}

func BenchmarkAlawEncodeFrame(b *testing.B) {
	pcm, dst := frame(), make([]byte, 160)
	b.ReportAllocs()
	for b.Loop() {
		AlawEncodeFrame(dst, pcm)
	}
}

func BenchmarkAlawDecodeFrame(b *testing.B) {
	src, dst := make([]byte, 160), make([]int16, 160)
	AlawEncodeFrame(src, frame())
	b.ReportAllocs()
	for b.Loop() {
		AlawDecodeFrame(dst, src)
	}
}
