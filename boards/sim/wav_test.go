package sim

import (
	"bytes"
	"encoding/binary"
	"errors"
	"slices"
	"strings"
	"testing"
)

// wavFile builds a WAV file from chunks, for tests of the reader.
func wavFile(chunks ...[]byte) []byte {
	var body []byte
	for _, c := range chunks {
		body = append(body, c...)
	}
	out := []byte("RIFF")
	out = binary.LittleEndian.AppendUint32(out, uint32(4+len(body)))
	out = append(out, "WAVE"...)
	return append(out, body...)
}

func chunk(id string, data []byte) []byte {
	out := append([]byte(id), 0, 0, 0, 0)
	binary.LittleEndian.PutUint32(out[4:], uint32(len(data)))
	out = append(out, data...)
	if len(data)%2 == 1 {
		out = append(out, 0)
	}
	return out
}

func fmtChunk(tag, channels uint16, rate uint32, bits uint16) []byte {
	le := binary.LittleEndian
	c := make([]byte, 16)
	le.PutUint16(c[0:], tag)
	le.PutUint16(c[2:], channels)
	le.PutUint32(c[4:], rate)
	le.PutUint32(c[8:], rate*uint32(channels)*uint32(bits)/8)
	le.PutUint16(c[12:], channels*bits/8)
	le.PutUint16(c[14:], bits)
	return chunk("fmt ", c)
}

func extensibleFmt(sub uint16) []byte {
	c := fmtChunk(wavFormatExtensible, 1, 8000, 16)[8:]
	// cbSize, valid bits, channel mask, then the sub-format GUID.
	ext := make([]byte, 8)
	binary.LittleEndian.PutUint16(ext[0:], 22)
	binary.LittleEndian.PutUint16(ext[2:], 16)
	guid := make([]byte, 16)
	binary.LittleEndian.PutUint16(guid, sub)
	return chunk("fmt ", append(append(c, ext...), guid...))
}

func TestReadWAV(t *testing.T) {
	pcm := []byte{1, 0, 0xff, 0xff, 0, 0x80}
	want := []int16{1, -1, -32768}
	good := fmtChunk(1, 1, 8000, 16)
	for _, tc := range []struct {
		name        string
		file        []byte
		want        []int16
		errContains string
		unsupported bool
	}{
		{"plain", wavFile(good, chunk("data", pcm)), want, "", false},
		{"odd LIST chunk before data", wavFile(good, chunk("LIST", []byte("abc")), chunk("data", pcm)), want, "", false},
		{"extensible PCM", wavFile(extensibleFmt(1), chunk("data", pcm)), want, "", false},
		{"streaming data size", append(wavFile(good), append([]byte("data\xff\xff\xff\xff"), pcm...)...), want, "", false},
		{"empty", nil, nil, "shorter than a RIFF header", false},
		{"not RIFF", []byte("OggS0000WAVEfmt "), nil, "RIFF/WAVE", false},
		{"no fmt", wavFile(chunk("data", pcm)), nil, `"data" chunk before "fmt "`, false},
		{"no data", wavFile(good), nil, `no "data" chunk`, false},
		{"nothing", wavFile(), nil, `no "fmt " chunk`, false},
		{"truncated data", wavFile(good, []byte("data\x10\x00\x00\x00\x01\x00")), nil, `"data" truncated: declares 16 bytes, 2 present`, false},
		{"truncated header", wavFile(good, []byte("dat")), nil, "chunk header truncated", false},
		{"short fmt", wavFile(chunk("fmt ", make([]byte, 10)), chunk("data", pcm)), nil, "too short", false},
		{"odd data", wavFile(good, chunk("data", pcm[:3])), nil, "odd length", false},
		{"bad block align", wavFile(func() []byte { c := fmtChunk(1, 1, 8000, 16); c[8+12] = 4; return c }(), chunk("data", pcm)), nil, "block align", false},
		{"stereo", wavFile(fmtChunk(1, 2, 8000, 16), chunk("data", pcm)), nil, "2 channels", true},
		{"44.1 kHz", wavFile(fmtChunk(1, 1, 44100, 16), chunk("data", pcm)), nil, "44100 Hz", true},
		{"8 bit", wavFile(fmtChunk(1, 1, 8000, 8), chunk("data", pcm)), nil, "8 bits", true},
		{"mu-law", wavFile(fmtChunk(7, 1, 8000, 8), chunk("data", pcm)), nil, "encoding 7", true},
		{"extensible float", wavFile(extensibleFmt(3), chunk("data", pcm)), nil, "encoding 3", true},
		{"binary chunk id", wavFile(good, []byte("d\x00t\x01\xff\x00\x00\x00")), nil, `"d?t?" truncated`, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ReadWAV(bytes.NewReader(tc.file))
			if tc.errContains == "" {
				if err != nil {
					t.Fatalf("ReadWAV: %v", err)
				}
				if len(got) != len(tc.want) {
					t.Fatalf("got %v, want %v", got, tc.want)
				}
				for i := range got {
					if got[i] != tc.want[i] {
						t.Fatalf("got %v, want %v", got, tc.want)
					}
				}
				// What reads strictly reads the same when partial files are allowed.
				if part, err := ReadPartialWAV(bytes.NewReader(tc.file)); err != nil || !slices.Equal(part, got) {
					t.Fatalf("ReadPartialWAV = %v, %v; ReadWAV gave %v", part, err, got)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.errContains) {
				t.Fatalf("ReadWAV error %v, want one containing %q", err, tc.errContains)
			}
			if errors.Is(err, ErrUnsupportedWAV) != tc.unsupported {
				t.Errorf("errors.Is(err, ErrUnsupportedWAV) = %v, want %v", !tc.unsupported, tc.unsupported)
			}
		})
	}
}

