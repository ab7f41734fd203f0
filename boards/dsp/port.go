package dsp

import (
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tipring/tipring/boards"
)

// EventBuffer is how many events a Port holds for a slow reader before it
// drops them (and logs that it did): the audio clock never waits.
const EventBuffer = 64

// PortConfig is what NewPort needs from the board.
type PortConfig struct {
	// Number is the port number, from 1.
	Number int
	// Lock is the board's lock for this port. The board owns it because
	// what it keeps beside the Port (a SLIC's registers, the sim's phone)
	// shares the copper pair's state and must change with it atomically.
	Lock sync.Locker
	Hook HookTiming
	Log  *slog.Logger
	// Wake, when set, is called with the lock held whenever the port needs
	// audio frames again (a ring, a tone, a polarity or hook change), for a
	// board whose audio clock stops while idle.
	Wake func()
	// Observe, when set, sees every event the port reports, with the lock
	// held, even those a slow reader loses or that come after CloseEvents.
	Observe func(boards.Event)
	// Released, when set, is told with the lock held how long each DTMF
	// digit lasted, once the key is let go (the event goes out before).
	Released func(digit byte, dur time.Duration)
}

// Port is the part of a boards.Port that a board without a DSP chip does
// in software, the same on every such board: the event queue, the
// AudioFunc, tones, the Ringer with caller ID, the line polarity asked
// for, the hook decoder and the DTMF detector, and the off-hook refusal of
// Ring. A board embeds it and adds what its hardware needs around the
// frame: it calls CallAudio, Play and Decode once per 20 ms frame and
// HookChanged on each loop-current transition, and applies Status (ring
// voltage, polarity) to the copper.
//
// The boards.Port methods take the board's lock, except SetAudio; the
// others are called with it held, except CallAudio.
type Port struct {
	n        int
	mu       sync.Locker
	log      *slog.Logger
	wake     func()
	observe  func(boards.Event)
	released func(digit byte, dur time.Duration)

	events chan boards.Event
	closed bool
	// audio is read once a frame outside the lock (CallAudio runs the
	// callback unlocked): an atomic saves the frame a lock round-trip.
	audio atomic.Pointer[boards.AudioFunc]

	tone    *ToneGen
	playing bool

	reversed bool // as asked for with SetReversed
	ring     Ringer

	// loopClosed is the raw hook state as the line sees it (loop current).
	loopClosed bool
	hook       *HookDecoder
	dtmf       *DTMFDetector
}

// NewPort returns a port on-hook, silent and not ringing.
func NewPort(c PortConfig) *Port {
	log := c.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Port{
		n:        c.Number,
		mu:       c.Lock,
		log:      log,
		wake:     c.Wake,
		observe:  c.Observe,
		released: c.Released,
		events:   make(chan boards.Event, EventBuffer),
		tone:     NewToneGen(boards.Tone{LoopFrom: -1}),
		hook:     NewHookDecoder(c.Hook, false),
		dtmf:     NewDTMFDetector(),
	}
}

var _ boards.Port = (*Port)(nil)

// Number is the port number, from 1.
func (p *Port) Number() int { return p.n }

// Events delivers the port's events; CloseEvents closes it.
func (p *Port) Events() <-chan boards.Event { return p.events }

// OffHook is the hook decoder's debounced state.
func (p *Port) OffHook() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.hook.OffHook()
}

// Ring starts the Ringer. It refuses with boards.ErrOffHook while loop
// current flows: a SLIC trips the ring at once, so the phone would never
// ring.
func (p *Port) Ring(r boards.Ring) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.loopClosed {
		return fmt.Errorf("ring port %d: %w", p.n, boards.ErrOffHook)
	}
	if err := p.ring.Start(r); err != nil {
		return fmt.Errorf("ring port %d: %w", p.n, err)
	}
	p.wakeClock()
	return nil
}

// StopRing stops the Ringer.
func (p *Port) StopRing() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.ring.Stop()
}

// PlayTone starts t from its beginning.
func (p *Port) PlayTone(t boards.Tone) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.tone.Reset(t)
	p.playing = true
	p.wakeClock()
}

