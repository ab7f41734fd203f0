package provider

import (
	"context"
	"log/slog"
	"math"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/tipring/tipring/boards/dsp"
	"github.com/tipring/tipring/scripts/peers"
)

var users = map[string]string{"1001": "pass1001", "1002": "pass1002"}

type running struct {
	*Provider
	log *peers.LogBuffer
}

// start runs a provider on a free loopback port with short test-number
// timings, stopping it when the test ends.
func start(t testing.TB, tweak func(*Config)) running {
	t.Helper()
	logs := &peers.LogBuffer{}
	cfg := Config{
		Listen:         netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(peers.FreePort(t, "sip"))),
		Users:          users,
		RTPPortMin:     peers.FreePort(t, "udp") &^ 1,
		ToneHangup:     30 * time.Second,
		CallbackHangup: 500 * time.Millisecond,
		CallbackDelay:  500 * time.Millisecond,
		CallbackTalk:   30 * time.Second,
		EarlyMedia:     1500 * time.Millisecond,
		Logger:         slog.New(slog.NewTextHandler(logs, nil)),
	}
	cfg.RTPPortMax = cfg.RTPPortMin + 40
	if tweak != nil {
		tweak(&cfg)
	}
	p, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	stop, err := p.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := stop(); err != nil {
			t.Errorf("Run: %v", err)
		}
		if t.Failed() {
			t.Logf("provider log:\n%s", logs.String())
		}
	})
	return running{p, logs}
}

func phone(t testing.TB, p running, user string) *peers.Phone {
	t.Helper()
	ph := peers.NewPhone(t, peers.PhoneOptions{User: user, Password: users[user], Realm: p.Realm(), Registrar: p.Addr()})
	if code := ph.Register(users[user]); code != 200 {
		t.Fatalf("REGISTER %s: %d\n%s", user, code, p.log)
	}
	return ph
}

func TestRegister(t *testing.T) {
	p := start(t, nil)
	ph := peers.NewPhone(t, peers.PhoneOptions{User: "1001", Password: "pass1001", Realm: p.Realm(), Registrar: p.Addr()})
	if code := ph.Register("wrong"); code != 403 && code != 401 {
		t.Fatalf("wrong password: %d, want 403 or 401", code)
	}
	if _, ok := p.reg.lookup("1001"); ok {
		t.Fatal("registered with a wrong password")
	}
	if code := ph.Register("pass1001"); code != 200 {
		t.Fatalf("REGISTER: %d", code)
	}
	b, ok := p.reg.lookup("1001")
	if !ok || b.contact.Port != int(ph.Addr.Port()) || b.source != ph.Addr.String() {
		t.Fatalf("binding %+v, want contact and source %s", b, ph.Addr)
	}
	stranger := peers.NewPhone(t, peers.PhoneOptions{User: "9999", Password: "x", Realm: p.Realm(), Registrar: p.Addr()})
	if code := stranger.Register("x"); code != 403 {
		t.Fatalf("unknown user: %d, want 403", code)
	}
	if !strings.Contains(p.log.String(), "method=REGISTER") {
		t.Fatalf("REGISTER not logged:\n%s", p.log)
	}
}

func TestCallTone600(t *testing.T) {
	p := start(t, func(c *Config) { c.ToneHangup = 2 * time.Second })
	ph := phone(t, p, "1001")
	var codes []int
	if code := ph.Call(NumberTone, func(r *sip.Response) { codes = append(codes, r.StatusCode) }); code != 200 {
		t.Fatalf("call 600: %d", code)
	}
	if codes[0] != 407 {
		t.Fatalf("responses %v: the INVITE should have been challenged first", codes)
	}
	answered := time.Now()
	peers.WaitFor(t, 5*time.Second, "600 to hang up", func() bool { return ph.Byes() == 1 })
	// The hang-up comes when configured, not at once (a loose bound: the
	// machine may be busy).
	if d := time.Since(answered); d < 1500*time.Millisecond {
		t.Fatalf("600 hung up %v after answering, want about 2 s", d)
	}
	heard, _ := ph.Heard()
	peers.AssertTone(t, "600", heard, ToneHz, ToneLevelDBm)
}

func TestCallEcho601(t *testing.T) {
	p := start(t, nil)
	ph := phone(t, p, "1001")
	if code := ph.Call(NumberEcho, nil); code != 200 {
		t.Fatalf("call 601: %d", code)
	}
	heard := peers.TrimSilence(ph.WaitHeard(2*time.Second, 10*time.Second), -40)
	ph.Hangup()
	// The echo comes through the provider's jitter buffer and loss
	// concealment: the phone's own tone must dominate what it hears, at
	// about the level it sent, but concealed gaps may add a little.
	got, total := dsp.ToneLevelDBm0(heard, peers.PhoneToneHz), dsp.LevelDBm0(heard)
	if math.Abs(got-ToneLevelDBm) > 4 || total-got > 3 {
		t.Fatalf("601 echo: %v Hz at %.1f dBm0 of %.1f dBm0 total, want the phone's own tone at about %d dBm0", peers.PhoneToneHz, got, total, ToneLevelDBm)
	}
}

func TestCallBusy602(t *testing.T) {
	p := start(t, nil)
	ph := phone(t, p, "1001")
	if code := ph.Call(NumberBusy, nil); code != 486 {
		t.Fatalf("call 602: %d, want 486", code)
	}
}

