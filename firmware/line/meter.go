package line

import (
	"errors"
	"strings"
	"time"

	"github.com/tipring/tipring/firmware/prompts"
	"github.com/tipring/tipring/meter"
	"github.com/tipring/tipring/sip/media"
)

// Meter is the prepaid meter as a line uses it.
type Meter interface {
	// Authorize commits the attempt's record and grants the call, or
	// refuses it with a *meter.Refusal.
	Authorize(a meter.Attempt) (MeteredCall, error)
	Balance() (meter.BalanceInfo, error)
	// TakeNotice returns, once, what the user should hear at off-hook.
	TakeNotice() string
}

// MeteredCall is one call's metering and record.
type MeteredCall interface {
	Notices() <-chan meter.Notice
	Limit() time.Duration
	Metered() bool
	EarlyMedia()
	Answered(by string)
	End(e meter.End) meter.Record
}

// Prompts turns prompt keys into audio.
type Prompts interface {
	Clip(keys ...string) ([]int16, error)
}

// clip is a prompt being played into the phone. pos is touched only by
// the audio callback.
type clip struct {
	id  uint64
	pcm []int16
	pos int
}

// playPrompt speaks keys into the phone, then runs then (on the Run
// goroutine). Without prompts, or if they cannot be assembled, it runs
// then at once: the tone that follows still tells the user something.
func (l *Line) playPrompt(keys []string, then func()) {
	if l.cfg.Prompts == nil {
		then()
		return
	}
	pcm, err := l.cfg.Prompts.Clip(keys...)
	if err != nil || len(pcm) == 0 {
		l.log.Error("prompt not playable", "keys", strings.Join(keys, " "), "err", err)
		then()
		return
	}
	a := l.audio.Load()
	if a == nil {
		a = &audioPath{}
		l.audio.Store(a)
	}
	l.cfg.Port.StopTone()
	l.promptID++
	l.afterPrompt = then
	a.prompt.Store(&clip{id: l.promptID, pcm: pcm})
}

// stopPrompt silences a prompt and forgets what was to follow it.
func (l *Line) stopPrompt() {
	if a := l.audio.Load(); a != nil {
		a.prompt.Store(nil)
	}
	l.afterPrompt = nil
	l.promptID++
}

// playClip fills down from the prompt; it runs on the audio clock.
func (l *Line) playClip(a *audioPath, down []int16) {
	c := a.prompt.Load()
	if c == nil {
		return
	}
	n := copy(down, c.pcm[c.pos:])
	clear(down[n:])
	c.pos += n
	if c.pos >= len(c.pcm) && a.prompt.CompareAndSwap(c, nil) {
		select {
		case l.promptDone <- c.id:
		default: // Run has not taken the previous one: it was stale anyway
		}
	}
}

func (l *Line) onPromptDone(id uint64) {
	if id != l.promptID || l.afterPrompt == nil {
		return
	}
	then := l.afterPrompt
	l.afterPrompt = nil
	if l.call == nil {
		// A prompt outside a call had an audio path of its own.
		l.audio.Store(nil)
	}
	then()
}

// refused tells the caller why the meter will not place the call.
func (l *Line) refused(r *meter.Refusal) {
	key := prompts.ServiceUnavailable
	switch r.Reason {
	case meter.RefusedSuspended:
		key = prompts.AccountSuspended
	case meter.RefusedCredit:
		key = prompts.InsufficientCredit
	case meter.RefusedBlocked:
		key = prompts.DestinationBlocked
	}
	l.setState(Announcing)
	l.playPrompt([]string{key}, func() { l.fail(r.Error(), l.cfg.Region.Reorder) })
}

// speakBalance answers the balance star code, then gives dial tone back.
func (l *Line) speakBalance() {
	l.stopTimer()
	l.cfg.Port.StopTone()
	l.setState(Announcing)
	keys := []string{prompts.BalanceUnavailable}
	if l.cfg.Meter != nil {
		if info, err := l.cfg.Meter.Balance(); err == nil && info.Metering && info.Currency != "" {
			keys = prompts.BalanceSentence(int64(info.Balance), info.Currency, info.Minutes)
		} else if err != nil {
			l.log.Warn("balance not available", "err", err)
		}
	}
	l.playPrompt(keys, l.dialTone)
}

// dialTone starts (or restarts) collecting a number.
func (l *Line) dialTone() {
	l.digits = ""
	if !l.cfg.Signalling.Registered() {
		l.cfg.Port.PlayTone(l.cfg.Region.NoService)
		l.setState(NoService)
	} else {
		l.cfg.Port.PlayTone(l.cfg.Region.Dial)
		l.setState(DialTone)
	}
	// A hot line dials at once; a warm line waits its own timer.
	l.decide(l.cfg.Plan.Match(""))
}

// onNotice acts on the meter's warnings and the end of credit.
func (l *Line) onNotice(n meter.Notice) {
	if l.state != Connected {
		return
	}
	switch n.Kind {
	case meter.Warning:
		secs := int((n.Remaining + time.Second/2) / time.Second)
		l.playPrompt(prompts.RemainingSentence(secs), func() {})
	case meter.Exhausted:
		l.log.Info("credit exhausted; ending the call")
		l.endCallAs(meter.End{Disposition: meter.CutCredit, Reason: "credit exhausted", HungUpBy: "meter"}, "credit exhausted")
		l.setState(Announcing)
		l.playPrompt([]string{prompts.CreditExhausted}, func() {
			if l.cfg.Port.OffHook() {
				l.fail("credit exhausted", l.cfg.Region.Reorder)
			} else {
				l.setState(Idle)
			}
		})
	}
}

// closeRecord ends the call's record with the evidence of its media; it
// must run before the media session closes.
func (l *Line) closeRecord(e meter.End) {
	if l.mcall == nil {
		return
	}
	if l.sess != nil {
		e.Evidence = evidence(l.sess.Stats())
	}
	if e.Disposition == "" {
		e.Disposition = meter.Failed
	}
	r := l.mcall.End(e)
	l.mcall = nil
	l.log.Info("call recorded", "id", r.ID, "disposition", r.Disposition, "billed_s", r.BilledSeconds, "cost", r.Cost)
}

func evidence(s media.Stats) meter.Evidence {
	return meter.Evidence{
		RTPReceived:     s.PacketsReceived,
		RTPSent:         s.PacketsSent,
		AudioReceivedMS: s.AudioReceived.Milliseconds(),
		AudioSentMS:     s.AudioSent.Milliseconds(),
		RTCPLossPercent: 100 * s.RemoteFractionLost,
		JitterMS:        s.JitterMs,
		RTTMS:           float64(s.RTT.Microseconds()) / 1000,
	}
}

// failureDisposition files a final SIP failure in the history.
func failureDisposition(code int) meter.Disposition {
	switch code {
	case 486, 600:
		return meter.Busy
	case 408, 480:
		return meter.NoAnswer
	case 487:
		return meter.Cancelled
	}
	return meter.Failed
}

// endDisposition is how a call that is being torn down is filed.
func (l *Line) endDisposition() meter.Disposition {
	switch {
	case l.answered:
		return meter.Answered
	case l.direction == "incoming":
		return meter.NoAnswer
	}
	return meter.Cancelled
}

func asRefusal(err error) (*meter.Refusal, bool) {
	var r *meter.Refusal
	ok := errors.As(err, &r)
	return r, ok
}
