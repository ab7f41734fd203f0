package sip

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
	"github.com/icholy/digest"
)

// peer is the other side in tests, built on sipgo: registrar (digest auth,
// expiry, 423, 403, silence), proxy and far end (answers our INVITEs as a
// script says, calls us). It listens on UDP and TCP on 127.0.0.1.
type peer struct {
	t    testing.TB
	ua   *sipgo.UserAgent
	srv  *sipgo.Server
	cli  *sipgo.Client
	addr netip.AddrPort
	pc   *countingConn
	tl   net.Listener
	wg   sync.WaitGroup
	stop sync.Once

	mu         sync.Mutex
	reqs       []*sip.Request
	contacts   map[string]*sip.ContactHeader // user → Contact of the last binding
	password   string                        // "" → no authentication
	nonce      string
	grant      int // expires granted; 0 → as asked
	minExpires int
	forbid     bool
	silent     bool
	public     netip.AddrPort // if valid, claimed as our received/rport
	onInvite   func(req *sip.Request, tx sip.ServerTransaction)
	onBye      func(req *sip.Request)
	notify     chan struct{}
}

// countingConn counts CRLF keep-alives, which sipgo drops silently.
type countingConn struct {
	net.PacketConn
	mu   sync.Mutex
	crlf int
}

func (c *countingConn) ReadFrom(b []byte) (int, net.Addr, error) {
	n, a, err := c.PacketConn.ReadFrom(b)
	if err == nil && n == 4 && string(b[:4]) == "\r\n\r\n" {
		c.mu.Lock()
		c.crlf++
		c.mu.Unlock()
	}
	return n, a, err
}

func (c *countingConn) keepAlives() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.crlf
}

