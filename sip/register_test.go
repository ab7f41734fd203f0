package sip

import (
	"net"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
)

func TestRegisterWithDigest(t *testing.T) {
	p := newPeer(t)
	p.set(func(p *peer) { p.password = "secret" })
	tr := &tracer{}
	u := startUA(t, Config{Trace: tr.trace}, testAccount(p))

	st := waitRegistered(t, u, 1)
	if st.LastCode != 200 || st.Server != p.addr.String() || st.Transport != "udp" {
		t.Errorf("status = %+v, want 200 from %s over udp", st, p.addr)
	}
	if st.Failures != 0 || st.ExpiresAt.Before(time.Now().Add(50*time.Second)) {
		t.Errorf("failures %d, expires at %v: want 0 and ~60s ahead", st.Failures, st.ExpiresAt)
	}
	regs := p.requests(sip.REGISTER)
	if len(regs) < 2 || regs[0].GetHeader("Authorization") != nil || regs[1].GetHeader("Authorization") == nil {
		t.Fatalf("want a plain REGISTER then one with Authorization, got %d", len(regs))
	}
	r := regs[1]
	if got := r.Recipient.String(); got != "sip:test.invalid" {
		t.Errorf("Request-URI %s, want sip:test.invalid", got)
	}
	if got := r.From().Address.String(); got != "sip:1001@test.invalid" {
		t.Errorf("From %s", got)
	}
	via := r.Via()
	if !via.Params.Has("rport") || via.Port != int(u.ListenAddr().Port()) {
		t.Errorf("Via %s: want rport and our listening port %d", via.Value(), u.ListenAddr().Port())
	}
	// Sent from the listening socket: the binding REGISTER opens is the one
	// incoming calls use.
	if r.Source() != u.ListenAddr().String() {
		t.Errorf("REGISTER came from %s, want the listening socket %s", r.Source(), u.ListenAddr())
	}
	ct := p.contact("1001")
	if ct == nil || ct.Address.HostPort() != u.ListenAddr().String() {
		t.Errorf("bound contact %v, want %s", ct, u.ListenAddr())
	}
	if !tr.has("send REGISTER sip:test.invalid") || !tr.has("recv SIP/2.0 200 OK") {
		t.Error("trace misses the REGISTER or its 200")
	}
	if u.MediaIP(1) != netip.MustParseAddr("127.0.0.1") {
		t.Errorf("MediaIP %v", u.MediaIP(1))
	}
}

func TestRegisterRefreshesBeforeExpiry(t *testing.T) {
	p := newPeer(t)
	p.set(func(p *peer) { p.grant = 2 })
	u := startUA(t, Config{}, testAccount(p))
	waitRegistered(t, u, 1)
	first := time.Now()
	eventually(t, 5*time.Second, "refresh", func() bool { return p.distinctCSeq(sip.REGISTER) >= 2 })
	// Granted 2 s: the refresh is due at about 85 %, i.e. ~1.7 s.
	if el := time.Since(first); el < 1*time.Second || el > 3*time.Second {
		t.Errorf("refresh after %v, want about 1.7s", el)
	}
	st := u.Status(1)
	if !st.Registered || time.Until(st.ExpiresAt) > 2100*time.Millisecond {
		t.Errorf("after refresh: %+v", st)
	}
}

func TestRegisterIntervalTooBrief(t *testing.T) {
	p := newPeer(t)
	p.set(func(p *peer) { p.minExpires = 120 })
	u := startUA(t, Config{}, testAccount(p))
	st := waitRegistered(t, u, 1)
	regs := p.requests(sip.REGISTER)
	if len(regs) != 2 {
		t.Fatalf("%d REGISTERs, want 2 (the 423 and the retry)", len(regs))
	}
	if got := headerValue(regs[1], "Expires"); got != "120" {
		t.Errorf("retry asked Expires %s, want Min-Expires 120", got)
	}
	if d := time.Until(st.ExpiresAt); d < 100*time.Second {
		t.Errorf("expires in %v, want ~120s", d)
	}
}

