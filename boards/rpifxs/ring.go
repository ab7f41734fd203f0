package rpifxs

import (
	"errors"
	"fmt"
	"time"

	"github.com/tipring/tipring/boards"
	"github.com/tipring/tipring/boards/dsp"
)

// callerIDLevel is the caller-ID FSK level: the nominal −13.5 dBm0 of
// Telcordia GR-30 and ETSI EN 300 659-1.
const callerIDLevel = -13.5

// errOffHook is returned by Ring when the phone is off-hook: the SLIC would
// trip the ring at once.
var errOffHook = errors.New("phone is off-hook")

// ringer sequences one port's ringing in 20 ms frames: the cadence decides
// when the SLIC's ringing generator is on (LINEFEED = ringing), and caller
// ID is played as FSK audio in the silence the standard says, with the
// line reversed around it when the standard wants that.
type ringer struct {
	active  bool
	cadence boards.Cadence
	idx     int           // even: ring on, odd: off
	left    time.Duration // of cadence[idx]
	bursts  int

	sig       *dsp.CallerIDSignal
	timing    dsp.CallerIDTiming
	cid       int           // 0 none/done, 1 armed, 2 lead-in, 3 sending, 4 lead-out
	wait      time.Duration // of the lead-in or lead-out
	reversing bool
}

const (
	cidNone = iota
	cidArmed
	cidLeadIn
	cidSending
	cidLeadOut
)

func (g *ringer) start(r boards.Ring) error {
	if len(r.Cadence) == 0 || len(r.Cadence)%2 != 0 {
		return fmt.Errorf("ring cadence has %d elements: want on/off pairs", len(r.Cadence))
	}
	for i, d := range r.Cadence {
		if d < boards.FrameDuration {
			return fmt.Errorf("ring cadence element %d is %v: shorter than one %v frame", i, d, boards.FrameDuration)
		}
	}
	var sig *dsp.CallerIDSignal
	if r.CallerID != nil && r.Standard != boards.CallerIDNone {
		s, err := dsp.NewCallerIDSignal(r.Standard, *r.CallerID, callerIDLevel)
		if err != nil {
			return fmt.Errorf("caller ID: %w", err)
		}
		sig = s
	}
	*g = ringer{active: true, cadence: append(boards.Cadence(nil), r.Cadence...), left: r.Cadence[0], sig: sig}
	if sig != nil {
		g.timing = dsp.CallerIDTimingFor(r.Standard)
		g.cid = cidArmed
		if g.timing.BeforeFirstRing {
			g.leadIn()
		}
	}
	return nil
}

func (g *ringer) leadIn() {
	g.cid = cidLeadIn
	g.wait = g.timing.LeadIn
	g.reversing = g.timing.Reverse
}

func (g *ringer) stop() { *g = ringer{} }

// step advances one frame. It reports whether the ringing voltage is on
// during the frame, and fills down with caller-ID audio when sending.
func (g *ringer) step(down *boards.Frame) (ringing, sending bool) {
	if !g.active {
		return false, false
	}
	sending = g.stepCallerID(down)
	if g.idx%2 == 0 && (g.cid == cidLeadIn || g.cid == cidSending || g.cid == cidLeadOut) {
		// The next burst waits until caller ID is over.
		return false, sending
	}
	ringing = g.idx%2 == 0
	g.left -= boards.FrameDuration
	for g.left <= 0 {
		if g.idx%2 == 0 {
			g.bursts++
			if g.bursts == 1 && g.cid == cidArmed {
				g.leadIn()
			}
		}
		g.idx = (g.idx + 1) % len(g.cadence)
		g.left += g.cadence[g.idx]
	}
	return ringing, sending
}

func (g *ringer) stepCallerID(down *boards.Frame) bool {
	switch g.cid {
	case cidLeadIn:
		if g.wait > 0 {
			g.wait -= boards.FrameDuration
			return false
		}
		g.cid = cidSending
		fallthrough
	case cidSending:
		if g.sig.Fill(down) {
			g.cid = cidLeadOut
			g.wait = g.timing.LeadOut
		}
		return true
	case cidLeadOut:
		if g.wait > 0 {
			g.wait -= boards.FrameDuration
			return false
		}
		g.cid = cidNone
		if g.timing.Restore {
			g.reversing = false
		}
	}
	return false
}
