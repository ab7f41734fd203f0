package sip

import (
	"bytes"
	"context"
	"hash/fnv"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
)

// recConn stands in for a socket: it serialises what is written (so that
// path runs too) and keeps the status codes of the responses if asked.
type recConn struct {
	mu    sync.Mutex
	keep  bool
	codes []int
}

func (*recConn) LocalAddr() net.Addr {
	return &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 5062}
}

func (c *recConn) WriteMsg(m sip.Message) error {
	_ = m.String()
	if res, ok := m.(*sip.Response); ok && c.keep {
		c.mu.Lock()
		c.codes = append(c.codes, res.StatusCode)
		c.mu.Unlock()
	}
	return nil
}

func (c *recConn) sent() []int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]int(nil), c.codes...)
}

func (*recConn) Ref(int) int            { return 1 }
func (*recConn) TryClose() (int, error) { return 1, nil }
func (*recConn) Close() error           { return nil }

// fuzzServer is the address the fuzz UA trusts as its registrar.
var fuzzServer = netip.MustParseAddrPort("127.0.0.1:5060")

// fuzzUA is a UA that is not running (it sends nothing: requests it would
// originate fail with errNotRunning), with line 1 registered at
// fuzzServer, and an Incoming handler that exercises every answer.
type fuzzUA struct {
	u   *UA
	log *slog.Logger
}

type fuzzNegotiator struct{}

func (fuzzNegotiator) Reoffer(offer []byte) ([]byte, error) {
	if bytes.Contains(offer, []byte("reject")) {
		return nil, errNoNegotiator
	}
	return []byte("v=0\r\n"), nil
}

func newFuzzUA(t testing.TB) *fuzzUA {
	res := &fakeResolver{hosts: map[string][]netip.Addr{"example.net": {netip.MustParseAddr("127.0.0.1")}}}
	cfg := Config{
		Listen:   "127.0.0.1:5062",
		Logger:   slog.New(slog.DiscardHandler),
		Resolver: res,
		Timers:   Timers{T1: time.Millisecond, T2: 2 * time.Millisecond, Transaction: 5 * time.Millisecond},
	}
	cfg.Incoming = func(c *Call) {
		h := fnv.New32a()
		h.Write([]byte(c.ID()))
		switch h.Sum32() % 4 {
		case 0:
			_ = c.Reject(486, "Busy Here")
		case 1:
			_ = c.Ringing()
			_ = c.Answer([]byte("v=0\r\n"), fuzzNegotiator{})
		case 2:
			_ = c.Ringing()
		case 3:
			_ = c.Hangup(context.Background())
		}
		_ = c.Remote()
		_ = c.Offer()
	}
	u, err := New(cfg, []Account{{Line: 1, User: "1001", Registrar: "127.0.0.1:5060", KeepAlive: -1}})
	if err != nil {
		t.Fatal(err)
	}
	u.byLine[1].setHop(target{addr: fuzzServer})
	return &fuzzUA{u: u}
}

// standingCall is an answered call with known tags, so fuzzed requests can
// be steered into the in-dialog paths.
func (f *fuzzUA) standingCall() *Call {
	u := f.u
	u.mu.Lock()
	c := u.calls[callKey{"fuzz-call", "L"}]
	u.mu.Unlock()
	if c != nil {
		return c
	}
	c = newCall(u, u.byLine[1], Incoming)
	c.id = "fuzz-call"
	c.state = stateAnswered
	c.neg = fuzzNegotiator{}
	c.contact = u.contactHeader(u.byLine[1], netip.MustParseAddrPort("127.0.0.1:5062"))
	c.d = dialog{
		callID: "fuzz-call", localTag: "L", remoteTag: "R",
		local:  sip.Uri{Scheme: "sip", User: "1001", Host: "example.net"},
		remote: sip.Uri{Scheme: "sip", User: "far", Host: "example.net"},
		target: sip.Uri{Scheme: "sip", User: "far", Host: "127.0.0.1", Port: 5070},
	}
	u.remember(c)
	// Nobody reads the events: drain them so the channel never fills.
	go func() {
		for range c.Events() {
		}
	}()
	return c
}