func newPeer(t testing.TB) *peer {
	t.Helper()
	log := slog.New(slog.DiscardHandler)
	ua, err := sipgo.NewUA(
		sipgo.WithUserAgent("peer"),
		sipgo.WithUserAgentTransportLayerOptions(sip.WithTransportLayerLogger(log)),
		sipgo.WithUserAgentTransactionLayerOptions(sip.WithTransactionLayerLogger(log),
			sip.WithTransactionLayerUnhandledResponseHandler(func(*sip.Response) {})),
	)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := sipgo.NewServer(ua, sipgo.WithServerLogger(log))
	if err != nil {
		t.Fatal(err)
	}
	cli, err := sipgo.NewClient(ua, sipgo.WithClientLogger(log))
	if err != nil {
		t.Fatal(err)
	}
	var pc net.PacketConn
	var tl net.Listener
	for range 10 {
		pc, err = net.ListenPacket("udp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		tl, err = net.Listen("tcp4", pc.LocalAddr().String())
		if err == nil {
			break
		}
		pc.Close()
	}
	if err != nil {
		t.Fatal(err)
	}
	p := &peer{
		t: t, ua: ua, srv: srv, cli: cli,
		addr:     pc.LocalAddr().(*net.UDPAddr).AddrPort(),
		pc:       &countingConn{PacketConn: pc},
		tl:       tl,
		contacts: map[string]*sip.ContactHeader{},
		nonce:    randomToken(8),
		notify:   make(chan struct{}, 1),
	}
	srv.OnRegister(p.handleRegister)
	srv.OnInvite(func(req *sip.Request, tx sip.ServerTransaction) {
		p.record(req)
		// sipgo's transaction layer answers a CANCEL itself; record it here.
		tx.OnCancel(func(r *sip.Request) { p.record(r) })
		p.mu.Lock()
		h := p.onInvite
		p.mu.Unlock()
		if h == nil {
			_ = tx.Respond(sip.NewResponseFromRequest(req, 486, "Busy Here", nil))
			return
		}
		h(req, tx)
	})
	for _, m := range []sip.RequestMethod{sip.ACK, sip.CANCEL, sip.OPTIONS, sip.NOTIFY} {
		srv.OnRequest(m, func(req *sip.Request, tx sip.ServerTransaction) {
			p.record(req)
			switch req.Method {
			case sip.ACK:
			case sip.CANCEL:
				_ = tx.Respond(sip.NewResponseFromRequest(req, 481, "Call/Transaction Does Not Exist", nil))
			default:
				_ = tx.Respond(sip.NewResponseFromRequest(req, 200, "OK", nil))
			}
		})
	}
	srv.OnBye(func(req *sip.Request, tx sip.ServerTransaction) {
		p.record(req)
		p.mu.Lock()
		h := p.onBye
		p.mu.Unlock()
		if h != nil {
			h(req)
		}
		_ = tx.Respond(sip.NewResponseFromRequest(req, 200, "OK", nil))
	})
	p.wg.Add(2)
	go func() { defer p.wg.Done(); _ = srv.ServeUDP(p.pc) }()
	go func() { defer p.wg.Done(); _ = srv.ServeTCP(tl) }()
	// Wait until sipgo's UDP loop runs (it registers the socket first).
	eventually(t, 2*time.Second, "peer listening", func() bool {
		c, err := ua.TransportLayer().GetConnection("udp", p.addr.String())
		if err != nil || c == nil {
			return false
		}
		_, _ = c.TryClose()
		return true
	})
	t.Cleanup(p.close)
	return p
}

func (p *peer) close() {
	p.stop.Do(func() {
		// Same order as the UA's shutdown (see UA.Run).
		p.ua.TransactionLayer().Close()
		_ = p.pc.Close()
		_ = p.tl.Close()
		p.wg.Wait()
		time.Sleep(shutdownGrace)
		_ = p.ua.Close()
	})
}

func (p *peer) record(req *sip.Request) {
	p.mu.Lock()
	p.reqs = append(p.reqs, req)
	p.mu.Unlock()
	select {
	case p.notify <- struct{}{}:
	default:
	}
}

func (p *peer) set(f func(p *peer)) {
	p.mu.Lock()
	defer p.mu.Unlock()
	f(p)
}

// requests returns the requests received with this method.
func (p *peer) requests(m sip.RequestMethod) []*sip.Request {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []*sip.Request
	for _, r := range p.reqs {
		if r.Method == m {
			out = append(out, r)
		}
	}
	return out
}

// distinctCSeq counts requests of a method by CSeq, so UDP retransmissions
// count once.
func (p *peer) distinctCSeq(m sip.RequestMethod) int {
	seen := map[uint32]bool{}
	for _, r := range p.requests(m) {
		seen[r.CSeq().SeqNo] = true
	}
	return len(seen)
}

func (p *peer) waitRequest(t testing.TB, m sip.RequestMethod, n int) []*sip.Request {
	t.Helper()
	eventually(t, 5*time.Second, fmt.Sprintf("%d %s at the peer", n, m), func() bool { return len(p.requests(m)) >= n })
	return p.requests(m)
}

func (p *peer) contact(user string) *sip.ContactHeader {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.contacts[user]
}

func (p *peer) challenge() string {
	return fmt.Sprintf(`Digest realm="test", nonce="%s", qop="auth", algorithm=MD5`, p.nonce)
}

// authorized checks a digest answer against the peer's password.
func (p *peer) authorized(req *sip.Request, header string) bool {
	h := req.GetHeader(header)
	if h == nil {
		return false
	}
	cred, err := digest.ParseCredentials(h.Value())
	if err != nil || cred.Nonce != p.nonce || cred.Realm != "test" {
		return false
	}
	chal := &digest.Challenge{Realm: "test", Nonce: p.nonce, QOP: []string{"auth"}, Algorithm: "MD5"}
	p.mu.Lock()
	pass := p.password
	p.mu.Unlock()
	want, err := digest.Digest(chal, digest.Options{
		Method: string(req.Method), URI: cred.URI, Username: cred.Username,
		Password: pass, Cnonce: cred.Cnonce, Count: cred.Nc,
	})
	return err == nil && cred.Response == want.Response && cred.URI == req.Recipient.String()
}

func (p *peer) handleRegister(req *sip.Request, tx sip.ServerTransaction) {
	p.record(req)
	p.mu.Lock()
	silent, forbid, pass, grant, minExp, public := p.silent, p.forbid, p.password, p.grant, p.minExpires, p.public
	p.mu.Unlock()
	if silent {
		return
	}
	if forbid {
		_ = tx.Respond(sip.NewResponseFromRequest(req, 403, "Forbidden", nil))
		return
	}
	if pass != "" && !p.authorized(req, "Authorization") {
		res := sip.NewResponseFromRequest(req, 401, "Unauthorized", nil)
		res.AppendHeader(sip.NewHeader("WWW-Authenticate", p.challenge()))
		_ = tx.Respond(res)
		return
	}
	asked, _ := strconv.Atoi(headerValue(req, "Expires"))
	if minExp > 0 && asked > 0 && asked < minExp {
		res := sip.NewResponseFromRequest(req, 423, "Interval Too Brief", nil)
		res.AppendHeader(sip.NewHeader("Min-Expires", strconv.Itoa(minExp)))
		_ = tx.Respond(res)
		return
	}
	res := sip.NewResponseFromRequest(req, 200, "OK", nil)
	user := req.To().Address.User
	for _, h := range req.GetHeaders("Contact") {
		ch := h.(*sip.ContactHeader)
		exp := asked
		if v, ok := ch.Params.Get("expires"); ok {
			exp, _ = strconv.Atoi(v)
		}
		if exp == 0 {
			p.mu.Lock()
			if cur := p.contacts[user]; cur != nil && cur.Address.HostPort() == ch.Address.HostPort() {
				delete(p.contacts, user)
			}
			p.mu.Unlock()
			continue
		}
		if grant > 0 {
			exp = grant
		}
		out := ch.Clone()
		out.Params = sip.NewParams()
		out.Params.Add("expires", strconv.Itoa(exp))
		res.AppendHeader(out)
		p.mu.Lock()
		p.contacts[user] = ch.Clone()
		p.mu.Unlock()
	}
	if public.IsValid() {
		via := res.Via()
		via.Params.Add("received", public.Addr().String())
		via.Params.Add("rport", strconv.Itoa(int(public.Port())))
	}
	_ = tx.Respond(res)
}

func noBuild(*sipgo.Client, *sip.Request) error { return nil }

// prepare addresses a request from the peer (its listening socket for UDP).
func (p *peer) prepare(req *sip.Request, dst netip.AddrPort, transport string) {
	via := &sip.ViaHeader{ProtocolName: "SIP", ProtocolVersion: "2.0", Transport: transport,
		Host: "127.0.0.1", Port: int(p.addr.Port()), Params: sip.NewParams()}
	via.Params.Add("branch", sip.GenerateBranch())
	req.PrependHeader(via)
	req.SetDestination(dst.String())
	req.SetTransport(transport)
	if req.Body() == nil {
		req.SetBody(nil)
	}
	if transport == "UDP" {
		req.Laddr = sip.Addr{IP: net.IPv4(127, 0, 0, 1), Port: int(p.addr.Port())}
	}
}

// do sends a request and returns its final response.
func (p *peer) do(ctx context.Context, req *sip.Request, dst netip.AddrPort, transport string) (*sip.Response, error) {
	p.prepare(req, dst, transport)
	tx, err := p.cli.TransactionRequest(ctx, req, noBuild)
	if err != nil {
		return nil, err
	}
	defer tx.Terminate()
	for {
		select {
		case res := <-tx.Responses():
			if res.IsProvisional() {
				continue
			}
			return res, nil
		case <-tx.Done():
			return nil, fmt.Errorf("transaction ended: %w", tx.Err())
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// peerDialog is a call as the peer sees it.
type peerDialog struct {
	p         *peer
	callID    string
	local     *sip.FromHeader // the peer's side, with tag
	remote    *sip.ToHeader   // our UA's side, with tag once known
	target    sip.Uri
	dst       netip.AddrPort
	transport string
	seq       uint32
	invite    *sip.Request
	tx        sip.ClientTransaction
	final     *sip.Response
	provs     []*sip.Response
}

// call sends an INVITE to the UA as the proxy would.
func (p *peer) call(t testing.TB, ruri sip.Uri, dst netip.AddrPort, transport string, sdp []byte, extra ...sip.Header) *peerDialog {
	t.Helper()
	from := &sip.FromHeader{DisplayName: "Alice", Address: sip.Uri{Scheme: "sip", User: "5551234", Host: "127.0.0.1"}, Params: sip.NewParams()}
	from.Params.Add("tag", newTag())
	to := &sip.ToHeader{Address: sip.Uri{Scheme: "sip", User: ruri.User, Host: "test.invalid"}}
	d := &peerDialog{p: p, callID: randomToken(10), local: from, remote: to, target: ruri, dst: dst, transport: transport, seq: 1}
	req := sip.NewRequest(sip.INVITE, ruri)
	req.AppendHeader(maxForwards())
	req.AppendHeader(from)
	req.AppendHeader(to)
	req.AppendHeader(callIDHeader(d.callID))
	req.AppendHeader(cseqHeader(1, sip.INVITE))
	req.AppendHeader(&sip.ContactHeader{Address: sip.Uri{Scheme: "sip", User: "alice", Host: "127.0.0.1", Port: int(p.addr.Port())}})
	for _, h := range extra {
		req.AppendHeader(h)
	}
	if sdp != nil {
		req.AppendHeader(contentType("application/sdp"))
	}
	req.SetBody(sdp)
	p.prepare(req, dst, transport)
	tx, err := p.cli.TransactionRequest(context.Background(), req, noBuild)
	if err != nil {
		t.Fatalf("peer INVITE: %v", err)
	}
	d.invite, d.tx = req, tx
	t.Cleanup(tx.Terminate)
	return d
}

// waitFinal collects provisional responses until the final one.
func (d *peerDialog) waitFinal(t testing.TB) *sip.Response {
	t.Helper()
	timeout := time.After(5 * time.Second)
	for {
		select {
		case res := <-d.tx.Responses():
			if res.IsProvisional() {
				d.provs = append(d.provs, res)
				continue
			}
			d.final = res
			if res.IsSuccess() {
				f := res.To().AsFrom()
				to := f.AsTo()
				d.remote = &to
				if ct := res.Contact(); ct != nil {
					d.target = ct.Address
				}
			}
			return res
		case <-d.tx.Done():
			t.Fatalf("peer INVITE ended without final response: %v", d.tx.Err())
		case <-timeout:
			t.Fatal("no final response to peer INVITE")
		}
	}
}

// waitProvisional waits for a provisional response with this code.
func (d *peerDialog) waitProvisional(t testing.TB, code int) {
	t.Helper()
	for _, r := range d.provs {
		if r.StatusCode == code {
			return
		}
	}
	timeout := time.After(5 * time.Second)
	for {
		select {
		case res := <-d.tx.Responses():
			if res.IsProvisional() {
				d.provs = append(d.provs, res)
				if res.StatusCode == code {
					return
				}
				continue
			}
			t.Fatalf("final %d while waiting for %d", res.StatusCode, code)
		case <-timeout:
			t.Fatalf("no %d", code)
		}
	}
}

func (d *peerDialog) request(m sip.RequestMethod, seq uint32) *sip.Request {
	req := sip.NewRequest(m, d.target)
	req.AppendHeader(maxForwards())
	req.AppendHeader(sip.HeaderClone(d.local))
	req.AppendHeader(sip.HeaderClone(d.remote))
	req.AppendHeader(callIDHeader(d.callID))
	req.AppendHeader(cseqHeader(seq, m))
	return req
}

func (d *peerDialog) ack(t testing.TB) {
	t.Helper()
	req := d.request(sip.ACK, 1)
	d.p.prepare(req, d.dst, d.transport)
	if err := d.p.cli.WriteRequest(req, noBuild); err != nil {
		t.Fatalf("peer ACK: %v", err)
	}
}

func (d *peerDialog) bye(t testing.TB) *sip.Response {
	t.Helper()
	d.seq++
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	res, err := d.p.do(ctx, d.request(sip.BYE, d.seq), d.dst, d.transport)
	if err != nil {
		t.Fatalf("peer BYE: %v", err)
	}
	return res
}

func (d *peerDialog) cancel(t testing.TB) *sip.Response {
	t.Helper()
	req := sip.NewRequest(sip.CANCEL, d.invite.Recipient)
	req.AppendHeader(d.invite.Via().Clone())
	req.AppendHeader(maxForwards())
	req.AppendHeader(sip.HeaderClone(d.invite.From()))
	req.AppendHeader(sip.HeaderClone(d.invite.To()))
	req.AppendHeader(callIDHeader(d.callID))
	req.AppendHeader(cseqHeader(1, sip.CANCEL))
	req.SetDestination(d.dst.String())
	req.SetTransport(d.transport)
	req.SetBody(nil)
	if d.transport == "UDP" {
		req.Laddr = sip.Addr{IP: net.IPv4(127, 0, 0, 1), Port: int(d.p.addr.Port())}
	}
	tx, err := d.p.cli.TransactionRequest(context.Background(), req, noBuild)
	if err != nil {
		t.Fatalf("peer CANCEL: %v", err)
	}
	defer tx.Terminate()
	select {
	case res := <-tx.Responses():
		return res
	case <-time.After(5 * time.Second):
		t.Fatal("no answer to CANCEL")
	}
	return nil
}

// uas answers our INVITEs: it sends the provisional responses, then the
// final one. It returns the dialog as the far end knows it (the To tag it
// chose is in final's To).
type uasScript struct {
	provisional []int
	early       []byte // SDP in 183
	final       int
	answer      []byte
	recordRoute []string
	contact     *sip.Uri
	waitCancel  bool // ring until CANCELled
}

type uasCall struct {
	req   *sip.Request
	final *sip.Response
}

// answerWith makes the peer answer INVITEs with the script and report each
// answered call on the returned channel.
func (p *peer) answerWith(s uasScript) <-chan uasCall {
	ch := make(chan uasCall, 4)
	p.set(func(p *peer) {
		p.onInvite = func(req *sip.Request, tx sip.ServerTransaction) {
			tag := newTag()
			mk := func(code int, reason string, body []byte) *sip.Response {
				res := sip.NewResponseFromRequest(req, code, reason, body)
				if code > 100 {
					res.To().Params.Add("tag", tag)
					for _, rr := range s.recordRoute {
						res.PrependHeader(sip.NewHeader("Record-Route", rr))
					}
					ct := sip.Uri{Scheme: "sip", User: "far", Host: "127.0.0.1", Port: int(p.addr.Port())}
					if s.contact != nil {
						ct = *s.contact
					}
					res.AppendHeader(&sip.ContactHeader{Address: ct})
				}
				if body != nil {
					res.AppendHeader(contentType("application/sdp"))
				}
				return res
			}
			cancelled := make(chan struct{})
			tx.OnCancel(func(*sip.Request) { close(cancelled) })
			// sipgo hands each response to its own goroutine, so responses
			// sent back to back may overtake each other; real ones are
			// apart in time anyway.
			for _, code := range s.provisional {
				var body []byte
				if code == 183 {
					body = s.early
				}
				_ = tx.Respond(mk(code, reasonFor(code), body))
				time.Sleep(30 * time.Millisecond)
			}
			if s.waitCancel {
				select {
				case <-cancelled:
				case <-tx.Done():
				case <-time.After(5 * time.Second):
				}
				ch <- uasCall{req: req}
				return
			}
			res := mk(s.final, reasonFor(s.final), s.answer)
			_ = tx.Respond(res)
			ch <- uasCall{req: req, final: res}
		}
	})
	return ch
}

// farDialog is the far end's view of a call we placed, for requests from it.
func (p *peer) farDialog(c uasCall, dst netip.AddrPort, transport string) *peerDialog {
	from := c.final.To().AsFrom()
	to := c.req.From().AsTo()
	target := c.req.Contact().Address
	return &peerDialog{p: p, callID: c.req.CallID().Value(), local: &from, remote: &to, target: target, dst: dst, transport: transport, seq: 100}
}

// reinvite sends an INVITE inside a dialog and ACKs its 2xx.
func (d *peerDialog) reinvite(t testing.TB, sdp []byte) *sip.Response {
	t.Helper()
	d.seq++
	req := d.request(sip.INVITE, d.seq)
	req.AppendHeader(&sip.ContactHeader{Address: sip.Uri{Scheme: "sip", User: "far", Host: "127.0.0.1", Port: int(d.p.addr.Port())}})
	req.AppendHeader(contentType("application/sdp"))
	req.SetBody(sdp)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	res, err := d.p.do(ctx, req, d.dst, d.transport)
	if err != nil {
		t.Fatalf("peer re-INVITE: %v", err)
	}
	if res.IsSuccess() {
		ack := d.request(sip.ACK, d.seq)
		d.p.prepare(ack, d.dst, d.transport)
		if err := d.p.cli.WriteRequest(ack, noBuild); err != nil {
			t.Fatalf("peer ACK: %v", err)
		}
	}
	return res
}

// scanner sends raw datagrams from a socket of its own, as SIP scanners do.
type scanner struct {
	conn *net.UDPConn
}

func newScanner(t testing.TB) *scanner {
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &scanner{conn: c}
}

func (s *scanner) port() int { return s.conn.LocalAddr().(*net.UDPAddr).Port }

func (s *scanner) send(t testing.TB, to netip.AddrPort, msg string) {
	t.Helper()
	if _, err := s.conn.WriteToUDPAddrPort([]byte(msg), to); err != nil {
		t.Fatal(err)
	}
}

// read returns what arrives within d ("" if nothing).
func (s *scanner) read(d time.Duration) string {
	buf := make([]byte, 4096)
	_ = s.conn.SetReadDeadline(time.Now().Add(d))
	n, _, err := s.conn.ReadFromUDP(buf)
	if err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return ""
		}
		return "error: " + err.Error()
	}
	return string(buf[:n])
}

func rawInvite(user string, to netip.AddrPort, fromPort int) string {
	return strings.Join([]string{
		fmt.Sprintf("INVITE sip:%s@%s SIP/2.0", user, to),
		fmt.Sprintf("Via: SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bK%s;rport", fromPort, randomToken(6)),
		"Max-Forwards: 70",
		fmt.Sprintf("From: \"scanner\" <sip:100@127.0.0.1:%d>;tag=%s", fromPort, randomToken(4)),
		fmt.Sprintf("To: <sip:%s@%s>", user, to),
		"Call-ID: " + randomToken(8),
		"CSeq: 1 INVITE",
		fmt.Sprintf("Contact: <sip:100@127.0.0.1:%d>", fromPort),
		"Content-Length: 0",
		"", "",
	}, "\r\n")
}

func reasonFor(code int) string {
	switch code {
	case 100:
		return "Trying"
	case 180:
		return "Ringing"
	case 183:
		return "Session Progress"
	case 200:
		return "OK"
	case 407:
		return "Proxy Authentication Required"
	case 486:
		return "Busy Here"
	}
	return "Whatever"
}