func TestReadPartialWAV(t *testing.T) {
	good := fmtChunk(1, 1, 8000, 16)
	pcm := []byte{1, 0, 0xff, 0xff, 0, 0x80}
	rec := make([]int16, 1000)
	for i := range rec {
		rec[i] = int16(i)
	}
	for _, tc := range []struct {
		name        string
		file        []byte
		want        []int16
		errContains string
	}{
		// A recorder stopped mid-call leaves the header's sizes too large,
		// and may stop inside a sample.
		{"recording cut short", EncodeWAV(rec)[:44+500*2+1], rec[:500], ""},
		{"data shorter than declared", wavFile(good, []byte("data\x10\x00\x00\x00\x01\x00")), []int16{1}, ""},
		{"streaming size cut inside a sample", append(wavFile(good), append([]byte("data\xff\xff\xff\xff"), pcm[:5]...)...), []int16{1, -1}, ""},
		{"cut in the data header", wavFile(good, []byte("dat")), nil, "chunk header truncated"},
		// Only the data chunk may run short: the rest is as strict as ReadWAV.
		{"fmt shorter than declared", wavFile([]byte("fmt \xe8\x03\x00\x00"), good[8:], chunk("data", pcm)), nil, `"fmt " truncated: declares 1000 bytes`},
		{"LIST shorter than declared", wavFile(good, []byte("LIST\x10\x00\x00\x00ab")), nil, `"LIST" truncated`},
		{"complete odd data", wavFile(good, chunk("data", pcm[:3])), nil, "odd length"},
		{"stereo", wavFile(fmtChunk(1, 2, 8000, 16), []byte("data\x10\x00\x00\x00\x01\x00")), nil, "2 channels"},
		{"not RIFF", []byte("RIFX\x00\x00\x00\x00WAVE"), nil, "RIFF/WAVE"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ReadPartialWAV(bytes.NewReader(tc.file))
			if tc.errContains != "" {
				if err == nil || !strings.Contains(err.Error(), tc.errContains) {
					t.Fatalf("ReadPartialWAV error %v, want one containing %q", err, tc.errContains)
				}
				return
			}
			if err != nil {
				t.Fatalf("ReadPartialWAV: %v", err)
			}
			if !slices.Equal(got, tc.want) {
				t.Fatalf("got %d samples %v, want %d", len(got), got[:min(len(got), 8)], len(tc.want))
			}
			// The control API's reader refuses the same file.
			if _, err := ReadWAV(bytes.NewReader(tc.file)); err == nil {
				t.Error("ReadWAV accepted a file cut short")
			}
		})
	}
}

func TestReadWAVTooLarge(t *testing.T) {
	big := make([]byte, MaxWAVBytes+10)
	copy(big, wavFile(fmtChunk(1, 1, 8000, 16)))
	if _, err := ReadWAV(bytes.NewReader(big)); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Errorf("ReadWAV of %d bytes: %v", len(big), err)
	}
}

func FuzzReadWAV(f *testing.F) {
	f.Add(EncodeWAV([]int16{0, 100, -100}))
	f.Add(wavFile(fmtChunk(1, 1, 8000, 16), chunk("LIST", []byte("x")), chunk("data", []byte{1, 2})))
	f.Add(wavFile(extensibleFmt(1), chunk("data", []byte{1, 2})))
	f.Fuzz(func(t *testing.T, data []byte) {
		strict, strictErr := ReadWAV(bytes.NewReader(data))
		if strictErr != nil && strict != nil {
			t.Fatalf("samples returned with error %v", strictErr)
		}
		pcm, err := ReadPartialWAV(bytes.NewReader(data))
		if err != nil {
			if pcm != nil {
				t.Fatalf("samples returned with error %v", err)
			}
			if strictErr == nil {
				t.Fatalf("ReadPartialWAV refused what ReadWAV read: %v", err)
			}
			return
		}
		if strictErr == nil && !slices.Equal(strict, pcm) {
			t.Fatalf("ReadWAV and ReadPartialWAV read %d and %d samples", len(strict), len(pcm))
		}
		// Whatever reads must survive a round trip unchanged.
		again, err := ReadWAV(bytes.NewReader(EncodeWAV(pcm)))
		if err != nil {
			t.Fatalf("re-read of an encoded file: %v", err)
		}
		if !slices.Equal(again, pcm) {
			t.Fatalf("round trip changed %d samples into %d, or their values", len(pcm), len(again))
		}
	})
}
