package main

import (
	"encoding/binary"
	"errors"
	"slices"
	"testing"
)

// wav builds a RIFF/WAVE file: a fmt chunk, then extra chunks, then data.
// dataSize is what the header claims (-1: the real size).
func wav(format, channels uint16, rate uint32, bits uint16, pcm []int16, dataSize int64, extra ...[]byte) []byte {
	le := binary.LittleEndian
	b := []byte("RIFF\xff\xff\xff\x7fWAVEfmt ")
	b = le.AppendUint32(b, 16)
	b = le.AppendUint16(b, format)
	b = le.AppendUint16(b, channels)
	b = le.AppendUint32(b, rate)
	b = le.AppendUint32(b, rate*uint32(channels)*uint32(bits)/8)
	b = le.AppendUint16(b, channels*bits/8)
	b = le.AppendUint16(b, bits)
	for _, e := range extra {
		b = append(b, e...)
	}
	b = append(b, "data"...)
	if dataSize < 0 {
		dataSize = int64(2 * len(pcm))
	}
	b = le.AppendUint32(b, uint32(dataSize))
	for _, v := range pcm {
		b = le.AppendUint16(b, uint16(v))
	}
	return b
}

func TestParseWAV(t *testing.T) {
	pcm := []int16{0, 1, -1, 32767, -32768, 1234}
	cases := []struct {
		name string
		file []byte
	}{
		{"exact sizes", wav(1, 1, 22050, 16, pcm, -1)},
		// espeak-ng --stdout: the sizes are placeholders.
		{"streamed", wav(1, 1, 22050, 16, pcm, 0x7ffff000)},
		{"odd list chunk before data", wav(1, 1, 22050, 16, pcm, -1, []byte("LIST\x03\x00\x00\x00abc\x00"))},
	}
	for _, c := range cases {
		got, rate, err := parseWAV(c.file)
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if rate != 22050 || !slices.Equal(got, pcm) {
			t.Errorf("%s: %d Hz %v, want 22050 Hz %v", c.name, rate, got, pcm)
		}
	}
}

func TestParseWAVErrors(t *testing.T) {
	good := wav(1, 1, 22050, 16, []int16{1, 2}, -1)
	noData := good[:len(good)-12]
	cases := []struct {
		name string
		file []byte
		want error
	}{
		{"empty", nil, errNotWAV},
		{"not RIFF", []byte("RIFX\x00\x00\x00\x00WAVE"), errNotWAV},
		{"stereo", wav(1, 2, 22050, 16, []int16{1, 2}, -1), errWAVFormat},
		{"8 bits", wav(1, 1, 22050, 8, nil, -1), errWAVFormat},
		{"float", wav(3, 1, 22050, 16, nil, -1), errWAVFormat},
		{"rate 0", wav(1, 1, 0, 16, nil, -1), errWAVFormat},
		{"no data chunk", noData, errWAVNoData},
		{"data first", []byte("RIFF\x00\x00\x00\x00WAVEdata\x02\x00\x00\x00\x01\x00"), errWAVNoFormat},
		{"short fmt", []byte("RIFF\x00\x00\x00\x00WAVEfmt \x10\x00\x00\x00\x01\x00"), errWAVFormat},
	}
	for _, c := range cases {
		if _, _, err := parseWAV(c.file); !errors.Is(err, c.want) {
			t.Errorf("%s: err = %v, want %v", c.name, err, c.want)
		}
	}
}

// Any input gives samples or one of parseWAV's errors, never a panic, and
// never more samples than the input holds.
func FuzzParseWAV(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		pcm, rate, err := parseWAV(b)
		if err != nil {
			if !errors.Is(err, errNotWAV) && !errors.Is(err, errWAVFormat) &&
				!errors.Is(err, errWAVNoFormat) && !errors.Is(err, errWAVNoData) {
				t.Fatalf("unexpected error %v", err)
			}
			return
		}
		if rate < 1000 || rate > 384000 || 2*len(pcm) > len(b) {
			t.Fatalf("%d bytes gave %d samples at %d Hz", len(b), len(pcm), rate)
		}
	})
}
