package sim

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/tipring/tipring/boards"
)

// MaxWAVBytes bounds what ReadWAV accepts: ten minutes of 8 kHz 16-bit
// mono plus headers. The phone never needs more, and the bound keeps a
// hostile request from exhausting memory.
const MaxWAVBytes = 10*60*boards.SampleRate*2 + 4096

// ErrUnsupportedWAV is returned (wrapped) for a well-formed WAV file in a
// format the phone cannot play: anything but 8 kHz, 16-bit, mono, PCM.
var ErrUnsupportedWAV = errors.New("unsupported WAV format")

const (
	wavFormatPCM        = 1
	wavFormatExtensible = 0xFFFE
	// riffStreaming is the data size some writers leave when they cannot
	// seek back: "until the end of the file".
	riffStreaming = 0xFFFFFFFF
)

// ReadWAV reads a RIFF/WAVE file holding 8 kHz, 16-bit, mono linear PCM and
// returns its samples. Errors name the problem; a valid file in another
// format gives an error wrapping ErrUnsupportedWAV. A data chunk that
// declares more bytes than follow is an error: the control API plays what
// it is sent, and a damaged upload should be refused, not cut short.
func ReadWAV(r io.Reader) ([]int16, error) {
	return readWAV(r, false)
}

// ReadPartialWAV is ReadWAV for a file its writer may not have finished,
// such as a recorder's output read while (or after) it was stopped
// mid-write: a data chunk that declares more bytes than follow (or the
// streaming size) yields the samples that are there, without a trailing
// half sample. Everything else,
// the format and the chunks before the data included, is checked as
// strictly as ReadWAV checks it.
func ReadPartialWAV(r io.Reader) ([]int16, error) {
	return readWAV(r, true)
}

func readWAV(r io.Reader, partial bool) ([]int16, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxWAVBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read WAV: %w", err)
	}
	if len(data) > MaxWAVBytes {
		return nil, fmt.Errorf("WAV file larger than %d bytes", MaxWAVBytes)
	}
	return parseWAV(data, partial)
}

// parseWAV decodes a whole file; partial allows a data chunk that runs past
// the end of data (see ReadPartialWAV).
func parseWAV(data []byte, partial bool) ([]int16, error) {
	if len(data) < 12 {
		return nil, fmt.Errorf("not a WAV file: %d bytes is shorter than a RIFF header", len(data))
	}
	if string(data[0:4]) != "RIFF" || string(data[8:12]) != "WAVE" {
		return nil, errors.New("not a WAV file: missing RIFF/WAVE header")
	}
	le := binary.LittleEndian
	// The RIFF size is often wrong in files written by streaming tools, so
	// the chunks are walked to the end of what arrived instead.
	rest := data[12:]
	var haveFmt bool
	for len(rest) > 0 {
		if len(rest) < 8 {
			return nil, fmt.Errorf("WAV chunk header truncated: %d bytes left", len(rest))
		}
		id := string(rest[0:4])
		size := le.Uint32(rest[4:8])
		body := rest[8:]
		switch {
		case id == "data" && size == riffStreaming:
			size = uint32(len(body))
			if partial {
				size &^= 1
			}
		case uint64(size) > uint64(len(body)):
			if !partial || id != "data" {
				return nil, fmt.Errorf("WAV chunk %q truncated: declares %d bytes, %d present", printable(id), size, len(body))
			}
			// The writer stopped inside this chunk, maybe inside a sample.
			size = uint32(len(body)) &^ 1
		}
		chunk := body[:size]
		switch id {
		case "fmt ":
			if err := checkWAVFormat(chunk); err != nil {
				return nil, err
			}
			haveFmt = true
		case "data":
			if !haveFmt {
				return nil, errors.New(`WAV "data" chunk before "fmt " chunk`)
			}
			if len(chunk)%2 != 0 {
				return nil, fmt.Errorf("WAV data has an odd length (%d bytes) for 16-bit samples", len(chunk))
			}
			samples := make([]int16, len(chunk)/2)
			for i := range samples {
				samples[i] = int16(le.Uint16(chunk[2*i:]))
			}
			return samples, nil
		}
		// Chunks are padded to an even length.
		skip := uint64(size) + uint64(size&1)
		if skip > uint64(len(body)) {
			skip = uint64(len(body))
		}
		rest = body[skip:]
	}
	if !haveFmt {
		return nil, errors.New(`WAV file has no "fmt " chunk`)
	}
	return nil, errors.New(`WAV file has no "data" chunk`)
}

