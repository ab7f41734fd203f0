package sip

import (
	"errors"
	"math/rand/v2"
	"net/netip"
	"strings"

	"github.com/emiago/sipgo/sip"
)

// handleRequest is where every request sipgo receives arrives, each on its
// own goroutine. It decides, in this order:
//
//  1. a request inside a known dialog (Call-ID and both tags match) is
//     handled, from whatever address it came;
//  2. anything else must come from the registrar/proxy an account uses
//     (ghost-call protection), unless Config.AllowAnySource: otherwise an
//     INVITE or ACK is dropped without an answer and other requests get
//     403, and Stats().GhostRejected counts it;
//  3. an INVITE must be for one of our users (404 otherwise);
//  4. OPTIONS (the proxy's keep-alive ping) gets 200.
func (u *UA) handleRequest(req *sip.Request, tx *sip.ServerTx) {
	src, srcOK := sourceAddr(req)
	from, to, cid, cseq := req.From(), req.To(), req.CallID(), req.CSeq()
	if from == nil || to == nil || cid == nil || cseq == nil {
		if !srcOK || len(u.trustedAccounts(src)) == 0 {
			u.ghost(req, tx)
			return
		}
		reply(tx, req, 400, "Bad Request")
		return
	}
	if toTag := tagOf(to.Params); toTag != "" {
		if c := u.findDialog(string(*cid), toTag, tagOf(from.Params)); c != nil {
			u.inDialog(c, req, tx)
			return
		}
		if !srcOK || len(u.trustedAccounts(src)) == 0 {
			u.ghost(req, tx)
			return
		}
		if req.IsAck() {
			tx.Terminate()
			return
		}
		reply(tx, req, 481, "Call/Transaction Does Not Exist")
		return
	}
	var accts []*account
	if srcOK {
		accts = u.trustedAccounts(src)
	}
	if len(accts) == 0 {
		u.ghost(req, tx)
		return
	}
	switch req.Method {
	case sip.INVITE:
		u.offer(req, tx, src, accts)
	case sip.ACK:
		tx.Terminate()
	case sip.OPTIONS:
		res := sip.NewResponseFromRequest(req, 200, "OK", nil)
		res.AppendHeader(sip.NewHeader("Allow", allowMethods))
		res.AppendHeader(sip.NewHeader("Accept", "application/sdp"))
		respond(tx, res)
	case sip.NOTIFY:
		// Unsolicited NOTIFY (message-waiting) from our server: accepted
		// and ignored, so the server does not retry or log errors.
		reply(tx, req, 200, "OK")
	case sip.BYE, sip.CANCEL:
		reply(tx, req, 481, "Call/Transaction Does Not Exist")
	default:
		res := sip.NewResponseFromRequest(req, 405, "Method Not Allowed", nil)
		res.AppendHeader(sip.NewHeader("Allow", allowMethods))
		respond(tx, res)
	}
}

// trustedAccounts lists the accounts whose server is src (all accounts when
// the protection is off).
func (u *UA) trustedAccounts(src netip.AddrPort) []*account {
	if u.cfg.AllowAnySource {
		return u.accts
	}
	var out []*account
	for _, a := range u.accts {
		if a.trusts(src) {
			out = append(out, a)
		}
	}
	return out
}

// ghost refuses a request from an address we have no business with. An
// INVITE gets no answer at all, so a scanner learns nothing and no phone
// rings; other requests get 403.
func (u *UA) ghost(req *sip.Request, tx *sip.ServerTx) {
	u.stats.ghost.Add(1)
	// Debug, not Info: a scanner sends thousands; the counter tells.
	u.log.Debug("sip: request from unknown source refused", "method", req.Method, "source", req.Source())
	if req.IsInvite() || req.IsAck() {
		tx.Terminate()
		return
	}
	reply(tx, req, 403, "Forbidden")
}

func reply(tx *sip.ServerTx, req *sip.Request, code int, reason string) {
	respond(tx, sip.NewResponseFromRequest(req, code, reason, nil))
}

