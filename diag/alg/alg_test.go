package alg

import (
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func evidence(r Result) string { return strings.Join(r.Evidence, "\n") }

func hasRewrite(r Result, field, sent, seen string) bool {
	for _, rw := range r.Rewrites {
		if rw.Field == field && rw.Sent == sent && rw.Seen == seen {
			return true
		}
	}
	return false
}

// A router that rewrites our REGISTER is caught from the registrar's
// answer alone; the same path without the ALG is not flagged.
func TestRegisterThroughALG(t *testing.T) {
	reg := newRegistrar(t)
	for _, tc := range []struct {
		name    string
		mode    algMode
		suspect bool
	}{
		{"rewriting ALG", rewriting, true},
		{"clean NAT", clean, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			nat := newNATProxy(t, reg.addr(), tc.mode, 0)
			dev := newDevice(t)
			ex := dev.register(nat.addr())
			if ex.Received == nil {
				t.Fatal("no answer to REGISTER")
			}
			res := Detect(Input{Exchanges: []Exchange{ex}})
			if len(res.Errors) != 0 {
				t.Fatalf("Errors = %q", res.Errors)
			}
			if res.Suspected != tc.suspect {
				t.Fatalf("Suspected = %v (confidence %.2f), want %v: %s", res.Suspected, res.Confidence, tc.suspect, evidence(res))
			}
			// Either way the registrar saw the NAT's outside address.
			if !res.Public.IsValid() || res.Public == addrOf(dev.conn) {
				t.Errorf("Public = %v, want the NAT's outside socket (the device is %v)", res.Public, addrOf(dev.conn))
			}
			local := addrOf(dev.conn).String()
			if !tc.suspect {
				if len(res.Rewrites) != 0 || res.Why() != "" {
					t.Errorf("clean path reported rewrites %v, why %q", res.Rewrites, res.Why())
				}
				return
			}
			if res.Confidence < 0.9 {
				t.Errorf("Confidence = %.2f with Via and Contact rewritten", res.Confidence)
			}
			if !hasRewrite(res, "Via", "UDP "+local, "UDP "+algPublic.String()) {
				t.Errorf("Via rewrite not reported: %+v", res.Rewrites)
			}
			if !hasRewrite(res, "Contact", local, algPublic.String()) {
				t.Errorf("Contact rewrite not reported: %+v", res.Rewrites)
			}
			if why := res.Why(); !strings.Contains(why, "Via UDP "+local+" → UDP "+algPublic.String()+" (REGISTER)") || !strings.Contains(why, algPublic.String()) {
				t.Errorf("Why() = %q", why)
			}
		})
	}
}

// The SDP of an INVITE is compared through a check service that reflects
// what it received.
func TestInviteSDPThroughALG(t *testing.T) {
	reg := newRegistrar(t)
	for _, tc := range []struct {
		name    string
		mode    algMode
		suspect bool
	}{
		{"rewriting ALG", rewriting, true},
		{"clean NAT", clean, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			nat := newNATProxy(t, reg.addr(), tc.mode, 0)
			dev := newDevice(t)
			local := addrOf(dev.conn)
			ex := dev.exchange(dev.request(sip.INVITE, "echo", sdpOffer(local.Addr())), nat.addr(), 2*time.Second)
			if ex.Received == nil {
				t.Fatal("no answer to INVITE")
			}
			res := Detect(Input{Exchanges: []Exchange{ex}})
			if len(res.Errors) != 0 {
				t.Fatalf("Errors = %q", res.Errors)
			}
			if res.Suspected != tc.suspect {
				t.Fatalf("Suspected = %v, want %v: %s", res.Suspected, tc.suspect, evidence(res))
			}
			if !tc.suspect {
				if len(res.Rewrites) != 0 {
					t.Errorf("clean path reported %+v", res.Rewrites)
				}
				return
			}
			if !hasRewrite(res, "SDP c=", local.Addr().String(), algPublic.Addr().String()) {
				t.Errorf("SDP c= rewrite not reported: %+v", res.Rewrites)
			}
			if !hasRewrite(res, "Contact", local.String(), algPublic.String()) {
				t.Errorf("Contact rewrite not reported: %+v", res.Rewrites)
			}
			// The media port was left alone, and must not be reported.
			for _, rw := range res.Rewrites {
				if strings.HasPrefix(rw.Field, "SDP m=") {
					t.Errorf("unchanged port reported: %+v", rw)
				}
			}
		})
	}
}

// An ALG that translates the answers back is invisible in one exchange;
// registering from the port it watches and from another shows it.
func TestPortComparison(t *testing.T) {
	reg := newRegistrar(t)
	for _, tc := range []struct {
		name    string
		mode    algMode
		suspect bool
		why     string
	}{
		{"restoring ALG on 5060", restoring, true, "from port 5060 the server saw us at our own address"},
		{"rewriting ALG on 5060", rewriting, true, "on port 5060 only"},
		{"ALG dropping 5060", dropping, true, "port 5060 got no answer"},
		{"clean NAT", clean, false, "no sign of a SIP ALG"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			std, other := newDevice(t), newDevice(t)
			// The standard device's port stands for 5060.
			nat := newNATProxy(t, reg.addr(), tc.mode, addrOf(std.conn).Port())
			wait := 2 * time.Second
			if tc.mode == dropping {
				wait = 200 * time.Millisecond
			}
			pt := PortTest{
				Standard: std.exchange(std.request(sip.REGISTER, "1001", nil), nat.addr(), wait),
				Other:    other.register(nat.addr()),
			}
			if tc.mode == restoring {
				// The single exchange alone shows nothing: that is why
				// the comparison exists.
				if r := Detect(Input{Exchanges: []Exchange{pt.Standard}}); r.Suspected || len(r.Rewrites) != 0 {
					t.Fatalf("the restoring ALG was visible in one exchange; the test proxy does not restore: %s", evidence(r))
				}
			}
			res := Detect(Input{Ports: &pt})
			if len(res.Errors) != 0 {
				t.Fatalf("Errors = %q", res.Errors)
			}
			if res.Suspected != tc.suspect || !strings.Contains(evidence(res), tc.why) {
				t.Errorf("Suspected = %v (%.2f), want %v with %q: %s", res.Suspected, res.Confidence, tc.suspect, tc.why, evidence(res))
			}
		})
	}
}
