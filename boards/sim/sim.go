// Package sim is the simulated board: two FXS ports, each with a virtual
// telephone on the far side of a simulated copper pair, and an HTTP control
// API through which tests and people work those phones.
//
// The coupling between board and phone is honest. The phone sees only what
// a telephone could: audio frames, the ring voltage and the line polarity.
// It dials by putting real DTMF audio on the line or by moving its hook
// switch (pulses), and it reports what it hears by analysing the audio —
// tones with boards/dsp's Listener, caller ID by demodulating the FSK. The
// board sees only hook transitions and audio, and decodes them with
// boards/dsp's hook decoder and DTMF detector, exactly as a board with a
// real SLIC and no DSP chip would.
//
// One audio clock drives everything: every 20 ms (or whenever a
// ManualClock is stepped) each port takes the phone's microphone frame,
// calls the port's AudioFunc, puts the playing tone or caller-ID signal on
// the line instead of the AudioFunc's audio when there is one, hands the
// result to the phone's earpiece and runs the DTMF detector and the hook
// decoder's clock. Hook transitions reach the decoder when they happen,
// with their own timestamps, so pulse dialling is timed better than a
// frame.
//
// On real time, the clock stops while no port needs audio — both phones
// on-hook, nothing ringing, playing, being dialled or still to be decided
// by the passing of time, and the phones' receivers settled on silence —
// and starts again, at the next frame boundary, when something needs it.
// Nothing a phone user can observe changes: the frames not taken would
// all have been silence, and `heard` recordings keep them so. The
// AudioFunc is not called meanwhile; on an idle line the firmware has no
// call, so no audio to send or play. A ManualClock's steps are always
// taken.
//
// The control API (see DESIGN.md, "The sim board's virtual telephone") is
// served on boards.Options.Control by Run; the address must be a loopback
// address, and port 0 picks a free port (ControlAddr, WaitControl).
package sim

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/tipring/tipring/boards"
	"github.com/tipring/tipring/boards/dsp"
	"github.com/tipring/tipring/boards/region"
)

// Name is the board's name in [device] board.
const Name = "sim"

// Ports is how many FXS ports the sim board has, numbered from 1.
const Ports = 2

// shutdownGrace bounds how long Run waits for control API requests in
// flight when it stops.
const shutdownGrace = 2 * time.Second

// Register adds the sim board to r.
func Register(r *boards.Registry) {
	r.Register(Name, func(opts boards.Options) (boards.Board, error) {
		return New(opts)
	})
}

// Option adjusts a sim board beyond boards.Options.
type Option func(*Board)

// WithClock drives the board from c instead of the wall clock: the audio
// clock ticks only when c is stepped, and hook transitions are stamped
// with c's time. A clock drives one board.
func WithClock(c *ManualClock) Option {
	return func(b *Board) { b.clock = c }
}

// Board is the simulated board. It satisfies boards.Board.
type Board struct {
	log     *slog.Logger
	region  *region.Region
	control string
	clock   *ManualClock
	ports   []*port

	started   atomic.Bool
	listening chan struct{} // closed once the control API listens
	stopped   chan struct{} // closed when Run is ending
	addr      atomic.Pointer[string]
	// wake starts the real-time audio clock when it stands still.
	wake chan struct{}
}

var _ boards.Board = (*Board)(nil)

