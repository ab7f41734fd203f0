package boards

import (
	"context"
	"fmt"
	"math"
	"time"
)

// LineTester is a port that can test its copper pair and what hangs on it,
// as a SLIC's line-test mode does (Telcordia GR-909: foreign and hazardous
// voltage, resistive faults, receiver off-hook, ringer load). It is
// optional: a board without the hardware for it does not implement it, and
// the caller finds out with a type assertion on the Port.
type LineTester interface {
	// LineTest measures the line now and returns the measurements with
	// their verdicts (EvaluateGR909). It does not disturb a call in
	// progress more than the hardware must; it fails when ctx ends first
	// or the hardware cannot measure.
	LineTest(ctx context.Context) (LineTest, error)
}

// LineTest is one measurement of a port's line.
type LineTest struct {
	// At is when the measurement was taken, on the board's clock.
	At time.Time
	// Hook is "on" or "off": the port's hook detector at the time.
	Hook string
	// LoopCurrentMA is the DC current flowing in the loop, in mA.
	LoopCurrentMA float64
	// RingerREN is the ringer load found on the line, as a ringer
	// equivalence number.
	RingerREN float64
	// DCVolts and ACVolts (rms) are the worst foreign voltage measured from
	// tip or ring to ground with the port's own feed off.
	DCVolts float64
	ACVolts float64
	// LeakageKOhm is the worst insulation resistance from tip or ring to
	// ground, in kΩ: +Inf, or the top of the board's measuring range, when
	// nothing leaks (encoding/json cannot carry +Inf: whoever serialises a
	// LineTest must map it).
	LeakageKOhm float64
	// Verdicts are the GR-909 checks on the measurements, worst danger
	// first.
	Verdicts []LineVerdict
}

// LineVerdict is one check of a line test.
type LineVerdict struct {
	// Check names the check: one of the Check* constants.
	Check string
	Pass  bool
	// Value is what was measured and Limit what passes, for people.
	Value string
	Limit string
	// Meaning says in plain words what the result means for the user.
	Meaning string
}

// Names of the checks EvaluateGR909 makes, in the order it returns them.
const (
	CheckHazardousVoltage = "hazardous_voltage"
	CheckForeignVoltage   = "foreign_voltage"
	CheckResistiveFault   = "resistive_fault"
	CheckReceiverOffHook  = "receiver_off_hook"
	CheckRingerLoad       = "ringer_load"
)

// GR-909 limits. A measurement equal to a limit passes.
const (
	// Hazardous potential: more than this from tip or ring to ground.
	HazardousDCVolts = 135.0
	HazardousACVolts = 50.0
	// Foreign EMF: more than this from tip or ring to ground.
	ForeignDCVolts = 6.0
	ForeignACVolts = 10.0
	// Resistive fault: insulation resistance below this, in kΩ.
	ResistiveFaultKOhm = 150.0
	// Ringer load: a REN outside this range is no ringer, or too many.
	MinRingerREN = 0.175
	MaxRingerREN = 5.0
	// OffHookLoopMA is the loop current above which a receiver is off the
	// hook. An off-hook telephone draws 18 mA or more from any FXS feed;
	// the leakage of even a bad resistive fault stays under 1 mA.
	OffHookLoopMA = 5.0
)

// EvaluateGR909 judges a line test's measurements against the GR-909
// limits. It is pure: the same measurements give the same verdicts. A
// measurement that is NaN fails its check as "not measured" rather than
// passing unseen. Voltages are judged by magnitude, whatever their sign.
//
// Receiver off-hook is the one check that needs the hook state: loop
// current while the hook detector says on-hook (no call can be up) means a
// receiver is off the hook somewhere on the line. While the port itself is
// off-hook the current is expected; whether a call goes with it is for the
// caller, who knows the calls, to judge.
func EvaluateGR909(t LineTest) []LineVerdict {
	return []LineVerdict{
		voltageVerdict(CheckHazardousVoltage, t.DCVolts, t.ACVolts, HazardousDCVolts, HazardousACVolts,
			"no dangerous voltage on the line",
			"a dangerous voltage is on the line from outside — do not touch the wiring; unplug the line from the adapter and call the installer"),
		voltageVerdict(CheckForeignVoltage, t.DCVolts, t.ACVolts, ForeignDCVolts, ForeignACVolts,
			"no voltage on the line from outside",
			"there is a voltage on the line from outside — unplug and call the installer"),
		resistiveVerdict(t.LeakageKOhm),
		offHookVerdict(t.Hook, t.LoopCurrentMA),
		renVerdict(t.RingerREN),
	}
}

func voltageVerdict(check string, dc, ac, maxDC, maxAC float64, ok, bad string) LineVerdict {
	v := LineVerdict{
		Check: check,
		Value: fmt.Sprintf("%.1f V DC, %.1f V AC rms", dc, ac),
		Limit: fmt.Sprintf("at most %g V DC and %g V AC rms", maxDC, maxAC),
	}
	switch {
	case math.IsNaN(dc) || math.IsNaN(ac):
		v.Value = "not measured"
		v.Meaning = "the voltage on the line could not be measured"
	case math.Abs(dc) > maxDC || math.Abs(ac) > maxAC:
		v.Meaning = bad
	default:
		v.Pass = true
		v.Meaning = ok
	}
	return v
}

