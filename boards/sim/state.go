package sim

import (
	"fmt"
	"math"
	"strings"
	"time"
)

// PhoneState is what a virtual phone reports about itself: the JSON of
// GET /v1/phones/{port}. Everything in it comes from what the phone sensed
// on its copper pair (audio, ring voltage, polarity) or from what it was
// told to do (hook, device), never from the firmware's state.
type PhoneState struct {
	Port int `json:"port"`
	// Hook is "on" or "off": the phone's hook switch.
	Hook string `json:"hook"`
	// Ringing is true from the first ring burst until no burst has come for
	// longer than the longest off-time measured in this episode plus 0.5 s
	// — but at least 4.5 s until the cadence has been seen to repeat, since
	// a longer gap may still be to come (UK: 200 ms, then 2 s); false at
	// once when the phone goes off-hook.
	Ringing bool `json:"ringing"`
	// Rings counts the bursts of the current (or last) ringing episode.
	Rings int `json:"rings"`
	// CallerID is the last caller ID demodulated, or nil. It is kept until
	// a new ringing episode starts without one of its own (a caller ID sent
	// before the first ring belongs to the episode that follows it).
	CallerID *CallerIDState `json:"caller_id"`
	// Hearing names what the last second of received audio sounds like:
	// "silence", a tone name of the region ("dial", "ringback", "busy",
	// "reorder", "sit", "stutter", "warning"), "tone" or "speech".
	Hearing string `json:"hearing"`
	// ToneHz are the dominant frequencies of that audio; empty for silence.
	ToneHz []float64 `json:"tone_hz"`
	// LevelDBm0 is its RMS level; -99 (dsp.FloorDBm0) for silence.
	LevelDBm0 float64 `json:"level_dbm0"`
	// RingCadenceMs is the last complete ring cadence measured from the
	// ring voltage, on and off times in ms; empty before one was measured.
	RingCadenceMs []int `json:"ring_cadence_ms"`
	// Polarity is "normal" or "reversed", as the phone sees the line now.
	Polarity string `json:"polarity"`
	// Device is what hangs on the line, for line tests.
	Device Device `json:"device"`
}

// CallerIDState is a caller ID as the phone displays it.
type CallerIDState struct {
	Number string `json:"number"`
	Name   string `json:"name"`
	// At is when the phone finished demodulating it, on the board's clock.
	At time.Time `json:"at"`
	// Withheld: the caller withheld the number ("P"); Unavailable: the
	// network had none ("O").
	Withheld    bool `json:"withheld,omitempty"`
	Unavailable bool `json:"unavailable,omitempty"`
}

// Fault is an electrical fault on the line, for line tests.
type Fault string

// Faults a simulated line can have.
const (
	FaultNone             Fault = "none"
	FaultForeignVoltage   Fault = "foreign_voltage"
	FaultHazardousVoltage Fault = "hazardous_voltage"
	FaultResistive        Fault = "resistive"
	FaultReceiverOffHook  Fault = "receiver_off_hook"
)

var faults = []Fault{FaultNone, FaultForeignVoltage, FaultHazardousVoltage, FaultResistive, FaultReceiverOffHook}

// MaxREN is the highest ringer equivalence number accepted: more than any
// FXS port can ring, so a line test can report an overload.
const MaxREN = 10

// Device is what hangs on the simulated line, as a line test would find
// it. The phone's audio behaviour does not depend on it: it is stored for
// the line test to measure.
type Device struct {
	// Attached is false when nothing is plugged in.
	Attached bool `json:"attached"`
	// REN is the ringer equivalence number of what is attached, 0-10.
	REN float64 `json:"ren"`
	// Fault is FaultNone or one of the other Fault values.
	Fault Fault `json:"fault"`
}

// DefaultDevice is one ordinary telephone with no fault.
func DefaultDevice() Device {
	return Device{Attached: true, REN: 1, Fault: FaultNone}
}

// Validate says what is wrong with d, naming the field.
func (d Device) Validate() error {
	if math.IsNaN(d.REN) || d.REN < 0 || d.REN > MaxREN {
		return fmt.Errorf("ren: %v is outside 0-%d", d.REN, MaxREN)
	}
	for _, f := range faults {
		if d.Fault == f {
			return nil
		}
	}
	names := make([]string, len(faults))
	for i, f := range faults {
		names[i] = string(f)
	}
	return fmt.Errorf("fault: unknown fault %q (known: %s)", d.Fault, strings.Join(names, ", "))
}