func TestRegisterWrongPasswordBacksOff(t *testing.T) {
	p := newPeer(t)
	p.set(func(p *peer) { p.password = "other" })
	acc := testAccount(p)
	u := startUA(t, Config{}, acc)

	eventually(t, 5*time.Second, "4 failed attempts", func() bool { return u.Status(1).Failures >= 4 })
	st := u.Status(1)
	if st.Registered || st.LastCode != 401 {
		t.Fatalf("status %+v: want not registered, 401", st)
	}
	// No storm: each attempt is the initial REGISTER plus one answer to
	// the challenge, never more (one more attempt may be under way).
	if n := p.distinctCSeq(sip.REGISTER); n > 2*(st.Failures+1) {
		t.Errorf("%d REGISTERs for %d failed attempts", n, st.Failures)
	}
	h := st.History
	if len(h) < 4 {
		t.Fatalf("history has %d attempts", len(h))
	}
	// Backoff grows: RetryMin (100 ms) doubling, -20 % jitter at worst. Only
	// lower bounds: a slow machine may stretch the gaps, never shrink them.
	for i := 1; i < len(h); i++ {
		least := min(acc.RetryMin<<(i-1), acc.RetryMax) * 8 / 10
		if gap := h[i].At.Sub(h[i-1].At); gap < least {
			t.Errorf("attempt %d came %v after the previous one, want at least %v", i, gap, least)
		}
		if h[i].Code != 401 {
			t.Errorf("attempt %d: %+v", i, h[i])
		}
	}
	if !st.NextAttempt.After(st.LastAttempt) {
		t.Errorf("next attempt %v not after last %v", st.NextAttempt, st.LastAttempt)
	}
}

func TestRegisterForbidden(t *testing.T) {
	p := newPeer(t)
	p.set(func(p *peer) { p.forbid = true })
	u := startUA(t, Config{}, testAccount(p))
	eventually(t, 3*time.Second, "a failure", func() bool { return u.Status(1).LastCode == 403 })
	time.Sleep(300 * time.Millisecond)
	// One attempt per backoff step: 403 is not worth a second try at once.
	if n := p.distinctCSeq(sip.REGISTER); n > 4 {
		t.Errorf("%d REGISTERs in ~0.3s after 403", n)
	}
	if st := u.Status(1); st.Registered || !st.NextAttempt.After(st.LastAttempt) {
		t.Errorf("status %+v", st)
	}
}

func TestRegisterFailsOverToBackup(t *testing.T) {
	primary := newPeer(t)
	primary.set(func(p *peer) { p.silent = true })
	backup := newPeer(t)
	acc := testAccount(primary)
	acc.BackupRegistrar = backup.addr.String()
	u := startUA(t, Config{}, acc)

	st := waitRegistered(t, u, 1)
	if st.Server != backup.addr.String() {
		t.Fatalf("registered at %s, want the backup %s", st.Server, backup.addr)
	}
	if len(primary.requests(sip.REGISTER)) == 0 {
		t.Error("primary was never tried")
	}
	h := st.History
	if len(h) < 2 || h[0].Server != primary.addr.String() || h[0].Code != 408 {
		t.Errorf("history %+v: want a 408 from the primary first", h)
	}
	// Ghost protection follows: the backup is now the trusted source.
	if !u.byLine[1].trusts(backup.addr) || u.byLine[1].trusts(primary.addr) {
		t.Error("trusted source did not follow the failover")
	}
}

func TestRegisterFailsOverWhenServerDies(t *testing.T) {
	primary := newPeer(t)
	primary.set(func(p *peer) { p.grant = 1 })
	backup := newPeer(t)
	acc := testAccount(primary)
	acc.BackupRegistrar = backup.addr.String()
	u := startUA(t, Config{}, acc)
	if st := waitRegistered(t, u, 1); st.Server != primary.addr.String() {
		t.Fatalf("registered at %s first", st.Server)
	}
	primary.close()
	eventually(t, 5*time.Second, "failover after the primary died", func() bool {
		st := u.Status(1)
		return st.Registered && st.Server == backup.addr.String()
	})
}

