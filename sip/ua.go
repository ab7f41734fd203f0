// Package sip is tipring's SIP user agent, built on github.com/emiago/sipgo:
// registration (digest auth, refresh, backoff, SRV and failover), NAT
// traversal (rport, learned public Contact, keep-alives), calls in both
// directions and ghost-call protection. SDP crosses this package as opaque
// bytes; the firmware wires the media engine in. docs/sip.md describes the
// behaviour in prose.
package sip

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo/sip"
)

// UA is the SIP user agent for all lines of the device.
type UA struct {
	cfg       Config
	timers    Timers
	log       *slog.Logger
	res       Resolver
	listenCfg netip.AddrPort
	fam       family
	accts     []*account
	byLine    map[int]*account

	ready    chan struct{}
	stopping chan struct{}
	running  atomic.Bool

	// Set by Run before ready is closed, read-only afterwards.
	bound atomic.Pointer[netip.AddrPort]
	laddr sip.Addr
	tpl   *sip.TransportLayer
	txl   *sip.TransactionLayer
	udp   *udpConn
	tcp   *tcpListener

	mu sync.Mutex
	// calls are keyed by Call-ID and our tag: a call from one of our lines
	// to another through the proxy has one Call-ID and two dialogs here.
	calls    map[callKey]*Call
	tcpConns map[netip.AddrPort]*tcpConn
	dialing  map[netip.AddrPort]chan struct{}

	wg       sync.WaitGroup // call goroutines, see spawn
	draining bool           // under mu: Run is waiting for wg

	stats struct {
		ghost, notFound, keepAlives, callsIn, callsOut atomic.Uint64
	}
}

// UAStats are counters since New.
type UAStats struct {
	// GhostRejected counts requests refused by ghost-call protection.
	GhostRejected uint64
	// NotFound counts INVITEs from our server for a user we do not serve.
	NotFound uint64
	// KeepAlives counts CRLF keep-alives sent.
	KeepAlives uint64
	// CallsIn and CallsOut count calls offered to Incoming and dialled.
	CallsIn, CallsOut uint64
	// ActiveCalls is the number of calls not yet ended.
	ActiveCalls int
}

// New checks the configuration and builds a UA. It does not touch the
// network.
func New(cfg Config, accounts []Account) (*UA, error) {
	listen, err := parseListen(cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("sip: config: %w", err)
	}
	if strings.ContainsAny(cfg.UserAgent, "\r\n") {
		return nil, errors.New("sip: config: UserAgent must not contain line breaks")
	}
	if cfg.Timers.T1 < 0 || cfg.Timers.T2 < 0 || cfg.Timers.Transaction < 0 {
		return nil, errors.New("sip: config: Timers must not be negative")
	}
	u := &UA{
		cfg:       cfg,
		timers:    cfg.Timers.withDefaults(),
		log:       cfg.Logger,
		res:       cfg.Resolver,
		listenCfg: listen,
		fam:       familyOf(listen.Addr()),
		byLine:    map[int]*account{},
		ready:     make(chan struct{}),
		stopping:  make(chan struct{}),
		calls:     map[callKey]*Call{},
		tcpConns:  map[netip.AddrPort]*tcpConn{},
		dialing:   map[netip.AddrPort]chan struct{}{},
	}
	if u.log == nil {
		u.log = slog.New(slog.DiscardHandler)
	}
	if u.res == nil {
		u.res = net.DefaultResolver
	}
	for i, a := range accounts {
		na, err := a.normalize()
		if err != nil {
			return nil, fmt.Errorf("sip: account %d: %w", i, err)
		}
		if _, dup := u.byLine[na.Line]; dup {
			return nil, fmt.Errorf("sip: account %d: Line %d: already served by another account", i, na.Line)
		}
		acc, err := newAccount(na)
		if err != nil {
			return nil, fmt.Errorf("sip: account %d: %w", i, err)
		}
		u.accts = append(u.accts, acc)
		u.byLine[na.Line] = acc
	}
	return u, nil
}

// Ready is closed once the UA listens.
func (u *UA) Ready() <-chan struct{} { return u.ready }

// ListenAddr is the address the UA listens on (UDP and TCP), valid once
// Ready is closed.
func (u *UA) ListenAddr() netip.AddrPort { return u.boundAddr() }

func (u *UA) boundAddr() netip.AddrPort {
	if p := u.bound.Load(); p != nil {
		return *p
	}
	return u.listenCfg
}

// Status reports the registration of a line (zero for an unknown line).
func (u *UA) Status(line int) RegStatus {
	a := u.byLine[line]
	if a == nil {
		return RegStatus{}
	}
	return a.snapshot()
}

