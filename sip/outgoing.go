package sip

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"time"

	"github.com/emiago/sipgo/sip"
)

// validNumber accepts what a dial plan produces: digits, * and #, a leading
// +, and letters for service codes.
func validNumber(n string) error {
	if n == "" {
		return errors.New("empty number")
	}
	if len(n) > 64 {
		return errors.New("number longer than 64 characters")
	}
	for i := 0; i < len(n); i++ {
		c := n[i]
		switch {
		case c >= '0' && c <= '9', c == '*', c == '#', c == '+' && i == 0,
			c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c == '.', c == '-', c == '_':
		default:
			return fmt.Errorf("number %q: character %q not allowed", n, c)
		}
	}
	return nil
}

// Dial calls number (Request-URI and To: number@Domain) on the account of
// line, sending offer as the SDP offer, through the account's server (the
// outbound proxy if configured). It returns once the INVITE is sent; the
// call's progress arrives on Events. A digest challenge (401/407) is
// answered once. n answers offers the far end makes later in the call.
func (u *UA) Dial(ctx context.Context, line int, number string, offer []byte, n Negotiator) (*Call, error) {
	if !u.running.Load() || u.isStopping() {
		return nil, errNotRunning
	}
	select {
	case <-u.ready:
	default:
		return nil, errNotRunning
	}
	a := u.byLine[line]
	if a == nil {
		return nil, fmt.Errorf("sip: dial: no account for line %d", line)
	}
	if err := validNumber(number); err != nil {
		return nil, fmt.Errorf("sip: dial: %w", err)
	}
	hop, err := u.hopFor(ctx, a)
	if err != nil {
		return nil, fmt.Errorf("sip: dial line %d: %w", line, err)
	}
	c := newCall(u, a, Outgoing)
	c.id = randomToken(16)
	c.offer = offer
	c.neg = n
	c.remote = Party{Number: number}
	c.d = dialog{
		callID:   c.id,
		localTag: newTag(),
		local:    a.aor(),
		remote:   sip.Uri{Scheme: "sip", User: escapeUser(number), Host: a.domain},
		localSeq: 1 + rand.Uint32N(1<<15),
	}
	c.d.target = *c.d.remote.Clone()
	c.contact = u.contactHeader(a, u.contactAddr(a, hop.addr.Addr()))
	req := c.buildInvite(nil)
	u.remember(c)
	tx, err := u.request(ctx, a, hop.addr, req)
	if err != nil {
		u.forget(c)
		return nil, fmt.Errorf("sip: dial line %d: %w", line, err)
	}
	if !u.spawn(func() { c.runOutgoing(tx, req, hop.addr) }) {
		tx.Terminate()
		u.forget(c)
		return nil, errNotRunning
	}
	u.stats.callsOut.Add(1)
	return c, nil
}

// buildInvite builds the initial INVITE (again, with the next CSeq, when a
// challenge must be answered).
func (c *Call) buildInvite(auth *authRetry) *sip.Request {
	a := c.acct
	c.mu.Lock()
	d := &c.d
	if auth != nil {
		d.localSeq++
	}
	req := sip.NewRequest(sip.INVITE, *d.target.Clone())
	req.AppendHeader(maxForwards())
	from := &sip.FromHeader{DisplayName: a.DisplayName, Address: *d.local.Clone(), Params: sip.NewParams()}
	from.Params.Add("tag", d.localTag)
	req.AppendHeader(from)
	req.AppendHeader(&sip.ToHeader{Address: *d.remote.Clone()})
	req.AppendHeader(callIDHeader(d.callID))
	req.AppendHeader(cseqHeader(d.localSeq, sip.INVITE))
	c.mu.Unlock()
	if !a.proxy.isZero() {
		req.AppendHeader(&sip.RouteHeader{Address: routeURI(a.proxy)})
	}
	req.AppendHeader(c.contact.Clone())
	req.AppendHeader(sip.NewHeader("Allow", allowMethods))
	if c.ua.cfg.UserAgent != "" {
		req.AppendHeader(sip.NewHeader("User-Agent", c.ua.cfg.UserAgent))
	}
	if c.offer != nil {
		req.AppendHeader(contentType("application/sdp"))
	}
	req.SetBody(c.offer)
	if auth != nil {
		if err := auth.apply(req, a); err != nil {
			c.ua.log.Warn("sip: cannot answer INVITE challenge", "call", c.id, "err", err)
		}
	}
	return req
}

