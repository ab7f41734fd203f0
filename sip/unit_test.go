package sip

import (
	"context"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
)

func TestNewRejectsBadConfigNamingTheField(t *testing.T) {
	good := Account{Line: 1, User: "1001", Registrar: "sip.example.net"}
	for _, tc := range []struct {
		name  string
		cfg   Config
		accts []Account
		want  string
	}{
		{"empty listen", Config{}, nil, "Listen"},
		{"listen hostname", Config{Listen: "localhost:5060"}, nil, "Listen"},
		{"listen port", Config{Listen: "0.0.0.0:70000"}, nil, "Listen"},
		{"user agent CRLF", Config{Listen: ":5060", UserAgent: "x\r\nEvil: 1"}, nil, "UserAgent"},
		{"negative timer", Config{Listen: ":5060", Timers: Timers{T1: -1}}, nil, "Timers"},
		{"line 0", Config{Listen: ":5060"}, []Account{{User: "1", Registrar: "r"}}, "Line"},
		{"no user", Config{Listen: ":5060"}, []Account{{Line: 1, Registrar: "r"}}, "User"},
		{"user with space", Config{Listen: ":5060"}, []Account{{Line: 1, User: "a b", Registrar: "r"}}, "User"},
		{"no registrar", Config{Listen: ":5060"}, []Account{{Line: 1, User: "1"}}, "Registrar"},
		{"registrar URI", Config{Listen: ":5060"}, []Account{{Line: 1, User: "1", Registrar: "sip:example.net"}}, "Registrar"},
		{"registrar port", Config{Listen: ":5060"}, []Account{{Line: 1, User: "1", Registrar: "example.net:0"}}, "Registrar"},
		{"backup", Config{Listen: ":5060"}, []Account{{Line: 1, User: "1", Registrar: "r", BackupRegistrar: "bad host"}}, "BackupRegistrar"},
		{"proxy", Config{Listen: ":5060"}, []Account{{Line: 1, User: "1", Registrar: "r", Proxy: "[::1"}}, "Proxy"},
		{"domain with port", Config{Listen: ":5060"}, []Account{{Line: 1, User: "1", Registrar: "r", Domain: "d:5060"}}, "Domain"},
		{"tls", Config{Listen: ":5060"}, []Account{{Line: 1, User: "1", Registrar: "r", Transport: "tls"}}, "Transport"},
		{"sctp", Config{Listen: ":5060"}, []Account{{Line: 1, User: "1", Registrar: "r", Transport: "sctp"}}, "Transport"},
		{"expires", Config{Listen: ":5060"}, []Account{{Line: 1, User: "1", Registrar: "r", Expires: time.Millisecond}}, "Expires"},
		{"retry order", Config{Listen: ":5060"}, []Account{{Line: 1, User: "1", Registrar: "r", RetryMin: time.Minute, RetryMax: time.Second}}, "RetryMax"},
		{"negative retry", Config{Listen: ":5060"}, []Account{{Line: 1, User: "1", Registrar: "r", RetryMin: -1}}, "RetryMin"},
		{"display name quote", Config{Listen: ":5060"}, []Account{{Line: 1, User: "1", Registrar: "r", DisplayName: `a"b`}}, "DisplayName"},
		{"password CRLF", Config{Listen: ":5060"}, []Account{{Line: 1, User: "1", Registrar: "r", Password: "a\nb"}}, "Password"},
		{"duplicate line", Config{Listen: ":5060"}, []Account{good, good}, "Line 1"},
	} {
		_, err := New(tc.cfg, tc.accts)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err %v, want it to name %s", tc.name, err, tc.want)
		}
	}
	u, err := New(Config{Listen: "[::]:5060"}, []Account{good, {Line: 2, User: "2", Registrar: "[2001:db8::1]:5070", Transport: "TCP"}})
	if err != nil {
		t.Fatal(err)
	}
	a := u.byLine[1]
	if a.Transport != "udp" || a.AuthUser != "1001" || a.Expires != time.Hour || a.KeepAlive != 25*time.Second ||
		a.RetryMin != 30*time.Second || a.RetryMax != 30*time.Minute || a.domain != "sip.example.net" {
		t.Errorf("defaults: %+v", a.Account)
	}
	if b := u.byLine[2]; b.registrar.host != "2001:db8::1" || b.registrar.port != 5070 || b.Transport != "tcp" {
		t.Errorf("v6 registrar parsed as %+v", b.registrar)
	}
}

