package sip

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// testLogger shows the UA's logs when TIPRING_SIP_LOG is set.
func testLogger() *slog.Logger {
	if os.Getenv("TIPRING_SIP_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

// fastTimers keep tests short: a lost request counts as timed out after
// 400 ms instead of 32 s.
var fastTimers = Timers{T1: 50 * time.Millisecond, T2: 200 * time.Millisecond, Transaction: 400 * time.Millisecond}

// testAccount is an account on line 1 against the peer, with short timers.
func testAccount(p *peer) Account {
	return Account{
		Line:      1,
		User:      "1001",
		Password:  "secret",
		Domain:    "test.invalid",
		Registrar: p.addr.String(),
		Transport: "udp",
		Expires:   60 * time.Second,
		KeepAlive: -1,
		RetryMin:  100 * time.Millisecond,
		RetryMax:  800 * time.Millisecond,
	}
}

// tracer collects what Config.Trace sees.
type tracer struct {
	mu   sync.Mutex
	msgs []string
}

func (tr *tracer) trace(dir, _ string, raw []byte) {
	tr.mu.Lock()
	tr.msgs = append(tr.msgs, dir+" "+string(raw))
	tr.mu.Unlock()
}

func (tr *tracer) has(prefix string) bool {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	for _, m := range tr.msgs {
		if strings.HasPrefix(m, prefix) {
			return true
		}
	}
	return false
}

// startUA runs a UA until the test ends.
func startUA(t testing.TB, cfg Config, accts ...Account) *UA {
	t.Helper()
	if cfg.Listen == "" {
		cfg.Listen = "127.0.0.1:0"
	}
	if cfg.Logger == nil {
		cfg.Logger = testLogger()
	}
	if cfg.Timers == (Timers{}) {
		cfg.Timers = fastTimers
	}
	if cfg.UserAgent == "" {
		cfg.UserAgent = "tipring-test"
	}
	u, err := New(cfg, accts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- u.Run(ctx) }()
	select {
	case <-u.Ready():
	case err := <-done:
		cancel()
		t.Fatalf("Run: %v", err)
	case <-time.After(5 * time.Second):
		cancel()
		t.Fatal("UA not ready after 5s")
	}
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("Run did not return 10s after cancel")
		}
	})
	return u
}

// eventually polls cond until it holds or the time is up.
func eventually(t testing.TB, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", within, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func waitRegistered(t testing.TB, u *UA, line int) RegStatus {
	t.Helper()
	eventually(t, 5*time.Second, fmt.Sprintf("line %d registered", line), func() bool { return u.Status(line).Registered })
	return u.Status(line)
}

// nextEvent waits for the next call event.
func nextEvent(t testing.TB, c *Call) CallEvent {
	t.Helper()
	select {
	case ev, ok := <-c.Events():
		if !ok {
			t.Fatal("events closed")
		}
		return ev
	case <-time.After(5 * time.Second):
		t.Fatal("no call event within 5s")
	}
	return CallEvent{}
}

// waitEvent skips events until one of kind arrives.
func waitEvent(t testing.TB, c *Call, kind CallEventKind) CallEvent {
	t.Helper()
	for {
		ev := nextEvent(t, c)
		if ev.Kind == kind {
			return ev
		}
	}
}

// expectClosed checks the events channel ends after what is left.
func expectClosed(t testing.TB, c *Call) {
	t.Helper()
	timeout := time.After(5 * time.Second)
	for {
		select {
		case _, ok := <-c.Events():
			if !ok {
				return
			}
		case <-timeout:
			t.Fatal("events channel not closed")
		}
	}
}

// fakeResolver answers from tables and never touches the network.
type fakeResolver struct {
	mu    sync.Mutex
	srv   map[string][]*net.SRV // "_sip._udp.name"
	hosts map[string][]netip.Addr
	srvQ  []string
}

func (r *fakeResolver) LookupSRV(_ context.Context, service, proto, name string) (string, []*net.SRV, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	q := "_" + service + "._" + proto + "." + name
	r.srvQ = append(r.srvQ, q)
	recs, ok := r.srv[q]
	if !ok {
		return "", nil, &net.DNSError{Err: "no such host", Name: q, IsNotFound: true}
	}
	return q, recs, nil
}

func (r *fakeResolver) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	ips, ok := r.hosts[strings.TrimSuffix(host, ".")]
	if !ok {
		return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	}
	return ips, nil
}

func contextWithCancel() (context.Context, context.CancelFunc) {
	return context.WithCancel(context.Background())
}

func itoa(n int) string { return strconv.Itoa(n) }

func addrPort(t testing.TB, s string) netip.AddrPort {
	t.Helper()
	ap, err := netip.ParseAddrPort(s)
	if err != nil {
		t.Fatal(err)
	}
	return ap
}
