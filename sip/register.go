package sip

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/emiago/sipgo/sip"
)

// RegStatus is the registration state of one line, for status pages and the
// diagnostics bundle.
type RegStatus struct {
	Registered bool
	// Server is the address (ip:port) the last REGISTER went to.
	Server    string
	Transport string
	// LastCode and LastReason are the last final answer (0 when there was
	// none: timeout, transport or DNS failure; the reason then says which).
	LastCode    int
	LastReason  string
	LastAttempt time.Time
	// ExpiresAt is when the current binding lapses (zero if not registered).
	ExpiresAt time.Time
	// NextAttempt is when the next REGISTER is due (refresh or retry).
	NextAttempt time.Time
	// Failures counts consecutive failed attempts.
	Failures int
	// PublicAddr is our address as the server saw it (received/rport), if
	// it told us.
	PublicAddr string
	// History holds the last attempts, oldest first.
	History []RegAttempt
	// KeepAlivesSent and KeepAlivesFailed count this line's keep-alives.
	KeepAlivesSent, KeepAlivesFailed int
}

// RegAttempt is one registration attempt (its digest round included).
type RegAttempt struct {
	At     time.Time
	Server string
	Code   int
	Reason string
	Err    string
}

const historySize = 32

// account is an Account at run time.
type account struct {
	Account
	registrar, backup, proxy hostPort
	domain                   string
	callID                   string
	fromTag                  string
	// kick asks the registration loop to register again now (our address
	// changed under it).
	kick chan struct{}

	mu        sync.Mutex
	cseq      uint32
	expires   time.Duration // asked for; raised by 423
	hop       target        // where this account's requests go now
	hasHop    bool
	contact   netip.AddrPort // the Contact we register
	bound     netip.AddrPort // the Contact of the live binding
	localIPs  map[netip.Addr]netip.Addr
	status    RegStatus
	histStart int // ring buffer start in status.History
}

func newAccount(a Account) (*account, error) {
	acc := &account{Account: a, kick: make(chan struct{}, 1), localIPs: map[netip.Addr]netip.Addr{}}
	acc.registrar, _ = parseHostPort(a.Registrar)
	if a.BackupRegistrar != "" {
		acc.backup, _ = parseHostPort(a.BackupRegistrar)
	}
	if a.Proxy != "" {
		acc.proxy, _ = parseHostPort(a.Proxy)
	}
	acc.domain = a.Domain
	if acc.domain == "" {
		acc.domain = acc.registrar.host
	}
	acc.callID = randomToken(12)
	acc.fromTag = newTag()
	acc.cseq = rand.Uint32N(1 << 16)
	acc.expires = a.Expires
	acc.status.Transport = a.Transport
	return acc, nil
}

func (a *account) nextCSeq() uint32 {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.cseq++
	return a.cseq
}

func (a *account) currentHop() (target, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.hop, a.hasHop
}

func (a *account) setHop(t target) {
	a.mu.Lock()
	a.hop, a.hasHop = t, true
	a.status.Server = t.addr.String()
	a.mu.Unlock()
}

// trusts reports whether src is the registrar/proxy this account uses. UDP
// and TCP are treated alike: a proxy sends over UDP from its listening
// address, and over TCP a request on the connection we opened to it shows
// that same address as its source.
func (a *account) trusts(src netip.AddrPort) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.hasHop && a.hop.addr == src
}

func (a *account) registered() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.status.Registered && time.Now().Before(a.status.ExpiresAt)
}

func (a *account) snapshot() RegStatus {
	a.mu.Lock()
	defer a.mu.Unlock()
	s := a.status
	s.History = make([]RegAttempt, 0, len(a.status.History))
	s.History = append(s.History, a.status.History[a.histStart:]...)
	s.History = append(s.History, a.status.History[:a.histStart]...)
	return s
}

func (a *account) record(at RegAttempt) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.status.History) < historySize {
		a.status.History = append(a.status.History, at)
		return
	}
	a.status.History[a.histStart] = at
	a.histStart = (a.histStart + 1) % historySize
}

