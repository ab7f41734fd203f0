package sip

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/emiago/sipgo/sip"
)

// Direction says who placed a call.
type Direction int

const (
	Outgoing Direction = iota + 1
	Incoming
)

func (d Direction) String() string {
	switch d {
	case Outgoing:
		return "outgoing"
	case Incoming:
		return "incoming"
	}
	return "unknown"
}

// Side says which end did something.
type Side int

const (
	Remote Side = iota + 1
	Local
)

func (s Side) String() string {
	switch s {
	case Remote:
		return "remote"
	case Local:
		return "local"
	}
	return ""
}

// CallEventKind is what happened to a call.
type CallEventKind int

const (
	// Progress: a provisional response (1xx, 100 included): Code, Reason,
	// and SDP when it carried one (183 with SDP is early media).
	Progress CallEventKind = iota + 1
	// Answered: the 2xx; SDP is the far end's answer.
	Answered
	// Failed: an outgoing call got a final non-2xx (Code, Reason), or timed
	// out (408) or could not be sent (503). Final.
	Failed
	// Ended: a call ended: BYE from either side (By), no ACK for our 2xx
	// (By Local), a local Reject or Hangup before answer (By Local, Code
	// is the response we sent), or shutdown. Final.
	Ended
	// Cancelled: the caller cancelled an incoming call before it was
	// answered. Final.
	Cancelled
)

func (k CallEventKind) String() string {
	switch k {
	case Progress:
		return "progress"
	case Answered:
		return "answered"
	case Failed:
		return "failed"
	case Ended:
		return "ended"
	case Cancelled:
		return "cancelled"
	}
	return "unknown"
}

// CallEvent is one step in a call's life, delivered on Call.Events.
type CallEvent struct {
	Kind   CallEventKind
	Code   int
	Reason string
	SDP    []byte
	By     Side
	At     time.Time
	// Contact is who answered: the 2xx's Contact URI (Answered only), the
	// evidence a billing dispute needs.
	Contact string
}

// Party is the other end of a call as a telephone shows it.
type Party struct {
	Number   string
	Name     string
	Withheld bool
}

// Negotiator answers SDP offers that arrive inside a call (re-INVITE or
// UPDATE from the far end, e.g. hold and resume). A nil offer means the far
// end asks for ours (a re-INVITE without SDP); the returned SDP then goes in
// our 200. An error is answered with 488.
type Negotiator interface {
	Reoffer(offer []byte) (answer []byte, err error)
}

type callState int

const (
	// stateCalling: outgoing INVITE sent, or incoming INVITE not yet
	// answered finally.
	stateCalling callState = iota
	// stateAnswered: a 2xx was sent or received.
	stateAnswered
	stateEnded
)

// eventBuffer is the capacity of Call.Events. Progress events are dropped
// rather than block when fewer than eventReserve slots are free, so the
// answer and the final event always fit.
const (
	eventBuffer  = 16
	eventReserve = 3
)

// dialog is the RFC 3261 dialog state of a call.
type dialog struct {
	callID     string
	localTag   string
	remoteTag  string
	local      sip.Uri // our URI: From of our requests
	remote     sip.Uri // theirs: To of our requests
	remoteName string
	target     sip.Uri   // remote target (their Contact)
	routes     []sip.Uri // route set, in the order to use
	localSeq   uint32
	remoteSeq  uint32
	seenRemote bool
}

// Call is one call, incoming or outgoing. Its methods are safe for
// concurrent use.
//
// Locking rule: c.mu is never held while calling into a sipgo transaction,
// because sipgo calls our OnCancel/OnTerminate callbacks (which take c.mu)
// with its own transaction lock held.
type Call struct {
	ua     *UA
	acct   *account
	dir    Direction
	id     string
	offer  []byte
	events chan CallEvent
	ended  chan struct{}

	mu       sync.Mutex
	remote   Party
	state    callState
	finished bool
	byeing   bool
	d        dialog
	neg      Negotiator
	// ackWait holds, per CSeq, a channel closed when the ACK for our 2xx to
	// that INVITE arrives.
	ackWait    map[uint32]chan struct{}
	reinviting bool

	// Outgoing.
	hangup     chan struct{}
	hangupOnce sync.Once
	ackSent    *sip.Request // the ACK for the 2xx, resent on its retransmissions

	// Incoming.
	stx       sip.ServerTransaction
	inv       *sip.Request // the INVITE with our To tag: responses are built from it
	inviteSeq uint32
	contact   *sip.ContactHeader
}