func (f *fuzzUA) close() {
	f.u.drain()
}

// feed runs raw bytes through sipgo's parser and a server transaction into
// the UA's request handling, as the transport would.
func (f *fuzzUA) feed(parser *sip.Parser, conn sip.Connection, data []byte, fromServer, inDialog bool) {
	msg, err := parser.ParseSIP(data)
	if err != nil {
		return
	}
	src := "127.0.0.1:40000"
	if fromServer {
		src = fuzzServer.String()
	}
	msg.SetTransport("UDP")
	msg.SetSource(src)
	switch m := msg.(type) {
	case *sip.Response:
		f.u.onStrayResponse(m)
	case *sip.Request:
		if inDialog && m.CallID() != nil && m.From() != nil && m.To() != nil {
			f.standingCall()
			*m.CallID() = "fuzz-call"
			m.To().Params.Add("tag", "L")
			m.From().Params.Add("tag", "R")
		}
		// sipgo's transaction layer answers 400 itself to what has no
		// transaction key; such requests never reach the UA.
		key, err := sip.ServerTxKeyMake(m)
		if err != nil {
			return
		}
		tx := sip.NewServerTx(key, m, conn, slog.New(slog.DiscardHandler))
		if err := tx.Init(); err != nil {
			return
		}
		f.u.handleRequest(m, tx)
		tx.Terminate()
	}
}

// FuzzIncomingRequest feeds random and mutated SIP datagrams through sipgo's
// parser into the UA's request handling path: it must never panic, and
// (goleak in TestMain) leave no goroutine behind.
func FuzzIncomingRequest(f *testing.F) {
	fu := newFuzzUA(f)
	f.Cleanup(fu.close)
	parser := sip.NewParser()
	conn := &recConn{}
	f.Fuzz(func(t *testing.T, data []byte, fromServer, inDialog bool) {
		fu.feed(parser, conn, data, fromServer, inDialog)
		if n := fu.u.Stats().ActiveCalls; n > 1000 {
			t.Fatalf("%d calls alive: calls are not retired", n)
		}
	})
}

// TestFuzzCorpusCallsRetire runs the seed corpus shapes and checks every
// call the handler created ends once its timers have run.
func TestFuzzCorpusCallsRetire(t *testing.T) {
	fu := newFuzzUA(t)
	parser := sip.NewParser()
	conn := &recConn{}
	for i := range 40 {
		inv := rawInvite("1001", fuzzServer, 5060)
		fu.feed(parser, conn, []byte(inv), true, false)
		fu.feed(parser, conn, []byte(inv), i%2 == 0, true)
	}
	eventually(t, 2*time.Second, "calls retired", func() bool {
		// The standing call stays until the in-dialog BYE ends it.
		return fu.u.Stats().ActiveCalls <= 1
	})
	if fu.u.Stats().CallsIn == 0 {
		t.Error("no call reached Incoming")
	}
	fu.close()
	if n := fu.u.Stats().ActiveCalls; n != 0 {
		t.Errorf("%d calls alive after drain", n)
	}
}