// StopTone stops the tone, if any.
func (p *Port) StopTone() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.playing = false
}

// SetAudio installs the audio callback. It needs no lock: the callback
// is all it changes, and CallAudio reads it atomically.
func (p *Port) SetAudio(f boards.AudioFunc) {
	if f == nil {
		p.audio.Store(nil)
		return
	}
	p.audio.Store(&f)
}

// SetReversed sets the polarity asked for; Status says what the line has.
func (p *Port) SetReversed(reversed bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.reversed = reversed
	// The copper takes the polarity on the next frame.
	p.wakeClock()
}

func (p *Port) wakeClock() {
	if p.wake != nil {
		p.wake()
	}
}

// PortStatus is what the board applies to its hardware, and what it needs
// to know to decide whether the port is idle.
type PortStatus struct {
	// LoopClosed is the raw hook state (loop current), OffHook the
	// decoder's debounced one.
	LoopClosed, OffHook bool
	// Ringing: a ring is in progress (bursts and silences alike).
	Ringing bool
	// Playing: a tone is playing.
	Playing bool
	// Reversed is the polarity the line must have now: the one asked for,
	// flipped while caller ID wants it reversed.
	Reversed bool
}

// Status reports the port's state. Called with the lock held.
func (p *Port) Status() PortStatus {
	return PortStatus{
		LoopClosed: p.loopClosed,
		OffHook:    p.hook.OffHook(),
		Ringing:    p.ring.Active(),
		Playing:    p.playing,
		Reversed:   p.reversed != p.ring.Reversing(),
	}
}

// HookChanged is loop current starting (off) or stopping, stamped with
// the time it happened. A report that changes nothing is ignored, so a
// board may report every scan. Called with the lock held.
func (p *Port) HookChanged(off bool, at time.Time) {
	if off == p.loopClosed {
		return
	}
	p.loopClosed = off
	if off {
		// Ring trip: the SLIC stops ringing the moment the loop closes.
		p.ring.Stop()
	}
	p.emit(p.hook.Hook(off, at)...)
	p.wakeClock()
}

// CallAudio runs the first part of a frame: it zeroes down and calls the
// AudioFunc, if any, with up and down. Called without the lock, so that
// the callback may call the port's methods; it takes none itself.
func (p *Port) CallAudio(up, down *boards.Frame) {
	*down = boards.Frame{}
	if audio := p.audio.Load(); audio != nil {
		(*audio)(up, down)
	}
}

// Play runs the Ringer for the frame and puts caller ID, or else the
// playing tone, into down in place of the AudioFunc's audio. It reports
// whether the ring voltage is on during the frame. Called with the lock
// held, after CallAudio; it does not allocate.
func (p *Port) Play(down *boards.Frame) (ringVoltage bool) {
	ringVoltage, cid := p.ring.Step(down)
	if !cid && p.playing && p.tone.Fill(down) {
		p.playing = false
	}
	return ringVoltage
}

// Decode ends the frame: it listens for DTMF in up while the loop is
// closed and moves the hook decoder's clock to at, reporting what they
// find. Called with the lock held, after Play and after the frame's hook
// changes; it does not allocate.
func (p *Port) Decode(up *boards.Frame, at time.Time) {
	if p.loopClosed {
		ev, ok := p.dtmf.Process(up, at)
		// A press ends before the next one is confirmed.
		if p.released != nil {
			if digit, dur, released := p.dtmf.Released(); released {
				p.released(digit, dur)
			}
		}
		if ok {
			p.emit(ev)
		}
	}
	p.emit(p.hook.Tick(at)...)
}

// emit queues events for the reader without ever waiting. Called with the
// lock held.
func (p *Port) emit(evs ...boards.Event) {
	if p.observe != nil {
		for _, ev := range evs {
			p.observe(ev)
		}
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

// CloseEvents closes the event channel, once; later events are dropped.
// Called with the lock held.
func (p *Port) CloseEvents() {
	if !p.closed {
		p.closed = true
		close(p.events)
	}
}