// Stats reports the UA's counters.
func (u *UA) Stats() UAStats {
	u.mu.Lock()
	active := len(u.calls)
	u.mu.Unlock()
	return UAStats{
		GhostRejected: u.stats.ghost.Load(),
		NotFound:      u.stats.notFound.Load(),
		KeepAlives:    u.stats.keepAlives.Load(),
		CallsIn:       u.stats.callsIn.Load(),
		CallsOut:      u.stats.callsOut.Load(),
		ActiveCalls:   active,
	}
}

// MediaIP is the local IP to put in SDP for a line: the listen IP if it is
// specific, else the source address the OS uses towards the line's server.
// (The public address learned from the registrar is in RegStatus; the media
// engine decides what to do with it.) It may resolve the server's name,
// for at most 2 s, if no registration has done so yet; it returns the zero
// Addr for an unknown line or when the server cannot be resolved.
func (u *UA) MediaIP(line int) netip.Addr {
	a := u.byLine[line]
	if a == nil {
		return netip.Addr{}
	}
	if l := u.boundAddr().Addr(); !l.IsUnspecified() {
		return l
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	t, err := u.hopFor(ctx, a)
	if err != nil {
		return netip.Addr{}
	}
	return u.localIP(a, t.addr.Addr())
}

// hopFor returns the account's current server, resolving it if no
// registration attempt has yet.
func (u *UA) hopFor(ctx context.Context, a *account) (target, error) {
	if t, ok := a.currentHop(); ok {
		return t, nil
	}
	ts, err := u.targets(ctx, a)
	if err != nil {
		return target{}, fmt.Errorf("resolve server: %w", err)
	}
	if len(ts) == 0 {
		return target{}, errors.New("resolve server: no address")
	}
	return ts[0], nil
}

// Run listens on UDP and TCP, registers every account and serves until ctx
// ends. Then it un-registers (best effort, at most about 2 s), ends the
// calls and closes everything. It returns an error if it cannot listen.
func (u *UA) Run(ctx context.Context) error {
	if !u.running.CompareAndSwap(false, true) {
		return errors.New("sip: Run called twice")
	}
	udpPC, tcpL, err := listenBoth(u.listenCfg)
	if err != nil {
		return fmt.Errorf("sip: listen on %s: %w", u.listenCfg, err)
	}
	sgo, err := newSipgo(cmpOr(u.cfg.UserAgent, "tipring"), u.log, u.onStrayResponse)
	if err != nil {
		_ = udpPC.Close()
		_ = tcpL.Close()
		return fmt.Errorf("sip: %w", err)
	}
	local := udpPC.LocalAddr().(*net.UDPAddr).AddrPort()
	local = netip.AddrPortFrom(local.Addr().Unmap(), local.Port())
	u.bound.Store(&local)
	u.laddr = sip.Addr{IP: net.IP(local.Addr().AsSlice()), Port: int(local.Port())}
	u.tpl = sgo.TransportLayer()
	u.txl = sgo.TransactionLayer()
	trace := traceFunc(u.cfg.Trace)
	u.udp = newUDPConn(udpPC, trace)
	u.tcp = newTCPListener(tcpL, trace, u.onTCPClosed, u.log)
	u.txl.OnRequest(func(req *sip.Request, tx *sip.ServerTx) { u.handleRequest(req, tx) })

	var serve sync.WaitGroup
	serve.Add(2)
	go func() {
		defer serve.Done()
		if err := u.tpl.ServeUDP(u.udp); err != nil {
			u.log.Warn("sip: udp serve stopped", "err", err)
		}
	}()
	go func() {
		defer serve.Done()
		_ = u.tpl.ServeTCP(u.tcp) // returns net.ErrClosed at shutdown
	}()
	<-u.udp.started
	<-u.tcp.started
	u.log.Info("sip: listening", "addr", local)
	close(u.ready)

	regCtx, stopReg := context.WithCancel(context.Background())
	var loops sync.WaitGroup
	for _, a := range u.accts {
		loops.Add(2)
		go func() {
			defer loops.Done()
			u.runAccount(regCtx, a)
		}()
		go func() {
			defer loops.Done()
			u.keepAlives(regCtx, a)
		}()
	}

	<-ctx.Done()
	close(u.stopping)
	stopReg()
	loops.Wait()

	// Best effort, bounded: remove bindings and end calls in parallel.
	byeCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	var fin sync.WaitGroup
	for _, a := range u.accts {
		fin.Add(1)
		go func() {
			defer fin.Done()
			u.unregister(byeCtx, a)
		}()
	}
	for _, c := range u.activeCalls() {
		fin.Add(1)
		go func() {
			defer fin.Done()
			_ = c.Hangup(byeCtx)
		}()
	}
	fin.Wait()
	cancel()
	u.drain()

	// Closing order matters with sipgo. Transactions go first, while their
	// connections are intact (later they would release connections that
	// are already gone). Reading stops next. Only then does the transport
	// layer empty its connection pool: while a socket is still read, a
	// request arriving after the pool was emptied makes sipgo open a fresh
	// UDP socket to answer it, which nothing would ever close.
	u.txl.Close()
	_ = u.udp.Close()
	_ = u.tcp.Close()
	u.mu.Lock()
	conns := slices.Collect(maps.Values(u.tcpConns))
	u.mu.Unlock()
	for _, c := range conns {
		_ = c.Close() // calls onTCPClosed, which takes u.mu
	}
	serve.Wait()
	// Requests read just before the sockets closed are handled on
	// goroutines of their own; give them a moment, then end whatever
	// transactions they started.
	time.Sleep(shutdownGrace)
	u.txl.Close()
	_ = u.tpl.Close()
	return nil
}

// shutdownGrace is how long in-flight requests get to finish after the
// sockets close; sipgo handles each on a goroutine of its own that takes
// microseconds.
const shutdownGrace = 20 * time.Millisecond

// spawn runs f on a goroutine that shutdown waits for. It refuses once
// shutdown has started waiting, so no goroutine can slip past it.
func (u *UA) spawn(f func()) bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.draining {
		return false
	}
	u.wg.Add(1)
	go func() {
		defer u.wg.Done()
		f()
	}()
	return true
}

