// Package rpifxs is a Raspberry Pi class board with a two-channel FXS
// module: a Silicon Labs Si3226x-class ProSLIC on SPI, whose interrupt
// line and reset line are GPIOs, and whose PCM audio reaches the kernel
// through the Pi's PCM/I2S port as an ALSA device. docs/boards.md shows
// the wiring; board.toml (compiled in) names the pins.
//
// Hook: the SLIC debounces nothing for us that we rely on. Each falling
// edge of its interrupt line stamps the time, the driver reads the
// channels' loop-closure bits, and boards/dsp's hook decoder turns the
// timed transitions into off-hook, on-hook, flash and pulse digits, as on
// the sim board. The interrupt line is also polled every 50 ms in case an
// edge is lost.
//
// Audio: the PCM capture side is the clock. Each 20 ms period read from
// it drives every port's frame: the AudioFunc, tones, caller ID, ringing
// cadence (LINEFEED register writes), DTMF detection and the hook
// decoder's timers. See driftGuard for how a playback clock that differs
// from the capture clock is absorbed.
package rpifxs

import (
	"context"
	_ "embed" // the board's descriptor travels in the binary
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"periph.io/x/conn/v3/gpio"

	"github.com/tipring/tipring/boards"
	"github.com/tipring/tipring/boards/dsp"
)

// Name is the board's name in [device] board.
const Name = "rpifxs"

//go:embed board.toml
var descriptorTOML string

// Descriptor is the board's board.toml, as compiled in.
func Descriptor() (boards.Descriptor, error) {
	return boards.ParseDescriptor([]byte(descriptorTOML))
}

// Register adds the board to r.
func Register(r *boards.Registry) {
	r.Register(Name, func(opts boards.Options) (boards.Board, error) {
		return New(opts)
	})
}

// InPin is a GPIO input (periph's gpio.PinIn has it all).
type InPin interface {
	In(pull gpio.Pull, edge gpio.Edge) error
	Read() gpio.Level
	WaitForEdge(timeout time.Duration) bool
}

// OutPin is a GPIO output.
type OutPin interface {
	Out(l gpio.Level) error
}

// Hardware is what the driver drives. New opens the real parts from the
// descriptor; tests give periph's fakes.
type Hardware struct {
	// SPI is the SLIC's register bus, connected (mode 0, 8 bits).
	SPI RegBus
	// Reset holds the SLIC in reset while low; Interrupt is its
	// interrupt output, active low.
	Reset     OutPin
	Interrupt InPin
	// Button is the factory-reset button, pressed when low; nil if none.
	Button InPin
	// Power lights while the board runs; Phones[i] is port i+1's light.
	// Any may be nil.
	Power  OutPin
	Phones []OutPin
	PCM    PCM
	// Close releases what New opened; nil if nothing.
	Close func() error
}

// Timing of the GPIO loop and the reset button.
const (
	// irqPoll bounds the wait for an interrupt edge: the hook is read at
	// least this often even if an edge is missed, and the button sampled.
	irqPoll = 50 * time.Millisecond
	// ResetHold is how long the reset button must be held for a factory
	// reset: long enough that nobody does it by brushing against it.
	ResetHold = 10 * time.Second
	// slicStartup is how long the SLIC needs after reset before it answers.
	slicStartup = 100 * time.Millisecond
)

// Board is the Raspberry Pi FXS board. It satisfies boards.Board and
// boards.ResetButton.
type Board struct {
	log   *slog.Logger
	hw    Hardware
	slic  *slic
	ports []*port
	guard *driftGuard

	now   func() time.Time
	sleep func(ctx context.Context, d time.Duration) error

	resets  chan struct{}
	started atomic.Bool
}

var (
	_ boards.Board       = (*Board)(nil)
	_ boards.ResetButton = (*Board)(nil)
)

// New opens the board's hardware as board.toml describes it.
func New(opts boards.Options) (*Board, error) {
	desc, err := Descriptor()
	if err != nil {
		return nil, fmt.Errorf("rpifxs: compiled-in board.toml: %w", err)
	}
	hw, err := openHardware(desc)
	if err != nil {
		return nil, fmt.Errorf("rpifxs: %w", err)
	}
	b, err := NewWithHardware(hw, desc.Ports, opts)
	if err != nil && hw.Close != nil {
		_ = hw.Close()
	}
	return b, err
}