// localIP is the address of ours that packets to dst leave from: the listen
// address if it is specific, else what the routing table picks.
func (u *UA) localIP(a *account, dst netip.Addr) netip.Addr {
	if l := u.boundAddr().Addr(); !l.IsUnspecified() {
		return l
	}
	a.mu.Lock()
	ip, ok := a.localIPs[dst]
	a.mu.Unlock()
	if ok {
		return ip
	}
	ip = routeSource(dst)
	a.mu.Lock()
	a.localIPs[dst] = ip
	a.mu.Unlock()
	return ip
}

// contactAddr is the Contact address to advertise: the learned public
// address once the registrar showed it differs, else our local address
// towards the account's server (towards peer while there is none yet) and
// the listening port.
func (u *UA) contactAddr(a *account, peer netip.Addr) netip.AddrPort {
	a.mu.Lock()
	c := a.contact
	hop, has := a.hop, a.hasHop
	a.mu.Unlock()
	if c.IsValid() {
		return c
	}
	if has {
		peer = hop.addr.Addr()
	}
	return netip.AddrPortFrom(u.localIP(a, peer), u.boundAddr().Port())
}

func (u *UA) contactHeader(a *account, addr netip.AddrPort) *sip.ContactHeader {
	uri := sipURI(a.User, addr)
	if a.Transport == "tcp" {
		uri.UriParams = sip.NewParams()
		uri.UriParams.Add("transport", "tcp")
	}
	return &sip.ContactHeader{Address: uri}
}

// aor is the account's address of record.
func (a *account) aor() sip.Uri {
	return sip.Uri{Scheme: "sip", User: a.User, Host: a.domain}
}

// targets lists where this account may register, in failover order: the
// outbound proxy (or registrar) targets, then the backup registrar's.
func (u *UA) targets(ctx context.Context, a *account) ([]target, error) {
	first := a.registrar
	if !a.proxy.isZero() {
		first = a.proxy
	}
	ts, err := resolveHost(ctx, u.res, first, a.Transport, u.fam)
	if a.backup.isZero() {
		return ts, err
	}
	bs, berr := resolveHost(ctx, u.res, a.backup, a.Transport, u.fam)
	for i := range bs {
		bs[i].backup = true
	}
	ts = append(ts, bs...)
	if len(ts) == 0 {
		return nil, errors.Join(err, berr)
	}
	return ts, nil
}

// regOutcome is what one registration attempt came to.
type regOutcome struct {
	ok       bool
	failover bool // worth trying the next target right away
	granted  time.Duration
}

// runAccount keeps one account registered until ctx ends. (Run removes the
// binding afterwards.)
func (u *UA) runAccount(ctx context.Context, a *account) {
	var targets []target
	idx, cycles := 0, 0
	for {
		if ctx.Err() != nil {
			return
		}
		if targets == nil {
			ts, err := u.targets(ctx, a)
			if err != nil || len(ts) == 0 {
				if ctx.Err() != nil {
					return
				}
				if err == nil {
					err = errors.New("no address")
				}
				a.record(RegAttempt{At: time.Now(), Reason: "DNS lookup failed", Err: err.Error()})
				a.mu.Lock()
				a.status.Registered = false
				a.status.LastCode, a.status.LastReason = 0, "DNS lookup failed: "+err.Error()
				a.status.LastAttempt = time.Now()
				a.status.Failures++
				a.mu.Unlock()
				cycles++
				if !u.sleepBackoff(ctx, a, cycles) {
					return
				}
				continue
			}
			targets, idx = ts, 0
		}
		t := targets[idx]
		out := u.register(ctx, a, t)
		if ctx.Err() != nil {
			return
		}
		if out.ok {
			cycles = 0
			wait := time.Duration(float64(out.granted) * (0.83 + 0.04*rand.Float64()))
			a.mu.Lock()
			a.status.NextAttempt = time.Now().Add(wait)
			a.mu.Unlock()
			timer := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				timer.Stop()
				return
			case <-timer.C:
			case <-a.kick:
				timer.Stop()
			}
			continue
		}
		if out.failover && idx+1 < len(targets) {
			idx++
			continue
		}
		cycles++
		targets = nil
		if !u.sleepBackoff(ctx, a, cycles) {
			return
		}
	}
}