func TestRegisterSRVOrderAndFailover(t *testing.T) {
	a, b := newPeer(t), newPeer(t)
	res := &fakeResolver{
		srv: map[string][]*net.SRV{"_sip._udp.voip.test": {
			{Target: "b.voip.test.", Port: b.addr.Port(), Priority: 20, Weight: 10},
			{Target: "a.voip.test.", Port: a.addr.Port(), Priority: 10, Weight: 10},
		}},
		hosts: map[string][]netip.Addr{
			"a.voip.test": {netip.MustParseAddr("127.0.0.1")},
			"b.voip.test": {netip.MustParseAddr("127.0.0.1")},
		},
	}
	acc := testAccount(a)
	acc.Registrar = "voip.test"
	acc.Domain = ""
	u := startUA(t, Config{Resolver: res}, acc)
	st := waitRegistered(t, u, 1)
	if st.Server != a.addr.String() {
		t.Fatalf("registered at %s, want the priority-10 target %s", st.Server, a.addr)
	}
	if len(b.requests(sip.REGISTER)) != 0 {
		t.Error("priority-20 target tried while priority 10 answered")
	}
	if r := a.requests(sip.REGISTER)[0]; r.Recipient.String() != "sip:voip.test" || r.To().Address.Host != "voip.test" {
		t.Errorf("REGISTER %s To %s: want the domain voip.test", r.Recipient.String(), r.To().Address.String())
	}

	// Second UA: the first target is silent, so the second takes over.
	a2, b2 := newPeer(t), newPeer(t)
	a2.set(func(p *peer) { p.silent = true })
	res2 := &fakeResolver{
		srv: map[string][]*net.SRV{"_sip._udp.voip.test": {
			{Target: "a.voip.test.", Port: a2.addr.Port(), Priority: 10},
			{Target: "b.voip.test.", Port: b2.addr.Port(), Priority: 20},
		}},
		hosts: res.hosts,
	}
	u2 := startUA(t, Config{Resolver: res2}, acc)
	st = waitRegistered(t, u2, 1)
	if st.Server != b2.addr.String() || len(a2.requests(sip.REGISTER)) == 0 {
		t.Errorf("registered at %s (first target tried %d times), want failover to %s", st.Server, len(a2.requests(sip.REGISTER)), b2.addr)
	}
}

func TestRegisterLearnsPublicAddress(t *testing.T) {
	p := newPeer(t)
	public := netip.MustParseAddrPort("192.0.2.7:40000")
	p.set(func(p *peer) { p.public = public })
	u := startUA(t, Config{}, testAccount(p))
	eventually(t, 5*time.Second, "registered with the public Contact", func() bool {
		ct := p.contact("1001")
		return u.Status(1).Registered && ct != nil && ct.Address.HostPort() == public.String()
	})
	st := u.Status(1)
	if st.PublicAddr != public.String() {
		t.Errorf("PublicAddr %q", st.PublicAddr)
	}
	regs := p.requests(sip.REGISTER)
	last := regs[len(regs)-1]
	// The unreachable private binding is removed in the same request.
	var retired bool
	for _, h := range last.GetHeaders("Contact") {
		c := h.(*sip.ContactHeader)
		if c.Address.HostPort() == u.ListenAddr().String() && c.Params.GetOr("expires", "") == "0" {
			retired = true
		}
	}
	if !retired {
		t.Errorf("REGISTER with the public Contact does not retire the private one:\n%s", last)
	}
	// The public address goes into Contact of calls too, not into MediaIP.
	if got := u.contactAddr(u.byLine[1], netip.Addr{}); got != public {
		t.Errorf("contact %v", got)
	}
	if u.MediaIP(1) != netip.MustParseAddr("127.0.0.1") {
		t.Errorf("MediaIP %v, want the local address", u.MediaIP(1))
	}
	// Stable: no re-registration loop.
	n := p.distinctCSeq(sip.REGISTER)
	time.Sleep(300 * time.Millisecond)
	if m := p.distinctCSeq(sip.REGISTER); m != n {
		t.Errorf("REGISTERs went on: %d then %d", n, m)
	}
}

