package dsp

import (
	"errors"
	"fmt"
	"time"

	"github.com/tipring/tipring/boards"
)

// CallerIDLevelDBm0 is the level a Ringer sends caller ID at: the nominal
// −13.5 dBm0 of Telcordia GR-30 and ETSI EN 300 659-1.
const CallerIDLevelDBm0 = -13.5

// ringPhase is where a Ringer's caller-ID sequence stands.
type ringPhase int

const (
	ringNoCID   ringPhase = iota // no caller ID for this ring, or it is over
	ringArmed                    // waiting for the first burst to end
	ringLeadIn                   // quiet (and reversed, if asked) before the signal
	ringSending                  // the signal is on the line
	ringLeadOut                  // quiet after the signal, before the next burst
)

// Ringer sequences one port's ringing in 20 ms frames: when the ring
// voltage is on, following a cadence, and when the caller-ID signal is on
// the line, placed around the bursts as CallerIDTimingFor says for the
// standard (and with the line reversed around it when the standard wants
// that). A board applies the result to its hardware: the sim board hands
// it to its virtual phone, a SLIC board writes its line-feed register.
// The zero Ringer is idle.
type Ringer struct {
	active  bool
	cadence boards.Cadence
	idx     int           // current cadence element: even on, odd off
	left    time.Duration // of the current element; may go negative by less than a frame and is carried
	bursts  int           // bursts completed

	sig    *CallerIDSignal
	timing CallerIDTiming
	phase  ringPhase
	wait   time.Duration // left of ringLeadIn or ringLeadOut
	// reversing is true while the standard wants the line reversed: from
	// before the signal until after it (or until the ring stops, when the
	// standard does not restore the polarity).
	reversing bool
}

// CheckCadence says what is wrong with a ring cadence, if anything: a
// Ringer needs on/off pairs, each at least a frame long, because it works
// in whole frames.
func CheckCadence(c boards.Cadence) error {
	if len(c) == 0 {
		return errors.New("ring cadence is empty")
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

// Start begins ringing with r, replacing any ring in progress. It builds
// the caller-ID signal now, so that Step never allocates. On error the
// ring in progress, if any, goes on.
func (g *Ringer) Start(r boards.Ring) error {
	if err := CheckCadence(r.Cadence); err != nil {
		return err
	}
	var sig *CallerIDSignal
	if r.CallerID != nil && r.Standard != boards.CallerIDNone {
		s, err := NewCallerIDSignal(r.Standard, *r.CallerID, CallerIDLevelDBm0)
		if err != nil {
			return fmt.Errorf("caller ID: %w", err)
		}
		sig = s
	}
	*g = Ringer{
		active:  true,
		cadence: append(boards.Cadence(nil), r.Cadence...),
		left:    r.Cadence[0],
		sig:     sig,
	}
	if sig != nil {
		g.timing = CallerIDTimingFor(r.Standard)
		g.phase = ringArmed
		if g.timing.BeforeFirstRing {
			g.beginCallerID()
		}
	}
	return nil
}

func (g *Ringer) beginCallerID() {
	g.phase = ringLeadIn
	g.wait = g.timing.LeadIn
	g.reversing = g.timing.Reverse
}

// Stop ends the ring and any caller ID not yet sent; the line polarity
// goes back to what the board was asked for.
func (g *Ringer) Stop() {
	*g = Ringer{}
}

// Active reports whether a ring is in progress (between Start and Stop),
// bursts and silences alike: the board must keep stepping it.
func (g *Ringer) Active() bool { return g.active }

// Reversing reports whether the ring wants the line reversed now, for
// caller ID. The board's polarity is the one asked for (SetReversed)
// flipped when this is true.
func (g *Ringer) Reversing() bool { return g.reversing }

// Step runs one frame: it reports whether the ring voltage is on during
// the frame, and whether caller ID is being sent, in which case the signal
// has been written into down (replacing what was there; it takes the
// place of any tone). It does not allocate.
func (g *Ringer) Step(down *boards.Frame) (voltage, sending bool) {
	if !g.active {
		return false, false
	}
	sending = g.stepCallerID(down)
	busy := g.phase == ringLeadIn || g.phase == ringSending || g.phase == ringLeadOut
	if g.idx%2 == 0 && busy {
		// A burst must wait for the caller ID to finish: the phone cannot
		// take the signal while it rings, and the standard's quiet before
		// and after it is what lets the phone's receiver settle.
		return false, sending
	}
	voltage = g.idx%2 == 0
	g.left -= boards.FrameDuration
	for g.left <= 0 {
		if g.idx%2 == 0 {
			g.bursts++
			if g.bursts == 1 && g.phase == ringArmed {
				g.beginCallerID()
			}
		}
		g.idx = (g.idx + 1) % len(g.cadence)
		g.left += g.cadence[g.idx]
	}
	return voltage, sending
}

// stepCallerID moves the caller-ID sequence on one frame and reports
// whether the signal is on the line in it.
func (g *Ringer) stepCallerID(down *boards.Frame) (sending bool) {
	if g.phase == ringLeadIn {
		if g.wait > 0 {
			g.wait -= boards.FrameDuration
			return false
		}
		g.phase = ringSending
	}
	if g.phase == ringSending {
		if g.sig.Fill(down) {
			g.phase = ringLeadOut
			g.wait = g.timing.LeadOut
		}
		return true
	}
	if g.phase == ringLeadOut {
		if g.wait > 0 {
			g.wait -= boards.FrameDuration
			return false
		}
		g.phase = ringNoCID
		if g.timing.Restore {
			g.reversing = false
		}
	}
	return false
}
