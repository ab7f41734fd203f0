package nat

import (
	"context"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/pion/stun/v3"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// testTimeout keeps the tests that expect silence short; loopback answers
// in well under a millisecond.
const testTimeout = 250 * time.Millisecond

func collect(t *testing.T, opts Options) Report {
	t.Helper()
	if opts.Timeout == 0 {
		opts.Timeout = testTimeout
	}
	if opts.LocalAddr == "" {
		opts.LocalAddr = "127.0.0.1:0"
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	rep, err := Collect(ctx, opts)
	if err != nil {
		t.Fatalf("Collect: %v", err)
	}
	return rep
}

func TestServerWithoutOtherAddress(t *testing.T) {
	srv := newSTUNServer(t, serverConfig{mapping: EndpointIndependent})
	rep := collect(t, Options{Server: srv.addr()})
	if len(rep.Errors) != 0 {
		t.Fatalf("Errors = %q", rep.Errors)
	}
	if rep.Mapped.Addr() != netip.MustParseAddr("203.0.113.7") || rep.Mapped.Port() < 20000 {
		t.Errorf("Mapped = %v", rep.Mapped)
	}
	if rep.Behaviour != nil || !strings.HasPrefix(rep.BehaviourNote, NotAvailable) {
		t.Errorf("Behaviour = %+v, note %q", rep.Behaviour, rep.BehaviourNote)
	}
	if !strings.Contains(strings.Join(rep.Evidence, "\n"), "not available from this server") {
		t.Errorf("Evidence = %q", rep.Evidence)
	}
	if len(rep.RTTs) < 2 || rep.CGNAT || rep.DoubleNAT {
		t.Errorf("RTTs=%v CGNAT=%v DoubleNAT=%v", rep.RTTs, rep.CGNAT, rep.DoubleNAT)
	}
	// Test I and the round-trip samples only: no CHANGE-REQUEST was sent
	// to a server that cannot honour it.
	if n := srv.requestCount(); n != 4 {
		t.Errorf("%d requests, want 4", n)
	}
}

func TestBehaviourDiscovery(t *testing.T) {
	for _, tc := range []struct{ mapping, filtering string }{
		{EndpointIndependent, EndpointIndependent},
		{EndpointIndependent, AddressDependent},
		{EndpointIndependent, AddressAndPortDependent},
		{AddressDependent, AddressDependent},
		{AddressAndPortDependent, AddressAndPortDependent},
		{AddressAndPortDependent, EndpointIndependent},
	} {
		t.Run(tc.mapping+"/"+tc.filtering, func(t *testing.T) {
			srv := newSTUNServer(t, serverConfig{twoAddrs: true, mapping: tc.mapping, filtering: tc.filtering})
			rep := collect(t, Options{Server: srv.addr()})
			if len(rep.Errors) != 0 {
				t.Fatalf("Errors = %q", rep.Errors)
			}
			b := rep.Behaviour
			if b == nil {
				t.Fatalf("no behaviour; note %q", rep.BehaviourNote)
			}
			if b.Mapping != tc.mapping || b.Filtering != tc.filtering || b.NoNAT {
				t.Errorf("got mapping %s, filtering %s, NoNAT %v", b.Mapping, b.Filtering, b.NoNAT)
			}
			symmetric := strings.Contains(strings.Join(rep.Evidence, "\n"), "symmetric")
			if symmetric != (tc.mapping != EndpointIndependent) {
				t.Errorf("symmetric-NAT warning %v for mapping %s", symmetric, tc.mapping)
			}
		})
	}
}

func TestNoNAT(t *testing.T) {
	srv := newSTUNServer(t, serverConfig{twoAddrs: true})
	// The wildcard bind is what a device uses: the local address must be
	// worked out from the route.
	rep := collect(t, Options{Server: srv.addr(), LocalAddr: "0.0.0.0:0"})
	if b := rep.Behaviour; b == nil || !b.NoNAT || b.Mapping != EndpointIndependent || b.Filtering != EndpointIndependent {
		t.Fatalf("Behaviour = %+v, errors %q", rep.Behaviour, rep.Errors)
	}
	if rep.Mapped.Addr() != netip.MustParseAddr("127.0.0.1") || rep.Mapped.Port() != rep.Local.Port() {
		t.Errorf("Mapped = %v, Local = %v", rep.Mapped, rep.Local)
	}
}

func TestServerIgnoringChangeRequest(t *testing.T) {
	srv := newSTUNServer(t, serverConfig{twoAddrs: true, mapping: EndpointIndependent, ignoreChange: true})
	rep := collect(t, Options{Server: srv.addr()})
	if rep.Behaviour == nil || rep.Behaviour.Filtering != Unknown || rep.Behaviour.Mapping != EndpointIndependent {
		t.Fatalf("Behaviour = %+v", rep.Behaviour)
	}
	if !strings.Contains(strings.Join(rep.Errors, "\n"), "CHANGE-REQUEST ignored") {
		t.Errorf("Errors = %q", rep.Errors)
	}
}

func TestSilentServer(t *testing.T) {
	srv := newSTUNServer(t, serverConfig{silent: true})
	start := time.Now()
	rep := collect(t, Options{Server: srv.addr()})
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("took %v with a %v timeout", took, testTimeout)
	}
	if rep.Mapped.IsValid() || !strings.Contains(strings.Join(rep.Errors, "\n"), "no answer") {
		t.Errorf("Mapped=%v Errors=%q", rep.Mapped, rep.Errors)
	}
	if n := srv.requestCount(); n < 2 {
		t.Errorf("%d transmissions, want retransmissions", n)
	}

	// A context shorter than the transaction timeout wins.
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start = time.Now()
	rep, err := Collect(ctx, Options{Server: srv.addr(), LocalAddr: "127.0.0.1:0", Timeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > time.Second || len(rep.Errors) == 0 {
		t.Errorf("took %v past a 200 ms deadline; errors %q", took, rep.Errors)
	}
}

func TestCarrierGradeNATSeenBySTUN(t *testing.T) {
	srv := newSTUNServer(t, serverConfig{mapping: "cgnat"})
	rep := collect(t, Options{Server: srv.addr()})
	if !rep.CGNAT || rep.DoubleNAT {
		t.Errorf("CGNAT=%v DoubleNAT=%v evidence %q", rep.CGNAT, rep.DoubleNAT, rep.Evidence)
	}
}

func TestRouterBehindAnotherRouter(t *testing.T) {
	srv := newSTUNServer(t, serverConfig{mapping: EndpointIndependent})
	rep := collect(t, Options{Server: srv.addr(), RouterExternal: netip.MustParseAddr("192.168.178.20")})
	if !rep.DoubleNAT || rep.CGNAT {
		t.Errorf("CGNAT=%v DoubleNAT=%v", rep.CGNAT, rep.DoubleNAT)
	}
	if !strings.Contains(strings.Join(rep.Evidence, "\n"), "another NAT") {
		t.Errorf("Evidence = %q", rep.Evidence)
	}
}

func TestJudge(t *testing.T) {
	public := netip.MustParseAddrPort("203.0.113.7:20000")
	for _, tc := range []struct {
		name             string
		mapped           netip.AddrPort
		router           string
		cgnat, doubleNAT bool
	}{
		{"router is the only NAT", public, "203.0.113.7", false, false},
		{"router unknown", public, "", false, false},
		{"public router address differs", public, "198.51.100.4", true, false},
		{"router in shared space", public, "100.72.1.9", true, true},
		{"router behind home router", public, "10.0.0.7", false, true},
		{"STUN sees shared space", netip.MustParseAddrPort("100.127.255.1:1000"), "", true, false},
		{"edge of shared space", netip.MustParseAddrPort("100.128.0.1:1000"), "", false, false},
		{"no STUN answer, router private", netip.AddrPort{}, "172.16.0.3", false, true},
		{"no STUN answer, router public", netip.AddrPort{}, "198.51.100.4", false, false},
	} {
		var router netip.Addr
		if tc.router != "" {
			router = netip.MustParseAddr(tc.router)
		}
		rep := Report{Server: "stun.example.net:3478", Mapped: tc.mapped}
		judge(&rep, router)
		if rep.CGNAT != tc.cgnat || rep.DoubleNAT != tc.doubleNAT {
			t.Errorf("%s: CGNAT=%v DoubleNAT=%v, want %v %v; %q", tc.name, rep.CGNAT, rep.DoubleNAT, tc.cgnat, tc.doubleNAT, rep.Evidence)
		}
	}
}

func TestBindingLifetime(t *testing.T) {
	srv := newSTUNServer(t, serverConfig{responsePort: true, natLifetime: 200 * time.Millisecond})
	rep := collect(t, Options{Server: srv.addr(), LifetimeProbes: []time.Duration{50 * time.Millisecond, 600 * time.Millisecond}})
	if len(rep.Errors) != 0 {
		t.Fatalf("Errors = %q", rep.Errors)
	}
	if rep.BindingLifetime != 50*time.Millisecond || rep.BindingExpired != 600*time.Millisecond {
		t.Errorf("lifetime %v, expired %v", rep.BindingLifetime, rep.BindingExpired)
	}
	if !strings.Contains(strings.Join(rep.Evidence, "\n"), "keep-alives must come more often") {
		t.Errorf("Evidence = %q", rep.Evidence)
	}

	// A server without RESPONSE-PORT must not be read as a NAT that forgets.
	plain := newSTUNServer(t, serverConfig{})
	rep = collect(t, Options{Server: plain.addr(), LifetimeProbes: []time.Duration{50 * time.Millisecond}})
	if rep.BindingExpired != 0 || !strings.Contains(strings.Join(rep.Errors, "\n"), "RESPONSE-PORT") {
		t.Errorf("expired %v, errors %q", rep.BindingExpired, rep.Errors)
	}
}

func TestBadOptions(t *testing.T) {
	for _, o := range []Options{
		{},
		{Server: "no-port"},
		{Server: "127.0.0.1:3478", LifetimeProbes: []time.Duration{time.Minute, time.Second}},
	} {
		if _, err := Collect(context.Background(), o); err == nil {
			t.Errorf("%+v accepted", o)
		}
	}
	rep, err := Collect(context.Background(), Options{Server: "[::1]:3478"})
	if err != nil || len(rep.Errors) == 0 {
		t.Errorf("IPv6 server: err %v, errors %q", err, rep.Errors)
	}
}

func TestClassifyRTT(t *testing.T) {
	ms := func(v ...int) []time.Duration {
		var out []time.Duration
		for _, x := range v {
			out = append(out, time.Duration(x)*time.Millisecond)
		}
		return out
	}
	for _, tc := range []struct {
		name     string
		rtts     []time.Duration
		want     string
		min, max float64
	}{
		{"none", nil, "", 0, 0},
		{"only junk", []time.Duration{0, -time.Second}, "", 0, 0},
		{"geostationary satellite", ms(610, 640, 600), Satellite, 0.7, 0.9},
		{"satellite, one sample", ms(550), Satellite, 0.7, 0.9},
		{"beyond satellite", ms(1200, 1300), Satellite, 0.3, 0.5},
		{"dial-up", ms(150, 170, 160), DialUp, 0.2, 0.4},
		{"adsl interleaved", ms(22, 24, 23), DSL, 0.2, 0.4},
		{"adsl but congested", ms(22, 80, 150), DSL, 0.1, 0.2},
		{"fibre", ms(4, 5, 6), CableOrFibre, 0.4, 0.6},
		{"mid range", ms(60, 62), "", 0, 0},
		{"between dial-up and satellite", ms(300, 310), "", 0, 0},
		{"floor is what counts", ms(700, 9, 200), CableOrFibre, 0.2, 0.3},
	} {
		kind, conf, why := ClassifyRTT(tc.rtts)
		if kind != tc.want || conf < tc.min || conf > tc.max || why == "" {
			t.Errorf("%s: %q %.2f (%s), want %q in [%.2f, %.2f]", tc.name, kind, conf, why, tc.want, tc.min, tc.max)
		}
	}
}

func TestISPFromPTR(t *testing.T) {
	for name, want := range map[string]string{
		"p5b0c1d2e.dip0.t-ipconnect.de":              "Deutsche Telekom",
		"P5B0C1D2E.DIP0.T-IPCONNECT.DE.":             "Deutsche Telekom",
		"c-73-15-2-1.hsd1.ca.comcast.net":            "Comcast (Xfinity)",
		"pool-71-1-2-3.nycmny.fios.verizon.net":      "Verizon",
		"cpc1-lond2-2-0-cust3.6-1.cable.virginm.net": "Virgin Media",
		"customer.frntdeu1.isp.starlinkisp.net":      "Starlink",
		"cpe-72-1-2-3.nyc.res.rr.com":                "Charter (Spectrum)",
		"ip-5-146-1-2.hsi08.unitymediagroup.de":      "Vodafone Germany (cable, ex Unitymedia)",
		"notcomcast.net":                             "",
		"comcast.net.attacker.example":               "",
		"":                                           "",
		"host-1-2-3-4.example.org":                   "",
		"att.net":                                    "AT&T",
		"108-1-2-3.lightspeed.sntcca.sbcglobal.net":  "AT&T",
		"lfbn-idf1-1-2-3.w90-1.abo.wanadoo.fr":       "Orange",
		"abo.wanadoo.fr.example":                     "",
	} {
		if got := ISPFromPTR(name); got != want {
			t.Errorf("ISPFromPTR(%q) = %q, want %q", name, got, want)
		}
	}
}

func TestChangeRequestRoundTrip(t *testing.T) {
	for _, c := range []ChangeRequest{{}, {ChangeIP: true}, {ChangePort: true}, {true, true}} {
		m, err := stun.Build(stun.TransactionID, stun.BindingRequest, c)
		if err != nil {
			t.Fatal(err)
		}
		var got ChangeRequest
		if err := got.GetFrom(m); err != nil || got != c {
			t.Errorf("%+v → %+v, %v", c, got, err)
		}
	}
	m, _ := stun.Build(stun.TransactionID, stun.BindingRequest, stun.RawAttribute{Type: stun.AttrChangeRequest, Value: []byte{0, 6}})
	var c ChangeRequest
	if err := c.GetFrom(m); err == nil {
		t.Error("2-byte CHANGE-REQUEST accepted")
	}
}

// BenchmarkCollect times a full run against an RFC 5780 server on
// loopback whose NAT filters nothing, so no test waits for silence.
func BenchmarkCollect(b *testing.B) {
	srv := newSTUNServer(b, serverConfig{twoAddrs: true, mapping: EndpointIndependent})
	for b.Loop() {
		rep, err := Collect(context.Background(), Options{Server: srv.addr(), LocalAddr: "127.0.0.1:0", Timeout: time.Second})
		if err != nil || rep.Behaviour == nil {
			b.Fatalf("%v %+v", err, rep)
		}
	}
}

func BenchmarkParseResponse(b *testing.B) {
	raw := seedMessages()[0]
	var id [stun.TransactionIDSize]byte
	copy(id[:], raw[8:20])
	for b.Loop() {
		if _, err := parseResponse(raw, id); err != nil {
			b.Fatal(err)
		}
	}
}