// NewWithHardware builds the board on hw with the given number of ports.
func NewWithHardware(hw Hardware, ports int, opts boards.Options) (*Board, error) {
	if hw.SPI == nil || hw.Reset == nil || hw.Interrupt == nil || hw.PCM == nil {
		return nil, errors.New("rpifxs: the SLIC's SPI bus, reset and interrupt pins and the PCM device are all needed")
	}
	if ports < 1 || ports > 2 {
		return nil, fmt.Errorf("rpifxs: %d ports: the Si3226x has 1 or 2 channels", ports)
	}
	timing, err := dsp.HookTimingFor(opts)
	if err != nil {
		return nil, fmt.Errorf("rpifxs: %w", err)
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	b := &Board{
		log:    log.With("board", Name),
		hw:     hw,
		slic:   &slic{bus: hw.SPI},
		guard:  newDriftGuard(playbackPrefill - framePeriod),
		now:    time.Now,
		sleep:  sleepCtx,
		resets: make(chan struct{}, 1),
	}
	for n := 1; n <= ports; n++ {
		var led OutPin
		if n <= len(hw.Phones) && hw.Phones[n-1] != nil {
			led = hw.Phones[n-1]
		}
		b.ports = append(b.ports, newPort(n, b.slic, led, timing, b.log))
	}
	return b, nil
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Name is "rpifxs".
func (b *Board) Name() string { return Name }

// Ports returns the FXS ports in number order.
func (b *Board) Ports() []boards.Port { return boards.PortList(b.ports) }

// ResetRequests delivers a value each time the reset button has been held
// for ResetHold; it is closed when Run ends.
func (b *Board) ResetRequests() <-chan struct{} { return b.resets }

// Run resets and sets up the SLIC, then runs the audio loop and the GPIO
// loop until ctx ends. It then opens the lines, puts the lights out,
// releases the hardware and closes the ports' event channels.
func (b *Board) Run(ctx context.Context) (err error) {
	if !b.started.CompareAndSwap(false, true) {
		return errors.New("rpifxs: Run called twice")
	}
	defer func() {
		for _, p := range b.ports {
			p.shutdown()
		}
		if b.hw.Power != nil {
			_ = b.hw.Power.Out(gpio.Low)
		}
		close(b.resets)
		if b.hw.Close != nil {
			if cerr := b.hw.Close(); cerr != nil && err == nil {
				err = fmt.Errorf("rpifxs: release hardware: %w", cerr)
			}
		}
	}()
	if err := b.start(ctx); err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("rpifxs: %w", err)
	}
	if b.hw.Power != nil {
		if err := b.hw.Power.Out(gpio.High); err != nil {
			b.log.Warn("power light", "err", err)
		}
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	wg.Go(func() { b.gpioLoop(ctx) })
	err = b.audioLoop(ctx)
	cancel()
	wg.Wait()
	if err != nil {
		return fmt.Errorf("rpifxs: %w", err)
	}
	return nil
}

// start pulses the SLIC's reset and sets it up.
func (b *Board) start(ctx context.Context) error {
	if err := b.hw.Reset.Out(gpio.Low); err != nil {
		return fmt.Errorf("SLIC reset pin: %w", err)
	}
	if err := b.sleep(ctx, resetPulse); err != nil {
		return err
	}
	if err := b.hw.Reset.Out(gpio.High); err != nil {
		return fmt.Errorf("SLIC reset pin: %w", err)
	}
	if err := b.sleep(ctx, slicStartup); err != nil {
		return err
	}
	if err := b.slic.setup(len(b.ports)); err != nil {
		return err
	}
	if err := b.hw.Interrupt.In(gpio.PullUp, gpio.FallingEdge); err != nil {
		return fmt.Errorf("SLIC interrupt pin: %w", err)
	}
	if b.hw.Button != nil {
		if err := b.hw.Button.In(gpio.PullUp, gpio.NoEdge); err != nil {
			return fmt.Errorf("reset button pin: %w", err)
		}
	}
	// The line state before the first interrupt.
	b.scanHooks(b.now())
	return nil
}

// gpioLoop waits for the SLIC's interrupts and samples the reset button.
func (b *Board) gpioLoop(ctx context.Context) {
	var btn button
	for ctx.Err() == nil {
		b.hw.Interrupt.WaitForEdge(irqPoll)
		at := b.now()
		b.scanHooks(at)
		if b.hw.Button != nil && btn.sample(b.hw.Button.Read() == gpio.Low, at) {
			b.log.Warn("reset button held: factory reset requested")
			select {
			case b.resets <- struct{}{}:
			default: // one request pending is enough
			}
		}
	}
}

// scanHooks reads every channel's hook status and reports changes.
func (b *Board) scanHooks(at time.Time) {
	for _, p := range b.ports {
		off, err := b.slic.hook(p.n - 1)
		if err != nil {
			b.log.Warn("read hook status", "port", p.n, "err", err)
			continue
		}
		p.hookChanged(off, at)
	}
}

// audioLoop moves one period at a time between the PCM device and the
// ports, paced by the capture side.
func (b *Board) audioLoop(ctx context.Context) error {
	ch := len(b.ports)
	in := make([]int16, framePeriod*ch)
	out := make([]int16, (framePeriod+1)*ch)
	up := make([]boards.Frame, ch)
	down := make([]boards.Frame, ch)
	for {
		if err := b.hw.PCM.Read(ctx, in); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("audio: %w", err)
		}
		at := b.now()
		deinterleave(in, up)
		for i, p := range b.ports {
			p.frame(&up[i], &down[i], at)
		}
		n := framePeriod
		if q, err := b.hw.PCM.Queued(); err == nil {
			n = b.guard.frames(q)
		}
		if err := b.hw.PCM.Write(interleave(out, down, n)); err != nil {
			return fmt.Errorf("audio: %w", err)
		}
	}
}

// button decides when the reset button has been held long enough. It
// fires once per press.
type button struct {
	pressed bool
	since   time.Time
	fired   bool
}

func (s *button) sample(pressed bool, at time.Time) bool {
	switch {
	case !pressed:
		s.pressed, s.fired = false, false
	case !s.pressed:
		s.pressed, s.since = true, at
	case !s.fired && at.Sub(s.since) >= ResetHold:
		s.fired = true
		return true
	}
	return false
}
