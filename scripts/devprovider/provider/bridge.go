package provider

import (
	"context"
	"errors"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
)

// newInvite builds an INVITE to a registered phone: to its contact, sent
// to where its REGISTER came from, From the calling user so the phone
// shows the caller's number and name.
func (p *Provider) newInvite(b binding, callee, fromName, fromUser string, sdp []byte) *sip.Request {
	req := sip.NewRequest(sip.INVITE, b.contact)
	req.SetDestination(b.source)
	req.SetTransport(b.transport)
	fromParams := sip.NewParams()
	fromParams.Add("tag", sip.GenerateTagN(16))
	req.AppendHeader(&sip.FromHeader{DisplayName: fromName,
		Address: sip.Uri{Scheme: "sip", User: fromUser, Host: p.cfg.Realm}, Params: fromParams})
	req.AppendHeader(&sip.ToHeader{Address: sip.Uri{Scheme: "sip", User: callee, Host: p.cfg.Realm}})
	if len(sdp) > 0 {
		req.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
		req.SetBody(sdp)
	}
	return req
}

// bridge connects caller to a registered user as a back-to-back user
// agent: two dialogs, the SDP passed through unchanged so the audio flows
// between the phones directly.
func (p *Provider) bridge(req *sip.Request, tx sip.ServerTransaction, caller, callee string, b binding) {
	ds, err := p.dialog.ReadInvite(req, tx)
	if err != nil {
		p.respond(req, tx, 400, "Bad Request")
		return
	}
	name := caller
	if f := req.From(); f != nil && f.DisplayName != "" {
		name = f.DisplayName
	}
	out := p.newInvite(b, callee, name, caller, req.Body())
	ctx, stop := context.WithCancel(p.runContext())
	cs, err := p.dialog.WriteInvite(ctx, out)
	if err != nil {
		stop()
		p.log.Info("bridge: INVITE failed", "callee", callee, "error", err)
		_ = ds.Respond(503, "Service Unavailable", nil)
		_ = ds.Close()
		return
	}
	a := &leg{callID: req.CallID().Value(), srv: ds, stop: stop}
	bl := &leg{callID: out.CallID().Value(), cli: cs, stop: stop}
	a.other, bl.other = bl, a
	p.addLeg(a)
	p.addLeg(bl)

	// The caller giving up (CANCEL: sipgo has answered it and ended the
	// INVITE with 487) cancels the callee's ringing.
	answerCtx, cancelAnswer := context.WithCancel(ctx)
	defer cancelAnswer()
	answered := make(chan struct{})
	go func() {
		select {
		case <-tx.Done():
			cancelAnswer()
		case <-answered:
		}
	}()
	sdpType := sip.NewHeader("Content-Type", "application/sdp")
	err = cs.WaitAnswer(answerCtx, sipgo.AnswerOptions{OnResponse: func(r *sip.Response) error {
		switch {
		case r.StatusCode == 180 || r.StatusCode == 183 && len(r.Body()) == 0:
			_ = ds.Respond(r.StatusCode, r.Reason, nil)
		case r.StatusCode == 183:
			_ = ds.Respond(183, r.Reason, r.Body(), sdpType)
		}
		return nil
	}})
	close(answered)
	if err != nil {
		code := responseCode(err)
		p.log.Info("bridge: not answered", "callee", callee, "code", code, "error", err)
		if answerCtx.Err() == nil && !errors.Is(err, context.Canceled) {
			switch code {
			case 0:
				code = 480
			case 401, 407:
				// The callee's challenge is not the caller's to answer.
				code = 403
			}
			_ = ds.Respond(code, reasonFor(code), nil)
		}
		p.forget(a)
		p.forget(bl)
		return
	}
	if err := cs.Ack(ctx); err != nil {
		p.log.Info("bridge: ACK to callee failed", "error", err)
	}
	if err := ds.RespondSDP(cs.InviteResponse.Body()); err != nil {
		p.log.Info("bridge: caller did not acknowledge", "error", err)
		p.hangup(a, false)
		return
	}
	p.log.Info("bridged", "caller", caller, "callee", callee, "call_id", a.callID)
}

func reasonFor(code int) string {
	switch code {
	case 403:
		return "Forbidden"
	case 404:
		return "Not Found"
	case 480:
		return "Temporarily Unavailable"
	case 486:
		return "Busy Here"
	case 487:
		return "Request Terminated"
	case 603:
		return "Decline"
	}
	return "Call Failed"
}
