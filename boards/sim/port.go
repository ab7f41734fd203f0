package sim

import (
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/tipring/tipring/boards"
	"github.com/tipring/tipring/boards/dsp"
	"github.com/tipring/tipring/boards/region"
)

// EventBuffer is how many events a port holds for a slow reader before it
// drops them (and logs that it did): the audio clock never waits.
const EventBuffer = 64

// ErrOffHook is returned by Ring when the phone is off-hook: a real SLIC
// trips the ring at once.
var ErrOffHook = errors.New("phone is off-hook")

// port is one FXS port. The port and its phone share one lock, because
// they share one copper pair; they talk only through the copper interface
// (hook transitions) and the frames, ring voltage and polarity the port
// hands the phone each tick.
type port struct {
	n   int
	log *slog.Logger
	now func() time.Time
	// wake is the audio clock's wake-up signal, shared by the ports.
	wake chan<- struct{}

	mu     sync.Mutex
	events chan boards.Event
	closed bool
	audio  boards.AudioFunc

	tone    *dsp.ToneGen
	playing bool

	reversed bool
	ring     ringer

	// loopClosed is the raw hook state as the line sees it (loop current).
	loopClosed bool
	hook       *dsp.HookDecoder
	dtmf       *dsp.DTMFDetector

	phone *phone

	// stats is what the line saw, for LineStats; meter scatters the line
	// test's readings as a real meter's would.
	stats lineStats
	meter *rand.Rand

	// up and down are the frames of the current tick; only the audio clock
	// touches them.
	up, down boards.Frame
}

func newPort(n int, reg *region.Region, timing dsp.HookTiming, now func() time.Time, wake chan<- struct{}, log *slog.Logger) *port {
	p := &port{
		n:      n,
		log:    log.With("port", n),
		now:    now,
		wake:   wake,
		events: make(chan boards.Event, EventBuffer),
		tone:   dsp.NewToneGen(boards.Tone{LoopFrom: -1}),
		hook:   dsp.NewHookDecoder(timing, false),
		dtmf:   dsp.NewDTMFDetector(),
		stats:  newLineStats(),
		meter:  newMeter(n),
	}
	p.phone = newPhone(p, reg.Tones(), reg.CallerID)
	return p
}

var _ boards.Port = (*port)(nil)

func (p *port) Number() int                 { return p.n }
func (p *port) Events() <-chan boards.Event { return p.events }

func (p *port) OffHook() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.hook.OffHook()
}

func (p *port) Ring(r boards.Ring) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.loopClosed {
		return fmt.Errorf("ring port %d: %w", p.n, ErrOffHook)
	}
	if err := p.ring.start(r); err != nil {
		return fmt.Errorf("ring port %d: %w", p.n, err)
	}
	p.wakeClock()
	return nil
}

func (p *port) StopRing() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.ring.stop()
}

func (p *port) PlayTone(t boards.Tone) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.tone.Reset(t)
	p.playing = true
	p.wakeClock()
}

func (p *port) StopTone() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.playing = false
}

func (p *port) SetAudio(f boards.AudioFunc) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.audio = f
}

func (p *port) SetReversed(reversed bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.reversed = reversed
	// The phone senses the polarity on the next frame.
	p.wakeClock()
}

// hookChanged is the phone's hook switch as the line sees it: loop current
// starts or stops. Called with p.mu held.
func (p *port) hookChanged(off bool, at time.Time) {
	p.loopClosed = off
	if off {
		// Ring trip: the SLIC stops ringing the moment the loop closes.
		p.ring.stop()
	}
	p.emit(p.hook.Hook(off, at)...)
	p.wakeClock()
}

// emit queues events for the reader without ever waiting. Called with
// p.mu held.
func (p *port) emit(evs ...boards.Event) {
	for _, ev := range evs {
		p.stats.observe(ev)
	}
	if p.closed {
		return
	}
	for _, ev := range evs {
		select {
		case p.events <- ev:
		default:
			p.log.Warn("event dropped: reader too slow", "event", ev.Kind.String(), "digit", string(rune(ev.Digit)))
		}
	}
}

// tick runs one 20 ms frame of the copper pair.
func (p *port) tick() {
	p.mu.Lock()
	p.phone.speak(&p.up)
	audio := p.audio
	p.mu.Unlock()

	// The callback runs without the lock so it may call the port's methods.
	p.down = boards.Frame{}
	if audio != nil {
		audio(&p.up, &p.down)
	}

	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.now()
	voltage, cid := p.ring.step(&p.down)
	if !cid && p.playing {
		if p.tone.Fill(&p.down) {
			p.playing = false
		}
	}
	p.phone.listen(&p.down, voltage, p.reversed != p.ring.reversing, now)
	// Scripted hook moves are applied before the decoder's clock moves on,
	// so it sees every transition in time order.
	p.phone.runScript(now)
	if p.loopClosed {
		ev, ok := p.dtmf.Process(&p.up, now)
		// A press ends before the next one is confirmed.
		if digit, dur, released := p.dtmf.Released(); released {
			p.stats.released(digit, dur)
		}
		if ok {
			p.emit(ev)
		}
	}
	p.emit(p.hook.Tick(now)...)
}

func (p *port) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.closed {
		p.closed = true
		close(p.events)
	}
}