func newCall(u *UA, a *account, dir Direction) *Call {
	return &Call{
		ua:      u,
		acct:    a,
		dir:     dir,
		events:  make(chan CallEvent, eventBuffer),
		ended:   make(chan struct{}),
		hangup:  make(chan struct{}),
		ackWait: map[uint32]chan struct{}{},
	}
}

// Line is the FXS port the call belongs to.
func (c *Call) Line() int { return c.acct.Line }

// Direction says who placed the call.
func (c *Call) Direction() Direction { return c.dir }

// ID is the Call-ID.
func (c *Call) ID() string { return c.id }

// Remote is the other party: for incoming calls from From, or from
// P-Asserted-Identity / Remote-Party-ID when our server sent them, with
// Privacy honoured (Withheld, Number and Name empty); for outgoing calls the
// number dialled.
func (c *Call) Remote() Party {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.remote
}

// Offer is the SDP offer of an incoming INVITE (nil if it had none); for an
// outgoing call, the offer we sent.
func (c *Call) Offer() []byte { return c.offer }

// Events delivers the call's progress. It is buffered and closed after the
// final event (Failed, Ended or Cancelled).
func (c *Call) Events() <-chan CallEvent { return c.events }

// emitLocked queues a non-final event. The caller holds c.mu.
func (c *Call) emitLocked(ev CallEvent) {
	if c.finished {
		return
	}
	ev.At = time.Now()
	if ev.Kind == Progress && cap(c.events)-len(c.events) < eventReserve {
		c.ua.log.Warn("sip: call events not read, dropping progress", "call", c.id, "code", ev.Code)
		return
	}
	select {
	case c.events <- ev:
	default:
		c.ua.log.Warn("sip: call events not read, dropping event", "call", c.id, "kind", ev.Kind)
	}
}

func (c *Call) emit(ev CallEvent) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.emitLocked(ev)
}

// finishLocked delivers the final event and retires the call. The caller
// holds c.mu. It reports false if the call had already finished.
func (c *Call) finishLocked(ev CallEvent) bool {
	if c.finished {
		return false
	}
	c.finished = true
	c.state = stateEnded
	ev.At = time.Now()
	select {
	case c.events <- ev:
	default:
		// Only reachable if the reader ignored eventBuffer-eventReserve
		// events; the channel still closes.
		c.ua.log.Warn("sip: call events not read, dropping final event", "call", c.id, "kind", ev.Kind)
	}
	close(c.events)
	close(c.ended)
	c.ua.forget(c)
	return true
}

func (c *Call) finish(ev CallEvent) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.finishLocked(ev)
}

func (c *Call) isFinished() bool {
	select {
	case <-c.ended:
		return true
	default:
		return false
	}
}

// abandon ends a call without any more signalling (shutdown leftovers).
func (c *Call) abandon(reason string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.dir == Outgoing && c.state == stateCalling {
		c.finishLocked(CallEvent{Kind: Failed, Code: 503, Reason: reason})
		return
	}
	c.finishLocked(CallEvent{Kind: Ended, By: Local, Reason: reason})
}

// callKey identifies our side of a dialog; the local tag never changes
// once a call is created.
type callKey struct{ callID, localTag string }

func (c *Call) key() callKey { return callKey{c.id, c.d.localTag} }

func (u *UA) remember(c *Call) {
	u.mu.Lock()
	u.calls[c.key()] = c
	u.mu.Unlock()
}

func (u *UA) forget(c *Call) {
	u.mu.Lock()
	if u.calls[c.key()] == c {
		delete(u.calls, c.key())
	}
	u.mu.Unlock()
}

