// Package boards is the hardware seam: what the line logic needs from a
// telephony port, whatever board it runs on. A board reports hook changes and
// dialled digits, rings the phone with a cadence and caller ID, plays tones and
// exchanges 20 ms audio frames with the line. Line logic never asks which
// board it runs on; board differences live in the board's own package and its
// descriptor.
package boards

import (
	"context"
	"time"
)

// Audio on the copper is 8 kHz linear PCM, handled in 20 ms frames.
const (
	SampleRate    = 8000
	FrameDuration = 20 * time.Millisecond
	FrameSamples  = SampleRate * int(FrameDuration/time.Millisecond) / 1000
)

// Frame is 20 ms of 16-bit linear audio. A full-scale sine (amplitude 32767)
// is +3.17 dBm0, as in ITU-T G.711.
type Frame [FrameSamples]int16

// EventKind says what happened on the copper.
type EventKind int

const (
	// OffHook: the handset was lifted (after debounce, and after the hook-flash
	// window when it follows an on-hook).
	OffHook EventKind = iota + 1
	// OnHook: the handset was put down for longer than the hook-flash window.
	OnHook
	// Flash: a short on-hook within the hook-flash window.
	Flash
	// Digit: a dialled digit, from DTMF audio or from hook pulses (see Pulse).
	Digit
)

func (k EventKind) String() string {
	switch k {
	case OffHook:
		return "off-hook"
	case OnHook:
		return "on-hook"
	case Flash:
		return "flash"
	case Digit:
		return "digit"
	}
	return "unknown"
}

// Event is one thing the port noticed.
type Event struct {
	Kind EventKind
	// Digit is '0'-'9', '*', '#' or 'A'-'D' for Kind == Digit.
	Digit byte
	// Pulse is true when the digit was dialled with hook pulses.
	Pulse bool
	// Duration is how long the digit tone or the flash lasted.
	Duration time.Duration
	// LevelDBm0 and TwistDB describe a DTMF digit as measured (high group
	// minus low group level); zero for pulse digits.
	LevelDBm0 float64
	TwistDB   float64
	// At is when the event completed, on the board's clock.
	At time.Time
}

// AudioFunc is called by the port once per 20 ms frame with the audio the
// phone sent (up, towards the network) and a frame to fill with the audio the
// phone should hear (down). It runs on the board's audio clock: it must not
// block and should not allocate. down arrives zeroed. A board may stop
// calling it while the phone is on-hook and nothing rings or plays, so that
// an idle device does not wake 50 times a second.
type AudioFunc func(up *Frame, down *Frame)

// Port is one FXS port: the copper pair to one analog telephone.
type Port interface {
	// Number is the port number as configured ([[line]] port), from 1.
	Number() int
	// Events delivers hook changes, flashes and digits in order. The channel
	// is closed when the board is closed.
	Events() <-chan Event
	// OffHook reports the current debounced hook state.
	OffHook() bool
	// Ring starts ringing with the cadence and, if r.CallerID is set, sends
	// caller ID at the point the standard requires. It replaces any ring in
	// progress and returns at once.
	Ring(r Ring) error
	// StopRing stops ringing (and any caller ID not yet sent).
	StopRing()
	// PlayTone plays t to the phone, replacing the audio from the AudioFunc
	// until the tone ends or StopTone is called. The AudioFunc keeps being
	// called so the phone's audio keeps flowing upstream.
	PlayTone(t Tone)
	// StopTone stops the tone playing, if any.
	StopTone()
	// SetAudio installs the audio callback; nil means silence both ways.
	SetAudio(f AudioFunc)
	// Polarity reverses the line (used by some caller-ID standards and for
	// answer supervision); false is normal polarity.
	SetReversed(reversed bool)
}

// Board is a set of ports on one piece of hardware.
type Board interface {
	// Name is the board name used in [device] board.
	Name() string
	// Ports lists the FXS ports, in port number order.
	Ports() []Port
	// Run drives the board (audio clock, hook scanning, control API) until
	// ctx ends, then releases the hardware.
	Run(ctx context.Context) error
}

// Tone is a call-progress or signalling tone: a sequence of segments that may
// loop. A segment with no frequencies is silence.
type Tone struct {
	Name     string
	Segments []Segment
	// LoopFrom is the index of the segment to go back to after the last one;
	// -1 means the tone ends (silence) after the last segment.
	LoopFrom int
}

// Segment is one piece of a tone.
type Segment struct {
	// Freqs are summed (e.g. 350+440 Hz for North American dial tone).
	Freqs []float64
	// LevelDBm0 is the level of each frequency component.
	LevelDBm0 float64
	// ModulateHz, when not zero, amplitude-modulates the sum at that rate
	// (some regions' tones are modulated rather than summed).
	ModulateHz float64
	// Duration of the segment; 0 means it lasts until the tone is stopped.
	Duration time.Duration
}

// Continuous reports whether the tone never ends by itself.
func (t Tone) Continuous() bool {
	if t.LoopFrom >= 0 {
		return true
	}
	for _, s := range t.Segments {
		if s.Duration == 0 {
			return true
		}
	}
	return false
}

// Cadence is a ring pattern: alternating on and off times, repeated.
type Cadence []time.Duration

// Period is the length of one repetition.
func (c Cadence) Period() time.Duration {
	var p time.Duration
	for _, d := range c {
		p += d
	}
	return p
}

// CallerIDStandard is how the caller's number is signalled to the phone.
type CallerIDStandard int

const (
	// CallerIDNone sends nothing.
	CallerIDNone CallerIDStandard = iota
	// CallerIDBell202 is Telcordia GR-30: Bell 202 FSK between the first and
	// second ring, MDMF framing (North America).
	CallerIDBell202
	// CallerIDETSIFSK is ETSI EN 300 659-1 V.23 FSK before the first ring,
	// after a line reversal and a dual-tone alerting signal (UK BT SIN 227 and
	// Germany use variants of this).
	CallerIDETSIFSK
	// CallerIDETSIFSKAfterRing is V.23 FSK after the first ring (ETSI "during
	// ringing" variant, used in parts of Germany and elsewhere).
	CallerIDETSIFSKAfterRing
	// CallerIDDTMF is DTMF caller ID before the first ring (ETSI TS 101 154;
	// Scandinavia, the Netherlands and others).
	CallerIDDTMF
)

func (s CallerIDStandard) String() string {
	switch s {
	case CallerIDNone:
		return "none"
	case CallerIDBell202:
		return "bell202"
	case CallerIDETSIFSK:
		return "etsi-fsk"
	case CallerIDETSIFSKAfterRing:
		return "etsi-fsk-after-ring"
	case CallerIDDTMF:
		return "dtmf"
	}
	return "unknown"
}

// CallerID is what the phone's display shows for an incoming call.
type CallerID struct {
	Number string
	Name   string
	Time   time.Time
	// Withheld is true when the caller withheld their identity ("P" in
	// SDMF/MDMF: private); Unavailable when the network did not provide one
	// ("O": out of area).
	Withheld    bool
	Unavailable bool
}

// Ring asks the port to ring the phone.
type Ring struct {
	Cadence  Cadence
	CallerID *CallerID
	Standard CallerIDStandard
}
