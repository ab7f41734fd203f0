package dsp

import (
	"time"

	"github.com/tipring/tipring/boards"
)

// CallerIDReceiver is the caller-ID decoder of a telephone: it listens to
// the audio the phone receives and reports each caller ID it decodes. For
// the FSK standards it demodulates the standard's modem (Bell 202 or V.23;
// like multi-standard phones, each also reads the other, their tones being
// 100 Hz apart) and accepts only a framed, checksum-valid SDMF or MDMF
// message after a mark run; for CallerIDDTMF it collects DTMF digits between
// a start digit ('A', 'D' or 'B') and the end digit 'C'. Noise, speech and
// tones produce nothing. A receiver for CallerIDNone never reports anything.
//
// It decodes FSK from 0 to about -45 dBm0, with white noise up to 12 dB
// below the signal, tones off by ±5 % and bit rates off by ±4 % (the
// standards allow ±1 % for each); DTMF as far as the DTMF detector goes.
type CallerIDReceiver struct {
	fsk  *fskDemod
	dtmf *cidDTMFCollector
}

// NewCallerIDReceiver returns a receiver for std.
func NewCallerIDReceiver(std boards.CallerIDStandard) *CallerIDReceiver {
	r := &CallerIDReceiver{}
	if m, ok := fskModemFor(std); ok {
		r.fsk = newFSKDemod(m)
	}
	if std == boards.CallerIDDTMF {
		r.dtmf = newCIDDTMFCollector()
	}
	return r
}

// Process takes the next 20 ms of received audio. It returns true, with the
// caller ID, on the frame in which a complete, valid message ends; the
// date, if sent, has no year (see CallerIDTimeNear).
func (r *CallerIDReceiver) Process(f *boards.Frame) (boards.CallerID, bool) {
	var (
		cid   boards.CallerID
		found bool
	)
	if r.fsk != nil {
		for _, v := range f {
			msg := r.fsk.sample(float64(v))
			if msg == nil {
				continue
			}
			// The demodulator already checked framing and length; the
			// checksum and the parameters are checked here.
			if c, err := DecodeCallerIDMessage(msg); err == nil {
				cid, found = c, true
			}
		}
	}
	if r.dtmf != nil {
		if c, ok := r.dtmf.frame(f); ok {
			cid, found = c, true
		}
	}
	return cid, found
}

// Reset drops any message half received, e.g. when the phone goes off hook.
func (r *CallerIDReceiver) Reset() {
	if r.fsk != nil {
		r.fsk.reset()
	}
	if r.dtmf != nil {
		r.dtmf.reset()
	}
}

// cidDTMFMaxGap is the longest pause between two digits of one DTMF
// caller ID: senders pause 50-100 ms, so a second means the rest was lost.
const cidDTMFMaxGap = time.Second

// cidDTMFCollector turns DTMF digits into caller IDs: 'A' or 'D', digits,
// 'C' is a number; 'B', a two-digit code, 'C' says why there is none ("00"
// unavailable, "10" private). Anything else between start and end, a start
// digit where none is expected, too many digits or a long pause discards
// what was collected.
type cidDTMFCollector struct {
	det     *DTMFDetector
	start   byte // 0 when not inside a caller ID
	digits  [cidMaxNumberLen]byte
	n       int
	idle    int // frames since the last digit
	maxIdle int
}

func newCIDDTMFCollector() *cidDTMFCollector {
	return &cidDTMFCollector{det: NewDTMFDetector(), maxIdle: int(cidDTMFMaxGap / boards.FrameDuration)}
}

func (c *cidDTMFCollector) reset() {
	c.start, c.n, c.idle = 0, 0, 0
}

func (c *cidDTMFCollector) frame(f *boards.Frame) (boards.CallerID, bool) {
	ev, ok := c.det.Process(f, time.Time{})
	if !ok {
		if c.start != 0 {
			c.idle++
			if c.idle > c.maxIdle {
				c.reset()
			}
		}
		return boards.CallerID{}, false
	}
	return c.digit(ev.Digit)
}

// digit takes one detected digit.
func (c *cidDTMFCollector) digit(d byte) (boards.CallerID, bool) {
	c.idle = 0
	switch {
	case d == cidDTMFStartNumber || d == 'D' || d == cidDTMFStartInfo:
		// A start digit always begins afresh: a new caller ID may follow one
		// whose end was lost.
		c.reset()
		c.start = d
	case c.start == 0:
	case d >= '0' && d <= '9':
		if c.n == len(c.digits) {
			c.reset()
			break
		}
		c.digits[c.n] = d
		c.n++
	case d == cidDTMFEnd:
		cid, ok := c.result()
		c.reset()
		return cid, ok
	default:
		c.reset()
	}
	return boards.CallerID{}, false
}

func (c *cidDTMFCollector) result() (boards.CallerID, bool) {
	got := string(c.digits[:c.n])
	if c.start == cidDTMFStartInfo {
		switch got {
		case cidDTMFUnavailable:
			return boards.CallerID{Unavailable: true}, true
		case cidDTMFPrivate:
			return boards.CallerID{Withheld: true}, true
		}
		return boards.CallerID{}, false
	}
	if c.n == 0 {
		return boards.CallerID{}, false
	}
	return boards.CallerID{Number: got}, true
}