// merged reports whether an INVITE is one we already have as an incoming
// call (same Call-ID, From tag and CSeq, RFC 3261 8.2.2.2): it reached us
// twice, through a fork or a loop. Our own outgoing call with the same
// Call-ID is not a merge: that is one line calling another.
func (u *UA) merged(callID, fromTag string, seq uint32) bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	for k, c := range u.calls {
		if k.callID == callID && c.dir == Incoming && c.d.remoteTag == fromTag && c.inviteSeq == seq {
			return true
		}
	}
	return false
}

// findDialog finds the call a request inside a dialog belongs to: same
// Call-ID, its To tag is our tag and its From tag theirs.
func (u *UA) findDialog(callID, localTag, remoteTag string) *Call {
	u.mu.Lock()
	c := u.calls[callKey{callID, localTag}]
	u.mu.Unlock()
	if c == nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.d.localTag != localTag || c.d.remoteTag != remoteTag || c.d.remoteTag == "" {
		return nil
	}
	return c
}

var (
	errNotIncoming = errors.New("sip: not an incoming call")
	errAnswered    = errors.New("sip: call already answered or rejected")
	errCallEnded   = errors.New("sip: call has ended")
)

// Ringing sends 180 Ringing for an incoming call.
func (c *Call) Ringing() error {
	if c.dir != Incoming {
		return errNotIncoming
	}
	c.mu.Lock()
	if err := c.checkUnansweredLocked(); err != nil {
		c.mu.Unlock()
		return err
	}
	res := c.responseLocked(180, "Ringing", nil)
	c.mu.Unlock()
	if err := c.stx.Respond(res); err != nil {
		return fmt.Errorf("sip: send 180: %w", err)
	}
	return nil
}

func (c *Call) checkUnansweredLocked() error {
	switch c.state {
	case stateCalling:
		return nil
	case stateAnswered:
		return errAnswered
	}
	return errCallEnded
}

// responseLocked builds a response to the incoming INVITE; 18x and 2xx
// carry our Contact. The caller holds c.mu.
func (c *Call) responseLocked(code int, reason string, sdp []byte) *sip.Response {
	res := sip.NewResponseFromRequest(c.inv, code, reason, nil)
	if code > 100 && code < 300 {
		res.AppendHeader(c.contact.Clone())
	}
	if code >= 200 && code < 300 {
		res.AppendHeader(sip.NewHeader("Allow", allowMethods))
	}
	if sdp != nil {
		res.AppendHeader(contentType("application/sdp"))
	}
	res.SetBody(sdp)
	return res
}

// Answer answers an incoming call with 200 OK carrying sdp. It does not
// wait for the ACK: the UA retransmits the 200 until it arrives, and ends
// the call (BYE, Ended) if none comes within Timers.Transaction. n answers
// later offers from the far end (hold, resume).
func (c *Call) Answer(sdp []byte, n Negotiator) error {
	if c.dir != Incoming {
		return errNotIncoming
	}
	c.mu.Lock()
	if err := c.checkUnansweredLocked(); err != nil {
		c.mu.Unlock()
		return err
	}
	res := c.responseLocked(200, "OK", sdp)
	reliable := sip.IsReliable(c.inv.Transport())
	if !reliable {
		if err := checkUDPSize(res); err != nil {
			c.mu.Unlock()
			return fmt.Errorf("sip: answer: %w", err)
		}
	}
	c.state = stateAnswered
	c.neg = n
	ack := make(chan struct{})
	c.ackWait[c.inviteSeq] = ack
	c.mu.Unlock()
	if err := c.stx.Respond(res); err != nil {
		// The caller cancelled between our check and the answer: the
		// transaction already said 487.
		if errors.Is(err, sip.ErrTransactionCanceled) {
			c.finish(CallEvent{Kind: Cancelled, Code: 487, Reason: "cancelled by caller", By: Remote})
			return fmt.Errorf("sip: answer: %w", errCallEnded)
		}
		c.finish(CallEvent{Kind: Ended, By: Local, Code: 500, Reason: "could not send 200 OK"})
		return fmt.Errorf("sip: send 200: %w", err)
	}
	c.ua.spawn(func() { c.confirm(c.stx, res, ack, true, reliable) })
	return nil
}