// drain ends the calls still alive without more signalling and waits for
// the call goroutines.
func (u *UA) drain() {
	u.mu.Lock()
	u.draining = true
	u.mu.Unlock()
	for _, c := range u.activeCalls() {
		c.abandon("user agent shutting down")
	}
	u.wg.Wait()
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// listenBoth opens UDP and TCP on the same port. With port 0 the kernel
// picks a UDP port that may be taken on TCP, so that case retries.
func listenBoth(addr netip.AddrPort) (net.PacketConn, net.Listener, error) {
	network := "udp"
	if addr.Addr().Is4() {
		network = "udp4"
	}
	var lastErr error
	for range 10 {
		pc, err := net.ListenUDP(network, net.UDPAddrFromAddrPort(addr))
		if err != nil {
			return nil, nil, err
		}
		port := pc.LocalAddr().(*net.UDPAddr).Port
		tl, err := net.ListenTCP("tcp"+network[3:], &net.TCPAddr{IP: addr.Addr().AsSlice(), Port: port})
		if err == nil {
			return pc, tl, nil
		}
		_ = pc.Close()
		lastErr = err
		if addr.Port() != 0 {
			break
		}
	}
	return nil, nil, lastErr
}

func (u *UA) isStopping() bool {
	select {
	case <-u.stopping:
		return true
	default:
		return false
	}
}

func (u *UA) activeCalls() []*Call {
	u.mu.Lock()
	defer u.mu.Unlock()
	return slices.Collect(maps.Values(u.calls))
}

var errNotRunning = errors.New("sip: user agent is not running")

// prepare addresses req to dst over the account's transport: a Via with our
// address and rport and, for UDP, the listening socket as the sender, so
// responses and later requests from the server use the NAT binding that
// REGISTER opened.
func (u *UA) prepare(ctx context.Context, a *account, dst netip.AddrPort, req *sip.Request) error {
	if u.txl == nil {
		return errNotRunning
	}
	// A CANCEL arrives with the Via of its INVITE; everything else gets
	// a fresh one.
	if req.Via() == nil {
		req.PrependHeader(newVia(a.Transport, u.localIP(a, dst.Addr()), u.boundAddr().Port()))
	}
	req.SetTransport(strings.ToUpper(a.Transport))
	req.SetDestination(dst.String())
	if req.Body() == nil {
		req.SetBody(nil) // Content-Length: 0
	}
	if a.Transport == "udp" {
		req.Laddr = sip.Addr{IP: append(net.IP(nil), u.laddr.IP...), Port: u.laddr.Port}
		return checkUDPSize(req)
	}
	return u.ensureTCP(ctx, dst)
}

// request starts a client transaction for req towards dst.
func (u *UA) request(ctx context.Context, a *account, dst netip.AddrPort, req *sip.Request) (sip.ClientTransaction, error) {
	if err := u.prepare(ctx, a, dst, req); err != nil {
		return nil, &reqError{code: 503, reason: "Service Unavailable", err: err}
	}
	tx, err := u.txl.Request(ctx, req)
	if err != nil {
		return nil, &reqError{code: 503, reason: "Service Unavailable", err: fmt.Errorf("send %s: %w", req.Method, err)}
	}
	return tx, nil
}

// write sends a request outside any transaction (ACK for a 2xx).
func (u *UA) write(a *account, dst netip.AddrPort, req *sip.Request) error {
	ctx, cancel := context.WithTimeout(context.Background(), u.timers.Transaction)
	defer cancel()
	if err := u.prepare(ctx, a, dst, req); err != nil {
		return err
	}
	if err := u.tpl.WriteMsg(req); err != nil {
		return fmt.Errorf("send %s: %w", req.Method, err)
	}
	return nil
}

var errTimeout = errors.New("no final response in time")

// roundTrip sends a non-INVITE request and waits for its final response, at
// most Timers.Transaction.
func (u *UA) roundTrip(ctx context.Context, a *account, dst netip.AddrPort, req *sip.Request) (*sip.Response, error) {
	tx, err := u.request(ctx, a, dst, req)
	if err != nil {
		return nil, err
	}
	defer tx.Terminate()
	timer := time.NewTimer(u.timers.Transaction)
	defer timer.Stop()
	for {
		select {
		case res := <-tx.Responses():
			if res.IsProvisional() {
				continue
			}
			return res, nil
		case <-tx.Done():
			return nil, txError(tx.Err())
		case <-timer.C:
			return nil, &reqError{code: 408, reason: "Request Timeout", err: errTimeout}
		case <-ctx.Done():
			return nil, &reqError{code: 408, reason: "Request Timeout", err: ctx.Err()}
		}
	}
}

// txError turns the reason sipgo ended a transaction into a reqError.
func txError(err error) *reqError {
	switch {
	case errors.Is(err, sip.ErrTransactionTimeout):
		return &reqError{code: 408, reason: "Request Timeout", err: err}
	case err == nil:
		return &reqError{code: 503, reason: "Service Unavailable", err: errors.New("transaction ended")}
	default:
		return &reqError{code: 503, reason: "Service Unavailable", err: err}
	}
}

// ensureTCP makes sure sipgo has a TCP connection to dst, dialling one if
// needed. Dialled connections are handed to sipgo's serve loop, so sipgo
// reads from and writes to them as to any other.
func (u *UA) ensureTCP(ctx context.Context, dst netip.AddrPort) error {
	for {
		if c, err := u.tpl.GetConnection("tcp", dst.String()); err == nil && c != nil {
			_, _ = c.TryClose() // GetConnection took a reference
			return nil
		}
		u.mu.Lock()
		if ch, busy := u.dialing[dst]; busy {
			u.mu.Unlock()
			select {
			case <-ch:
				continue
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		ch := make(chan struct{})
		u.dialing[dst] = ch
		u.mu.Unlock()
		err := u.dialTCP(ctx, dst)
		u.mu.Lock()
		delete(u.dialing, dst)
		close(ch)
		u.mu.Unlock()
		return err
	}
}

func (u *UA) dialTCP(ctx context.Context, dst netip.AddrPort) error {
	if u.isStopping() {
		return errNotRunning
	}
	d := net.Dialer{Timeout: u.timers.Transaction, KeepAlive: 15 * time.Second}
	if l := u.boundAddr().Addr(); !l.IsUnspecified() {
		d.LocalAddr = &net.TCPAddr{IP: l.AsSlice()}
	}
	conn, err := d.DialContext(ctx, "tcp", dst.String())
	if err != nil {
		return fmt.Errorf("tcp connect %s: %w", dst, err)
	}
	tc := newTCPConn(conn, traceFunc(u.cfg.Trace), u.onTCPClosed)
	if !u.tcp.hand(tc) {
		_ = conn.Close()
		return errNotRunning
	}
	u.mu.Lock()
	u.tcpConns[dst] = tc
	u.mu.Unlock()
	// sipgo pools the connection before it starts reading it.
	select {
	case <-tc.started:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// onTCPClosed forgets a closed connection and asks accounts that used it to
// register again over a new one.
func (u *UA) onTCPClosed(c *tcpConn) {
	ap, err := netip.ParseAddrPort(c.RemoteAddr().String())
	if err != nil {
		return
	}
	ap = netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	u.mu.Lock()
	mine := u.tcpConns[ap] == c
	if mine {
		delete(u.tcpConns, ap)
	}
	u.mu.Unlock()
	if !mine || u.isStopping() {
		return
	}
	for _, a := range u.accts {
		if a.Transport == "tcp" && a.trusts(ap) && a.registered() {
			a.poke()
		}
	}
}

// routeSource asks the routing table which local address reaches dst,
// without sending anything (a UDP "connect" only selects a route).
func routeSource(dst netip.Addr) netip.Addr {
	if !dst.IsValid() || dst.IsUnspecified() {
		return netip.IPv4Unspecified()
	}
	c, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(netip.AddrPortFrom(dst, 9)))
	if err != nil {
		if dst.Is4() {
			return netip.IPv4Unspecified()
		}
		return netip.IPv6Unspecified()
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).AddrPort().Addr().Unmap()
}

func udpAddr(ap netip.AddrPort) *net.UDPAddr { return net.UDPAddrFromAddrPort(ap) }
