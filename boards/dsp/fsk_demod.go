package dsp

import (
	"math"

	"github.com/tipring/tipring/boards"
)

// fskWindow is the correlation window in samples, one bit long (6⅔ samples
// at 1200 baud) rounded up: long enough to tell 1300 from 2100 Hz (V.23 is
// the harder of the two modems), short enough not to smear one bit into the
// next.
const fskWindow = 7

// fskRefLen is the period, in samples, of every tone the modems use: at 8
// kHz, 1200, 1300, 2100 and 2200 Hz all repeat after 80 samples, so one
// table per tone replaces an oscillator that would drift.
const fskRefLen = 80

// Carrier detection: the receiver only believes bits while the received
// power is above fskCarrierOnDBm0, and drops a message in progress when it
// falls below fskCarrierOffDBm0. Senders use -13.5 dBm0 and long loops lose
// up to about 25 dB of it; -46 dBm0 leaves margin below that, and is still
// well above the noise of an idle line.
const (
	fskCarrierOnDBm0  = -46
	fskCarrierOffDBm0 = -50
	// fskPowerSmooth is the weight of a new sample in the power average: a
	// time constant of 32 samples, 4 ms.
	fskPowerSmooth = 1.0 / 32
)

// UART framing of the demodulated bits.
const (
	// fskHuntMarkBits of steady mark must precede the first start bit of a
	// message: GR-30 sends 180, ETSI 180 ± 25, BT SIN 227 as few as 55.
	// Requiring a run keeps the alternating seizure and random audio from
	// being read as characters.
	fskHuntMarkBits = 40
	// fskMaxGapBits is how long a message may pause between characters
	// before we give up on it. GR-30 allows 16.7 ms (20 bits).
	fskMaxGapBits = 40
	// fskTrackGain and fskTrackMaxBits steer the bit clock by the
	// transitions inside a character (see track). With them the receiver
	// takes ±4 % bit-rate error (the standards allow ±1 %); without, ±2 %.
	fskTrackGain    = 0.3
	fskTrackMaxBits = 0.45
)

// fskDemod turns audio into caller-ID messages: two non-coherent
// correlators (one per tone) over a one-bit window give, for every sample,
// a decision d in [-1, 1] (mark positive); a UART finds each start bit on
// the mark-to-space crossing of d and samples the following bits at their
// middles, steering its clock by the transitions it sees. Nothing in it
// assumes the sender's phase or exact frequencies: a one-bit window
// responds broadly (its first null is 1140 Hz from the centre), so offsets
// of a few percent barely move the decision.
type fskDemod struct {
	spb               float64 // samples per bit
	markRef, spaceRef [fskRefLen]complex128
	ref               int
	markWin, spaceWin [fskWindow]complex128 // products of the last samples with the references
	win               int
	power             float64 // smoothed received power, in sample units squared
	carrierOn         float64 // power thresholds
	carrierOff        float64
	carrier           bool
	dPrev             float64
	dHist             [3]float64 // the last decisions, to average around a bit's middle
	dAt               int        // where the next decision goes in dHist
	hunting           bool       // looking for the mark run before a message
	markRun, spaceRun int
	sinceStop         int  // samples since the last stop bit of the message
	inChar            bool // between a start bit and its stop bit
	// Within a character, time counts in samples from the one at which the
	// start bit was seen (k = 0); counters stay small, so nothing wraps on
	// 32-bit boards however long the receiver runs.
	k                  int
	edge               float64 // start bit edge, relative to k = 0 (between -1 and 0)
	bit                int     // next bit to sample: 0 start, 1-8 data, 9 stop
	next               int     // k at which to take that bit
	char               byte
	savedMarkRun       int // markRun before a start bit that may be false
	msg                [cidMaxMessageLen]byte
	msgLen, msgWant    int
	huntMarks, maxGapN int
}

func newFSKDemod(m fskModem) *fskDemod {
	d := &fskDemod{
		spb:        boards.SampleRate / m.baud,
		carrierOn:  cidPower(fskCarrierOnDBm0),
		carrierOff: cidPower(fskCarrierOffDBm0),
	}
	d.huntMarks = int(fskHuntMarkBits * d.spb)
	d.maxGapN = int(fskMaxGapBits * d.spb)
	for i := range fskRefLen {
		d.markRef[i] = cidPhasor(-2 * math.Pi * m.markHz * float64(i) / boards.SampleRate)
		d.spaceRef[i] = cidPhasor(-2 * math.Pi * m.spaceHz * float64(i) / boards.SampleRate)
	}
	d.reset()
	return d
}

func cidPhasor(rad float64) complex128 {
	s, c := math.Sincos(rad)
	return complex(c, s)
}

// cidPower is the mean square, in sample units, of a sine at dBm0.
func cidPower(dBm0 float64) float64 {
	a := AmplitudeForDBm0(dBm0)
	return a * a / 2
}

// reset forgets any message in progress; the correlators and the power
// average keep their state, since they describe the audio, not a message.
func (d *fskDemod) reset() {
	d.hunting = true
	d.inChar = false
	d.markRun, d.spaceRun = 0, 0
	d.msgLen, d.msgWant = 0, 0
}

