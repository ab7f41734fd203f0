package sim

import (
	"context"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/tipring/tipring/boards"
)

// The simulated copper as a SLIC's line-test mode would measure it. The
// figures are those of an ordinary FXS port and of the faults the device
// call can put on the line; see docs/sim.md.
const (
	// feedMA is the constant current the port feeds an off-hook loop.
	feedMA = 25.0
	// batteryVolts is the on-hook feed: it drives the leakage current of a
	// resistive fault.
	batteryVolts = 48.0
	// insulationKOhm is the top of the simulated meter's range, what a
	// sound line measures (finite, so the test can be carried as JSON).
	insulationKOhm = 10000.0
	// faultKOhm is the insulation of a line with a resistive fault.
	faultKOhm = 80.0
	// foreignDCVolts is a foreign voltage: another line's feed leaking in.
	foreignDCVolts = 12.0
	// hazardousDCVolts and hazardousACVolts are a power cross.
	hazardousDCVolts = 150.0
	hazardousACVolts = 60.0
	// Every measurement scatters by up to scatter of its value, and
	// voltages by up to floorVolts more (the meter's own noise and hum).
	scatter    = 0.02
	floorVolts = 0.2
)

// Recent line history kept per port for LineStats.
const (
	statsDigits  = 16
	statsFlashes = 8
)

var (
	_ boards.LineTester = (*port)(nil)
	_ boards.LineStats  = (*port)(nil)
)

// LineTest measures the simulated copper pair: what hangs on it (the
// device call), the phone's hook switch and the board's hook detector. A
// fault shows only here; the line's audio and hook signalling are not
// changed by it, so a receiver_off_hook fault draws loop current while the
// hook detector still says on-hook.
func (p *port) LineTest(ctx context.Context) (boards.LineTest, error) {
	if err := ctx.Err(); err != nil {
		return boards.LineTest{}, fmt.Errorf("line test on port %d: %w", p.n, err)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	dev := p.phone.device
	t := boards.LineTest{At: p.now(), Hook: "on", LeakageKOhm: insulationKOhm}
	st := p.Status()
	if st.OffHook {
		t.Hook = "off"
	}
	if dev.Attached {
		t.RingerREN = p.measure(dev.REN)
	}
	switch dev.Fault {
	case FaultForeignVoltage:
		t.DCVolts = foreignDCVolts
	case FaultHazardousVoltage:
		t.DCVolts, t.ACVolts = hazardousDCVolts, hazardousACVolts
	case FaultResistive:
		t.LeakageKOhm = p.measure(faultKOhm)
	}
	t.DCVolts = p.measure(t.DCVolts) + p.noise(floorVolts)
	t.ACVolts = p.measure(t.ACVolts) + floorVolts/2 + p.noise(floorVolts/2)
	switch {
	case st.LoopClosed || dev.Fault == FaultReceiverOffHook:
		t.LoopCurrentMA = p.measure(feedMA)
	default:
		// On-hook, only leakage flows.
		t.LoopCurrentMA = p.measure(batteryVolts / t.LeakageKOhm)
	}
	t.Verdicts = boards.EvaluateGR909(t)
	return t, nil
}

// measure is v as a meter reads it. Called with p.mu held.
func (p *port) measure(v float64) float64 {
	return v * (1 + p.noise(scatter))
}

// noise is uniform in ±span. Called with p.mu held.
func (p *port) noise(span float64) float64 {
	return span * (2*p.meter.Float64() - 1)
}

// newMeter seeds a port's meter from its number, so that a test run
// measures the same figures every time.
func newMeter(n int) *rand.Rand {
	return rand.New(rand.NewPCG(uint64(n), 0x7469707269_6e67))
}

// LineStats returns what the line saw recently: the dialling mode, the
// last statsFlashes flashes and the last statsDigits DTMF digits.
func (p *port) LineStats() boards.LineObservations {
	p.mu.Lock()
	defer p.mu.Unlock()
	return boards.LineObservations{
		DialMode: p.stats.mode,
		Flashes:  p.stats.flashes.items(),
		Digits:   p.stats.digits.items(),
	}
}

// lineStats is what the line saw recently. observe runs on the audio
// clock, so it only writes into space allocated up front.
type lineStats struct {
	mode    string
	digits  history[boards.DigitMeasure]
	flashes history[time.Duration]
}

func newLineStats() lineStats {
	return lineStats{
		digits:  newHistory[boards.DigitMeasure](statsDigits),
		flashes: newHistory[time.Duration](statsFlashes),
	}
}

func (s *lineStats) observe(ev boards.Event) {
	switch ev.Kind {
	case boards.Digit:
		if ev.Pulse {
			s.mode = "pulse"
			return
		}
		s.mode = "dtmf"
		s.digits.add(boards.MeasureDigit(ev))
	case boards.Flash:
		s.flashes.add(ev.Duration)
	}
}

// released sets the length of the last DTMF digit once its key press has
// ended: the detector reports a digit before its length is known.
func (s *lineStats) released(digit byte, dur time.Duration) {
	if d := s.digits.newest(); d != nil && d.Digit == digit {
		d.Duration = dur
	}
}

// history keeps the last len(buf) values added.
type history[T any] struct {
	buf  []T
	next int // where the next value goes
	n    int
}

func newHistory[T any](size int) history[T] {
	return history[T]{buf: make([]T, size)}
}

func (h *history[T]) add(v T) {
	h.buf[h.next] = v
	h.next = (h.next + 1) % len(h.buf)
	h.n = min(h.n+1, len(h.buf))
}

// newest is the value added last, nil if none.
func (h *history[T]) newest() *T {
	if h.n == 0 {
		return nil
	}
	return &h.buf[(h.next-1+len(h.buf))%len(h.buf)]
}

// items returns a copy of the values, oldest first.
func (h *history[T]) items() []T {
	out := make([]T, 0, h.n)
	for i := h.n; i > 0; i-- {
		out = append(out, h.buf[(h.next-i+len(h.buf))%len(h.buf)])
	}
	return out
}
