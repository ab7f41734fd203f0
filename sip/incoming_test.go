package sip

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
)

// callInbox receives the calls Incoming is given.
type callInbox struct {
	ch     chan *Call
	mu     sync.Mutex
	action func(c *Call)
}

func newInbox() *callInbox { return &callInbox{ch: make(chan *Call, 8)} }

func (in *callInbox) incoming(c *Call) {
	in.mu.Lock()
	act := in.action
	in.mu.Unlock()
	if act != nil {
		act(c)
	}
	in.ch <- c
}

func (in *callInbox) next(t testing.TB) *Call {
	t.Helper()
	select {
	case c := <-in.ch:
		return c
	case <-time.After(5 * time.Second):
		t.Fatal("no incoming call")
	}
	return nil
}

func (in *callInbox) none(t testing.TB, within time.Duration) {
	t.Helper()
	select {
	case c := <-in.ch:
		t.Fatalf("unexpected incoming call %s from %+v", c.ID(), c.Remote())
	case <-time.After(within):
	}
}

// contactURI is the Contact the UA registered at the peer.
func contactURI(t testing.TB, p *peer) sip.Uri {
	t.Helper()
	ct := p.contact("1001")
	if ct == nil {
		t.Fatal("no binding at the peer")
	}
	return ct.Address
}

func TestIncomingCallAnsweredWeHangUp(t *testing.T) {
	p := newPeer(t)
	in := newInbox()
	u := registeredUA(t, p, Config{Incoming: in.incoming})
	d := p.call(t, contactURI(t, p), u.ListenAddr(), "UDP", []byte(offerSDP),
		sip.NewHeader("P-Asserted-Identity", `"Bob Smith" <sip:+15557654321@test.invalid>`))
	c := in.next(t)
	if c.Direction() != Incoming || c.Line() != 1 || c.ID() != d.callID {
		t.Errorf("call %v line %d id %s", c.Direction(), c.Line(), c.ID())
	}
	if got := c.Remote(); got != (Party{Number: "+15557654321", Name: "Bob Smith"}) {
		t.Errorf("remote %+v, want the asserted identity", got)
	}
	if string(c.Offer()) != offerSDP {
		t.Errorf("offer %q", c.Offer())
	}
	d.waitProvisional(t, 100)
	if err := c.Ringing(); err != nil {
		t.Fatal(err)
	}
	d.waitProvisional(t, 180)
	n := &recNegotiator{answer: []byte(answerSDP)}
	if err := c.Answer([]byte(answerSDP), n); err != nil {
		t.Fatal(err)
	}
	res := d.waitFinal(t)
	if res.StatusCode != 200 || string(res.Body()) != answerSDP || res.Contact() == nil {
		t.Fatalf("final %d %q", res.StatusCode, res.Body())
	}
	if tagOf(res.To().Params) == "" || tagOf(res.To().Params) != tagOf(d.provs[len(d.provs)-1].To().Params) {
		t.Error("180 and 200 carry different To tags")
	}
	d.ack(t)
	if err := c.Answer(nil, nil); err == nil {
		t.Error("second Answer accepted")
	}
	// After the ACK the 200 is no longer retransmitted.
	time.Sleep(100 * time.Millisecond)
	if err := c.Hangup(context.Background()); err != nil {
		t.Fatal(err)
	}
	ev := nextEvent(t, c)
	if ev.Kind != Ended || ev.By != Local {
		t.Errorf("event %+v", ev)
	}
	expectClosed(t, c)
	byes := p.waitRequest(t, sip.BYE, 1)
	b := byes[0]
	if b.Recipient.String() != d.invite.Contact().Address.String() || tagOf(b.From().Params) != tagOf(res.To().Params) ||
		tagOf(b.To().Params) != tagOf(d.local.Params) {
		t.Errorf("BYE does not fit the dialog:\n%s", b)
	}
	if s := u.Stats(); s.CallsIn != 1 || s.ActiveCalls != 0 || s.GhostRejected != 0 {
		t.Errorf("stats %+v", s)
	}
}

func TestIncomingCallRemoteHangsUp(t *testing.T) {
	p := newPeer(t)
	in := newInbox()
	u := registeredUA(t, p, Config{Incoming: in.incoming})
	d := p.call(t, contactURI(t, p), u.ListenAddr(), "UDP", []byte(offerSDP))
	c := in.next(t)
	if err := c.Answer([]byte(answerSDP), nil); err != nil {
		t.Fatal(err)
	}
	d.waitFinal(t)
	d.ack(t)
	if res := d.bye(t); res.StatusCode != 200 {
		t.Fatalf("BYE answered %d", res.StatusCode)
	}
	ev := nextEvent(t, c)
	if ev.Kind != Ended || ev.By != Remote {
		t.Errorf("event %+v", ev)
	}
	expectClosed(t, c)
	if got := c.Remote(); got.Number != "5551234" || got.Name != "Alice" {
		t.Errorf("remote %+v, want From", got)
	}
}

