package sim

import (
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
const EventBuffer = dsp.EventBuffer

// port is one FXS port: dsp.Port's software signalling, plus the phone on
// the far side of the copper. The port and its phone share one lock,
// because they share one copper pair; they talk only through the copper
// interface (hook transitions) and the frames, ring voltage and polarity
// the port hands the phone each tick.
type port struct {
	*dsp.Port

	n   int
	log *slog.Logger
	now func() time.Time
	// wake is the audio clock's wake-up signal, shared by the ports.
	wake chan<- struct{}

	mu sync.Mutex

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
		n:     n,
		log:   log.With("port", n),
		now:   now,
		wake:  wake,
		stats: newLineStats(),
		meter: newMeter(n),
	}
	p.Port = dsp.NewPort(dsp.PortConfig{
		Number:   n,
		Lock:     &p.mu,
		Hook:     timing,
		Log:      p.log,
		Wake:     p.wakeClock,
		Observe:  p.stats.observe,
		Released: p.stats.released,
	})
	p.phone = newPhone(p, reg.Tones(), reg.CallerID)
	return p
}

var _ boards.Port = (*port)(nil)

// hookChanged is the phone's hook switch as the line sees it: loop current
// starts or stops. Called with p.mu held.
func (p *port) hookChanged(off bool, at time.Time) {
	p.HookChanged(off, at)
}

// tick runs one 20 ms frame of the copper pair.
func (p *port) tick() {
	p.mu.Lock()
	p.phone.speak(&p.up)
	p.mu.Unlock()

	p.CallAudio(&p.up, &p.down)

	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.now()
	voltage := p.Play(&p.down)
	p.phone.listen(&p.down, voltage, p.Status().Reversed, now)
	// Scripted hook moves are applied before the decoder's clock moves on,
	// so it sees every transition in time order.
	p.phone.runScript(now)
	p.Decode(&p.up, now)
}

func (p *port) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.CloseEvents()
}