// backoff is RetryMin doubling per failed cycle up to RetryMax, ±20 %.
func backoff(cycle int, lo, hi time.Duration) time.Duration {
	d := lo
	for i := 1; i < cycle && d < hi; i++ {
		d *= 2
	}
	d = min(d, hi)
	return time.Duration(float64(d) * (0.8 + 0.4*rand.Float64()))
}

func (u *UA) sleepBackoff(ctx context.Context, a *account, cycles int) bool {
	d := backoff(cycles, a.RetryMin, a.RetryMax)
	a.mu.Lock()
	a.status.NextAttempt = time.Now().Add(d)
	a.mu.Unlock()
	u.log.Info("sip: registration failed, retrying later", "line", a.Line, "in", d.Round(time.Millisecond))
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		// A kick that arrived while we waited is stale: this attempt
		// registers the current address anyway.
		select {
		case <-a.kick:
		default:
		}
		return true
	}
}

// register runs one attempt against t and records it.
func (u *UA) register(ctx context.Context, a *account, t target) regOutcome {
	start := time.Now()
	a.setHop(t)
	a.mu.Lock()
	expires := a.expires
	a.mu.Unlock()
	res, granted, err := u.doRegister(ctx, a, t, expires)
	at := RegAttempt{At: start, Server: t.addr.String()}
	out := regOutcome{}
	var code int
	var reason string
	switch {
	case err != nil:
		var re *reqError
		if errors.As(err, &re) {
			code, reason = re.code, re.reason
			out.failover = re.failover()
		} else {
			reason = err.Error()
			out.failover = true
		}
		at.Err = err.Error()
	default:
		code, reason = res.StatusCode, res.Reason
		out.ok = true
		out.granted = granted
	}
	at.Code, at.Reason = code, reason
	a.record(at)
	a.mu.Lock()
	a.status.LastAttempt = start
	a.status.LastCode, a.status.LastReason = code, reason
	if out.ok {
		a.status.Registered = true
		a.status.ExpiresAt = time.Now().Add(granted)
		a.status.Failures = 0
	} else {
		a.status.Registered = false
		a.status.ExpiresAt = time.Time{}
		a.status.Failures++
	}
	a.mu.Unlock()
	if out.ok {
		u.log.Debug("sip: registered", "line", a.Line, "server", t.addr, "expires", granted)
	} else {
		u.log.Warn("sip: registration failed", "line", a.Line, "server", t.addr, "code", code, "reason", reason)
	}
	return out
}

// reqError is a request that got no acceptable final answer. code is the
// SIP status (a received one, or 408/503 standing for a timeout or a
// transport failure).
type reqError struct {
	code   int
	reason string
	err    error
}

func (e *reqError) Error() string {
	if e.err != nil {
		return fmt.Sprintf("%d %s: %v", e.code, e.reason, e.err)
	}
	return fmt.Sprintf("%d %s", e.code, e.reason)
}

func (e *reqError) Unwrap() error { return e.err }

// failover says whether another server might do better: yes after silence,
// transport trouble or a server-side failure; no after a verdict on us
// (bad credentials, forbidden, not found...), where trying every server in
// turn would only multiply the traffic.
func (e *reqError) failover() bool {
	switch {
	case e.code == 408, e.code == 0:
		return true
	case e.code >= 500 && e.code < 600:
		return true
	}
	return false
}

func responseError(res *sip.Response) *reqError {
	return &reqError{code: res.StatusCode, reason: res.Reason}
}

