package rpifxs

import (
	"fmt"
	"log/slog"
	"sync"
	"time"

	"periph.io/x/conn/v3/gpio"

	"github.com/tipring/tipring/boards"
	"github.com/tipring/tipring/boards/dsp"
)

// eventBuffer is how many events a port holds for a slow reader before it
// drops them (and logs that it did): the audio loop never waits.
const eventBuffer = 64

// port is one FXS channel of the SLIC.
type port struct {
	n    int // port number, from 1; the SLIC channel is n-1
	log  *slog.Logger
	slic *slic
	led  OutPin // nil: no light for this port

	mu     sync.Mutex
	events chan boards.Event
	closed bool
	audio  boards.AudioFunc

	tone    *dsp.ToneGen
	playing bool

	reversed bool
	ring     ringer
	ringOn   bool // the ringing voltage is on this frame

	raw  bool // the SLIC's loop-closure bit as last read
	hook *dsp.HookDecoder
	dtmf *dsp.DTMFDetector

	linefeed  byte // as last written; 0xff before the first write
	lfFailing bool
	ledOn     bool
}

func newPort(n int, s *slic, led OutPin, timing dsp.HookTiming, log *slog.Logger) *port {
	return &port{
		n:        n,
		log:      log.With("port", n),
		slic:     s,
		led:      led,
		events:   make(chan boards.Event, eventBuffer),
		tone:     dsp.NewToneGen(boards.Tone{LoopFrom: -1}),
		hook:     dsp.NewHookDecoder(timing, false),
		dtmf:     dsp.NewDTMFDetector(),
		linefeed: 0xff,
	}
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
	if p.raw {
		return fmt.Errorf("ring port %d: %w", p.n, errOffHook)
	}
	if err := p.ring.start(r); err != nil {
		return fmt.Errorf("ring port %d: %w", p.n, err)
	}
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
}

// hookChanged is the SLIC's loop-closure bit changing, stamped with the
// time of the interrupt edge that reported it.
func (p *port) hookChanged(off bool, at time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if off == p.raw {
		return
	}
	p.raw = off
	if off {
		// Ring trip: the SLIC has left the ringing state; so do we.
		p.ring.stop()
	}
	p.emit(p.hook.Hook(off, at)...)
}

// frame runs one 20 ms period: the AudioFunc, ringing and caller ID,
// tones, the line feed, DTMF detection and the hook decoder's clock.
func (p *port) frame(up, down *boards.Frame, at time.Time) {
	p.mu.Lock()
	audio := p.audio
	p.mu.Unlock()
	*down = boards.Frame{}
	if audio != nil {
		// Without the lock: the callback may call the port's methods.
		audio(up, down)
	}

	p.mu.Lock()
	defer p.mu.Unlock()
	ringing, cid := p.ring.step(down)
	if !cid && p.playing && p.tone.Fill(down) {
		p.playing = false
	}
	p.ringOn = ringing
	p.applyLinefeed()
	p.applyLED()
	if p.raw {
		ev, ok := p.dtmf.Process(up, at)
		if ok {
			p.emit(ev)
		}
	}
	p.emit(p.hook.Tick(at)...)
}

// applyLinefeed puts the line in the state the port wants; it writes the
// SLIC only on a change. A failed write is retried next frame and logged
// once until it works again.
func (p *port) applyLinefeed() {
	want := byte(lfFwdActive)
	if p.reversed != p.ring.reversing {
		want = lfRevActive
	}
	if p.ringOn {
		want = lfRinging
	}
	if want == p.linefeed {
		return
	}
	if err := p.slic.write(p.n-1, regLinefeed, want); err != nil {
		if !p.lfFailing {
			p.log.Error("cannot set the line state: the SLIC does not answer", "err", err)
			p.lfFailing = true
		}
		return
	}
	p.lfFailing = false
	p.linefeed = want
}

// applyLED lights the port's lamp while the phone is off-hook and blinks
// it with the ring bursts.
func (p *port) applyLED() {
	on := p.hook.OffHook() || p.ringOn
	if p.led == nil || on == p.ledOn {
		return
	}
	if err := p.led.Out(gpio.Level(on)); err != nil {
		p.log.Warn("phone light", "err", err)
		return
	}
	p.ledOn = on
}

// emit queues events without ever waiting. Called with p.mu held.
func (p *port) emit(evs ...boards.Event) {
	if p.closed {
		return
	}
	for _, ev := range evs {
		select {
		case p.events <- ev:
		default:
			p.log.Warn("event dropped: reader too slow", "event", ev.Kind.String())
		}
	}
}

// shutdown opens the line (no feed: the phone hears nothing rather than a
// line that seems alive while the firmware is gone), puts the light out
// and closes the events.
func (p *port) shutdown() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.slic.write(p.n-1, regLinefeed, lfOpen); err != nil {
		p.log.Warn("open the line", "err", err)
	}
	if p.led != nil {
		_ = p.led.Out(gpio.Low)
	}
	if !p.closed {
		p.closed = true
		close(p.events)
	}
}
