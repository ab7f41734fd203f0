package trace

import (
	"slices"
	"strings"
	"testing"
)

// FuzzRedact feeds any bytes through the buffer with a canary secret planted
// at a place the fuzzer picks, and checks that no snapshot, anonymized or
// not, holds the canary or an Authorization value. A panic fails too.
func FuzzRedact(f *testing.F) {
	for _, m := range [][]byte{register, unauthorized, invite, ok200} {
		f.Add(m, uint16(40), "203.0.113.1:5060")
	}
	tok := NewTokenizer([]byte("fuzz"))
	f.Fuzz(func(t *testing.T, msg []byte, at uint16, peer string) {
		pos := int(at) % (len(msg) + 1)
		planted := slices.Concat(msg[:pos], []byte(sipPassword), msg[pos:])
		b := New(4)
		b.Add(t0, "sent", peer, msg)
		b.Add(t0, "received", peer, planted)
		for _, anonymize := range []bool{false, true} {
			es := b.Snapshot(Options{Anonymize: anonymize, Tokens: tok, Secrets: secrets})
			if len(es) != 2 {
				t.Fatalf("got %d entries, want 2", len(es))
			}
			for _, e := range es {
				if leak := leakIn(e.Message); leak != "" {
					t.Fatalf("anonymize=%v: %s in:\n%s", anonymize, leak, e.Message)
				}
			}
			if leak := leakIn(b.Text(es)); leak != "" {
				t.Fatalf("anonymize=%v: %s in the rendered trace", anonymize, leak)
			}
		}
	})
}

// FuzzRedactText: whatever the log line, a secret never survives, in either
// mode, and the line count is kept.
func FuzzRedactText(f *testing.F) {
	f.Add("msg=register uri=sip:1001:s3cret@host number=15551234567", "s3cret")
	f.Add("token=abc\nAuthorization: Digest response=\"x\"", "abc")
	f.Fuzz(func(t *testing.T, text, secret string) {
		if len(secret) < 4 {
			return
		}
		for _, anon := range []bool{false, true} {
			out := RedactText(text, Options{Anonymize: anon, Secrets: []string{secret}})
			if strings.Contains(strings.ToLower(out), strings.ToLower(secret)) {
				t.Fatalf("anonymize=%v: secret %q in %q", anon, secret, out)
			}
			if strings.Count(out, "\n") != strings.Count(text, "\n") {
				t.Fatalf("anonymize=%v: line count changed: %q → %q", anon, text, out)
			}
		}
	})
}