func TestIncomingCallRetransmits200UntilACK(t *testing.T) {
	p := newPeer(t)
	in := newInbox()
	u := registeredUA(t, p, Config{Incoming: in.incoming, Timers: Timers{T1: 40 * time.Millisecond, T2: 80 * time.Millisecond, Transaction: 500 * time.Millisecond}})
	d := p.call(t, contactURI(t, p), u.ListenAddr(), "UDP", []byte(offerSDP))
	c := in.next(t)
	var mu sync.Mutex
	retrans := 0
	d.tx.OnRetransmission(func(*sip.Response) {
		mu.Lock()
		retrans++
		mu.Unlock()
	})
	if err := c.Answer([]byte(answerSDP), nil); err != nil {
		t.Fatal(err)
	}
	d.waitFinal(t)
	// No ACK: the 200 comes again and again, then the call is ended.
	ev := waitEvent(t, c, Ended)
	if ev.By != Local || !strings.Contains(ev.Reason, "ACK") {
		t.Errorf("event %+v, want Ended by local for the missing ACK", ev)
	}
	mu.Lock()
	n := retrans
	mu.Unlock()
	if n < 3 {
		t.Errorf("200 retransmitted %d times in 500ms, want several", n)
	}
	p.waitRequest(t, sip.BYE, 1)
}

func TestIncomingCallCancelled(t *testing.T) {
	p := newPeer(t)
	in := newInbox()
	u := registeredUA(t, p, Config{Incoming: in.incoming})
	d := p.call(t, contactURI(t, p), u.ListenAddr(), "UDP", []byte(offerSDP))
	c := in.next(t)
	if err := c.Ringing(); err != nil {
		t.Fatal(err)
	}
	d.waitProvisional(t, 180)
	if res := d.cancel(t); res.StatusCode != 200 {
		t.Fatalf("CANCEL answered %d", res.StatusCode)
	}
	if res := d.waitFinal(t); res.StatusCode != 487 {
		t.Errorf("INVITE ended %d, want 487", res.StatusCode)
	}
	ev := nextEvent(t, c)
	if ev.Kind != Cancelled || ev.By != Remote {
		t.Errorf("event %+v, want Cancelled", ev)
	}
	expectClosed(t, c)
	if err := c.Answer([]byte(answerSDP), nil); err == nil {
		t.Error("Answer after CANCEL accepted")
	}
}

func TestIncomingCallRejectedBusy(t *testing.T) {
	p := newPeer(t)
	in := newInbox()
	in.action = func(c *Call) {
		if err := c.Reject(486, "Busy Here"); err != nil {
			t.Error(err)
		}
	}
	u := registeredUA(t, p, Config{Incoming: in.incoming})
	d := p.call(t, contactURI(t, p), u.ListenAddr(), "UDP", []byte(offerSDP))
	c := in.next(t)
	if res := d.waitFinal(t); res.StatusCode != 486 {
		t.Errorf("final %d", res.StatusCode)
	}
	if ev := nextEvent(t, c); ev.Kind != Ended || ev.Code != 486 || ev.By != Local {
		t.Errorf("event %+v", ev)
	}
	if err := c.Reject(99, "x"); err == nil {
		t.Error("Reject with code 99 accepted")
	}
}

func TestIncomingHangupBeforeAnswer(t *testing.T) {
	p := newPeer(t)
	in := newInbox()
	u := registeredUA(t, p, Config{Incoming: in.incoming})
	d := p.call(t, contactURI(t, p), u.ListenAddr(), "UDP", nil)
	c := in.next(t)
	if c.Offer() != nil {
		t.Errorf("offer %q for an INVITE without SDP", c.Offer())
	}
	if err := c.Hangup(context.Background()); err != nil {
		t.Fatal(err)
	}
	if res := d.waitFinal(t); res.StatusCode != 480 {
		t.Errorf("final %d, want 480", res.StatusCode)
	}
	if ev := nextEvent(t, c); ev.Kind != Ended || ev.Code != 480 {
		t.Errorf("event %+v", ev)
	}
}

