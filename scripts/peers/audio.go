package peers

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"os"
	"time"

	"github.com/tipring/tipring/sip/media/g711"
)

// Audio here is what the telephone network carries: 8 kHz, 16-bit linear,
// mono. Levels are in dBm0 as in ITU-T G.711: a full-scale sine is +3.17 dBm0.
const (
	sampleRate  = 8000
	fullScaleDB = 3.17
)

// Tone returns d of a sine at hz with the given level.
func Tone(hz, levelDBm0 float64, d time.Duration) []int16 {
	n := int(d.Seconds() * sampleRate)
	amp := 32767 * math.Pow(10, (levelDBm0-fullScaleDB)/20)
	out := make([]int16, n)
	for i := range out {
		out[i] = int16(math.Round(amp * math.Sin(2*math.Pi*hz*float64(i)/sampleRate)))
	}
	return out
}

// EncodeUlaw returns samples as G.711 μ-law bytes, the raw format SIPp's
// rtp_stream plays with payload type 0.
func EncodeUlaw(samples []int16) []byte {
	out := make([]byte, len(samples))
	for i, s := range samples {
		out[i] = g711.EncodeUlaw(s)
	}
	return out
}

// DecodeUlaw returns linear samples for G.711 μ-law bytes.
func DecodeUlaw(b []byte) []int16 {
	out := make([]int16, len(b))
	for i, c := range b {
		out[i] = g711.DecodeUlaw(c)
	}
	return out
}

// EncodeWAV returns samples as a RIFF/WAVE file: 8 kHz, 16-bit, mono PCM.
func EncodeWAV(samples []int16) []byte {
	le := binary.LittleEndian
	data := 2 * len(samples)
	b := make([]byte, 44+data)
	copy(b[0:], "RIFF")
	le.PutUint32(b[4:], uint32(36+data))
	copy(b[8:], "WAVEfmt ")
	le.PutUint32(b[16:], 16)
	le.PutUint16(b[20:], 1) // linear PCM
	le.PutUint16(b[22:], 1) // mono
	le.PutUint32(b[24:], sampleRate)
	le.PutUint32(b[28:], sampleRate*2)
	le.PutUint16(b[32:], 2)
	le.PutUint16(b[34:], 16)
	copy(b[36:], "data")
	le.PutUint32(b[40:], uint32(data))
	for i, s := range samples {
		le.PutUint16(b[44+2*i:], uint16(s))
	}
	return b
}

// ReadWAV reads a WAV file written by a peer (baresip's sndfile recorder).
func ReadWAV(path string) ([]int16, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read WAV: %w", err)
	}
	s, err := ParseWAV(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return s, nil
}

// ParseWAV decodes an 8 kHz, 16-bit, mono PCM WAV file. A recorder stopped
// mid-call leaves sizes that overstate what was written, so a data chunk
// longer than the file yields the samples that are there rather than an
// error; everything else that is not such a file is an error that names
// the problem.
func ParseWAV(b []byte) ([]int16, error) {
	le := binary.LittleEndian
	if len(b) < 12 || string(b[0:4]) != "RIFF" || string(b[8:12]) != "WAVE" {
		return nil, errors.New("not a RIFF/WAVE file")
	}
	rest := b[12:]
	haveFmt := false
	for len(rest) >= 8 {
		id := string(rest[0:4])
		size := uint64(le.Uint32(rest[4:8]))
		body := rest[8:]
		if id == "data" {
			if !haveFmt {
				return nil, errors.New(`WAV "data" chunk before "fmt " chunk`)
			}
			if size > uint64(len(body)) {
				size = uint64(len(body))
			}
			size &^= 1
			out := make([]int16, size/2)
			for i := range out {
				out[i] = int16(le.Uint16(body[2*i:]))
			}
			return out, nil
		}
		if size > uint64(len(body)) {
			return nil, fmt.Errorf("WAV chunk %q declares %d bytes but only %d remain", printable(id), size, len(body))
		}
		if id == "fmt " {
			if err := checkFormat(body[:size]); err != nil {
				return nil, err
			}
			haveFmt = true
		}
		skip := size + size&1
		if skip > uint64(len(body)) {
			skip = uint64(len(body))
		}
		rest = body[skip:]
	}
	return nil, errors.New(`WAV file has no "data" chunk`)
}

func checkFormat(c []byte) error {
	if len(c) < 16 {
		return fmt.Errorf(`WAV "fmt " chunk is %d bytes, need at least 16`, len(c))
	}
	le := binary.LittleEndian
	tag, ch, rate, bits := le.Uint16(c[0:]), le.Uint16(c[2:]), le.Uint32(c[4:]), le.Uint16(c[14:])
	if tag == 0xFFFE && len(c) >= 26 {
		// WAVE_FORMAT_EXTENSIBLE carries the real tag in its sub-format.
		tag = le.Uint16(c[24:])
	}
	if tag != 1 || ch != 1 || rate != sampleRate || bits != 16 {
		return fmt.Errorf("WAV format is tag %d, %d channel(s), %d Hz, %d bits; want linear PCM (1), mono, %d Hz, 16 bits", tag, ch, rate, bits, sampleRate)
	}
	return nil
}

// printable keeps bytes from a hostile file from garbling an error message.
func printable(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c < 0x20 || c > 0x7e {
			b[i] = '?'
		}
	}
	return string(b)
}

// ToneDBm0 measures the level of the hz component of samples, in dBm0. It
// correlates with a sine and cosine at exactly hz, so a tone a few hertz
// away over a second of audio measures far lower: use it to tell 1004 Hz
// from 800 Hz, not to find an unknown frequency. Silence measures -inf.
func ToneDBm0(samples []int16, hz float64) float64 {
	if len(samples) == 0 {
		return math.Inf(-1)
	}
	var re, im float64
	w := 2 * math.Pi * hz / sampleRate
	for i, s := range samples {
		re += float64(s) * math.Cos(w*float64(i))
		im += float64(s) * math.Sin(w*float64(i))
	}
	amp := 2 * math.Hypot(re, im) / float64(len(samples))
	return amplitudeDBm0(amp)
}

// LevelDBm0 is the level of all of samples, in dBm0 (a sine's level is the
// level of a sine with the same power).
func LevelDBm0(samples []int16) float64 {
	if len(samples) == 0 {
		return math.Inf(-1)
	}
	var sum float64
	for _, s := range samples {
		sum += float64(s) * float64(s)
	}
	rms := math.Sqrt(sum / float64(len(samples)))
	return amplitudeDBm0(rms * math.Sqrt2)
}

// TrimSilence drops the 20 ms frames quieter than thresholdDBm0 from both
// ends of samples: the silence before a far end starts sending and after it
// stops would otherwise dilute a level measurement.
func TrimSilence(samples []int16, thresholdDBm0 float64) []int16 {
	const frame = sampleRate / 50
	quiet := func(i int) bool { return LevelDBm0(samples[i:min(i+frame, len(samples))]) < thresholdDBm0 }
	start := 0
	for start < len(samples) && quiet(start) {
		start += frame
	}
	end := len(samples)
	for end > start {
		i := max(start, end-frame)
		if !quiet(i) {
			break
		}
		end = i
	}
	if start >= end {
		return nil
	}
	return samples[start:end]
}

func amplitudeDBm0(amp float64) float64 {
	if amp == 0 {
		return math.Inf(-1)
	}
	return 20*math.Log10(amp/32767) + fullScaleDB
}
