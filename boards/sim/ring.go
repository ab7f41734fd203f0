package sim

import (
	"fmt"
	"time"

	"github.com/tipring/tipring/boards"
	"github.com/tipring/tipring/boards/dsp"
)

// CallerIDLevelDBm0 is the level the board sends caller-ID FSK at: the
// nominal −13.5 dBm0 of Telcordia GR-30 and ETSI EN 300 659-1.
const CallerIDLevelDBm0 = -13.5

// cidPhase is where the caller-ID sequence stands.
type cidPhase int

const (
	cidNone    cidPhase = iota // no caller ID for this ring, or it is over
	cidArmed                   // waiting for the first burst to end
	cidLeadIn                  // quiet (and reversed, if asked) before the signal
	cidSending                 // the signal is on the line
	cidLeadOut                 // quiet after the signal, before the next burst
)

// ringer is the board's ring generator: the ring voltage on the copper,
// following a cadence, with caller ID sequenced around the bursts as the
// standard's timing says. It works in whole frames.
type ringer struct {
	active  bool
	cadence boards.Cadence
	idx     int           // current cadence element: even on, odd off
	left    time.Duration // of the current element; may go negative by less than a frame and is carried
	bursts  int           // bursts completed

	sig    *dsp.CallerIDSignal
	timing dsp.CallerIDTiming
	phase  cidPhase
	wait   time.Duration // left of cidLeadIn or cidLeadOut
	// reversing is true while the standard wants the line reversed: from
	// before the signal until after it (or until the ring stops, when the
	// standard does not restore the polarity).
	reversing bool
}

// checkCadence says what is wrong with a cadence, if anything.
func checkCadence(c boards.Cadence) error {
	if len(c) == 0 {
		return fmt.Errorf("ring cadence is empty")
	}
	if len(c)%2 != 0 {
		return fmt.Errorf("ring cadence has %d elements: want on/off pairs", len(c))
	}
	for i, d := range c {
		if d < boards.FrameDuration {
			return fmt.Errorf("ring cadence element %d is %v: shorter than one %v frame", i, d, boards.FrameDuration)
		}
	}
	return nil
}

// start begins ringing with r, replacing any ring in progress.
func (g *ringer) start(r boards.Ring) error {
	if err := checkCadence(r.Cadence); err != nil {
		return err
	}
	var sig *dsp.CallerIDSignal
	if r.CallerID != nil && r.Standard != boards.CallerIDNone {
		s, err := dsp.NewCallerIDSignal(r.Standard, *r.CallerID, CallerIDLevelDBm0)
		if err != nil {
			return fmt.Errorf("caller ID: %w", err)
		}
		sig = s
	}
	*g = ringer{
		active:  true,
		cadence: append(boards.Cadence(nil), r.Cadence...),
		left:    r.Cadence[0],
		sig:     sig,
	}
	if sig != nil {
		g.timing = dsp.CallerIDTimingFor(r.Standard)
		g.phase = cidArmed
		if g.timing.BeforeFirstRing {
			g.beginCallerID()
		}
	}
	return nil
}

func (g *ringer) beginCallerID() {
	g.phase = cidLeadIn
	g.wait = g.timing.LeadIn
	g.reversing = g.timing.Reverse
}

// stop ends the ring and any caller ID with it.
func (g *ringer) stop() {
	*g = ringer{}
}

// step runs one frame: it reports the ring voltage during the frame, and
// writes the caller-ID signal into down when one is being sent.
func (g *ringer) step(down *boards.Frame) (voltage, sending bool) {
	if !g.active {
		return false, false
	}
	sending = g.stepCallerID(down)
	busy := g.phase == cidLeadIn || g.phase == cidSending || g.phase == cidLeadOut
	if g.idx%2 == 0 && busy {
		// A burst must wait for the caller ID to finish.
		return false, sending
	}
	voltage = g.idx%2 == 0
	g.left -= boards.FrameDuration
	for g.left <= 0 {
		if g.idx%2 == 0 {
			g.bursts++
			if g.bursts == 1 && g.phase == cidArmed {
				g.beginCallerID()
			}
		}
		g.idx = (g.idx + 1) % len(g.cadence)
		g.left += g.cadence[g.idx]
	}
	return voltage, sending
}

func (g *ringer) stepCallerID(down *boards.Frame) (sending bool) {
	if g.phase == cidLeadIn {
		if g.wait > 0 {
			g.wait -= boards.FrameDuration
			return false
		}
		g.phase = cidSending
	}
	if g.phase == cidSending {
		if g.sig.Fill(down) {
			g.phase = cidLeadOut
			g.wait = g.timing.LeadOut
		}
		return true
	}
	if g.phase == cidLeadOut {
		if g.wait > 0 {
			g.wait -= boards.FrameDuration
			return false
		}
		g.phase = cidNone
		if g.timing.Restore {
			g.reversing = false
		}
	}
	return false
}
