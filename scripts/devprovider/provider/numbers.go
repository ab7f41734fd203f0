package provider

import (
	"context"
	"errors"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"github.com/tipring/tipring/boards"
	"github.com/tipring/tipring/boards/dsp"
	"github.com/tipring/tipring/sip/media"
)

func steadyTone(hz float64) boards.Tone {
	return boards.Tone{Name: "test", LoopFrom: -1,
		Segments: []boards.Segment{{Freqs: []float64{hz}, LevelDBm0: ToneLevelDBm}}}
}

// beep is 603's answer: half a second of 1004 Hz, then silence.
func beep() boards.Tone {
	return boards.Tone{Name: "beep", LoopFrom: -1,
		Segments: []boards.Segment{{Freqs: []float64{ToneHz}, LevelDBm0: ToneLevelDBm, Duration: 500 * time.Millisecond}}}
}

// serveTestNumber answers 600, 601, 603 and 604 with a media session of
// their own.
func (p *Provider) serveTestNumber(req *sip.Request, tx sip.ServerTransaction, caller, number string) {
	sess, err := p.engine.NewSession()
	if err != nil {
		p.log.Warn("no media session", "error", err)
		p.respond(req, tx, 503, "Service Unavailable")
		return
	}
	answer, err := sess.Answer(req.Body())
	if err != nil {
		_ = sess.Close()
		p.log.Info("offer refused", "number", number, "error", err)
		p.respond(req, tx, 488, "Not Acceptable Here")
		return
	}
	ds, err := p.dialog.ReadInvite(req, tx)
	if err != nil {
		_ = sess.Close()
		p.respond(req, tx, 400, "Bad Request")
		return
	}
	ctx, stop := context.WithCancel(p.runContext())
	l := &leg{callID: req.CallID().Value(), srv: ds, media: sess, stop: stop}
	p.addLeg(l)
	sdpType := sip.NewHeader("Content-Type", "application/sdp")

	if number == NumberEarlyMedia {
		if err := ds.Respond(183, "Session Progress", answer, sdpType); err != nil {
			p.hangup(l, false)
			return
		}
		early, stopEarly := context.WithCancel(ctx)
		played := p.play(early, sess, toneSource(steadyTone(EarlyToneHz)))
		select {
		case <-time.After(p.cfg.EarlyMedia):
		case <-tx.Done(): // CANCEL: sipgo has answered 487
		case <-ctx.Done():
		}
		stopEarly()
		<-played
		if tx.Err() != nil || ctx.Err() != nil {
			p.hangup(l, false)
			return
		}
	} else {
		_ = ds.Respond(180, "Ringing", nil)
	}
	if err := ds.RespondSDP(answer); err != nil {
		p.log.Info("answer not acknowledged", "number", number, "error", err)
		p.hangup(l, false)
		return
	}
	p.log.Info("answered", "number", number, "caller", caller, "call_id", l.callID)

	switch number {
	case NumberTone, NumberEarlyMedia:
		p.play(ctx, sess, toneSource(steadyTone(ToneHz)))
		p.after(ctx, p.cfg.ToneHangup, func() { p.hangup(l, true) })
	case NumberEcho:
		p.play(ctx, sess, echoSource(sess))
		p.after(ctx, p.cfg.EchoHangup, func() { p.hangup(l, true) })
	case NumberCallback:
		p.play(ctx, sess, toneSource(beep()))
		p.after(ctx, p.cfg.CallbackHangup, func() {
			p.hangup(l, true)
			p.calls.Add(1)
			go func() {
				defer p.calls.Done()
				select {
				case <-time.After(p.cfg.CallbackDelay):
					p.callback(caller)
				case <-p.runContext().Done():
				}
			}()
		})
	}
}

// after runs f after d unless ctx ends first.
func (p *Provider) after(ctx context.Context, d time.Duration, f func()) {
	p.calls.Add(1)
	go func() {
		defer p.calls.Done()
		select {
		case <-time.After(d):
			f()
		case <-ctx.Done():
		}
	}()
}

