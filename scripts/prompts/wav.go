package main

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Errors from parseWAV, wrapped with details.
var (
	errNotWAV      = errors.New("not a RIFF/WAVE file")
	errWAVFormat   = errors.New("unsupported WAV format")
	errWAVNoFormat = errors.New("WAV data before its fmt chunk")
	errWAVNoData   = errors.New("WAV file without a data chunk")
)

// parseWAV reads what espeak-ng writes: 16-bit little-endian mono PCM in a
// RIFF/WAVE file. Written to a pipe, espeak-ng cannot go back to fill in
// the sizes, so the RIFF and data sizes may claim more than there is; the
// data is then whatever follows the data chunk header (an odd last byte is
// dropped).
func parseWAV(b []byte) (pcm []int16, rate int, err error) {
	if len(b) < 12 || string(b[0:4]) != "RIFF" || string(b[8:12]) != "WAVE" {
		return nil, 0, errNotWAV
	}
	b = b[12:]
	haveFmt := false
	for len(b) >= 8 {
		id := string(b[0:4])
		size := uint64(binary.LittleEndian.Uint32(b[4:8]))
		b = b[8:]
		switch id {
		case "fmt ":
			if size < 16 || uint64(len(b)) < size {
				return nil, 0, fmt.Errorf("%w: fmt chunk of %d bytes, %d present", errWAVFormat, size, len(b))
			}
			format := binary.LittleEndian.Uint16(b[0:2])
			channels := binary.LittleEndian.Uint16(b[2:4])
			rate = int(binary.LittleEndian.Uint32(b[4:8]))
			bitsPerSample := binary.LittleEndian.Uint16(b[14:16])
			if format != 1 || channels != 1 || bitsPerSample != 16 {
				return nil, 0, fmt.Errorf("%w: format %d, %d channels, %d bits (want PCM, mono, 16 bits)",
					errWAVFormat, format, channels, bitsPerSample)
			}
			if rate < 1000 || rate > 384000 {
				return nil, 0, fmt.Errorf("%w: sample rate %d Hz", errWAVFormat, rate)
			}
			haveFmt = true
		case "data":
			if !haveFmt {
				return nil, 0, errWAVNoFormat
			}
			size = min(size, uint64(len(b)))
			pcm = make([]int16, size/2)
			for i := range pcm {
				pcm[i] = int16(binary.LittleEndian.Uint16(b[2*i:]))
			}
			return pcm, rate, nil
		}
		// Chunks are padded to an even length.
		skip := size + size&1
		if skip > uint64(len(b)) {
			break
		}
		b = b[skip:]
	}
	return nil, 0, errWAVNoData
}