// doRegister sends REGISTER (expires 0 removes our binding) and follows it
// through a digest challenge, a 423 and a Contact correction after learning
// our public address. It returns the final 2xx and the granted expiry.
func (u *UA) doRegister(ctx context.Context, a *account, t target, expires time.Duration) (*sip.Response, time.Duration, error) {
	var auth *authRetry
	var retire netip.AddrPort // a previous Contact to remove with this REGISTER
	tooBrief, natFixes := 0, 0
	for {
		contact := u.contactAddr(a, t.addr.Addr())
		req := u.buildRegister(a, t, contact, expires, retire)
		if auth != nil {
			if err := auth.apply(req, a); err != nil {
				return nil, 0, &reqError{code: auth.code, reason: "cannot answer challenge", err: err}
			}
		}
		res, err := u.roundTrip(ctx, a, t.addr, req)
		if err != nil {
			return nil, 0, err
		}
		switch {
		case res.StatusCode == 401 || res.StatusCode == 407:
			next, err := nextAuth(auth, res)
			if err != nil {
				return nil, 0, &reqError{code: res.StatusCode, reason: res.Reason, err: err}
			}
			auth = next
			continue
		case res.StatusCode == 423:
			minExp, err := strconv.Atoi(headerValue(res, "Min-Expires"))
			if err != nil || tooBrief > 0 || time.Duration(minExp)*time.Second <= expires || minExp > 86400*7 {
				return nil, 0, &reqError{code: 423, reason: res.Reason, err: errors.New("no usable Min-Expires")}
			}
			tooBrief++
			expires = time.Duration(minExp) * time.Second
			a.mu.Lock()
			a.expires = expires
			a.mu.Unlock()
			auth = nil
			continue
		case res.StatusCode >= 200 && res.StatusCode < 300:
		default:
			return nil, 0, responseError(res)
		}
		if expires == 0 {
			a.mu.Lock()
			a.bound = netip.AddrPort{}
			a.mu.Unlock()
			return res, 0, nil
		}
		granted := grantedExpiry(res, contact, expires)
		if granted <= 0 {
			return nil, 0, &reqError{code: res.StatusCode, reason: res.Reason, err: errors.New("registrar kept no binding for our Contact")}
		}
		a.mu.Lock()
		a.bound = contact
		a.mu.Unlock()
		pub, ok := viaPublicAddr(res)
		if !ok {
			return res, granted, nil
		}
		a.mu.Lock()
		a.status.PublicAddr = pub.String()
		fix := pub != contact && natFixes == 0
		if fix {
			a.contact = pub
		}
		a.mu.Unlock()
		if !fix {
			return res, granted, nil
		}
		// Behind NAT: register the address the server can reach, and drop
		// the unreachable binding in the same request.
		u.log.Info("sip: learned public address, registering it", "line", a.Line, "contact", pub, "was", contact)
		natFixes++
		retire = contact
		auth = nil
	}
}

func (u *UA) buildRegister(a *account, t target, contact netip.AddrPort, expires time.Duration, retire netip.AddrPort) *sip.Request {
	// Without a configured Domain the AOR and Request-URI name the server
	// we register with.
	server := a.registrar
	if t.backup {
		server = a.backup
	}
	ruri := sip.Uri{Scheme: "sip", Host: a.domain}
	aor := a.aor()
	if a.Domain == "" {
		ruri.Host, ruri.Port = server.host, server.port
		aor.Host = server.host
	}
	req := sip.NewRequest(sip.REGISTER, ruri)
	req.AppendHeader(maxForwards())
	from := &sip.FromHeader{Address: aor, Params: sip.NewParams()}
	from.Params.Add("tag", a.fromTag)
	req.AppendHeader(from)
	req.AppendHeader(&sip.ToHeader{Address: aor})
	req.AppendHeader(callIDHeader(a.callID))
	req.AppendHeader(cseqHeader(a.nextCSeq(), sip.REGISTER))
	if !a.proxy.isZero() && !t.backup {
		req.AppendHeader(&sip.RouteHeader{Address: routeURI(a.proxy)})
	}
	ch := u.contactHeader(a, contact)
	if expires == 0 {
		ch.Params = sip.NewParams()
		ch.Params.Add("expires", "0")
	}
	req.AppendHeader(ch)
	if retire.IsValid() && retire != contact {
		old := u.contactHeader(a, retire)
		old.Params = sip.NewParams()
		old.Params.Add("expires", "0")
		req.AppendHeader(old)
	}
	exp := sip.ExpiresHeader(uint32((expires + time.Second - 1) / time.Second))
	req.AppendHeader(&exp)
	if u.cfg.UserAgent != "" {
		req.AppendHeader(sip.NewHeader("User-Agent", u.cfg.UserAgent))
	}
	req.SetBody(nil)
	return req
}