// A source fills the next 20 ms frame to send. clocked sources read the
// session's jitter buffer, which hands out the frame due now: they must be
// called once per tick, never in a catch-up burst.
type source struct {
	fill    func(f *boards.Frame)
	clocked bool
}

func toneSource(t boards.Tone) source {
	g := dsp.NewToneGen(t)
	return source{fill: func(f *boards.Frame) { g.Fill(f) }}
}

// echoSource returns what the caller sent, through the session's jitter
// buffer (so the caller hears itself some 40-60 ms late).
func echoSource(s *media.Session) source {
	return source{fill: func(f *boards.Frame) { s.ReadFrame(f[:]) }, clocked: true}
}

// play sends src to s every 20 ms until ctx ends; the returned channel is
// closed when it has stopped. A ticker drops ticks when the machine is
// busy; a generated source is sent by the clock instead, catching up after
// a stall (up to maxCatchUp frames at once), so a loaded test machine
// delays a tone rather than cutting holes in it.
func (p *Provider) play(ctx context.Context, s *media.Session, src source) <-chan struct{} {
	const maxCatchUp = 10
	done := make(chan struct{})
	p.calls.Add(1)
	go func() {
		defer p.calls.Done()
		defer close(done)
		tick := time.NewTicker(boards.FrameDuration)
		defer tick.Stop()
		var f boards.Frame
		next := time.Now()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			now := time.Now()
			if src.clocked || now.Sub(next) > maxCatchUp*boards.FrameDuration {
				next = now
			}
			for !next.After(now) {
				clear(f[:])
				src.fill(&f)
				s.WriteFrame(f[:])
				next = next.Add(boards.FrameDuration)
			}
		}
	}()
	return done
}

// callback is 603's second half: call the caller, as "Callback" from 603,
// and play 1004 Hz when answered.
func (p *Provider) callback(caller string) {
	b, ok := p.reg.lookup(caller)
	if !ok {
		p.log.Info("callback: caller not registered", "user", caller)
		return
	}
	sess, err := p.engine.NewSession()
	if err != nil {
		p.log.Warn("callback: no media session", "error", err)
		return
	}
	offer, err := sess.Offer()
	if err != nil {
		_ = sess.Close()
		p.log.Warn("callback: no offer", "error", err)
		return
	}
	req := p.newInvite(b, caller, "Callback", NumberCallback, offer)
	ctx, stop := context.WithCancel(p.runContext())
	cs, err := p.dialog.WriteInvite(ctx, req)
	if err != nil {
		stop()
		_ = sess.Close()
		p.log.Info("callback: INVITE failed", "user", caller, "error", err)
		return
	}
	l := &leg{callID: req.CallID().Value(), cli: cs, media: sess, stop: stop}
	p.addLeg(l)
	p.log.Info("callback: calling", "user", caller, "call_id", l.callID)
	answerCtx, cancelAnswer := context.WithTimeout(ctx, time.Minute)
	err = cs.WaitAnswer(answerCtx, sipgo.AnswerOptions{})
	cancelAnswer()
	if err != nil {
		p.log.Info("callback: not answered", "user", caller, "code", responseCode(err), "error", err)
		p.forget(l)
		return
	}
	if err := sess.SetAnswer(cs.InviteResponse.Body()); err != nil {
		p.log.Info("callback: bad answer", "error", err)
		_ = cs.Ack(ctx)
		p.hangup(l, true)
		return
	}
	if err := cs.Ack(ctx); err != nil && !errors.Is(err, context.Canceled) {
		p.log.Info("callback: ACK failed", "error", err)
	}
	p.play(ctx, sess, toneSource(steadyTone(ToneHz)))
	p.after(ctx, p.cfg.CallbackTalk, func() { p.hangup(l, true) })
}