func TestIncomingReinviteHold(t *testing.T) {
	p := newPeer(t)
	in := newInbox()
	u := registeredUA(t, p, Config{Incoming: in.incoming})
	d := p.call(t, contactURI(t, p), u.ListenAddr(), "UDP", []byte(offerSDP))
	c := in.next(t)
	n := &recNegotiator{answer: []byte("v=0\r\nrecvonly-answer\r\n")}
	if err := c.Answer([]byte(answerSDP), n); err != nil {
		t.Fatal(err)
	}
	d.waitFinal(t)
	d.ack(t)
	res := d.reinvite(t, []byte(holdSDP))
	if res.StatusCode != 200 || string(res.Body()) != "v=0\r\nrecvonly-answer\r\n" {
		t.Fatalf("re-INVITE: %d %q", res.StatusCode, res.Body())
	}
	if got := n.got(); len(got) != 1 || string(got[0]) != holdSDP {
		t.Errorf("negotiator got %q", got)
	}
	// An out-of-order CSeq is refused.
	d.seq = 1
	if res := d.bye(t); res.StatusCode != 500 {
		t.Errorf("BYE with an old CSeq answered %d, want 500", res.StatusCode)
	}
	d.seq = 50
	if res := d.bye(t); res.StatusCode != 200 {
		t.Errorf("BYE answered %d", res.StatusCode)
	}
	waitEvent(t, c, Ended)
}

func TestGhostInviteFromScannerIsDropped(t *testing.T) {
	p := newPeer(t)
	in := newInbox()
	u := registeredUA(t, p, Config{Incoming: in.incoming})
	sc := newScanner(t)
	sc.send(t, u.ListenAddr(), rawInvite("1001", u.ListenAddr(), sc.port()))
	if got := sc.read(400 * time.Millisecond); got != "" {
		t.Errorf("scanner got an answer:\n%s", got)
	}
	in.none(t, 100*time.Millisecond)
	if s := u.Stats(); s.GhostRejected != 1 {
		t.Errorf("GhostRejected = %d, want 1", s.GhostRejected)
	}
	// Other requests from it are refused with 403.
	opts := strings.Replace(strings.Replace(rawInvite("1001", u.ListenAddr(), sc.port()), "INVITE", "OPTIONS", 1), "1 INVITE", "1 OPTIONS", 1)
	sc.send(t, u.ListenAddr(), opts)
	if got := sc.read(2 * time.Second); !strings.HasPrefix(got, "SIP/2.0 403") {
		t.Errorf("OPTIONS from a scanner got %q, want 403", firstLine(got))
	}
	if s := u.Stats(); s.GhostRejected != 2 {
		t.Errorf("GhostRejected = %d, want 2", s.GhostRejected)
	}
}

func TestGhostSameIPOtherPortIsRejected(t *testing.T) {
	// On 127.0.0.1 the proxy and a scanner differ only by port: the check
	// is on address and port.
	p := newPeer(t)
	in := newInbox()
	u := registeredUA(t, p, Config{Incoming: in.incoming})
	other := newPeer(t)
	d := other.call(t, contactURI(t, p), u.ListenAddr(), "UDP", []byte(offerSDP))
	in.none(t, 300*time.Millisecond)
	select {
	case res := <-d.tx.Responses():
		t.Errorf("INVITE from another port got %d", res.StatusCode)
	default:
	}
	if s := u.Stats(); s.GhostRejected == 0 {
		t.Error("not counted")
	}
}

func TestAllowAnySource(t *testing.T) {
	p := newPeer(t)
	in := newInbox()
	in.action = func(c *Call) { _ = c.Reject(486, "Busy Here") }
	u := registeredUA(t, p, Config{Incoming: in.incoming, AllowAnySource: true})
	other := newPeer(t)
	d := other.call(t, contactURI(t, p), u.ListenAddr(), "UDP", []byte(offerSDP),
		sip.NewHeader("P-Asserted-Identity", "<sip:666@evil.invalid>"))
	c := in.next(t)
	// Not from our server: its asserted identity is not believed.
	if got := c.Remote().Number; got != "5551234" {
		t.Errorf("remote number %q, want From's", got)
	}
	if res := d.waitFinal(t); res.StatusCode != 486 {
		t.Errorf("final %d", res.StatusCode)
	}
}

func TestInviteForAnotherUser(t *testing.T) {
	p := newPeer(t)
	in := newInbox()
	u := registeredUA(t, p, Config{Incoming: in.incoming})
	ruri := contactURI(t, p)
	ruri.User = "9999"
	d := p.call(t, ruri, u.ListenAddr(), "UDP", []byte(offerSDP))
	if res := d.waitFinal(t); res.StatusCode != 404 {
		t.Errorf("final %d, want 404", res.StatusCode)
	}
	in.none(t, 50*time.Millisecond)
	if s := u.Stats(); s.NotFound != 1 || s.GhostRejected != 0 {
		t.Errorf("stats %+v", s)
	}
}