func checkWAVFormat(c []byte) error {
	if len(c) < 16 {
		return fmt.Errorf(`WAV "fmt " chunk too short: %d bytes, need 16`, len(c))
	}
	le := binary.LittleEndian
	tag := le.Uint16(c[0:])
	channels := le.Uint16(c[2:])
	rate := le.Uint32(c[4:])
	blockAlign := le.Uint16(c[12:])
	bits := le.Uint16(c[14:])
	if tag == wavFormatExtensible {
		// WAVE_FORMAT_EXTENSIBLE: the real format is the first two bytes
		// of the sub-format GUID.
		if len(c) < 26 {
			return fmt.Errorf(`WAV "fmt " chunk too short for WAVE_FORMAT_EXTENSIBLE: %d bytes, need 26`, len(c))
		}
		tag = le.Uint16(c[24:])
	}
	if tag != wavFormatPCM {
		return fmt.Errorf("%w: encoding %d, want 1 (linear PCM)", ErrUnsupportedWAV, tag)
	}
	if channels != 1 {
		return fmt.Errorf("%w: %d channels, want 1 (mono)", ErrUnsupportedWAV, channels)
	}
	if rate != boards.SampleRate {
		return fmt.Errorf("%w: sample rate %d Hz, want %d", ErrUnsupportedWAV, rate, boards.SampleRate)
	}
	if bits != 16 {
		return fmt.Errorf("%w: %d bits per sample, want 16", ErrUnsupportedWAV, bits)
	}
	if blockAlign != 2 {
		return fmt.Errorf("WAV block align %d does not match 16-bit mono (2)", blockAlign)
	}
	return nil
}

// printable keeps a chunk id from a hostile file from garbling an error.
func printable(id string) string {
	b := []byte(id)
	for i, c := range b {
		if c < 0x20 || c > 0x7e {
			b[i] = '?'
		}
	}
	return string(b)
}

// EncodeWAV returns samples as a RIFF/WAVE file: 8 kHz, 16-bit, mono PCM.
func EncodeWAV(samples []int16) []byte {
	var buf bytes.Buffer
	// Writes to a bytes.Buffer cannot fail.
	_ = WriteWAV(&buf, samples)
	return buf.Bytes()
}

// WriteWAV writes samples to w as a RIFF/WAVE file: 8 kHz, 16-bit, mono PCM.
func WriteWAV(w io.Writer, samples []int16) error {
	dataLen := uint32(2 * len(samples))
	hdr := make([]byte, 44, 44+dataLen)
	le := binary.LittleEndian
	copy(hdr[0:], "RIFF")
	le.PutUint32(hdr[4:], 36+dataLen)
	copy(hdr[8:], "WAVEfmt ")
	le.PutUint32(hdr[16:], 16)
	le.PutUint16(hdr[20:], wavFormatPCM)
	le.PutUint16(hdr[22:], 1)
	le.PutUint32(hdr[24:], boards.SampleRate)
	le.PutUint32(hdr[28:], boards.SampleRate*2)
	le.PutUint16(hdr[32:], 2)
	le.PutUint16(hdr[34:], 16)
	copy(hdr[36:], "data")
	le.PutUint32(hdr[40:], dataLen)
	out := hdr
	for _, s := range samples {
		out = le.AppendUint16(out, uint16(s))
	}
	if _, err := w.Write(out); err != nil {
		return fmt.Errorf("write WAV: %w", err)
	}
	return nil
}
