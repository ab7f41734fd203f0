package dsp

import (
	"fmt"
	"time"

	"github.com/tipring/tipring/boards"
)

// DTMF frequencies (ITU-T Q.23): a digit is one tone of each group.
var (
	dtmfLow  = [4]float64{697, 770, 852, 941}
	dtmfHigh = [4]float64{1209, 1336, 1477, 1633}
)

// dtmfKeys is the keypad, row by row: row = low tone, column = high tone.
const dtmfKeys = "123A456B789C*0#D"

// DTMFFreqs returns the two frequencies of a DTMF digit: '0'-'9', '*', '#'
// and 'A'-'D' (also accepted in lower case).
func DTMFFreqs(digit byte) (low, high float64, ok bool) {
	if digit >= 'a' && digit <= 'd' {
		digit -= 'a' - 'A'
	}
	for i := range len(dtmfKeys) {
		if dtmfKeys[i] == digit {
			return dtmfLow[i/4], dtmfHigh[i%4], true
		}
	}
	return 0, 0, false
}

// DTMFTone is one digit: both tones at levelDBm0 each for on, then silence
// for off; it does not loop. An unknown digit, or on <= 0, gives a tone of
// silence only (use DTMFString to have such mistakes reported); off <= 0
// means no silence after the digit.
func DTMFTone(digit byte, on, off time.Duration, levelDBm0 float64) boards.Tone {
	t := boards.Tone{Name: "dtmf", LoopFrom: -1}
	low, high, ok := DTMFFreqs(digit)
	if on > 0 {
		s := boards.Segment{Duration: on}
		if ok {
			s.Freqs = []float64{low, high}
			s.LevelDBm0 = levelDBm0
		}
		t.Segments = append(t.Segments, s)
	}
	if off > 0 {
		t.Segments = append(t.Segments, boards.Segment{Duration: off})
	}
	return t
}

// DTMFString is a sequence of digits, each on for on and followed by off of
// silence, at levelDBm0 per tone; it does not loop.
func DTMFString(digits string, on, off time.Duration, levelDBm0 float64) (boards.Tone, error) {
	if digits == "" {
		return boards.Tone{}, fmt.Errorf("dtmf string: no digits")
	}
	if on <= 0 {
		return boards.Tone{}, fmt.Errorf("dtmf string: digit duration %v is not positive", on)
	}
	if off < 0 {
		return boards.Tone{}, fmt.Errorf("dtmf string: pause %v is negative", off)
	}
	t := boards.Tone{Name: "dtmf", LoopFrom: -1, Segments: make([]boards.Segment, 0, 2*len(digits))}
	for i := range len(digits) {
		low, high, ok := DTMFFreqs(digits[i])
		if !ok {
			return boards.Tone{}, fmt.Errorf("dtmf string %q: character %q at position %d is not a DTMF digit (0-9, *, #, A-D)", digits, digits[i], i+1)
		}
		t.Segments = append(t.Segments, boards.Segment{Freqs: []float64{low, high}, LevelDBm0: levelDBm0, Duration: on})
		if off > 0 {
			t.Segments = append(t.Segments, boards.Segment{Duration: off})
		}
	}
	return t, nil
}
