package dsp

import (
	"fmt"
	"math"
	"time"

	"github.com/tipring/tipring/boards"
)

// CallerIDSignal is the audio a board puts on the line to send one caller
// ID, rendered once when it is built and then handed out frame by frame.
// Rendering up front keeps Fill to a copy (no allocation, nothing that can
// fail on the audio clock); a whole signal is under a second, 16 KB or less.
type CallerIDSignal struct {
	samples []int16
	pos     int
}

// NewCallerIDSignal builds the signal for std at levelDBm0 (GR-30 and ETSI
// send at -13.5 dBm0; 0 to -60 dBm0 is accepted):
//
//   - CallerIDBell202: Bell 202 FSK, seizure, marks, MDMF message;
//   - CallerIDETSIFSK: DT-AS for 100 ms, 60 ms of silence, V.23 FSK
//     (seizure, marks, MDMF call setup message);
//   - CallerIDETSIFSKAfterRing: V.23 FSK without DT-AS;
//   - CallerIDDTMF: DTMF 'A' number 'C', or 'B00C' (unavailable) / 'B10C'
//     (withheld); DTMF caller ID has no name and no date.
//
// The date and time are sent as MMDDHHMM of cid.Time in its own location;
// a zero Time sends none. CallerIDTimingFor says what to do around it.
func NewCallerIDSignal(std boards.CallerIDStandard, cid boards.CallerID, levelDBm0 float64) (*CallerIDSignal, error) {
	if math.IsNaN(levelDBm0) || levelDBm0 > cidMaxLevelDBm0 || levelDBm0 < cidMinLevelDBm0 {
		return nil, fmt.Errorf("caller ID signal: level %v dBm0 outside %d to %d dBm0", levelDBm0, cidMinLevelDBm0, cidMaxLevelDBm0)
	}
	var (
		samples []int16
		err     error
	)
	switch std {
	case boards.CallerIDBell202, boards.CallerIDETSIFSKAfterRing:
		samples, err = cidRenderFSK(std, cid, levelDBm0, nil)
	case boards.CallerIDETSIFSK:
		pre := cidRenderTones(nil, cidDTASLength, levelDBm0-cidDTASToneBelowDB, cidDTASLowHz, cidDTASHighHz)
		pre = cidRenderTones(pre, cidDTASGap, 0)
		samples, err = cidRenderFSK(std, cid, levelDBm0, pre)
	case boards.CallerIDDTMF:
		samples, err = cidRenderDTMF(cid, levelDBm0)
	default:
		return nil, fmt.Errorf("caller ID signal: standard %v sends no caller ID", std)
	}
	if err != nil {
		return nil, fmt.Errorf("caller ID signal (%v): %w", std, err)
	}
	return &CallerIDSignal{samples: samples}, nil
}

// Fill writes the next 20 ms of the signal into f, silence past its end. done
// is true when nothing is left after this frame: the frame that holds the
// last samples already reports done.
func (s *CallerIDSignal) Fill(f *boards.Frame) (done bool) {
	n := copy(f[:], s.samples[s.pos:])
	clear(f[n:])
	s.pos += n
	return s.pos >= len(s.samples)
}

// Duration is the length of the whole signal.
func (s *CallerIDSignal) Duration() time.Duration {
	return time.Duration(len(s.samples)) * time.Second / boards.SampleRate
}

// cidRenderFSK appends seizure, marks and the MDMF message to pre.
func cidRenderFSK(std boards.CallerIDStandard, cid boards.CallerID, levelDBm0 float64, pre []int16) ([]int16, error) {
	modem, _ := fskModemFor(std)
	msg, err := EncodeMDMF(cid)
	if err != nil {
		return nil, err
	}
	bits := cidSeizureBits + cidMarkBits + 10*len(msg) + cidTrailMarks
	out := make([]int16, len(pre), len(pre)+int(float64(bits)*boards.SampleRate/modem.baud)+1)
	copy(out, pre)
	m := newFSKModulator(modem, AmplitudeForDBm0(levelDBm0), out)
	m.seizure(cidSeizureBits)
	m.marks(cidMarkBits)
	for _, b := range msg {
		m.byte(b)
	}
	m.marks(cidTrailMarks)
	return m.out, nil
}

// cidDTMFDigits is what DTMF caller ID sends for cid.
func cidDTMFDigits(cid boards.CallerID) (string, error) {
	switch {
	case cid.Withheld:
		return string(cidDTMFStartInfo) + cidDTMFPrivate + string(cidDTMFEnd), nil
	case cid.Number != "":
		if err := cidCheckNumber(cid.Number); err != nil {
			return "", err
		}
		return string(cidDTMFStartNumber) + cid.Number + string(cidDTMFEnd), nil
	case cid.Unavailable:
		return string(cidDTMFStartInfo) + cidDTMFUnavailable + string(cidDTMFEnd), nil
	}
	return "", fmt.Errorf("%w: DTMF caller ID sends only a number or a reason for its absence", ErrCallerIDEmpty)
}

func cidRenderDTMF(cid boards.CallerID, levelDBm0 float64) ([]int16, error) {
	digits, err := cidDTMFDigits(cid)
	if err != nil {
		return nil, err
	}
	tone, err := DTMFString(digits, cidDTMFOn, cidDTMFOff, levelDBm0-cidDTMFToneBelowDB)
	if err != nil {
		return nil, err
	}
	// No pause after the end digit: LeadOut follows.
	tone.Segments = tone.Segments[:len(tone.Segments)-1]
	return cidRenderTone(nil, tone), nil
}