func TestOptionsFromProxy(t *testing.T) {
	p := newPeer(t)
	u := registeredUA(t, p, Config{})
	req := sip.NewRequest(sip.OPTIONS, contactURI(t, p))
	req.AppendHeader(maxForwards())
	from := &sip.FromHeader{Address: sip.Uri{Scheme: "sip", Host: "127.0.0.1"}, Params: sip.NewParams()}
	from.Params.Add("tag", "ping")
	req.AppendHeader(from)
	req.AppendHeader(&sip.ToHeader{Address: contactURI(t, p)})
	req.AppendHeader(callIDHeader("ping-1"))
	req.AppendHeader(cseqHeader(1, sip.OPTIONS))
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	res, err := p.do(ctx, req, u.ListenAddr(), "UDP")
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != 200 || !strings.Contains(headerValue(res, "Allow"), "INVITE") {
		t.Errorf("OPTIONS answered %d, Allow %q", res.StatusCode, headerValue(res, "Allow"))
	}
}

func TestIncomingWithoutHandlerIs480(t *testing.T) {
	p := newPeer(t)
	u := registeredUA(t, p, Config{})
	d := p.call(t, contactURI(t, p), u.ListenAddr(), "UDP", []byte(offerSDP))
	if res := d.waitFinal(t); res.StatusCode != 480 {
		t.Errorf("final %d", res.StatusCode)
	}
}

func TestIncomingWhileBusyStillOffered(t *testing.T) {
	p := newPeer(t)
	in := newInbox()
	u := registeredUA(t, p, Config{Incoming: in.incoming})
	d1 := p.call(t, contactURI(t, p), u.ListenAddr(), "UDP", []byte(offerSDP))
	c1 := in.next(t)
	_ = c1.Answer([]byte(answerSDP), nil)
	d1.waitFinal(t)
	d1.ack(t)
	// A second call on the same line reaches the firmware, which says busy.
	d2 := p.call(t, contactURI(t, p), u.ListenAddr(), "UDP", []byte(offerSDP))
	c2 := in.next(t)
	if err := c2.Reject(486, "Busy Here"); err != nil {
		t.Fatal(err)
	}
	if res := d2.waitFinal(t); res.StatusCode != 486 {
		t.Errorf("second call got %d", res.StatusCode)
	}
	_ = c1.Hangup(context.Background())
}

func TestIncomingTCPCall(t *testing.T) {
	p := newPeer(t)
	in := newInbox()
	acc := testAccount(p)
	acc.Transport = "tcp"
	u := startUA(t, Config{Incoming: in.incoming}, acc)
	eventually(t, 5*time.Second, "registered over TCP", func() bool {
		ct := p.contact("1001")
		return u.Status(1).Registered && ct != nil && ct.Address.HostPort() == u.Status(1).PublicAddr
	})
	// The proxy reaches us over the connection we opened.
	ct := contactURI(t, p)
	dst := addrPort(t, ct.HostPort())
	d := p.call(t, ct, dst, "TCP", []byte(offerSDP))
	c := in.next(t)
	if err := c.Answer([]byte(answerSDP), nil); err != nil {
		t.Fatal(err)
	}
	if res := d.waitFinal(t); res.StatusCode != 200 {
		t.Fatalf("final %d", res.StatusCode)
	}
	d.ack(t)
	if res := d.bye(t); res.StatusCode != 200 {
		t.Errorf("BYE answered %d", res.StatusCode)
	}
	if ev := waitEvent(t, c, Ended); ev.By != Remote {
		t.Errorf("event %+v", ev)
	}
	if s := u.Stats(); s.GhostRejected != 0 {
		t.Errorf("stats %+v", s)
	}
}

func firstLine(s string) string {
	if i := strings.Index(s, "\r\n"); i >= 0 {
		return s[:i]
	}
	return s
}

func TestIncomingRequiringExtensionIs420(t *testing.T) {
	p := newPeer(t)
	in := newInbox()
	u := registeredUA(t, p, Config{Incoming: in.incoming})
	d := p.call(t, contactURI(t, p), u.ListenAddr(), "UDP", []byte(offerSDP), sip.NewHeader("Require", "100rel"))
	res := d.waitFinal(t)
	if res.StatusCode != 420 || headerValue(res, "Unsupported") != "100rel" {
		t.Errorf("final %d, Unsupported %q", res.StatusCode, headerValue(res, "Unsupported"))
	}
	in.none(t, 50*time.Millisecond)
}