// respond sends a final response and leaves the transaction to absorb
// retransmissions until its timers end it.
func respond(tx *sip.ServerTx, res *sip.Response) {
	_ = tx.Respond(res) // a failed send is retried by the client's retransmission
	tx.TerminateGracefully()
}

// offer turns an INVITE from our server into a Call for Incoming.
func (u *UA) offer(req *sip.Request, tx *sip.ServerTx, src netip.AddrPort, accts []*account) {
	user := uriUser(req.Recipient)
	var a *account
	for _, cand := range accts {
		if cand.User == user {
			a = cand
			if cand.trusts(src) {
				break
			}
		}
	}
	if a == nil {
		u.stats.notFound.Add(1)
		reply(tx, req, 404, "Not Found")
		return
	}
	if u.isStopping() {
		reply(tx, req, 503, "Service Unavailable")
		return
	}
	if u.cfg.Incoming == nil {
		reply(tx, req, 480, "Temporarily Unavailable")
		return
	}
	if ext := headerValue(req, "Require"); ext != "" {
		// We support no SIP extension (100rel, timer...): RFC 3261 8.2.2.3.
		res := sip.NewResponseFromRequest(req, 420, "Bad Extension", nil)
		res.AppendHeader(sip.NewHeader("Unsupported", ext))
		respond(tx, res)
		return
	}
	if ct := req.ContentType(); len(req.Body()) > 0 && (ct == nil || !strings.EqualFold(strings.TrimSpace(strings.SplitN(ct.Value(), ";", 2)[0]), "application/sdp")) {
		res := sip.NewResponseFromRequest(req, 415, "Unsupported Media Type", nil)
		res.AppendHeader(sip.NewHeader("Accept", "application/sdp"))
		respond(tx, res)
		return
	}
	callID := string(*req.CallID())
	if u.merged(callID, tagOf(req.From().Params), req.CSeq().SeqNo) {
		// The same call reached us twice (a fork or a loop): RFC 3261
		// 8.2.2.2 merged request.
		reply(tx, req, 482, "Loop Detected")
		return
	}

	c := newCall(u, a, Incoming)
	c.id = callID
	c.stx = tx
	inv := req.Clone()
	localTag := newTag()
	inv.To().Params.Add("tag", localTag)
	c.inv = inv
	c.inviteSeq = req.CSeq().SeqNo
	from := req.From()
	c.d = dialog{
		callID:     callID,
		localTag:   localTag,
		remoteTag:  tagOf(from.Params),
		local:      *req.To().Address.Clone(),
		remote:     *from.Address.Clone(),
		remoteName: from.DisplayName,
		target:     *from.Address.Clone(),
		routes:     recordRoutes(req),
		localSeq:   1 + rand.Uint32N(1<<15),
		remoteSeq:  req.CSeq().SeqNo,
		seenRemote: true,
	}
	if ct := req.Contact(); ct != nil {
		c.d.target = *ct.Address.Clone()
	}
	if len(req.Body()) > 0 {
		c.offer = req.Body()
	}
	c.remote = partyOf(req, a.trusts(src))
	c.contact = u.contactHeader(a, u.contactAddr(a, src.Addr()))

	// The transaction may already have been cancelled; then it refuses the
	// callback and there is no call to offer.
	if !tx.OnCancel(func(*sip.Request) { c.remoteCancelled() }) {
		tx.Terminate()
		return
	}
	tx.OnTerminate(func(string, error) { c.inviteGone() })
	u.remember(c)
	if err := tx.Respond(sip.NewResponseFromRequest(req, 100, "Trying", nil)); err != nil {
		u.log.Debug("sip: 100 Trying not sent", "call", callID, "err", err)
	}
	u.stats.callsIn.Add(1)
	u.cfg.Incoming(c)
}

// remoteCancelled runs when the caller's CANCEL reached the INVITE
// transaction, which has already answered 487. sipgo calls it with the
// transaction locked: it must not call into the transaction.
func (c *Call) remoteCancelled() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.state == stateCalling {
		c.finishLocked(CallEvent{Kind: Cancelled, Code: 487, Reason: "cancelled by caller", By: Remote})
	}
}