// Reject refuses an incoming call that has not been answered, with a final
// status of 300-699 (486 Busy Here, 488, 603 Decline...).
func (c *Call) Reject(code int, reason string) error {
	if c.dir != Incoming {
		return errNotIncoming
	}
	if code < 300 || code > 699 {
		return fmt.Errorf("sip: reject: code %d is not a final error status (300-699)", code)
	}
	if reason == "" {
		reason = "Rejected"
	}
	c.mu.Lock()
	if err := c.checkUnansweredLocked(); err != nil {
		c.mu.Unlock()
		return err
	}
	res := c.responseLocked(code, reason, nil)
	c.finishLocked(CallEvent{Kind: Ended, By: Local, Code: code, Reason: reason})
	c.mu.Unlock()
	if err := c.stx.Respond(res); err != nil {
		return fmt.Errorf("sip: send %d: %w", code, err)
	}
	return nil
}

// confirm retransmits our 2xx to an INVITE (UDP: T1 doubling up to T2) until
// its ACK arrives. Without an ACK within Timers.Transaction the session of
// an initial INVITE is ended with BYE (RFC 3261 13.3.1.4).
func (c *Call) confirm(tx sip.ServerTransaction, res *sip.Response, ack <-chan struct{}, initial, reliable bool) {
	t := c.ua.timers
	interval := t.T1
	retx := time.NewTimer(interval)
	defer retx.Stop()
	deadline := time.NewTimer(t.Transaction)
	defer deadline.Stop()
	for {
		select {
		case <-ack:
			return
		case <-c.ended:
			return
		case <-c.ua.stopping:
			return
		case <-retx.C:
			if !reliable {
				if err := tx.Respond(res); err != nil {
					c.ua.log.Debug("sip: 200 retransmission failed", "call", c.id, "err", err)
				}
			}
			interval = min(2*interval, t.T2)
			retx.Reset(interval)
		case <-deadline.C:
			if !initial {
				c.ua.log.Warn("sip: no ACK for re-INVITE answer", "call", c.id)
				return
			}
			ctx, cancel := context.WithTimeout(context.Background(), t.Transaction)
			c.bye(ctx, "no ACK received")
			cancel()
			return
		}
	}
}

// gotAck records the ACK for our 2xx to the INVITE with CSeq n.
func (c *Call) gotAck(n uint32) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if ch, ok := c.ackWait[n]; ok {
		close(ch)
		delete(c.ackWait, n)
	}
}

// Hangup ends the call, whatever its state: an outgoing call not yet
// answered is cancelled (CANCEL, then the 487: Failed 487); an incoming
// call not yet answered is refused with 480 Temporarily Unavailable
// (Ended); an answered call gets a BYE (Ended, By Local). It returns once
// the call has ended or ctx is done, and does nothing for an ended call.
func (c *Call) Hangup(ctx context.Context) error {
	c.mu.Lock()
	if c.finished {
		c.mu.Unlock()
		return nil
	}
	switch {
	case c.dir == Outgoing && c.state == stateCalling:
		c.mu.Unlock()
		c.hangupOnce.Do(func() { close(c.hangup) })
		select {
		case <-c.ended:
			return nil
		case <-ctx.Done():
			return fmt.Errorf("sip: hangup: %w", ctx.Err())
		}
	case c.dir == Incoming && c.state == stateCalling:
		res := c.responseLocked(480, "Temporarily Unavailable", nil)
		c.finishLocked(CallEvent{Kind: Ended, By: Local, Code: 480, Reason: "hung up before answer"})
		c.mu.Unlock()
		if err := c.stx.Respond(res); err != nil {
			return fmt.Errorf("sip: send 480: %w", err)
		}
		return nil
	}
	// Answered. The callee must not send BYE before the ACK of its 200
	// arrives or the wait for it ends (RFC 3261 15).
	ack := c.ackWait[c.inviteSeq]
	c.mu.Unlock()
	if c.dir == Incoming && ack != nil {
		wait := time.NewTimer(c.ua.timers.Transaction)
		defer wait.Stop()
		select {
		case <-ack:
		case <-wait.C:
		case <-c.ended:
			return nil
		case <-ctx.Done():
			return fmt.Errorf("sip: hangup: %w", ctx.Err())
		}
	}
	c.bye(ctx, "hung up")
	if ctx.Err() != nil && !c.isFinished() {
		return fmt.Errorf("sip: hangup: %w", ctx.Err())
	}
	return nil
}

