package trace

import (
	"strings"
	"testing"
)

func TestRedactTextRemovesSecretsInEveryMode(t *testing.T) {
	log := `time=2026-11-26T12:00:00Z level=INFO msg="register" user=1001 uri=sip:1001:hunter2@pbx.example.net
time=2026-11-26T12:00:01Z level=DEBUG msg="backend" token=canary-Tok authorization="Bearer canary-Tok"
time=2026-11-26T12:00:02Z level=INFO msg="call" number=15551234567 remote=sip:15551234567@pbx.example.net`
	for _, anon := range []bool{false, true} {
		out := RedactText(log, Options{Anonymize: anon, Secrets: []string{"canary-Tok", "hunter2"}})
		for _, secret := range []string{"canary-Tok", "hunter2"} {
			if strings.Contains(out, secret) {
				t.Errorf("anonymize=%v: %q survived:\n%s", anon, secret, out)
			}
		}
		if got := strings.Count(out, "\n"); got != 2 {
			t.Errorf("anonymize=%v: %d line breaks, want the 3 lines kept", anon, got)
		}
		if anon == strings.Contains(out, "15551234567") {
			t.Errorf("anonymize=%v: the number's presence is wrong:\n%s", anon, out)
		}
	}
}

func TestRedactTextUsesTheBundlesTokens(t *testing.T) {
	tok := NewTokenizer([]byte("k"))
	out := RedactText("number=+1 555 123 4567 and tel:+15551234567; year 2026", Options{Anonymize: true, Tokens: tok})
	want := tok.Number("15551234567")
	if strings.Count(out, want) != 2 {
		t.Errorf("got %q, want the number twice as %s", out, want)
	}
	if !strings.Contains(out, "2026") {
		t.Errorf("a 4-digit run was tokenized: %q", out)
	}
}
