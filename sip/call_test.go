package sip

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
)

const (
	offerSDP  = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 16384 RTP/AVP 0 101\r\na=sendrecv\r\n"
	answerSDP = "v=0\r\no=- 2 2 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 20000 RTP/AVP 0\r\na=sendrecv\r\n"
	holdSDP   = "v=0\r\no=- 2 3 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 20000 RTP/AVP 0\r\na=sendonly\r\n"
)

// recNegotiator records offers and answers with a fixed SDP.
type recNegotiator struct {
	mu     sync.Mutex
	offers [][]byte
	answer []byte
	err    error
}

func (n *recNegotiator) Reoffer(offer []byte) ([]byte, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.offers = append(n.offers, offer)
	return n.answer, n.err
}

func (n *recNegotiator) got() [][]byte {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([][]byte(nil), n.offers...)
}

func dial(t *testing.T, u *UA, number string, n Negotiator) *Call {
	t.Helper()
	c, err := u.Dial(context.Background(), 1, number, []byte(offerSDP), n)
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	if c.Direction() != Outgoing || c.Line() != 1 || c.ID() == "" || c.Remote().Number != number {
		t.Errorf("call: dir %v line %d id %q remote %+v", c.Direction(), c.Line(), c.ID(), c.Remote())
	}
	return c
}

func registeredUA(t *testing.T, p *peer, cfg Config) *UA {
	t.Helper()
	u := startUA(t, cfg, testAccount(p))
	waitRegistered(t, u, 1)
	return u
}

func TestOutgoingCallAnsweredThenWeHangUp(t *testing.T) {
	p := newPeer(t)
	answered := p.answerWith(uasScript{provisional: []int{100, 180}, final: 200, answer: []byte(answerSDP)})
	u := registeredUA(t, p, Config{})
	c := dial(t, u, "15551234", nil)

	inv := p.waitRequest(t, sip.INVITE, 1)[0]
	if inv.Recipient.String() != "sip:15551234@test.invalid" || inv.To().Address.User != "15551234" {
		t.Errorf("INVITE to %s, To %s", inv.Recipient.String(), inv.To().Address.String())
	}
	if string(inv.Body()) != offerSDP || headerValue(inv, "Content-Type") != "application/sdp" {
		t.Errorf("INVITE body/type wrong")
	}
	if inv.Contact() == nil || inv.Contact().Address.HostPort() != u.ListenAddr().String() {
		t.Errorf("INVITE Contact %v", inv.Contact())
	}
	for _, want := range []int{100, 180} {
		ev := nextEvent(t, c)
		if ev.Kind != Progress || ev.Code != want {
			t.Fatalf("event %+v, want Progress %d", ev, want)
		}
	}
	ev := nextEvent(t, c)
	if ev.Kind != Answered || ev.Code != 200 || string(ev.SDP) != answerSDP {
		t.Fatalf("event %+v, want Answered with the answer SDP", ev)
	}
	fc := <-answered
	acks := p.waitRequest(t, sip.ACK, 1)
	if acks[0].CallID().Value() != c.ID() || tagOf(acks[0].To().Params) != tagOf(fc.final.To().Params) || acks[0].CSeq().SeqNo != inv.CSeq().SeqNo {
		t.Errorf("ACK does not match the dialog:\n%s", acks[0])
	}
	if err := c.Hangup(context.Background()); err != nil {
		t.Fatal(err)
	}
	ev = nextEvent(t, c)
	if ev.Kind != Ended || ev.By != Local {
		t.Errorf("event %+v, want Ended by local", ev)
	}
	expectClosed(t, c)
	byes := p.waitRequest(t, sip.BYE, 1)
	if byes[0].CallID().Value() != c.ID() || byes[0].CSeq().SeqNo <= inv.CSeq().SeqNo {
		t.Errorf("BYE %s", byes[0])
	}
	if err := c.Hangup(context.Background()); err != nil {
		t.Errorf("second Hangup: %v", err)
	}
	if s := u.Stats(); s.CallsOut != 1 || s.ActiveCalls != 0 {
		t.Errorf("stats %+v", s)
	}
}