func TestCallback603(t *testing.T) {
	p := start(t, nil)
	ph := phone(t, p, "1001")
	if code := ph.Call(NumberCallback, nil); code != 200 {
		t.Fatalf("call 603: %d", code)
	}
	peers.WaitFor(t, 3*time.Second, "603 to hang up", func() bool { return ph.Byes() == 1 })
	peers.WaitFor(t, 3*time.Second, "603 to call back", func() bool { return len(ph.Invites()) == 1 })
	inv := ph.LastInvite()
	from := inv.From()
	if from.Address.User != NumberCallback || from.DisplayName != "Callback" {
		t.Fatalf("call-back From %q <%s>, want \"Callback\" <sip:603@…>", from.DisplayName, from.Address.String())
	}
	if inv.Recipient.Port != int(ph.Addr.Port()) {
		t.Fatalf("call-back to %s, want the registered contact %s", inv.Recipient.String(), ph.Addr)
	}
	ph.ResetHeard()
	peers.AssertTone(t, "call-back", ph.WaitHeard(time.Second, 10*time.Second), ToneHz, ToneLevelDBm)
}

func TestEarlyMedia604(t *testing.T) {
	p := start(t, nil)
	ph := phone(t, p, "1001")
	var early []int16
	var codes []int
	code := ph.Call(NumberEarlyMedia, func(r *sip.Response) {
		codes = append(codes, r.StatusCode)
		if r.StatusCode == 200 {
			early, _ = ph.Heard()
			ph.ResetHeard()
		}
	})
	if code != 200 {
		t.Fatalf("call 604: %d (%v)", code, codes)
	}
	if !containsInt(codes, 183) {
		t.Fatalf("responses %v, want 183 before 200", codes)
	}
	answered := ph.WaitHeard(time.Second, 10*time.Second)
	ph.Hangup()
	peers.AssertTone(t, "604 early media", early, EarlyToneHz, ToneLevelDBm)
	peers.AssertTone(t, "604 answered", answered, ToneHz, ToneLevelDBm)
}

func TestUserToUser(t *testing.T) {
	p := start(t, nil)
	a := phone(t, p, "1001")
	b := phone(t, p, "1002")
	if code := a.Call("1002", nil); code != 200 {
		t.Fatalf("1001 calls 1002: %d", code)
	}
	inv := b.LastInvite()
	if inv == nil {
		t.Fatal("1002 got no INVITE")
	}
	if from := inv.From(); from.Address.User != "1001" || from.DisplayName != "Phone 1001" {
		t.Fatalf("1002 sees From %q <%s>, want \"Phone 1001\" <sip:1001@…>", from.DisplayName, from.Address.String())
	}
	heardA := a.WaitHeard(time.Second, 10*time.Second)
	heardB := b.WaitHeard(time.Second, 10*time.Second)
	a.Hangup()
	peers.WaitFor(t, 3*time.Second, "BYE to reach 1002", func() bool { return b.Byes() == 1 })
	// Both phones say 697 Hz: each must hear the other.
	peers.AssertTone(t, "1001 hears 1002", heardA, peers.PhoneToneHz, ToneLevelDBm)
	peers.AssertTone(t, "1002 hears 1001", heardB, peers.PhoneToneHz, ToneLevelDBm)
}

func TestNotFound(t *testing.T) {
	p := start(t, nil)
	ph := phone(t, p, "1001")
	for _, n := range []string{"1002" /* not registered */, "555"} {
		if code := ph.Call(n, nil); code != 404 {
			t.Errorf("call %s: %d, want 404", n, code)
		}
	}
}

func TestCallerMustAuthenticate(t *testing.T) {
	p := start(t, nil)
	ph := phone(t, p, "1001")
	impostor := peers.NewPhone(t, peers.PhoneOptions{User: "1001", Password: "guess", Realm: p.Realm(), Registrar: p.Addr()})
	if code := impostor.Call(NumberTone, nil); code != 403 {
		t.Fatalf("call with a wrong password: %d, want 403", code)
	}
	if n := len(ph.Invites()); n != 0 {
		t.Fatalf("registered phone got %d INVITEs", n)
	}
}

func TestRunFailsWhenPortTaken(t *testing.T) {
	p := start(t, nil)
	q, err := New(Config{Listen: p.Addr(), Users: users, RTPPortMin: 30000, RTPPortMax: 30010})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := q.Run(ctx, nil); err == nil || !strings.Contains(err.Error(), p.Addr().String()) {
		t.Fatalf("Run on a taken port: %v, want an error naming the address", err)
	}
}

func TestNewRefusesNonLoopback(t *testing.T) {
	_, err := New(Config{Listen: netip.MustParseAddrPort("0.0.0.0:5070"), Users: users})
	if err == nil || !strings.Contains(err.Error(), "not a loopback") {
		t.Fatalf("0.0.0.0: %v, want a refusal", err)
	}
	if _, err := ParseListen("192.168.1.2:5070"); err == nil {
		t.Fatal("192.168.1.2 accepted")
	}
	if ap, err := ParseListen("127.0.0.1:5070"); err != nil || ap.Port() != 5070 {
		t.Fatalf("127.0.0.1:5070: %v %v", ap, err)
	}
}

func containsInt(s []int, v int) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}