// TestSeedCorpusAnswers checks what the request handler answers to each
// seed of the fuzz corpus, without a network: the dispatch rules of
// handleRequest, one by one.
func TestSeedCorpusAnswers(t *testing.T) {
	want := map[string][]int{
		"invite":             {100}, // then whatever Incoming chose (hash of Call-ID)
		"invite-pai-privacy": {100},
		"invite-compact":     {100},
		"invite-scanner":     nil, // ghost: silently dropped
		"options":            {200},
		"bye":                {200},
		"bye-stray":          {481},
		"reinvite-hold":      {200},
		"reinvite-nosdp":     {200},
		"update":             {488}, // the negotiator refuses this offer
		"ack":                nil,
		"info":               {200},
		"cancel":             {481},
		"register":           {405},
		"notify-mwi":         {200},
		"response-200":       nil,
		"no-callid":          {400},
	}
	dir := filepath.Join("testdata", "fuzz", "FuzzIncomingRequest")
	parser := sip.NewParser()
	for name, codes := range want {
		raw, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		data, server, inDialog := parseCorpusFile(t, string(raw))
		fu := newFuzzUA(t)
		conn := &recConn{keep: true}
		fu.feed(parser, conn, data, server, inDialog)
		got := conn.sent()
		fu.close()
		if len(codes) == 0 {
			if len(got) != 0 {
				t.Errorf("%s: answered %v, want nothing", name, got)
			}
			continue
		}
		if len(got) == 0 || got[0] != codes[0] {
			t.Errorf("%s: answered %v, want %v first", name, got, codes)
		}
	}
}

// parseCorpusFile reads the three values of a "go test fuzz v1" file.
func parseCorpusFile(t *testing.T, s string) ([]byte, bool, bool) {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) != 4 || lines[0] != "go test fuzz v1" {
		t.Fatalf("bad corpus file: %q", s)
	}
	lit := strings.TrimSuffix(strings.TrimPrefix(lines[1], "[]byte("), ")")
	data, err := strconv.Unquote(lit)
	if err != nil {
		t.Fatalf("corpus literal: %v", err)
	}
	return []byte(data), lines[2] == "bool(true)", lines[3] == "bool(true)"
}

// FuzzParseHostPort checks the host[:port] parser used for Registrar,
// BackupRegistrar, Proxy and Domain: no panic, and what it accepts prints
// back to something it parses the same way.
func FuzzParseHostPort(f *testing.F) {
	f.Fuzz(func(t *testing.T, s string) {
		hp, err := parseHostPort(s)
		if err != nil {
			return
		}
		if hp.host == "" || hp.port < 0 || hp.port > 65535 {
			t.Fatalf("%q parsed to %+v", s, hp)
		}
		again, err := parseHostPort(hp.String())
		if err != nil || again != hp {
			t.Fatalf("%q -> %+v -> %q -> %+v, %v", s, hp, hp.String(), again, err)
		}
		_, _ = parseListen(s)
	})
}

// FuzzRegisterResponse feeds responses through what the registration and
// call code reads from them: the granted expiry, received/rport, digest
// challenges (answered on a sample request) and Record-Route.
func FuzzRegisterResponse(f *testing.F) {
	a, err := newAccount(Account{Line: 1, User: "1001", AuthUser: "1001", Password: "secret", Registrar: "example.net", Transport: "udp"})
	if err != nil {
		f.Fatal(err)
	}
	parser := sip.NewParser()
	contact := netip.MustParseAddrPort("192.0.2.1:5060")
	f.Fuzz(func(t *testing.T, data []byte) {
		msg, err := parser.ParseSIP(data)
		if err != nil {
			return
		}
		res, ok := msg.(*sip.Response)
		if !ok {
			return
		}
		if d := grantedExpiry(res, contact, time.Hour); d < 0 {
			t.Fatalf("negative expiry %v", d)
		}
		if ap, ok := viaPublicAddr(res); ok && (!ap.IsValid() || ap.Port() == 0) {
			t.Fatalf("bad public address %v", ap)
		}
		_ = recordRoutes(res)
		if res.StatusCode == 401 || res.StatusCode == 407 {
			if ar, err := nextAuth(nil, res); err == nil {
				req := sip.NewRequest(sip.REGISTER, sip.Uri{Scheme: "sip", Host: "example.net"})
				if err := ar.apply(req, a); err == nil && len(req.GetHeaders("Authorization"))+len(req.GetHeaders("Proxy-Authorization")) != 1 {
					t.Fatal("credentials not added exactly once")
				}
				_, _ = nextAuth(ar, res)
			}
		}
	})
}