// inviteGone runs when the INVITE transaction ends. Before any final
// response that means it failed (transport error, or sipgo shutting down).
func (c *Call) inviteGone() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.state == stateCalling {
		c.finishLocked(CallEvent{Kind: Ended, By: Remote, Reason: "INVITE transaction ended"})
	}
}

// inDialog handles a request that matched a call.
func (u *UA) inDialog(c *Call, req *sip.Request, tx *sip.ServerTx) {
	seq := req.CSeq().SeqNo
	if req.IsAck() {
		c.gotAck(seq)
		tx.Terminate()
		return
	}
	if req.IsCancel() {
		reply(tx, req, 481, "Call/Transaction Does Not Exist")
		return
	}
	c.mu.Lock()
	if c.d.seenRemote && seq <= c.d.remoteSeq {
		c.mu.Unlock()
		reply(tx, req, 500, "CSeq Out of Order")
		return
	}
	c.d.remoteSeq, c.d.seenRemote = seq, true
	c.mu.Unlock()

	switch req.Method {
	case sip.BYE:
		reply(tx, req, 200, "OK")
		c.finish(CallEvent{Kind: Ended, By: Remote, Reason: "BYE"})
	case sip.INVITE, sip.UPDATE:
		u.reoffer(c, req, tx)
	case sip.OPTIONS, sip.INFO, sip.NOTIFY:
		reply(tx, req, 200, "OK")
	default:
		res := sip.NewResponseFromRequest(req, 405, "Method Not Allowed", nil)
		res.AppendHeader(sip.NewHeader("Allow", allowMethods))
		respond(tx, res)
	}
}

// reoffer answers an offer inside a call (re-INVITE or UPDATE: hold,
// resume) through the call's Negotiator.
func (u *UA) reoffer(c *Call, req *sip.Request, tx *sip.ServerTx) {
	c.mu.Lock()
	switch {
	case c.state != stateAnswered:
		c.mu.Unlock()
		reply(tx, req, 491, "Request Pending")
		return
	case c.reinviting:
		c.mu.Unlock()
		// RFC 3261 14.2: a second INVITE while one is pending.
		res := sip.NewResponseFromRequest(req, 500, "Server Internal Error", nil)
		res.AppendHeader(sip.NewHeader("Retry-After", "1"))
		respond(tx, res)
		return
	}
	c.reinviting = true
	neg := c.neg
	if ct := req.Contact(); ct != nil {
		c.d.target = *ct.Address.Clone() // a target refresh
	}
	contact := c.contact
	c.mu.Unlock()

	var offer []byte
	if len(req.Body()) > 0 {
		offer = req.Body()
	}
	var answer []byte
	var err error
	if neg == nil {
		err = errNoNegotiator
	} else {
		answer, err = neg.Reoffer(offer)
	}
	res := sip.NewResponseFromRequest(req, 200, "OK", nil)
	if err == nil {
		res.AppendHeader(contact.Clone())
		if answer != nil {
			res.AppendHeader(contentType("application/sdp"))
		}
		res.SetBody(answer)
		if !sip.IsReliable(req.Transport()) {
			err = checkUDPSize(res)
		}
	}
	var ack chan struct{}
	c.mu.Lock()
	// The offer is settled: from the moment our final response is on its
	// way, a new INVITE is legitimate (the 500 above is only for one that
	// overlaps, RFC 3261 14.2).
	c.reinviting = false
	if err == nil && req.IsInvite() {
		ack = make(chan struct{})
		c.ackWait[req.CSeq().SeqNo] = ack
	}
	c.mu.Unlock()
	if err != nil {
		u.log.Info("sip: offer in call refused", "call", c.id, "err", err)
		reply(tx, req, 488, "Not Acceptable Here")
		return
	}
	if !req.IsInvite() {
		respond(tx, res)
		return
	}
	if err := tx.Respond(res); err != nil {
		u.log.Info("sip: 200 to re-INVITE not sent", "call", c.id, "err", err)
		return
	}
	reliable := sip.IsReliable(req.Transport())
	u.spawn(func() { c.confirm(tx, res, ack, false, reliable) })
}

var errNoNegotiator = errors.New("no negotiator for offers inside the call")