// New returns a sim board with two ports. opts.Region picks the tones the
// phones recognise and the caller-ID standard they decode; opts.Control,
// when set, must be a loopback host:port.
func New(opts boards.Options, options ...Option) (*Board, error) {
	reg, err := region.Lookup(opts.Region)
	if err != nil {
		return nil, fmt.Errorf("sim board: %w", err)
	}
	control, err := loopbackAddr(opts.Control)
	if err != nil {
		return nil, fmt.Errorf("sim board: control address: %w", err)
	}
	timing, err := dsp.HookTimingFor(opts)
	if err != nil {
		return nil, fmt.Errorf("sim board: %w", err)
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	b := &Board{
		log:       log.With("board", Name),
		region:    reg,
		control:   control,
		listening: make(chan struct{}),
		stopped:   make(chan struct{}),
		wake:      make(chan struct{}, 1),
	}
	for _, o := range options {
		o(b)
	}
	for n := 1; n <= Ports; n++ {
		b.ports = append(b.ports, newPort(n, reg, timing, b.now, b.wake, b.log))
	}
	return b, nil
}

// loopbackAddr checks that addr (host:port) is on the loopback interface;
// "" means no control API. "localhost" is pinned to 127.0.0.1 so that the
// listener cannot land elsewhere whatever the resolver says.
func loopbackAddr(addr string) (string, error) {
	if addr == "" {
		return "", nil
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", fmt.Errorf("%q: %w", addr, err)
	}
	if host == "localhost" {
		return net.JoinHostPort("127.0.0.1", port), nil
	}
	ip := net.ParseIP(host)
	if ip == nil || !ip.IsLoopback() {
		return "", fmt.Errorf("%q is not a loopback address: the phones' control API must not be reachable from the network", addr)
	}
	return addr, nil
}

func (b *Board) now() time.Time {
	if b.clock != nil {
		return b.clock.Now()
	}
	return time.Now()
}

// Name is "sim".
func (b *Board) Name() string { return Name }

// Ports returns ports 1 and 2.
func (b *Board) Ports() []boards.Port { return boards.PortList(b.ports) }

func (b *Board) port(n int) (*port, error) {
	if n < 1 || n > len(b.ports) {
		return nil, fmt.Errorf("no port %d: the sim board has ports 1-%d", n, len(b.ports))
	}
	return b.ports[n-1], nil
}

// Device returns what hangs on port n's line, for a line test.
func (b *Board) Device(n int) (Device, error) {
	p, err := b.port(n)
	if err != nil {
		return Device{}, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.phone.device, nil
}

// ControlAddr is the address the control API listens on, once Run has
// started listening; "" before that or without a control API.
func (b *Board) ControlAddr() string {
	if a := b.addr.Load(); a != nil {
		return *a
	}
	return ""
}

// WaitControl waits until the control API listens and returns its address.
func (b *Board) WaitControl(ctx context.Context) (string, error) {
	if b.control == "" {
		return "", errors.New("sim board has no control address")
	}
	select {
	case <-b.listening:
		return b.ControlAddr(), nil
	case <-b.stopped:
		return "", errors.New("sim board stopped before its control API listened")
	case <-ctx.Done():
		return "", fmt.Errorf("wait for the sim control API: %w", ctx.Err())
	}
}

// Run drives the board until ctx ends: the audio clock and, when a control
// address was given, the control API. When it returns, the ports' event
// channels are closed. Run may be called once.
func (b *Board) Run(ctx context.Context) error {
	if !b.started.CompareAndSwap(false, true) {
		return errors.New("sim board: Run called twice")
	}
	defer func() {
		for _, p := range b.ports {
			p.close()
		}
	}()
	var srv *http.Server
	// serveDone is closed when the server stops; serveErr is set before.
	serveDone := make(chan struct{})
	var serveErr error
	if b.control != "" {
		ln, err := net.Listen("tcp", b.control)
		if err != nil {
			close(b.stopped)
			return fmt.Errorf("sim board: control API: %w", err)
		}
		srv = &http.Server{
			Handler:           b.Handler(),
			ReadHeaderTimeout: 5 * time.Second,
			ErrorLog:          slog.NewLogLogger(b.log.Handler(), slog.LevelWarn),
		}
		addr := ln.Addr().String()
		b.addr.Store(&addr)
		close(b.listening)
		b.log.Info("control API listening", "addr", addr)
		go func() {
			defer close(serveDone)
			serveErr = srv.Serve(ln)
		}()
	}
	err := b.clockLoop(ctx, serveDone)
	close(b.stopped)
	if srv != nil {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownGrace)
		defer cancel()
		if serr := srv.Shutdown(sctx); serr != nil {
			_ = srv.Close()
		}
		<-serveDone
		switch {
		case errors.Is(err, errServeStopped):
			err = fmt.Errorf("sim board: control API stopped: %w", serveErr)
		case err == nil && !errors.Is(serveErr, http.ErrServerClosed):
			err = fmt.Errorf("sim board: control API: %w", serveErr)
		}
	}
	return err
}

var errServeStopped = errors.New("control API stopped")

func (b *Board) clockLoop(ctx context.Context, serveDone <-chan struct{}) error {
	if b.clock == nil {
		return b.wallClock(ctx, serveDone)
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-serveDone:
			return errServeStopped
		case t := <-b.clock.ticks:
			b.tick()
			close(t.done)
		}
	}
}

// wallClock runs the audio clock on real time. Frames fall on a 20 ms grid
// that starts with the clock, as on hardware whose frame clock never
// stops. When no port needs audio (needsClock) the board stops taking
// frames; a wake-up starts it again at the next frame boundary, so the
// first frame comes as soon as it would have on a clock that kept
// running, never more than one frame later. The frames not taken are
// skipped, not caught up.
func (b *Board) wallClock(ctx context.Context, serveDone <-chan struct{}) error {
	start := time.Now()
	// frameAt is the grid time of the frame under way at t.
	frameAt := func(t time.Time) time.Time {
		return t.Add(-t.Sub(start) % boards.FrameDuration)
	}
	next := start.Add(boards.FrameDuration) // the frame the timer is set for
	timer := time.NewTimer(time.Until(next))
	defer timer.Stop()
	frames := timer.C
	paused := false
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-serveDone:
			return errServeStopped
		case <-b.wake:
			if frames == nil {
				b.log.Debug("audio clock starting")
				next = frameAt(time.Now()).Add(boards.FrameDuration)
				timer.Reset(time.Until(next))
				frames = timer.C
			}
		case now := <-frames:
			at := next
			if now.Sub(at) >= boards.FrameDuration {
				// The frames missed while the process did not run are
				// skipped.
				at = frameAt(now)
			}
			if paused {
				for _, p := range b.ports {
					p.resume(at)
				}
				paused = false
			}
			b.tick()
			// A wake-up signalled from here on is either seen by
			// needsClock or left in the channel for the select.
			select {
			case <-b.wake:
			default:
			}
			if !b.needsClock() {
				for _, p := range b.ports {
					p.pause(at)
				}
				paused = true
				frames = nil
				b.log.Debug("audio clock stopped: no port needs audio")
				continue
			}
			next = at.Add(boards.FrameDuration)
			timer.Reset(time.Until(next))
		}
	}
}

func (b *Board) tick() {
	for _, p := range b.ports {
		p.tick()
	}
}