func TestOutgoingCallRemoteHangsUp(t *testing.T) {
	p := newPeer(t)
	answered := p.answerWith(uasScript{final: 200, answer: []byte(answerSDP)})
	u := registeredUA(t, p, Config{})
	c := dial(t, u, "200", nil)
	waitEvent(t, c, Answered)
	fc := <-answered
	p.waitRequest(t, sip.ACK, 1)
	d := p.farDialog(fc, u.ListenAddr(), "UDP")
	if res := d.bye(t); res.StatusCode != 200 {
		t.Fatalf("BYE answered %d", res.StatusCode)
	}
	ev := nextEvent(t, c)
	if ev.Kind != Ended || ev.By != Remote {
		t.Errorf("event %+v, want Ended by remote", ev)
	}
	expectClosed(t, c)
	// A second BYE belongs to no dialog any more.
	if res := d.bye(t); res.StatusCode != 481 {
		t.Errorf("BYE after the end answered %d, want 481", res.StatusCode)
	}
}

func TestOutgoingCallCancelled(t *testing.T) {
	p := newPeer(t)
	p.answerWith(uasScript{provisional: []int{180}, waitCancel: true})
	u := registeredUA(t, p, Config{})
	c := dial(t, u, "300", nil)
	if ev := nextEvent(t, c); ev.Kind != Progress || ev.Code != 180 {
		t.Fatalf("event %+v", ev)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if err := c.Hangup(ctx); err != nil {
		t.Fatal(err)
	}
	ev := nextEvent(t, c)
	if ev.Kind != Failed || ev.Code != 487 {
		t.Errorf("event %+v, want Failed 487", ev)
	}
	expectClosed(t, c)
	cancels := p.waitRequest(t, sip.CANCEL, 1)
	if len(p.requests(sip.BYE)) != 0 {
		t.Error("BYE sent for a call that was never answered")
	}
	if cancels[0].CallID().Value() != c.ID() {
		t.Errorf("CANCEL for another call")
	}
}

func TestOutgoingCallCancelledBeforeAnyResponse(t *testing.T) {
	p := newPeer(t)
	gate := make(chan struct{})
	p.set(func(p *peer) {
		p.onInvite = func(req *sip.Request, tx sip.ServerTransaction) {
			<-gate // silent until the test has hung up
			_ = tx.Respond(sip.NewResponseFromRequest(req, 180, "Ringing", nil))
			select {
			case <-tx.Done():
			case <-time.After(3 * time.Second):
			}
		}
	})
	u := registeredUA(t, p, Config{Timers: Timers{T1: 50 * time.Millisecond, Transaction: 3 * time.Second}})
	c := dial(t, u, "301", nil)
	p.waitRequest(t, sip.INVITE, 1)
	hung := make(chan error, 1)
	go func() { hung <- c.Hangup(context.Background()) }()
	time.Sleep(100 * time.Millisecond)
	// RFC 3261 9.1: no CANCEL before a provisional response.
	if len(p.requests(sip.CANCEL)) != 0 {
		t.Fatal("CANCEL sent before any provisional response")
	}
	close(gate)
	p.waitRequest(t, sip.CANCEL, 1)
	if err := <-hung; err != nil {
		t.Fatal(err)
	}
	if ev := waitEvent(t, c, Failed); ev.Code != 487 {
		t.Errorf("event %+v", ev)
	}
}

func TestOutgoingCallBusy(t *testing.T) {
	p := newPeer(t)
	p.answerWith(uasScript{provisional: []int{100}, final: 486})
	u := registeredUA(t, p, Config{})
	c := dial(t, u, "400", nil)
	ev := waitEvent(t, c, Failed)
	if ev.Code != 486 || ev.Reason != "Busy Here" {
		t.Errorf("event %+v", ev)
	}
	expectClosed(t, c)
}

func TestOutgoingCallProxyAuth(t *testing.T) {
	p := newPeer(t)
	p.set(func(p *peer) {
		p.password = "secret"
		p.onInvite = func(req *sip.Request, tx sip.ServerTransaction) {
			if !p.authorized(req, "Proxy-Authorization") {
				res := sip.NewResponseFromRequest(req, 407, "Proxy Authentication Required", nil)
				res.AppendHeader(sip.NewHeader("Proxy-Authenticate", p.challenge()))
				_ = tx.Respond(res)
				return
			}
			res := sip.NewResponseFromRequest(req, 200, "OK", []byte(answerSDP))
			res.AppendHeader(&sip.ContactHeader{Address: sip.Uri{Scheme: "sip", User: "far", Host: "127.0.0.1", Port: int(p.addr.Port())}})
			_ = tx.Respond(res)
		}
	})
	u := registeredUA(t, p, Config{})
	c := dial(t, u, "500", nil)
	ev := waitEvent(t, c, Answered)
	if string(ev.SDP) != answerSDP {
		t.Errorf("answer %q", ev.SDP)
	}
	invs := p.requests(sip.INVITE)
	if len(invs) != 2 {
		t.Fatalf("%d INVITEs, want the challenged one and the authorised one", len(invs))
	}
	if invs[1].CSeq().SeqNo != invs[0].CSeq().SeqNo+1 || invs[1].CallID().Value() != invs[0].CallID().Value() ||
		tagOf(invs[1].From().Params) != tagOf(invs[0].From().Params) {
		t.Error("authorised INVITE is not the same call with the next CSeq")
	}
	_ = c.Hangup(context.Background())
}

func TestOutgoingCallWrongProxyPassword(t *testing.T) {
	p := newPeer(t)
	p.set(func(p *peer) {
		// Whatever we answer, the proxy keeps challenging: a wrong password.
		p.onInvite = func(req *sip.Request, tx sip.ServerTransaction) {
			res := sip.NewResponseFromRequest(req, 407, "Proxy Authentication Required", nil)
			res.AppendHeader(sip.NewHeader("Proxy-Authenticate", p.challenge()))
			_ = tx.Respond(res)
		}
	})
	u := registeredUA(t, p, Config{})
	c := dial(t, u, "501", nil)
	if ev := waitEvent(t, c, Failed); ev.Code != 407 {
		t.Errorf("event %+v, want Failed 407", ev)
	}
	if n := len(p.requests(sip.INVITE)); n != 2 {
		t.Errorf("%d INVITEs, want exactly 2 (one answer to the challenge)", n)
	}
}

func TestOutgoingCallEarlyMedia(t *testing.T) {
	p := newPeer(t)
	p.answerWith(uasScript{provisional: []int{183}, early: []byte(answerSDP), final: 486})
	u := registeredUA(t, p, Config{})
	c := dial(t, u, "600", nil)
	ev := nextEvent(t, c)
	if ev.Kind != Progress || ev.Code != 183 || string(ev.SDP) != answerSDP {
		t.Errorf("event %+v, want Progress 183 with SDP", ev)
	}
	waitEvent(t, c, Failed)
}

func TestOutgoingCallReinviteHold(t *testing.T) {
	p := newPeer(t)
	answered := p.answerWith(uasScript{final: 200, answer: []byte(answerSDP)})
	u := registeredUA(t, p, Config{})
	n := &recNegotiator{answer: []byte("v=0\r\nanswer-to-hold\r\n")}
	c := dial(t, u, "700", n)
	waitEvent(t, c, Answered)
	fc := <-answered
	p.waitRequest(t, sip.ACK, 1)
	d := p.farDialog(fc, u.ListenAddr(), "UDP")
	res := d.reinvite(t, []byte(holdSDP))
	if res.StatusCode != 200 || string(res.Body()) != "v=0\r\nanswer-to-hold\r\n" {
		t.Fatalf("re-INVITE answered %d %q", res.StatusCode, res.Body())
	}
	if got := n.got(); len(got) != 1 || !bytes.Contains(got[0], []byte("a=sendonly")) {
		t.Errorf("negotiator saw %q", got)
	}
	// A refused offer gets 488 and the call goes on.
	n.mu.Lock()
	n.err = errors.New("no common codec")
	n.mu.Unlock()
	if res := d.reinvite(t, []byte(holdSDP)); res.StatusCode != 488 {
		t.Errorf("refused offer answered %d, want 488", res.StatusCode)
	}
	select {
	case ev := <-c.Events():
		t.Fatalf("unexpected event %+v", ev)
	default:
	}
	_ = c.Hangup(context.Background())
	waitEvent(t, c, Ended)
}

func TestOutgoingCallRecordRoute(t *testing.T) {
	p := newPeer(t)
	far := newPeer(t) // the far end's own address: in-dialog requests must not go there directly
	target := sip.Uri{Scheme: "sip", User: "far", Host: "127.0.0.1", Port: int(far.addr.Port())}
	rr := "<sip:127.0.0.1:" + itoa(int(p.addr.Port())) + ";lr;ftag=x>"
	p.answerWith(uasScript{final: 200, answer: []byte(answerSDP), recordRoute: []string{rr}, contact: &target})
	u := registeredUA(t, p, Config{})
	c := dial(t, u, "800", nil)
	waitEvent(t, c, Answered)
	acks := p.waitRequest(t, sip.ACK, 1)
	if acks[0].Recipient.String() != target.String() || acks[0].Route() == nil || !acks[0].Route().Address.UriParams.Has("lr") {
		t.Errorf("ACK not routed through the record-route:\n%s", acks[0])
	}
	_ = c.Hangup(context.Background())
	byes := p.waitRequest(t, sip.BYE, 1)
	if byes[0].Recipient.String() != target.String() || byes[0].Route() == nil {
		t.Errorf("BYE not routed through the record-route:\n%s", byes[0])
	}
	if len(far.requests(sip.BYE)) != 0 {
		t.Error("BYE went straight to the far end, bypassing the record-route")
	}
}

func TestOutgoingCallNoAnswerTimesOut(t *testing.T) {
	p := newPeer(t)
	// A server that swallows the INVITE without a word.
	dead := newScanner(t)
	u := registeredUA(t, p, Config{})
	u.byLine[1].setHop(target{addr: addrPort(t, dead.conn.LocalAddr().String())})
	c := dial(t, u, "900", nil)
	ev := waitEvent(t, c, Failed)
	if ev.Code != 408 {
		t.Errorf("event %+v, want Failed 408", ev)
	}
}

func TestDialErrors(t *testing.T) {
	p := newPeer(t)
	u := registeredUA(t, p, Config{})
	if _, err := u.Dial(context.Background(), 2, "123", nil, nil); err == nil || !strings.Contains(err.Error(), "line 2") {
		t.Errorf("unknown line: %v", err)
	}
	if _, err := u.Dial(context.Background(), 1, "12 3", nil, nil); err == nil || !strings.Contains(err.Error(), "not allowed") {
		t.Errorf("bad number: %v", err)
	}
	big := bytes.Repeat([]byte("a=x-padding:0123456789\r\n"), 60)
	if _, err := u.Dial(context.Background(), 1, "123", big, nil); err == nil || !strings.Contains(err.Error(), "UDP limit") {
		t.Errorf("oversized INVITE: %v", err)
	}
	stopped, err := New(Config{Listen: "127.0.0.1:0"}, []Account{testAccount(p)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := stopped.Dial(context.Background(), 1, "123", nil, nil); !errors.Is(err, errNotRunning) {
		t.Errorf("Dial before Run: %v", err)
	}
}

func TestOutgoingTCPCall(t *testing.T) {
	p := newPeer(t)
	answered := p.answerWith(uasScript{provisional: []int{180}, final: 200, answer: []byte(answerSDP)})
	acc := testAccount(p)
	acc.Transport = "tcp"
	u := startUA(t, Config{}, acc)
	waitRegistered(t, u, 1)
	c := dial(t, u, "1000", nil)
	waitEvent(t, c, Answered)
	fc := <-answered
	if fc.req.Transport() != "TCP" {
		t.Errorf("INVITE over %s", fc.req.Transport())
	}
	p.waitRequest(t, sip.ACK, 1)
	_ = c.Hangup(context.Background())
	waitEvent(t, c, Ended)
	if byes := p.waitRequest(t, sip.BYE, 1); byes[0].Transport() != "TCP" {
		t.Errorf("BYE over %s", byes[0].Transport())
	}
}

func TestOutboundProxyCarriesEverything(t *testing.T) {
	p := newPeer(t) // the outbound proxy; the registrar name never resolves
	answered := p.answerWith(uasScript{final: 200, answer: []byte(answerSDP)})
	acc := testAccount(p)
	acc.Registrar = "registrar.invalid"
	acc.Proxy = p.addr.String()
	acc.DisplayName = "Kitchen phone"
	u := startUA(t, Config{Resolver: &fakeResolver{}}, acc)
	st := waitRegistered(t, u, 1)
	if st.Server != p.addr.String() {
		t.Errorf("registered via %s", st.Server)
	}
	reg := p.requests(sip.REGISTER)[0]
	if r := reg.Route(); r == nil || r.Address.HostPort() != p.addr.String() || !r.Address.UriParams.Has("lr") {
		t.Errorf("REGISTER without Route to the proxy:\n%s", reg)
	}
	if reg.Recipient.String() != "sip:test.invalid" {
		t.Errorf("REGISTER Request-URI %s", reg.Recipient.String())
	}
	c := dial(t, u, "123", nil)
	waitEvent(t, c, Answered)
	fc := <-answered
	if r := fc.req.Route(); r == nil || r.Address.HostPort() != p.addr.String() {
		t.Errorf("INVITE without Route to the proxy")
	}
	if got := fc.req.From().DisplayName; got != "Kitchen phone" {
		t.Errorf("From display name %q", got)
	}
	// The far end's Contact is the peer too, but without a record-route the
	// BYE must still carry the Route to the proxy.
	_ = c.Hangup(context.Background())
	bye := p.waitRequest(t, sip.BYE, 1)[0]
	if r := bye.Route(); r == nil || r.Address.HostPort() != p.addr.String() {
		t.Errorf("BYE without Route to the proxy:\n%s", bye)
	}
}
