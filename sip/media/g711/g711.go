// Package g711 converts 16-bit linear PCM to and from ITU-T G.711 μ-law
// (PCMU) and A-law (PCMA).
//
// Both laws are computed rather than table driven: the arithmetic is a few
// shifts per sample, needs no package state, and is easy to check against the
// segment tables printed in the standard. Input is 16-bit linear; G.711 itself
// works on 14-bit (μ-law) and 13-bit (A-law) magnitudes, so the low bits are
// dropped exactly where the standard's quantisation intervals say.
package g711

import "math/bits"

// μ-law works on magnitude+bias so that every segment starts at a power of
// two; the bias is 33 in 14-bit units, i.e. 132 in 16-bit units.
const (
	ulawBias = 0x84
	ulawClip = 32635 // largest magnitude that still fits segment 7 after biasing
)

// EncodeUlaw returns the μ-law code for a linear sample.
func EncodeUlaw(x int16) byte {
	v := int32(x)
	var sign byte
	if v < 0 {
		sign = 0x80
		v = -v
	}
	if v > ulawClip {
		v = ulawClip
	}
	v += ulawBias
	// v is in [132, 32767]: the segment is the position of its top bit
	// above bit 7.
	seg := bits.Len32(uint32(v)) - 8
	mant := byte(v>>(seg+3)) & 0x0F
	// Codes are transmitted inverted so that silence is not a run of zeros.
	return ^(sign | byte(seg)<<4 | mant)
}

// DecodeUlaw returns the linear value at the middle of the quantisation
// interval that code stands for.
func DecodeUlaw(code byte) int16 {
	u := ^code
	seg := (u >> 4) & 0x07
	mag := ((int32(u&0x0F) << 3) + ulawBias) << seg
	mag -= ulawBias
	if u&0x80 != 0 {
		return int16(-mag)
	}
	return int16(mag)
}

// EncodeAlaw returns the A-law code for a linear sample.
func EncodeAlaw(x int16) byte {
	v := int32(x)
	sign := byte(0x80) // A-law marks positive values with the sign bit
	if v < 0 {
		sign = 0
		// One's complement keeps the negative half symmetric with the
		// positive half, as the standard's decision levels are.
		v = -v - 1
	}
	var code byte
	if v < 256 {
		code = byte(v >> 4)
	} else {
		seg := bits.Len32(uint32(v)) - 8 // 1..7 for v in [256, 32767]
		code = byte(seg)<<4 | byte(v>>(seg+3))&0x0F
	}
	// Even bits are inverted on the line (the "alternate digit inversion").
	return (sign | code) ^ 0x55
}

// DecodeAlaw returns the linear value at the middle of the quantisation
// interval that code stands for.
func DecodeAlaw(code byte) int16 {
	a := code ^ 0x55
	seg := (a >> 4) & 0x07
	mant := int32(a & 0x0F)
	var mag int32
	if seg == 0 {
		mag = mant<<4 + 8
	} else {
		mag = (mant<<4 + 0x108) << (seg - 1)
	}
	if a&0x80 == 0 {
		return int16(-mag)
	}
	return int16(mag)
}

// UlawEncodeFrame encodes pcm into dst and returns the number of bytes
// written: min(len(pcm), len(dst)).
func UlawEncodeFrame(dst []byte, pcm []int16) int {
	n := min(len(dst), len(pcm))
	for i := range n {
		dst[i] = EncodeUlaw(pcm[i])
	}
	return n
}

// UlawDecodeFrame decodes src into dst and returns the number of samples
// written: min(len(src), len(dst)).
func UlawDecodeFrame(dst []int16, src []byte) int {
	n := min(len(dst), len(src))
	for i := range n {
		dst[i] = DecodeUlaw(src[i])
	}
	return n
}

// AlawEncodeFrame encodes pcm into dst and returns the number of bytes
// written: min(len(pcm), len(dst)).
func AlawEncodeFrame(dst []byte, pcm []int16) int {
	n := min(len(dst), len(pcm))
	for i := range n {
		dst[i] = EncodeAlaw(pcm[i])
	}
	return n
}

// AlawDecodeFrame decodes src into dst and returns the number of samples
// written: min(len(src), len(dst)).
func AlawDecodeFrame(dst []int16, src []byte) int {
	n := min(len(dst), len(src))
	for i := range n {
		dst[i] = DecodeAlaw(src[i])
	}
	return n
}

// UlawSilence and AlawSilence are the codes for a zero sample.
const (
	UlawSilence byte = 0xFF
	AlawSilence byte = 0xD5
)
