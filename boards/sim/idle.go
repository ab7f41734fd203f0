package sim

import (
	"strings"
	"time"

	"github.com/tipring/tipring/boards"
)

// The real-time audio clock stops when no port needs audio, because a
// device must not wake 50 times a second while both phones hang on the
// hook. It may stop only when more frames could change nothing anybody
// can observe: no event would come, and the phones' state and recordings
// would stay as they are (recordings are padded with the silence of the
// frames not taken, see phone.recording). Everything that starts
// something needing frames wakes the clock (port.wakeClock).

// clockNeed is a reason for the audio clock to run; a set of them says
// why a port needs frames.
type clockNeed uint16

const (
	// needOffHook: the handset is lifted; audio flows both ways.
	needOffHook clockNeed = 1 << iota
	// needHookDecoder: the line's hook decoder still counts the line
	// off-hook. It is timing a break (a flash, a dial pulse, a hang-up)
	// and reports on-hook, the flash or the digit only as time passes.
	needHookDecoder
	// needRinger: a ring cadence, or the caller-ID sequence around it
	// (lead-in and lead-out included), is running.
	needRinger
	// needRingMeter: the phone's ringing episode is open; it closes only
	// when no burst has come for its timeout.
	needRingMeter
	// needTone: the port is playing a tone.
	needTone
	// needHookScript: the phone is moving its hook switch on a schedule
	// (a flash, pulse dialling).
	needHookScript
	// needMic: the phone is speaking into the line (a send, DTMF).
	needMic
	// needPolarity: the line's polarity changed and the phone has not
	// sensed it yet.
	needPolarity
	// needListener: the phone's receivers have not settled on silence
	// yet (see phone.settled).
	needListener
)

var clockNeedNames = [...]string{"off-hook", "hook decoder", "ringer", "ring meter", "tone", "hook script", "microphone", "polarity", "listener"}

func (n clockNeed) String() string {
	if n == 0 {
		return "none"
	}
	var names []string
	for i, name := range clockNeedNames {
		if n&(1<<i) != 0 {
			names = append(names, name)
		}
	}
	return strings.Join(names, "+")
}

// clockNeeds says why the port needs the audio clock; 0 when it does not.
func (p *port) clockNeeds() clockNeed {
	p.mu.Lock()
	defer p.mu.Unlock()
	ph := p.phone
	st := p.Status()
	var n clockNeed
	if ph.offHook || st.LoopClosed {
		n |= needOffHook
	}
	if st.OffHook {
		// The decoder leaves off-hook only after a break of FlashMax, and
		// a pulse digit is always reported before that: when it counts
		// the line on-hook, nothing of the decoder's waits for time.
		n |= needHookDecoder
	}
	if st.Ringing {
		n |= needRinger
	}
	if ph.ring.ringing || ph.ring.inBurst {
		n |= needRingMeter
	}
	if st.Playing {
		n |= needTone
	}
	if ph.script != nil {
		n |= needHookScript
	}
	if ph.micJob != nil || ph.micTone || ph.micPCM != nil {
		n |= needMic
	}
	if ph.reversed != st.Reversed {
		n |= needPolarity
	}
	if !ph.settled() {
		n |= needListener
	}
	return n
}

// needsClock reports whether any port needs the audio clock to run.
func (b *Board) needsClock() bool {
	for _, p := range b.ports {
		if p.clockNeeds() != 0 {
			return true
		}
	}
	return false
}

// wakeClock tells a stopped audio clock that the port needs frames again.
// It never waits: one signal pending is as good as many.
func (p *port) wakeClock() {
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// pause tells the port that the audio clock stops after the frame of at.
func (p *port) pause(at time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.phone.pause(at)
}

// resume tells the port that the audio clock runs again, with the frame
// of at next.
func (p *port) resume(at time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.phone.resume(at)
}

// minSettle is how much digital silence the phone's receivers need before
// more of it changes nothing, whatever the region: the listener names a
// stopped tone for a second and measures the level over the last second,
// and a DTMF caller ID half received is dropped after a pause of a second.
const minSettle = 1500 * time.Millisecond

// settleFrames is how many frames of digital silence the phone must hear
// before the clock may stop. Besides minSettle, the listener takes a
// quiet shorter than a gap of one of the region's tones (plus its
// tolerance of 15 % + 35 ms) as a gap that the tone may still end; a
// longer quiet is to it the same as a quiet of any length, so stopping
// after one changes nothing it will recognise later. The bound here, all
// of a tone's silent segments together plus a quarter and 100 ms, is
// longer than any gap it can hear.
func settleFrames(tones []boards.Tone) int {
	d := minSettle
	for _, t := range tones {
		var silent time.Duration
		for _, s := range t.Segments {
			if len(s.Freqs) == 0 && s.Duration > 0 {
				silent += s.Duration
			}
		}
		d = max(d, silent+silent/4+100*time.Millisecond)
	}
	return int((d + boards.FrameDuration - 1) / boards.FrameDuration)
}