// runOutgoing follows the INVITE transaction to its end: progress, the
// answer (ACK), a digest challenge, a final failure, a timeout, or a
// cancellation asked for by Hangup.
func (c *Call) runOutgoing(tx sip.ClientTransaction, inv *sip.Request, dst netip.AddrPort) {
	u, a := c.ua, c.acct
	var (
		auth       *authRetry
		got1xx     bool
		cancelling bool
		cancelTx   sip.ClientTransaction
		cancelWait <-chan time.Time
		hangup     = c.hangup
	)
	// Until some response arrives the INVITE may be lost; after one, the
	// far end may ring for as long as it likes.
	first := time.NewTimer(u.timers.Transaction)
	defer first.Stop()
	defer func() {
		if cancelTx != nil {
			cancelTx.Terminate()
		}
	}()
	fail := func(code int, reason string) {
		c.finish(CallEvent{Kind: Failed, Code: code, Reason: reason})
	}
	// When we gave up ourselves after a Hangup, the call was cancelled,
	// whatever the transaction says.
	giveUp := func(code int, reason string) {
		if cancelling {
			code, reason = 487, "Request Terminated"
		}
		fail(code, reason)
	}
	sendCancel := func() {
		ctx, cancel := context.WithTimeout(context.Background(), u.timers.Transaction)
		defer cancel()
		var err error
		cancelTx, err = u.request(ctx, a, dst, cancelFor(inv))
		if err != nil {
			u.log.Info("sip: CANCEL not sent", "call", c.id, "err", err)
		}
		// A UAS of RFC 2543 vintage may never send 487: don't wait forever.
		cancelWait = time.After(u.timers.Transaction)
	}
	for {
		var cancelRes <-chan *sip.Response
		if cancelTx != nil {
			cancelRes = cancelTx.Responses()
		}
		select {
		case res := <-tx.Responses():
			first.Stop()
			switch code := res.StatusCode; {
			case code < 200:
				got1xx = true
				var sdp []byte
				if len(res.Body()) > 0 {
					sdp = res.Body()
				}
				c.emit(CallEvent{Kind: Progress, Code: code, Reason: res.Reason, SDP: sdp})
				if cancelling && cancelTx == nil {
					sendCancel()
				}
			case code < 300:
				c.established(tx, inv, res)
				if cancelling {
					ctx, cancel := context.WithTimeout(context.Background(), u.timers.Transaction)
					c.bye(ctx, "hung up")
					cancel()
				}
				return
			case (code == 401 || code == 407) && !cancelling:
				next, err := nextAuth(auth, res)
				if err != nil {
					fail(code, res.Reason)
					return
				}
				auth = next
				inv = c.buildInvite(auth)
				ctx, cancel := context.WithTimeout(context.Background(), u.timers.Transaction)
				ntx, err := u.request(ctx, a, dst, inv)
				cancel()
				if err != nil {
					fail(503, "Service Unavailable")
					return
				}
				tx = ntx
				first.Reset(u.timers.Transaction)
			default:
				fail(code, res.Reason)
				return
			}
		case <-tx.Done():
			re := txError(tx.Err())
			giveUp(re.code, re.reason)
			return
		case <-first.C:
			tx.Terminate()
			giveUp(408, "Request Timeout")
			return
		case <-hangup:
			hangup = nil
			cancelling = true
			// RFC 3261 9.1: no CANCEL before a provisional response; until
			// one arrives the request may still be in flight.
			if got1xx {
				sendCancel()
			}
		case res := <-cancelRes:
			if !res.IsProvisional() {
				cancelTx.Terminate()
				cancelTx = nil
			}
		case <-cancelWait:
			tx.Terminate()
			fail(487, "Request Terminated")
			return
		case <-c.ended:
			tx.Terminate()
			return
		}
	}
}