func TestKeepAlivesReachRegistrar(t *testing.T) {
	p := newPeer(t)
	acc := testAccount(p)
	acc.KeepAlive = 100 * time.Millisecond
	u := startUA(t, Config{}, acc)
	waitRegistered(t, u, 1)
	eventually(t, 3*time.Second, "3 keep-alives", func() bool { return p.pc.keepAlives() >= 3 })
	if s := u.Stats(); s.KeepAlives < 3 {
		t.Errorf("Stats().KeepAlives = %d", s.KeepAlives)
	}
	if st := u.Status(1); st.KeepAlivesSent < 3 || st.KeepAlivesFailed != 0 {
		t.Errorf("line 1 keep-alives: %d sent, %d failed", st.KeepAlivesSent, st.KeepAlivesFailed)
	}
}

func TestShutdownUnregisters(t *testing.T) {
	p := newPeer(t)
	u, err := New(Config{Listen: "127.0.0.1:0", Logger: testLogger(), Timers: fastTimers}, []Account{testAccount(p)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := contextWithCancel()
	done := make(chan error, 1)
	go func() { done <- u.Run(ctx) }()
	<-u.Ready()
	waitRegistered(t, u, 1)
	if p.contact("1001") == nil {
		t.Fatal("no binding")
	}
	start := time.Now()
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if el := time.Since(start); el > 3*time.Second {
		t.Errorf("shutdown took %v", el)
	}
	if p.contact("1001") != nil {
		t.Error("binding still there after shutdown")
	}
	regs := p.requests(sip.REGISTER)
	if got := headerValue(regs[len(regs)-1], "Expires"); got != "0" {
		t.Errorf("last REGISTER Expires %s, want 0", got)
	}
	if u.Status(1).Registered {
		t.Error("still registered")
	}
}

func TestShutdownBoundedWhenServerSilent(t *testing.T) {
	p := newPeer(t)
	u, err := New(Config{Listen: "127.0.0.1:0", Logger: testLogger(), Timers: Timers{Transaction: 10 * time.Second}}, []Account{testAccount(p)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := contextWithCancel()
	done := make(chan error, 1)
	go func() { done <- u.Run(ctx) }()
	waitRegistered(t, u, 1)
	p.set(func(p *peer) { p.silent = true })
	start := time.Now()
	cancel()
	<-done
	if el := time.Since(start); el > 3500*time.Millisecond {
		t.Errorf("shutdown took %v with a silent registrar, want about 2s at most", el)
	}
}

func TestRunFailsWhenPortTaken(t *testing.T) {
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	u, err := New(Config{Listen: pc.LocalAddr().String()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := contextWithCancel()
	defer cancel()
	if err := u.Run(ctx); err == nil || !strings.Contains(err.Error(), "listen") {
		t.Fatalf("Run on a taken port: %v", err)
	}
}

func TestTCPRegistration(t *testing.T) {
	p := newPeer(t)
	acc := testAccount(p)
	acc.Transport = "tcp"
	acc.KeepAlive = 100 * time.Millisecond
	tr := &tracer{}
	u := startUA(t, Config{Trace: tr.trace}, acc)
	eventually(t, 5*time.Second, "registered over TCP with the connection's address", func() bool {
		ct := p.contact("1001")
		return u.Status(1).Registered && ct != nil && ct.Address.HostPort() == u.Status(1).PublicAddr
	})
	regs := p.requests(sip.REGISTER)
	if regs[0].Transport() != "TCP" {
		t.Errorf("transport %s", regs[0].Transport())
	}
	ct := p.contact("1001")
	if v, _ := ct.Address.UriParams.Get("transport"); v != "tcp" {
		t.Errorf("Contact %s lacks transport=tcp", ct.Address.String())
	}
	if !tr.has("send REGISTER") || !tr.has("recv SIP/2.0 200") {
		t.Error("TCP traffic not traced")
	}
	eventually(t, 3*time.Second, "TCP keep-alives", func() bool { return u.Stats().KeepAlives >= 2 })
}

func TestTCPReconnectsAndReregisters(t *testing.T) {
	p := newPeer(t)
	acc := testAccount(p)
	acc.Transport = "tcp"
	acc.KeepAlive = 100 * time.Millisecond
	u := startUA(t, Config{}, acc)
	waitRegistered(t, u, 1)
	eventually(t, 5*time.Second, "stable binding", func() bool {
		ct := p.contact("1001")
		return ct != nil && ct.Address.HostPort() == u.Status(1).PublicAddr
	})
	n := p.distinctCSeq(sip.REGISTER)
	// The server drops our connection: we reconnect and register again.
	c, err := p.ua.TransportLayer().GetConnection("tcp", u.Status(1).PublicAddr)
	if err != nil {
		t.Fatalf("peer has no connection from us: %v", err)
	}
	_ = c.Close()
	eventually(t, 5*time.Second, "re-registration over a new connection", func() bool {
		return p.distinctCSeq(sip.REGISTER) > n && u.Status(1).Registered
	})
}

func TestStatusUnknownLine(t *testing.T) {
	u, err := New(Config{Listen: "127.0.0.1:0"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if st := u.Status(7); st.Registered || st.Server != "" {
		t.Errorf("%+v", st)
	}
	if ip := u.MediaIP(7); ip.IsValid() {
		t.Errorf("MediaIP %v for unknown line", ip)
	}
}

func TestHistoryKeepsLast32(t *testing.T) {
	a, _ := newAccount(Account{Line: 1, User: "u", Registrar: "r"})
	for i := range 40 {
		a.record(RegAttempt{Code: i})
	}
	h := a.snapshot().History
	if len(h) != historySize || h[0].Code != 8 || h[len(h)-1].Code != 39 {
		t.Fatalf("history %d entries, first %d last %d", len(h), h[0].Code, h[len(h)-1].Code)
	}
}

func TestGrantedExpiry(t *testing.T) {
	contact := netip.MustParseAddrPort("10.0.0.2:5060")
	res := sip.NewResponse(200, "OK")
	res.AppendHeader(&sip.ContactHeader{Address: sip.Uri{Host: "10.0.0.9", Port: 5060}, Params: sip.HeaderParams{{K: "expires", V: "999"}}})
	res.AppendHeader(&sip.ContactHeader{Address: sip.Uri{Host: "10.0.0.2", Port: 5060}, Params: sip.HeaderParams{{K: "Expires", V: "300"}}})
	if got := grantedExpiry(res, contact, time.Hour); got != 300*time.Second {
		t.Errorf("matching contact: %v", got)
	}
	res2 := sip.NewResponse(200, "OK")
	e := sip.ExpiresHeader(45)
	res2.AppendHeader(&e)
	if got := grantedExpiry(res2, contact, time.Hour); got != 45*time.Second {
		t.Errorf("Expires header: %v", got)
	}
	if got := grantedExpiry(sip.NewResponse(200, "OK"), contact, time.Hour); got != time.Hour {
		t.Errorf("nothing granted: %v", got)
	}
}

func TestBackoffGrowsWithinBounds(t *testing.T) {
	lo, hi := 30*time.Second, 30*time.Minute
	for cycle := 1; cycle <= 20; cycle++ {
		want := min(lo<<min(cycle-1, 20), hi)
		for range 50 {
			d := backoff(cycle, lo, hi)
			if d < want*8/10 || d > want*12/10 {
				t.Fatalf("cycle %d: %v outside %v ±20%%", cycle, d, want)
			}
		}
	}
}

func TestViaPublicAddr(t *testing.T) {
	for _, tc := range []struct {
		via  string
		want string
	}{
		{"SIP/2.0/UDP 10.0.0.2:5060;branch=z9hG4bKx;received=203.0.113.5;rport=6000", "203.0.113.5:6000"},
		{"SIP/2.0/UDP 10.0.0.2:5060;branch=z9hG4bKx;received=203.0.113.5", "203.0.113.5:5060"},
		{"SIP/2.0/UDP 10.0.0.2:5060;branch=z9hG4bKx;rport=7000", "10.0.0.2:7000"},
		{"SIP/2.0/UDP 10.0.0.2:5060;branch=z9hG4bKx;rport", ""},
		{"SIP/2.0/UDP 10.0.0.2:5060;branch=z9hG4bKx;received=bogus", ""},
		{"SIP/2.0/UDP 10.0.0.2:5060;branch=z9hG4bKx;received=203.0.113.5;rport=99999", ""},
	} {
		msg := "SIP/2.0 200 OK\r\nVia: " + tc.via + "\r\nCSeq: 1 REGISTER\r\nContent-Length: 0\r\n\r\n"
		m, err := sip.ParseMessage([]byte(msg))
		if err != nil {
			t.Fatal(err)
		}
		got, ok := viaPublicAddr(m.(*sip.Response))
		if s := map[bool]string{true: got.String(), false: ""}[ok]; s != tc.want {
			t.Errorf("%s: got %q want %q", tc.via, s, tc.want)
		}
	}
}

func TestBuildRegisterStaysSmall(t *testing.T) {
	u, err := New(Config{Listen: "127.0.0.1:5060", UserAgent: "tipring/0.1"}, []Account{{Line: 1, User: "1001", Registrar: "sip.example.net", Proxy: "proxy.example.net:5070"}})
	if err != nil {
		t.Fatal(err)
	}
	a := u.accts[0]
	c := netip.MustParseAddrPort("192.0.2.1:5060")
	req := u.buildRegister(a, target{addr: netip.MustParseAddrPort("192.0.2.9:5070")}, c, time.Hour, netip.MustParseAddrPort("10.0.0.1:5060"))
	req.PrependHeader(newVia("udp", c.Addr(), c.Port()))
	req.AppendHeader(sip.NewHeader("Authorization", `Digest username="1001", realm="sip.example.net", nonce="`+strings.Repeat("n", 64)+`", uri="sip:sip.example.net", response="`+strings.Repeat("r", 32)+`", algorithm=MD5, cnonce="`+strings.Repeat("c", 16)+`", qop=auth, nc=00000001`))
	if n := len(req.String()); n > 900 {
		t.Errorf("REGISTER with credentials is %d bytes; keep it well under the 1300-byte UDP limit:\n%s", n, req)
	}
	if r := req.Route(); r == nil || !r.Address.UriParams.Has("lr") || r.Address.Host != "proxy.example.net" {
		t.Errorf("Route to the outbound proxy missing:\n%s", req)
	}
	if got := headerValue(req, "Expires"); got != strconv.Itoa(3600) {
		t.Errorf("Expires %s", got)
	}
}

func TestMediaIPWithWildcardListen(t *testing.T) {
	p := newPeer(t)
	u := startUA(t, Config{Listen: "0.0.0.0:0"}, testAccount(p))
	st := waitRegistered(t, u, 1)
	if got := u.MediaIP(1); got != netip.MustParseAddr("127.0.0.1") {
		t.Errorf("MediaIP %v, want the source address towards the registrar", got)
	}
	// Via and Contact carry that address, not 0.0.0.0.
	r := p.requests(sip.REGISTER)[0]
	if r.Via().Host != "127.0.0.1" || p.contact("1001").Address.Host != "127.0.0.1" {
		t.Errorf("Via %s, Contact %s", r.Via().Value(), p.contact("1001").Address.String())
	}
	_ = st
}
