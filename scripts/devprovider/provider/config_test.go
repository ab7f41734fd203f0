package provider

import (
	"strings"
	"testing"
	"time"

	"github.com/icholy/digest"
)

func TestParseUsers(t *testing.T) {
	u, err := ParseUsers("1001:pass1001, 1002:p:ss")
	if err != nil {
		t.Fatal(err)
	}
	if len(u) != 2 || u["1001"] != "pass1001" || u["1002"] != "p:ss" {
		t.Fatalf("got %v", u)
	}
	for in, want := range map[string]string{
		"":                             "entry 1 is empty",
		"1001":                         "no ':'",
		"1001:":                        "empty password",
		":x":                           "empty user name",
		"10 01:x":                      "only letters",
		"1001:a,1001:b":                "appears twice",
		"1001:a b":                     "printable ASCII",
		"1001:x,,1002:y":               "entry 2 is empty",
		"1001:pa\"ss":                  "quote",
		strings.Repeat("9", 65) + ":x": "at most 64",
	} {
		_, err := ParseUsers(in)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: error %v, want one containing %q", in, err, want)
		}
	}
}

func FuzzParseUsers(f *testing.F) {
	f.Add("1001:pass1001,1002:pass1002")
	f.Add("a:b")
	f.Add(",")
	f.Fuzz(func(t *testing.T, s string) {
		u, err := ParseUsers(s)
		if err != nil {
			return
		}
		for name, pass := range u {
			if checkUserPart(name) != nil || pass == "" {
				t.Fatalf("accepted user %q with password %q", name, pass)
			}
		}
	})
}

func TestParsePortRange(t *testing.T) {
	lo, hi, err := ParsePortRange("17000-17998")
	if err != nil || lo != 17000 || hi != 17998 {
		t.Fatalf("got %d-%d, %v", lo, hi, err)
	}
	for _, bad := range []string{"", "17000", "a-b", "17000-", "900-2000", "2000-1000", "60000-70000", "5000-5001"} {
		if _, _, err := ParsePortRange(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func FuzzParsePortRange(f *testing.F) {
	f.Add("17000-17998")
	f.Add("1-2")
	f.Fuzz(func(t *testing.T, s string) {
		lo, hi, err := ParsePortRange(s)
		if err == nil && (lo < 1024 || hi > 65535 || hi-lo < 3) {
			t.Fatalf("%q accepted as %d-%d", s, lo, hi)
		}
	})
}

// answer computes a phone's answer to challenge as a client would.
func answer(t *testing.T, challenge, user, pass, method, uri string) string {
	t.Helper()
	chal, err := digest.ParseChallenge(challenge)
	if err != nil {
		t.Fatal(err)
	}
	cred, err := digest.Digest(chal, digest.Options{Method: method, URI: uri, Username: user, Password: pass})
	if err != nil {
		t.Fatal(err)
	}
	return cred.String()
}

func TestAuthenticator(t *testing.T) {
	a := newAuthenticator("tipring.dev", map[string]string{"1001": "pass1001"})
	now := time.Unix(1_800_000_000, 0)
	a.now = func() time.Time { return now }

	if _, res := a.check("", "REGISTER"); res != authNone {
		t.Fatalf("no credentials: %v, want a challenge", res)
	}
	chal := a.challenge(false)
	if !strings.Contains(chal, `realm="tipring.dev"`) || !strings.Contains(chal, "MD5") {
		t.Fatalf("challenge %q lacks the realm or MD5", chal)
	}
	good := answer(t, chal, "1001", "pass1001", "REGISTER", "sip:127.0.0.1:5070")
	if user, res := a.check(good, "REGISTER"); res != authOK || user != "1001" {
		t.Fatalf("right password: %q %v", user, res)
	}
	if _, res := a.check(good, "INVITE"); res != authBad {
		t.Fatalf("answer for REGISTER accepted for INVITE: %v", res)
	}
	if _, res := a.check(answer(t, chal, "1001", "wrong", "REGISTER", "sip:x"), "REGISTER"); res != authBad {
		t.Fatalf("wrong password: %v", res)
	}
	if _, res := a.check(answer(t, chal, "9999", "pass1001", "REGISTER", "sip:x"), "REGISTER"); res != authBad {
		t.Fatalf("unknown user: %v", res)
	}
	if _, res := a.check(`Digest username="1001"`, "REGISTER"); res != authBad {
		t.Fatalf("incomplete credentials: %v", res)
	}
	// A nonce we never issued, or one too old, gets a fresh (stale) challenge.
	forged := strings.Replace(good, "nonce=\"", "nonce=\"0", 1)
	if _, res := a.check(forged, "REGISTER"); res != authStale {
		t.Fatalf("unknown nonce: %v, want stale", res)
	}
	now = now.Add(nonceLifetime + time.Second)
	if _, res := a.check(good, "REGISTER"); res != authStale {
		t.Fatalf("expired nonce: %v, want stale", res)
	}
	if !strings.Contains(a.challenge(true), "stale=true") {
		t.Fatal("stale challenge not marked stale")
	}
}

func FuzzAuthCheck(f *testing.F) {
	f.Add(`Digest username="1001", realm="tipring.dev", nonce="abc", uri="sip:x", response="0123", algorithm=MD5, qop=auth, nc=00000001, cnonce="xyz"`)
	f.Add(`Digest username="1001"`)
	f.Add(`Basic dXNlcjpwYXNz`)
	f.Fuzz(func(t *testing.T, header string) {
		a := newAuthenticator("tipring.dev", map[string]string{"1001": "pass1001"})
		a.challenge(false)
		if _, res := a.check(header, "REGISTER"); res == authOK {
			t.Fatalf("random credentials accepted: %q", header)
		}
	})
}