// bye sends BYE (answering one digest challenge) and ends the call, By
// Local, whatever the answer. Concurrent callers wait for the first.
func (c *Call) bye(ctx context.Context, reason string) {
	c.mu.Lock()
	if c.finished {
		c.mu.Unlock()
		return
	}
	if c.byeing {
		c.mu.Unlock()
		select {
		case <-c.ended:
		case <-ctx.Done():
		}
		return
	}
	c.byeing = true
	c.mu.Unlock()
	defer c.finish(CallEvent{Kind: Ended, By: Local, Reason: reason})

	var auth *authRetry
	for {
		c.mu.Lock()
		req := c.inDialogRequestLocked(sip.BYE)
		c.mu.Unlock()
		if auth != nil {
			if err := auth.apply(req, c.acct); err != nil {
				return
			}
		}
		dst, err := c.ua.inDialogHop(ctx, c, req)
		if err != nil {
			c.ua.log.Info("sip: cannot route BYE", "call", c.id, "err", err)
			return
		}
		res, err := c.ua.roundTrip(ctx, c.acct, dst, req)
		if err != nil {
			c.ua.log.Info("sip: BYE got no answer", "call", c.id, "err", err)
			return
		}
		if res.StatusCode != 401 && res.StatusCode != 407 {
			return
		}
		if auth, err = nextAuth(auth, res); err != nil {
			return
		}
	}
}

// inDialogRequestLocked builds a request inside the dialog (RFC 3261
// 12.2.1.1). The caller holds c.mu.
func (c *Call) inDialogRequestLocked(method sip.RequestMethod) *sip.Request {
	d := &c.d
	req := sip.NewRequest(method, *d.target.Clone())
	req.AppendHeader(maxForwards())
	from := &sip.FromHeader{Address: *d.local.Clone(), Params: sip.NewParams()}
	from.Params.Add("tag", d.localTag)
	req.AppendHeader(from)
	to := &sip.ToHeader{DisplayName: d.remoteName, Address: *d.remote.Clone(), Params: sip.NewParams()}
	to.Params.Add("tag", d.remoteTag)
	req.AppendHeader(to)
	req.AppendHeader(callIDHeader(d.callID))
	if method != sip.ACK && method != sip.CANCEL {
		d.localSeq++
	}
	req.AppendHeader(cseqHeader(d.localSeq, method))
	for _, r := range d.routes {
		req.AppendHeader(&sip.RouteHeader{Address: *r.Clone()})
	}
	return req
}

// inDialogHop decides where a request inside a dialog physically goes: to
// the outbound proxy when one is configured (adding a Route to it unless the
// route set already starts there), else to the first route, else to the
// remote target.
func (u *UA) inDialogHop(ctx context.Context, c *Call, req *sip.Request) (netip.AddrPort, error) {
	a := c.acct
	c.mu.Lock()
	next := c.d.target
	if len(c.d.routes) > 0 {
		next = c.d.routes[0]
	}
	c.mu.Unlock()
	if !a.proxy.isZero() {
		hop, err := u.hopFor(ctx, a)
		if err != nil {
			return netip.AddrPort{}, err
		}
		atProxy := false
		if rs := req.GetHeaders("Route"); len(rs) > 0 {
			if rh, ok := rs[0].(*sip.RouteHeader); ok {
				ap, isIP := uriAddrPort(rh.Address)
				atProxy = isIP && ap == hop.addr || strings.EqualFold(rh.Address.Host, a.proxy.host)
			}
		}
		if !atProxy {
			req.PrependHeader(&sip.RouteHeader{Address: routeURI(a.proxy)})
		}
		return hop.addr, nil
	}
	if ap, ok := uriAddrPort(next); ok {
		return ap, nil
	}
	ts, err := resolveHost(ctx, u.res, hostPort{host: next.Host, port: next.Port}, a.Transport, u.fam)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("resolve %s: %w", next.Host, err)
	}
	return ts[0].addr, nil
}