func resistiveVerdict(kohm float64) LineVerdict {
	v := LineVerdict{
		Check: CheckResistiveFault,
		Value: formatKOhm(kohm),
		Limit: fmt.Sprintf("at least %g kΩ to ground", ResistiveFaultKOhm),
	}
	switch {
	case math.IsNaN(kohm):
		v.Value = "not measured"
		v.Meaning = "the line's insulation could not be measured"
	case kohm < ResistiveFaultKOhm:
		v.Meaning = "the line's wires leak to each other or to ground (damp or damaged wiring or socket) — check the cord and the wall socket, or call the installer"
	default:
		v.Pass = true
		v.Meaning = "the line's wiring is well insulated"
	}
	return v
}

func formatKOhm(kohm float64) string {
	switch {
	case math.IsInf(kohm, 1):
		return "no leakage measurable"
	case kohm >= 1000:
		return fmt.Sprintf("%.1f MΩ", kohm/1000)
	}
	return fmt.Sprintf("%.0f kΩ", kohm)
}

func offHookVerdict(hook string, ma float64) LineVerdict {
	v := LineVerdict{
		Check: CheckReceiverOffHook,
		Value: fmt.Sprintf("%.1f mA, hook %s", ma, hook),
		Limit: fmt.Sprintf("at most %g mA while on-hook", OffHookLoopMA),
	}
	switch {
	case math.IsNaN(ma):
		v.Value = "not measured"
		v.Meaning = "the loop current could not be measured"
	case hook != "on" && hook != "off":
		v.Value = fmt.Sprintf("%.1f mA, hook state %q unknown", ma, hook)
		v.Meaning = "the hook state is unknown, so an off-hook receiver cannot be told from a call"
	case hook == "off":
		v.Pass = true
		v.Meaning = "the telephone is off the hook (in use, or the handset left off the hook if no call is going on)"
	case math.Abs(ma) > OffHookLoopMA:
		v.Meaning = "a telephone is off the hook although no call is going on: the handset has been left off the hook (or an extension phone is lifted) — put it back"
	default:
		v.Pass = true
		v.Meaning = "every telephone on the line is on the hook"
	}
	return v
}

func renVerdict(ren float64) LineVerdict {
	v := LineVerdict{
		Check: CheckRingerLoad,
		Value: fmt.Sprintf("REN %.2f", ren),
		Limit: fmt.Sprintf("REN %g to %g", MinRingerREN, MaxRingerREN),
	}
	switch {
	case math.IsNaN(ren):
		v.Value = "not measured"
		v.Meaning = "the ringer load could not be measured"
	case ren < MinRingerREN:
		v.Meaning = "no telephone seems to be connected — check that the phone's cord is plugged into the adapter's phone port"
	case ren > MaxRingerREN:
		v.Meaning = "too many telephones are on the line: they may not all ring — unplug some"
	default:
		v.Pass = true
		v.Meaning = "a telephone is connected"
	}
	return v
}

// LineStats is a port that keeps what its line saw recently, for
// diagnostics: how the phone dials, how long its flashes are, and how loud
// and how balanced its DTMF is. It is optional, like LineTester.
type LineStats interface {
	// LineStats returns a copy of what the port observed; it is safe to
	// call at any time from any goroutine.
	LineStats() LineObservations
}

// LineObservations is what a port's line saw recently.
type LineObservations struct {
	// DialMode is "dtmf" or "pulse", how the last digit was dialled; ""
	// before any digit.
	DialMode string
	// Flashes are the on-hook times of the recent hook flashes, oldest
	// first.
	Flashes []time.Duration
	// Digits are the recent DTMF digits as measured, oldest first. Pulse
	// digits have no levels and are not among them.
	Digits []DigitMeasure
}

// DigitMeasure is one DTMF digit as the port's detector measured it.
type DigitMeasure struct {
	Digit byte
	// LowDBm0 and HighDBm0 are the levels of the low-group and high-group
	// tones; TwistDB is HighDBm0 - LowDBm0 (positive: the high group is
	// louder, as most telephones send it).
	LowDBm0  float64
	HighDBm0 float64
	TwistDB  float64
	// Duration is how long the tone lasted; while the key is still held
	// (or when its end was not heard), how long it had lasted when the
	// detector confirmed it, about 40 ms.
	Duration time.Duration
	// At is when it was detected, on the board's clock.
	At time.Time
}

// MeasureDigit turns a DTMF digit event into its measurement: the event
// carries the mean level of the two tones and their twist, and the
// digit's length so far.
func MeasureDigit(ev Event) DigitMeasure {
	return DigitMeasure{
		Digit:    ev.Digit,
		LowDBm0:  ev.LevelDBm0 - ev.TwistDB/2,
		HighDBm0: ev.LevelDBm0 + ev.TwistDB/2,
		TwistDB:  ev.TwistDB,
		Duration: ev.Duration,
		At:       ev.At,
	}
}
