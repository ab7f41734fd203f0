package rpifxs

import (
	"log/slog"
	"sync"
	"time"

	"periph.io/x/conn/v3/gpio"

	"github.com/tipring/tipring/boards"
	"github.com/tipring/tipring/boards/dsp"
)

// port is one FXS channel of the SLIC: dsp.Port's software signalling,
// applied to the channel's line-feed register and the phone's light.
type port struct {
	*dsp.Port

	n    int // port number, from 1; the SLIC channel is n-1
	log  *slog.Logger
	slic *slic
	led  OutPin // nil: no light for this port

	mu     sync.Mutex
	ringOn bool // the ringing voltage is on this frame

	linefeed  byte // as last written; 0xff before the first write
	lfFailing bool
	ledOn     bool
}

func newPort(n int, s *slic, led OutPin, timing dsp.HookTiming, log *slog.Logger) *port {
	p := &port{
		n:        n,
		log:      log.With("port", n),
		slic:     s,
		led:      led,
		linefeed: 0xff,
	}
	p.Port = dsp.NewPort(dsp.PortConfig{Number: n, Lock: &p.mu, Hook: timing, Log: p.log})
	return p
}

var _ boards.Port = (*port)(nil)

// hookChanged is the SLIC's loop-closure bit as read, stamped with the
// time of the interrupt edge that reported it; a bit that has not changed
// is ignored.
func (p *port) hookChanged(off bool, at time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.HookChanged(off, at)
}

// frame runs one 20 ms period: the AudioFunc, ringing and caller ID,
// tones, the line feed, DTMF detection and the hook decoder's clock.
func (p *port) frame(up, down *boards.Frame, at time.Time) {
	p.CallAudio(up, down)

	p.mu.Lock()
	defer p.mu.Unlock()
	p.ringOn = p.Play(down)
	st := p.Status()
	p.applyLinefeed(st.Reversed)
	p.applyLED(st.OffHook)
	p.Decode(up, at)
}

// applyLinefeed puts the line in the state the port wants; it writes the
// SLIC only on a change. A failed write is retried next frame and logged
// once until it works again.
func (p *port) applyLinefeed(reversed bool) {
	want := byte(lfFwdActive)
	if reversed {
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
func (p *port) applyLED(offHook bool) {
	on := offHook || p.ringOn
	if p.led == nil || on == p.ledOn {
		return
	}
	if err := p.led.Out(gpio.Level(on)); err != nil {
		p.log.Warn("phone light", "err", err)
		return
	}
	p.ledOn = on
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
	p.CloseEvents()
}