func routeURI(h hostPort) sip.Uri {
	u := hostURI("", h)
	u.UriParams = sip.NewParams()
	u.UriParams.Add("lr", "")
	return u
}

// grantedExpiry finds the expiry the registrar granted our Contact: its
// expires parameter, else the Expires header, else what we asked for.
func grantedExpiry(res *sip.Response, contact netip.AddrPort, asked time.Duration) time.Duration {
	for _, h := range res.GetHeaders("Contact") {
		c, ok := h.(*sip.ContactHeader)
		if !ok {
			continue
		}
		ap, ok := uriAddrPort(c.Address)
		if !ok || ap != contact {
			continue
		}
		if v, ok := param(c.Params, "expires"); ok {
			if n, err := strconv.Atoi(strings.TrimSpace(v)); err == nil && n >= 0 {
				return time.Duration(n) * time.Second
			}
		}
	}
	if v := headerValue(res, "Expires"); v != "" {
		if n, err := strconv.Atoi(v); err == nil && n >= 0 {
			return time.Duration(n) * time.Second
		}
	}
	return asked
}

// unregister removes the live binding, if any, within ctx.
func (u *UA) unregister(ctx context.Context, a *account) {
	a.mu.Lock()
	bound, hop, has := a.bound, a.hop, a.hasHop
	a.mu.Unlock()
	if !bound.IsValid() || !has || !a.registered() {
		return
	}
	_, _, err := u.doRegister(ctx, a, hop, 0)
	a.mu.Lock()
	a.status.Registered = false
	a.status.ExpiresAt = time.Time{}
	a.status.NextAttempt = time.Time{}
	a.mu.Unlock()
	if err != nil {
		u.log.Info("sip: un-register failed", "line", a.Line, "err", err)
	}
}

// keepAlives sends CRLF keep-alives to the account's server while it is
// registered, so the NAT binding that carries incoming calls stays open.
func (u *UA) keepAlives(ctx context.Context, a *account) {
	if a.KeepAlive < 0 {
		return
	}
	tick := time.NewTicker(a.KeepAlive)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		hop, ok := a.currentHop()
		if !ok || !a.registered() {
			continue
		}
		err := u.sendKeepAlive(ctx, a, hop.addr)
		a.mu.Lock()
		if err != nil {
			a.status.KeepAlivesFailed++
		} else {
			a.status.KeepAlivesSent++
		}
		a.mu.Unlock()
		if err != nil {
			u.log.Debug("sip: keep-alive failed", "line", a.Line, "err", err)
			continue
		}
		u.stats.keepAlives.Add(1)
	}
}

func (u *UA) sendKeepAlive(ctx context.Context, a *account, dst netip.AddrPort) error {
	if a.Transport == "udp" {
		return u.udp.keepAlive(udpAddr(dst))
	}
	u.mu.Lock()
	c := u.tcpConns[dst]
	u.mu.Unlock()
	if c == nil || c.isClosed() {
		// The connection carrying our binding is gone: open a new one and
		// register over it, or incoming calls cannot reach us.
		if err := u.ensureTCP(ctx, dst); err != nil {
			return err
		}
		a.poke()
		return nil
	}
	return c.keepAlive()
}

func (a *account) poke() {
	select {
	case a.kick <- struct{}{}:
	default:
	}
}