// sample feeds one sample; it returns a complete message (type, length,
// body, checksum) when the last byte of one arrives. The slice aliases the
// demodulator's buffer and is valid until the next call.
func (d *fskDemod) sample(x float64) []byte {
	d.markWin[d.win] = complex(x, 0) * d.markRef[d.ref]
	d.spaceWin[d.win] = complex(x, 0) * d.spaceRef[d.ref]
	d.win = (d.win + 1) % fskWindow
	d.ref = (d.ref + 1) % fskRefLen
	var m, s complex128
	for i := range fskWindow {
		m += d.markWin[i]
		s += d.spaceWin[i]
	}
	em := real(m)*real(m) + imag(m)*imag(m)
	es := real(s)*real(s) + imag(s)*imag(s)
	dec := 0.0
	if em+es > 0 {
		dec = (em - es) / (em + es)
	}
	d.power += fskPowerSmooth * (x*x - d.power)
	switch {
	case d.power >= d.carrierOn:
		d.carrier = true
	case d.power < d.carrierOff:
		d.carrier = false
	}
	d.dHist[d.dAt] = dec
	d.dAt = (d.dAt + 1) % len(d.dHist)
	prev := d.dPrev
	d.dPrev = dec

	if !d.carrier {
		if !d.hunting || d.inChar {
			d.reset()
		}
		d.markRun, d.spaceRun = 0, 0
		return nil
	}
	if d.inChar {
		return d.bitClock(prev, dec)
	}
	if !d.hunting {
		d.sinceStop++
		if d.sinceStop > d.maxGapN {
			d.reset()
		}
	}
	if dec > 0 {
		d.markRun++
		d.spaceRun = 0
		return nil
	}
	// A mark-to-space crossing starts a character when it follows the
	// stop bit of a character in this message, or the long mark run that
	// precedes a message.
	if prev > 0 && (!d.hunting || d.markRun >= d.huntMarks) {
		d.startChar(prev, dec)
		return nil
	}
	d.spaceRun++
	if float64(d.spaceRun) >= d.spb/2 {
		// A single sample below zero is noise; half a bit of space is not.
		d.markRun = 0
	}
	return nil
}

// startChar begins a character at the crossing between the previous sample
// (decision prev > 0) and this one (decision cur <= 0).
func (d *fskDemod) startChar(prev, cur float64) {
	d.inChar = true
	d.k = 0
	d.edge = -1 + prev/(prev-cur)
	d.bit = 0
	d.char = 0
	d.savedMarkRun = d.markRun
	d.scheduleBit()
}

// track pulls the bit clock towards a transition seen inside the character
// (between samples k-1 and k). Every transition is a measurement of where
// the bit boundaries really are; taking a part of each error follows a
// sender whose bit rate is a few percent off, and averages out the jitter
// noise puts on any one crossing. Crossings near the middle of a bit are
// noise, not boundaries, and are ignored.
func (d *fskDemod) track(prev, cur float64) {
	tc := float64(d.k) - 1 + prev/(prev-cur)
	j := math.Round((tc - d.edge) / d.spb)
	if e := tc - (d.edge + j*d.spb); math.Abs(e) < fskTrackMaxBits*d.spb {
		d.edge += fskTrackGain * e
		d.scheduleBit()
	}
}

// scheduleBit sets when to take bit d.bit: one sample after its middle, so
// that the decisions on either side of the middle are known. The crossing
// of d lags the true edge by half the window, and so does every later
// decision: sampling relative to the crossing cancels the lag.
func (d *fskDemod) scheduleBit() {
	d.next = int(math.Round(d.edge+(float64(d.bit)+0.5)*d.spb)) + 1
}

func (d *fskDemod) bitClock(prev, cur float64) []byte {
	d.k++
	if d.bit > 0 && (prev > 0) != (cur > 0) {
		d.track(prev, cur)
	}
	if d.k < d.next {
		return nil
	}
	one := d.dHist[0]+d.dHist[1]+d.dHist[2] > 0
	switch {
	case d.bit == 0:
		if one { // not a start bit after all: a glitch in the marks
			d.inChar = false
			d.markRun = d.savedMarkRun + d.k
			return nil
		}
	case d.bit <= 8:
		if one {
			d.char |= 1 << (d.bit - 1)
		}
	default:
		d.inChar = false
		if !one { // framing error: whatever this is, it is not our message
			d.reset()
			return nil
		}
		d.sinceStop = 0
		d.markRun, d.spaceRun = 0, 0
		if msg := d.gotChar(d.char); msg != nil || d.hunting {
			return msg
		}
		d.catchStart()
		return nil
	}
	d.bit++
	d.scheduleBit()
	return nil
}

func (d *fskDemod) gotChar(c byte) []byte {
	if d.hunting {
		if c != cidMsgSDMF && c != cidMsgMDMF {
			d.reset()
			return nil
		}
		d.hunting = false
	}
	d.msg[d.msgLen] = c
	d.msgLen++
	if d.msgLen == 2 {
		d.msgWant = int(c) + cidMessageOverheadLen
	}
	if d.msgLen >= 2 && d.msgLen == d.msgWant {
		msg := d.msg[:d.msgLen]
		d.reset()
		return msg
	}
	return nil
}

// catchStart starts the next character if its start bit already began in
// the samples that were averaged for the stop bit: with no marks between
// characters and a sender a little fast, the crossing can come before the
// stop bit is taken, and waiting for the next crossing would lose the
// character.
func (d *fskDemod) catchStart() {
	h := len(d.dHist)
	oldest, mid, newest := d.dHist[d.dAt], d.dHist[(d.dAt+1)%h], d.dHist[(d.dAt+2)%h]
	switch {
	case newest > 0:
	case mid > 0:
		d.startChar(mid, newest)
	case oldest > 0:
		d.startChar(oldest, mid)
		d.edge--
		d.scheduleBit()
	}
}