func TestParseHostPort(t *testing.T) {
	for in, want := range map[string]hostPort{
		"example.net":      {host: "example.net"},
		"example.net:5070": {host: "example.net", port: 5070},
		"192.0.2.1":        {host: "192.0.2.1"},
		"192.0.2.1:5060":   {host: "192.0.2.1", port: 5060},
		"[2001:db8::1]":    {host: "2001:db8::1"},
		"[2001:db8::1]:7":  {host: "2001:db8::1", port: 7},
		"2001:db8::1":      {host: "2001:db8::1"},
		"_srv.example.":    {host: "_srv.example."},
	} {
		got, err := parseHostPort(in)
		if err != nil || got != want {
			t.Errorf("%q: %+v, %v", in, got, err)
		}
	}
	for _, bad := range []string{"", ":5060", "host:", "host:x", "a..b", "-a.b", "host;transport=tcp", "user@host", "[::1", "[::1]x", "2001:db8::zz"} {
		if _, err := parseHostPort(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestOrderSRV(t *testing.T) {
	recs := []*net.SRV{
		{Target: "c", Priority: 30, Weight: 1},
		{Target: "a1", Priority: 10, Weight: 90},
		{Target: "b", Priority: 20, Weight: 0},
		{Target: "a2", Priority: 10, Weight: 10},
		nil,
	}
	first := map[string]int{}
	for range 2000 {
		out := orderSRV(recs)
		if len(out) != 4 || out[2].Target != "b" || out[3].Target != "c" {
			t.Fatalf("order %v", out)
		}
		first[out[0].Target]++
	}
	// Weights 90:10 within priority 10.
	if first["a1"] < 1600 || first["a2"] < 100 {
		t.Errorf("weighted choice off: %v", first)
	}
}

func TestResolveHost(t *testing.T) {
	r := &fakeResolver{
		srv: map[string][]*net.SRV{
			"_sip._udp.srv.test": {{Target: "x.test.", Port: 5070, Priority: 1}},
			"_sip._tcp.dot.test": {{Target: ".", Port: 0}},
		},
		hosts: map[string][]netip.Addr{
			"x.test":     {netip.MustParseAddr("192.0.2.10"), netip.MustParseAddr("2001:db8::10")},
			"plain.test": {netip.MustParseAddr("192.0.2.20")},
			"v6.test":    {netip.MustParseAddr("2001:db8::30")},
		},
	}
	ctx := context.Background()
	ts, err := resolveHost(ctx, r, hostPort{host: "srv.test"}, "udp", familyV4)
	if err != nil || len(ts) != 1 || ts[0].addr.String() != "192.0.2.10:5070" {
		t.Errorf("SRV: %v %v", ts, err)
	}
	ts, err = resolveHost(ctx, r, hostPort{host: "plain.test"}, "udp", familyV4)
	if err != nil || len(ts) != 1 || ts[0].addr.String() != "192.0.2.20:5060" {
		t.Errorf("A fallback: %v %v", ts, err)
	}
	ts, err = resolveHost(ctx, r, hostPort{host: "plain.test", port: 5080}, "udp", familyV4)
	if err != nil || ts[0].addr.Port() != 5080 || len(r.srvQ) != 2 {
		t.Errorf("with port (no SRV query): %v %v %v", ts, err, r.srvQ)
	}
	if _, err := resolveHost(ctx, r, hostPort{host: "v6.test"}, "udp", familyV4); err == nil {
		t.Error("IPv6-only name accepted for an IPv4 socket")
	}
	if _, err := resolveHost(ctx, r, hostPort{host: "dot.test"}, "tcp", familyAny); err == nil || !strings.Contains(err.Error(), "not available") {
		t.Errorf(`SRV "." : %v`, err)
	}
	if _, err := resolveHost(ctx, r, hostPort{host: "nowhere.test"}, "udp", familyV4); err == nil {
		t.Error("unknown name resolved")
	}
	ts, err = resolveHost(ctx, r, hostPort{host: "::ffff:192.0.2.1"}, "udp", familyV4)
	if err != nil || ts[0].addr.String() != "192.0.2.1:5060" {
		t.Errorf("mapped literal: %v %v", ts, err)
	}
}

func parseReq(t *testing.T, lines ...string) *sip.Request {
	t.Helper()
	msg := strings.Join(append(lines, "Content-Length: 0", "", ""), "\r\n")
	m, err := sip.ParseMessage([]byte(msg))
	if err != nil {
		t.Fatalf("parse: %v\n%s", err, msg)
	}
	return m.(*sip.Request)
}

func TestPartyOf(t *testing.T) {
	base := []string{
		"INVITE sip:1001@192.0.2.1 SIP/2.0",
		"Via: SIP/2.0/UDP 192.0.2.9;branch=z9hG4bKabc",
		"To: <sip:1001@example.net>",
		"Call-ID: x",
		"CSeq: 1 INVITE",
	}
	for _, tc := range []struct {
		name    string
		hdrs    []string
		trusted bool
		want    Party
	}{
		{"from", []string{`From: "Alice Smith" <sip:+15551234@example.net>;tag=1`}, true, Party{Number: "+15551234", Name: "Alice Smith"}},
		{"pai wins from server", []string{`From: "x" <sip:gw@example.net>;tag=1`, `P-Asserted-Identity: "Bob" <sip:5550001@example.net>, <tel:+15550001>`}, true, Party{Number: "5550001", Name: "Bob"}},
		{"pai tel", []string{`From: <sip:gw@example.net>;tag=1`, `P-Asserted-Identity: <tel:+4930123;phone-context=x>`}, true, Party{Number: "+4930123"}},
		{"pai ignored from others", []string{`From: <sip:200@example.net>;tag=1`, `P-Asserted-Identity: <sip:666@evil>`}, false, Party{Number: "200"}},
		{"privacy id", []string{`From: <sip:300@example.net>;tag=1`, `P-Asserted-Identity: <sip:300@example.net>`, `Privacy: id`}, true, Party{Withheld: true}},
		{"privacy user;header", []string{`From: "A" <sip:300@example.net>;tag=1`, `Privacy: user;header`}, true, Party{Withheld: true}},
		{"privacy none", []string{`From: "A" <sip:300@example.net>;tag=1`, `Privacy: none`}, true, Party{Number: "300", Name: "A"}},
		{"anonymous from", []string{`From: "Anonymous" <sip:anonymous@anonymous.invalid>;tag=1`, `P-Asserted-Identity: <sip:400@example.net>`}, true, Party{Withheld: true}},
		{"rpid", []string{`From: <sip:gw@example.net>;tag=1`, `Remote-Party-ID: "Carol" <sip:5550002@example.net>;party=calling;screen=yes;privacy=off`}, true, Party{Number: "5550002", Name: "Carol"}},
		{"rpid private", []string{`From: <sip:gw@example.net>;tag=1`, `Remote-Party-ID: "Carol" <sip:5550002@example.net>;party=calling;privacy=full`}, true, Party{Withheld: true}},
		{"escaped user", []string{`From: <sip:%2B1555@example.net>;tag=1`}, true, Party{Number: "+1555"}},
		{"long name clipped", []string{`From: "` + strings.Repeat("n", 100) + `" <sip:1@example.net>;tag=1`}, true, Party{Number: "1", Name: strings.Repeat("n", maxPartyField)}},
	} {
		req := parseReq(t, append(append([]string{}, base...), tc.hdrs...)...)
		if got := partyOf(req, tc.trusted); got != tc.want {
			t.Errorf("%s: %+v, want %+v", tc.name, got, tc.want)
		}
	}
}

func TestSplitAddrList(t *testing.T) {
	got := splitAddrList(`"Doe, John" <sip:1@a>, <tel:+1;x=a,b>, sip:2@b`)
	want := []string{`"Doe, John" <sip:1@a>`, `<tel:+1;x=a,b>`, `sip:2@b`}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("%q", got)
	}
}

func TestEscapeAndUnescapeUser(t *testing.T) {
	if got := escapeUser("*72#5551234"); got != "*72%235551234" {
		t.Errorf("escape: %s", got)
	}
	if got := unescape("*72%235551234"); got != "*72#5551234" {
		t.Errorf("unescape: %s", got)
	}
	if got := unescape("100%"); got != "100%" {
		t.Errorf("dangling percent: %s", got)
	}
	for _, n := range []string{"911", "+441234", "*72#", "voicemail"} {
		if err := validNumber(n); err != nil {
			t.Errorf("%q: %v", n, err)
		}
	}
	for _, n := range []string{"", "12 34", "1+2", "a@b", strings.Repeat("1", 65), "12\r\n"} {
		if err := validNumber(n); err == nil {
			t.Errorf("%q accepted", n)
		}
	}
}

func TestCheckUDPSize(t *testing.T) {
	req := sip.NewRequest(sip.INVITE, sip.Uri{Host: "example.net"})
	req.SetBody(make([]byte, 1400))
	if err := checkUDPSize(req); err == nil || !strings.Contains(err.Error(), "1300") {
		t.Errorf("oversized: %v", err)
	}
	req.SetBody(make([]byte, 200))
	if err := checkUDPSize(req); err != nil {
		t.Error(err)
	}
}

func TestEnumsPrint(t *testing.T) {
	if Outgoing.String() != "outgoing" || Incoming.String() != "incoming" || Local.String() != "local" ||
		Remote.String() != "remote" || Cancelled.String() != "cancelled" || Progress.String() != "progress" {
		t.Error("String methods")
	}
}