// cancelFor builds the CANCEL of an INVITE (RFC 3261 9.1): same
// Request-URI, Call-ID, From, To, CSeq number, Route and top Via.
func cancelFor(inv *sip.Request) *sip.Request {
	req := sip.NewRequest(sip.CANCEL, *inv.Recipient.Clone())
	req.AppendHeader(inv.Via().Clone())
	req.AppendHeader(maxForwards())
	for _, h := range []sip.Header{inv.From(), inv.To(), inv.CallID()} {
		req.AppendHeader(sip.HeaderClone(h))
	}
	req.AppendHeader(cseqHeader(inv.CSeq().SeqNo, sip.CANCEL))
	for _, h := range inv.GetHeaders("Route") {
		req.AppendHeader(sip.HeaderClone(h))
	}
	return req
}

// established takes the 2xx: the dialog's remote tag, target and route set
// (Record-Route reversed), then the ACK, which is also resent for every
// retransmission of the 2xx.
func (c *Call) established(tx sip.ClientTransaction, inv *sip.Request, res *sip.Response) {
	u := c.ua
	c.mu.Lock()
	if c.finished {
		c.mu.Unlock()
		return
	}
	if to := res.To(); to != nil {
		c.d.remoteTag = tagOf(to.Params)
		c.d.remote = *to.Address.Clone()
		c.d.remoteName = to.DisplayName
	}
	if ct := res.Contact(); ct != nil {
		c.d.target = *ct.Address.Clone()
	}
	c.d.routes = recordRoutes(res)
	slices.Reverse(c.d.routes)
	c.state = stateAnswered
	ack := c.inDialogRequestLocked(sip.ACK)
	// The ACK of a 2xx carries the INVITE's CSeq number.
	ack.CSeq().SeqNo = inv.CSeq().SeqNo
	for _, h := range inv.GetHeaders("Proxy-Authorization") {
		ack.AppendHeader(sip.HeaderClone(h))
	}
	var sdp []byte
	if len(res.Body()) > 0 {
		sdp = res.Body()
	}
	c.emitLocked(CallEvent{Kind: Answered, Code: res.StatusCode, Reason: res.Reason, SDP: sdp, Contact: c.d.target.String()})
	c.mu.Unlock()

	ctx, cancel := context.WithTimeout(context.Background(), u.timers.Transaction)
	defer cancel()
	dst, err := u.inDialogHop(ctx, c, ack)
	if err == nil {
		err = u.write(c.acct, dst, ack)
	}
	if err != nil {
		u.log.Warn("sip: ACK not sent", "call", c.id, "err", err)
		return
	}
	c.mu.Lock()
	c.ackSent = ack
	c.mu.Unlock()
	tx.OnRetransmission(func(r *sip.Response) {
		if r.IsSuccess() {
			c.resendAck()
		}
	})
}

func (c *Call) resendAck() {
	c.mu.Lock()
	ack := c.ackSent
	c.mu.Unlock()
	if ack == nil || c.ua.tpl == nil {
		return
	}
	if err := c.ua.tpl.WriteMsg(ack.Clone()); err != nil {
		c.ua.log.Debug("sip: ACK resend failed", "call", c.id, "err", err)
	}
}

// recordRoutes lists the Record-Route URIs of a message, top first.
func recordRoutes(m sip.Message) []sip.Uri {
	var out []sip.Uri
	for _, h := range m.GetHeaders("Record-Route") {
		if rr, ok := h.(*sip.RecordRouteHeader); ok {
			out = append(out, *rr.Address.Clone())
		}
	}
	return out
}

// onStrayResponse sees responses no transaction wanted: a late
// retransmission of a 2xx to our INVITE still needs our ACK.
func (u *UA) onStrayResponse(res *sip.Response) {
	cseq, cid := res.CSeq(), res.CallID()
	if cseq == nil || cid == nil || cseq.MethodName != sip.INVITE || !res.IsSuccess() {
		return
	}
	from := res.From()
	if from == nil {
		return
	}
	u.mu.Lock()
	c := u.calls[callKey{string(*cid), tagOf(from.Params)}]
	u.mu.Unlock()
	if c != nil && c.dir == Outgoing {
		c.resendAck()
	}
}
