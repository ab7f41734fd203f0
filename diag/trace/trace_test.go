package trace

import (
	"bytes"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// Canary secrets: if any of these shows up in a snapshot, redaction failed.
const (
	sipPassword  = "canary-S3cret"
	billingToken = "tok-Canary-9f8e"
	adminPass    = "adm-Canary-77"
)

var secrets = []string{sipPassword, billingToken, adminPass}

// sipMsg builds a message with CRLF line ends and a correct Content-Length.
func sipMsg(head []string, body string) []byte {
	var b strings.Builder
	for _, l := range head {
		b.WriteString(l + "\r\n")
	}
	fmt.Fprintf(&b, "Content-Length: %d\r\n\r\n%s", len(body), body)
	return []byte(b.String())
}

func sdpLines(lines ...string) string { return strings.Join(lines, "\r\n") + "\r\n" }

var (
	register = sipMsg([]string{
		"REGISTER sip:sip.example.net SIP/2.0",
		"Via: SIP/2.0/UDP 192.168.1.50:5060;branch=z9hG4bK776asdhds;rport",
		"Max-Forwards: 70",
		"From: <sip:15550100199@sip.example.net>;tag=1928301774",
		"To: <sip:15550100199@sip.example.net>",
		"Call-ID: a84b4c76e66710@192.168.1.50",
		"CSeq: 2 REGISTER",
		"Contact: <sip:15550100199@192.168.1.50:5060>;expires=3600",
		`Authorization: Digest username="15550100199", realm="sip.example.net", nonce="ea9c8e88df84f1cec4341ae6cbe5a359", uri="sip:sip.example.net", response="dfe56131d1958046689d83306477ecc5", algorithm=MD5`,
		"User-Agent: tipring/0.1",
	}, "")

	unauthorized = sipMsg([]string{
		"SIP/2.0 401 Unauthorized",
		"Via: SIP/2.0/UDP 192.168.1.50:5060;branch=z9hG4bK776asdhds;rport=5060;received=203.0.113.7",
		"From: <sip:15550100199@sip.example.net>;tag=1928301774",
		"To: <sip:15550100199@sip.example.net>;tag=as5b1d2e",
		"Call-ID: a84b4c76e66710@192.168.1.50",
		"CSeq: 1 REGISTER",
		`WWW-Authenticate: Digest realm="sip.example.net", nonce="ea9c8e88df84f1cec4341ae6cbe5a359", algorithm=MD5, qop="auth"`,
	}, "")

	inviteSDP = sdpLines(
		"v=0",
		"o=15550100199 2890844526 2890844526 IN IP4 192.168.1.50",
		"s=-",
		"c=IN IP4 192.168.1.50",
		"t=0 0",
		"m=audio 16384 RTP/SAVP 0 101",
		"a=rtpmap:0 PCMU/8000",
		"a=rtpmap:101 telephone-event/8000",
		"a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz|2^20|1:4",
		"a=sendrecv",
	)

	invite = sipMsg([]string{
		"INVITE sip:15557654321@sip.example.net SIP/2.0",
		"Via: SIP/2.0/UDP 192.168.1.50:5060;branch=z9hG4bKnashds8;rport",
		"Max-Forwards: 70",
		`From: "Home 555-123-4567" <sip:15550100199@sip.example.net>;tag=9fxced76sl`,
		"To: <sip:15557654321@sip.example.net>",
		"Call-ID: 3848276298220188511@192.168.1.50",
		"CSeq: 2 INVITE",
		"Contact: <sip:15550100199@192.168.1.50:5060>",
		`P-Asserted-Identity: "15550100199" <tel:+1-555-010-0199>`,
		`Proxy-Authorization: Digest username="15550100199", realm="sip.example.net", nonce="ea9c8e88df84f1cec4341ae6cbe5a359", uri="sip:15557654321@sip.example.net", response="6629fae49393a05397450978507c4ef1"`,
		"Content-Type: application/sdp",
	}, inviteSDP)

	ok200 = sipMsg([]string{
		"SIP/2.0 200 OK",
		"Via: SIP/2.0/UDP 192.168.1.50:5060;branch=z9hG4bKnashds8;rport=5060;received=203.0.113.7",
		`From: "Home 555-123-4567" <sip:15550100199@sip.example.net>;tag=9fxced76sl`,
		`To: "Bob 15557654321" <sip:15557654321@sip.example.net>;tag=314159`,
		"Call-ID: 3848276298220188511@192.168.1.50",
		"CSeq: 2 INVITE",
		"Contact: <sip:15557654321@198.51.100.9:5060>",
		"Content-Type: application/sdp",
	}, sdpLines("v=0", "o=- 1 1 IN IP4 198.51.100.9", "s=-", "c=IN IP4 198.51.100.9", "t=0 0", "m=audio 20000 RTP/AVP 0", "a=sendrecv"))
)

var t0 = time.Date(2026, 11, 26, 10, 0, 0, 123_000_000, time.UTC)

func snapshotOf(t *testing.T, opts Options, msgs ...[]byte) []Entry {
	t.Helper()
	b := New(10)
	for i, m := range msgs {
		b.Add(t0.Add(time.Duration(i)*time.Second), "sent", "203.0.113.1:5060", m)
	}
	return b.Snapshot(opts)
}

// assertClean fails if text holds a canary or an Authorization value.
func assertClean(t *testing.T, text string) {
	t.Helper()
	if leak := leakIn(text); leak != "" {
		t.Fatalf("%s in:\n%s", leak, text)
	}
}

func leakIn(text string) string {
	lower := strings.ToLower(text)
	for _, s := range secrets {
		if strings.Contains(lower, strings.ToLower(s)) {
			return "secret " + s
		}
	}
	for _, l := range strings.Split(text, "\n") {
		name, value, ok := strings.Cut(l, ":")
		if ok && strings.Contains(strings.ToLower(name), "authorization") && !redactedAuthRe.MatchString(strings.TrimSpace(value)) {
			return "authorization value " + fmt.Sprintf("%q", l)
		}
	}
	return ""
}

func TestAuthorizationValuesAreRemoved(t *testing.T) {
	es := snapshotOf(t, Options{Secrets: secrets}, register, unauthorized, invite)
	if len(es) != 3 {
		t.Fatalf("got %d entries, want 3", len(es))
	}
	for _, e := range es {
		if !e.Parsed {
			t.Errorf("well-formed message not parsed:\n%s", e.Message)
		}
		assertClean(t, e.Message)
		if strings.Contains(e.Message, "response=") || strings.Contains(e.Message, "dfe56131") {
			t.Errorf("digest response survived:\n%s", e.Message)
		}
	}
	if !strings.Contains(es[0].Message, "\nAuthorization: Digest <redacted>\n") {
		t.Errorf("REGISTER should show the scheme and nothing else:\n%s", es[0].Message)
	}
	if !strings.Contains(es[2].Message, "\nProxy-Authorization: Digest <redacted>\n") {
		t.Errorf("INVITE should show the scheme and nothing else:\n%s", es[2].Message)
	}
	// The challenge helps support read a failing registration: keep it.
	if !strings.Contains(es[1].Message, `nonce="ea9c8e88df84f1cec4341ae6cbe5a359"`) {
		t.Errorf("401 lost its nonce:\n%s", es[1].Message)
	}
	// What is not secret stays, numbers included when not anonymizing.
	for _, want := range []string{"SIP/2.0 401 Unauthorized", "Call-ID: a84b4c76e66710@192.168.1.50", "sip:15550100199@sip.example.net", "received=203.0.113.7"} {
		if !strings.Contains(es[0].Message+es[1].Message, want) {
			t.Errorf("missing %q", want)
		}
	}
}

func TestLiteralSecretsGoEverywhere(t *testing.T) {
	msgs := [][]byte{
		// In an ordinary header, in another case, URL-escaped in a URI.
		sipMsg([]string{
			"OPTIONS sip:sip.example.net SIP/2.0",
			"X-Note: the password is " + sipPassword,
			"Subject: " + strings.ToUpper(billingToken),
			"Contact: <sip:1001@192.168.1.50;x=" + strings.ReplaceAll(adminPass, "-", "%2D") + ">",
		}, ""),
		// In an SDP body, which is otherwise kept.
		sipMsg([]string{
			"INVITE sip:1002@sip.example.net SIP/2.0",
			"Content-Type: application/sdp",
		}, sdpLines("v=0", "s="+sipPassword, "c=IN IP4 192.168.1.50")),
	}
	es := snapshotOf(t, Options{Secrets: secrets}, msgs...)
	for _, e := range es {
		assertClean(t, e.Message)
	}
	if !strings.Contains(es[1].Message, "s=<redacted>") || !strings.Contains(es[1].Message, "c=IN IP4 192.168.1.50") {
		t.Errorf("SDP should keep its lines with the secret replaced:\n%s", es[1].Message)
	}
	if !strings.Contains(es[0].Message, "X-Note: the password is <redacted>") {
		t.Errorf("secret in a header not replaced in place:\n%s", es[0].Message)
	}
}

func TestSecretsInPercentEscapedForm(t *testing.T) {
	b := New(2)
	pw := "p@ss word/1"
	b.Add(t0, "sent", "x", sipMsg([]string{"OPTIONS sip:a@b SIP/2.0", "X-Url: https://x/?q=p%40ss+word%2F1&z=p%40ss%20word%2F1"}, ""))
	m := b.Snapshot(Options{Secrets: []string{pw}})[0].Message
	if strings.Contains(m, "p%40ss") {
		t.Fatalf("escaped secret survived:\n%s", m)
	}
}

func TestNonSDPBodiesAreRemoved(t *testing.T) {
	es := snapshotOf(t, Options{},
		sipMsg([]string{"MESSAGE sip:1002@sip.example.net SIP/2.0", "Content-Type: text/plain"}, "call me, my PIN is 4711"),
		sipMsg([]string{"NOTIFY sip:1001@192.168.1.50 SIP/2.0", "Event: message-summary", "Content-Type: application/simple-message-summary"}, "Messages-Waiting: yes\r\n"),
		sipMsg([]string{"INFO sip:1002@sip.example.net SIP/2.0"}, "body without a type"),
	)
	want := []string{"<23-byte text/plain body removed>", "<23-byte application/simple-message-summary body removed>", "<19-byte non-SDP body removed>"}
	for i, e := range es {
		if strings.Contains(e.Message, "4711") || strings.Contains(e.Message, "Messages-Waiting") || strings.Contains(e.Message, "without a type") {
			t.Errorf("body survived:\n%s", e.Message)
		}
		if !strings.Contains(e.Message, want[i]) {
			t.Errorf("entry %d lacks %q:\n%s", i, want[i], e.Message)
		}
	}
}

func TestPasswordLikeParametersAndKeys(t *testing.T) {
	es := snapshotOf(t, Options{},
		sipMsg([]string{
			"REGISTER sip:1001:hunter2@sip.example.net SIP/2.0",
			"Contact: <sip:1001@192.168.1.50;password=hunter3;transport=udp>",
			"X-Provision: https://prov.example.net/cfg?mac=001122&token=abc123&pw=\"quoted value\"",
			"X-Auth-Token: hunter4",
			"P-Secret: hunter5",
			// RFC 3261 19.1.1 lets a URI carry headers, Authorization too.
			"Refer-To: <sip:1002@sip.example.net?Authorization=Digest%20response%3Dhunter6>",
		}, ""),
		invite,
	)
	m := es[0].Message
	for _, leak := range []string{"hunter2", "hunter3", "abc123", "quoted value", "hunter4", "hunter5", "hunter6"} {
		if strings.Contains(m, leak) {
			t.Errorf("%q survived:\n%s", leak, m)
		}
	}
	for _, keep := range []string{"transport=udp", "mac=001122", "sip:1001:<redacted>@sip.example.net"} {
		if !strings.Contains(m, keep) {
			t.Errorf("%q lost:\n%s", keep, m)
		}
	}
	if strings.Contains(es[1].Message, "WVNfX19zZW1j") || !strings.Contains(es[1].Message, "inline:<redacted>") {
		t.Errorf("SRTP key not redacted:\n%s", es[1].Message)
	}
}

func TestMalformedMessagesNeverLeak(t *testing.T) {
	cases := map[string]string{
		"no blank line": "REGISTER sip:sip.example.net SIP/2.0\r\nAuthorization: Digest username=\"1001\", response=\"" + sipPassword + "\"\r\n",
		"bare LF":       "REGISTER sip:sip.example.net SIP/2.0\nVia: SIP/2.0/UDP 10.0.0.1\nAuthorization: Digest response=\"deadbeef\"\n\n",
		"folded":        "REGISTER sip:x SIP/2.0\r\nAuthorization: Digest username=\"1001\",\r\n response=\"deadbeef\",\r\n\tnonce=\"n\"\r\nContent-Length: 0\r\nbroken line without colon\r\n\r\n",
		"no colon":      "REGISTER sip:x SIP/2.0\r\nAuthorization Digest response=\"deadbeef\"\r\nContent-Length: 0\r\n\r\n",
		"LF smuggled":   "REGISTER sip:x SIP/2.0\r\nX-A: a\nProxy-Authorization: Digest response=\"deadbeef\"\r\nContent-Length: 0\r\n\r\n",
		"lone CR":       "REGISTER sip:x SIP/2.0\rAuthorization: Bearer deadbeef\r\r",
		"garbage":       "\x00\x01 hello Authorization: Bearer deadbeef",
		"no start line": "Authorization: Digest response=\"deadbeef\"\r\n\r\n",
		"body":          "MESSAGE sip:x SIP/2.0\r\nContent-Length: 999\r\n\r\nsecret text deadbeef",
		"escape codes":  "REGISTER sip:x SIP/2.0\r\nX-A: \x1b[2Jclear\r\nAuthorization: Basic ZGVhZGJlZWY=\r\n\r\n",
	}
	for name, raw := range cases {
		t.Run(name, func(t *testing.T) {
			e := snapshotOf(t, Options{Secrets: secrets}, []byte(raw))[0]
			// An escape code is legal in a SIP header: that one parses.
			if e.Parsed && name != "escape codes" {
				t.Errorf("malformed message reported as parsed")
			}
			assertClean(t, e.Message)
			if strings.Contains(e.Message, "deadbeef") || strings.Contains(e.Message, "ZGVhZGJlZWY") {
				t.Errorf("credential survived:\n%s", e.Message)
			}
			if strings.ContainsAny(e.Message, "\x00\x1b\r") {
				t.Errorf("control characters survived: %q", e.Message)
			}
		})
	}
}

func TestMalformedKeepsWhatIsHarmless(t *testing.T) {
	raw := "REGISTER sip:sip.example.net SIP/2.0\nVia: SIP/2.0/UDP 10.0.0.1\nAuthorization: Digest response=\"deadbeef\"\n continued=\"more\"\nCSeq: 1 REGISTER\n\n"
	e := snapshotOf(t, Options{}, []byte(raw))[0]
	want := "REGISTER sip:sip.example.net SIP/2.0\nVia: SIP/2.0/UDP 10.0.0.1\n" + removedLine + "\nCSeq: 1 REGISTER\n"
	if e.Message != want {
		t.Fatalf("got\n%q\nwant\n%q", e.Message, want)
	}
}

func TestAnonymizationIsConsistent(t *testing.T) {
	tok := NewTokenizer([]byte("bundle key"))
	es := snapshotOf(t, Options{Anonymize: true, Tokens: tok, Secrets: secrets}, register, unauthorized, invite, ok200)
	all := ""
	for _, e := range es {
		assertClean(t, e.Message)
		all += e.Message + "\n"
	}
	for _, number := range []string{"15550100199", "15557654321", "5551234567", "555-123-4567", "010-0199"} {
		if strings.Contains(all, number) {
			t.Errorf("number %s survived anonymization:\n%s", number, all)
		}
	}
	me, them, home := tok.Number("15550100199"), tok.Number("15557654321"), tok.Number("5551234567")
	for _, want := range []string{
		"From: <sip:" + me + "@sip.example.net>;tag=1928301774", // REGISTER and 401 alike
		"INVITE sip:" + them + "@sip.example.net SIP/2.0",
		`"Home ` + home + `" <sip:` + me + "@sip.example.net>",
		`P-Asserted-Identity: "` + me + `" <tel:` + me + ">", // display name, tel URI and sip URI: one token
		`"Bob ` + them + `" <sip:` + them + "@sip.example.net>",
		"o=" + me + " 2890844526 2890844526 IN IP4 192.168.1.50",
		// What identifies a call or a host, not a person, stays.
		"Call-ID: 3848276298220188511@192.168.1.50",
		"Contact: <sip:" + them + "@198.51.100.9:5060>",
		"received=203.0.113.7",
		";tag=314159",
	} {
		if !strings.Contains(all, want) {
			t.Errorf("missing %q in:\n%s", want, all)
		}
	}
	if n := strings.Count(all, me); n < 10 {
		t.Errorf("own number's token appears %d times, want it everywhere the number was", n)
	}
	// Without Anonymize the numbers stay: support needs them.
	plain := snapshotOf(t, Options{Tokens: tok}, invite)[0].Message
	if !strings.Contains(plain, "sip:15557654321@") {
		t.Errorf("numbers removed without Anonymize:\n%s", plain)
	}
}

func TestAnonymizeWithoutTokenizerStillHides(t *testing.T) {
	e := snapshotOf(t, Options{Anonymize: true}, invite)[0]
	if strings.Contains(e.Message, "15557654321") || !strings.Contains(e.Message, "sip:num-") {
		t.Fatalf("numbers not tokenized with a nil Tokenizer:\n%s", e.Message)
	}
}

func TestTokenizer(t *testing.T) {
	a, b := NewTokenizer([]byte("k1")), NewTokenizer([]byte("k2"))
	if a.Number("+1 (555) 010-0199") != a.Number("15550100199") {
		t.Error("separators changed the token")
	}
	if a.Number("15550100199") == b.Number("15550100199") {
		t.Error("different keys gave the same token")
	}
	if a.Number("15550100199") == a.Number("15550100198") {
		t.Error("different numbers gave the same token")
	}
	if !regexp.MustCompile(`^num-[0-9a-f]{8}$`).MatchString(a.Number("911")) {
		t.Errorf("token %q not in the num-xxxxxxxx form", a.Number("911"))
	}
	if got := a.Number("anonymous"); got != "anonymous" {
		t.Errorf("no digits: got %q, want it unchanged", got)
	}
	r1, r2 := NewTokenizer(nil), NewTokenizer(nil)
	if r1.Number("123") == r2.Number("123") {
		t.Error("two random keys gave the same token")
	}
	var nilTok *Tokenizer
	if got := nilTok.Number("15550100199"); got != "num-redacted" {
		t.Errorf("nil Tokenizer: got %q", got)
	}
}

func TestRingKeepsTheLastN(t *testing.T) {
	b := New(3)
	for i := range 5 {
		b.Add(t0.Add(time.Duration(i)*time.Second), "received", "peer", fmt.Appendf(nil, "OPTIONS sip:%d@x SIP/2.0\r\n\r\n", i))
	}
	es := b.Snapshot(Options{})
	if len(es) != 3 {
		t.Fatalf("kept %d, want 3", len(es))
	}
	for i, e := range es {
		if !strings.Contains(e.Message, fmt.Sprintf("sip:%d@x", i+2)) || !e.At.Equal(t0.Add(time.Duration(i+2)*time.Second)) {
			t.Errorf("entry %d is %v %q, want message %d oldest first", i, e.At, e.Message, i+2)
		}
	}
	if got := New(0); len(got.ring) != DefaultSize {
		t.Errorf("New(0) keeps %d, want DefaultSize", len(got.ring))
	}
}

func TestMemoryIsBounded(t *testing.T) {
	b := New(1000)
	big := bytes.Repeat([]byte("x"), 20<<10)
	for range 100 {
		b.Add(t0, "sent", "peer", big)
	}
	es := b.Snapshot(Options{})
	if b.bytes > MaxTotalBytes {
		t.Fatalf("buffer holds %d bytes, cap %d", b.bytes, MaxTotalBytes)
	}
	if len(es) == 0 || len(es) > MaxTotalBytes/MaxMessageBytes {
		t.Fatalf("kept %d messages of %d bytes", len(es), MaxMessageBytes)
	}
	if e := es[0]; !e.Truncated || e.Size != len(big) {
		t.Errorf("entry: Truncated %v Size %d, want true %d", e.Truncated, e.Size, len(big))
	}
}

func TestTruncationDoesNotLeaveHalfASecret(t *testing.T) {
	pad := strings.Repeat("a", MaxMessageBytes-len("OPTIONS sip:x SIP/2.0\r\nX-Pad: ")-6)
	raw := "OPTIONS sip:x SIP/2.0\r\nX-Pad: " + pad + sipPassword + "\r\n\r\n"
	e := snapshotOf(t, Options{Secrets: secrets}, []byte(raw))[0]
	if !e.Truncated {
		t.Fatal("message not truncated; the test's arithmetic is off")
	}
	if strings.Contains(e.Message, sipPassword[:6]) {
		t.Fatalf("the first half of a cut secret survived: …%s", e.Message[len(e.Message)-20:])
	}
}

func TestAddCopiesTheMessage(t *testing.T) {
	b := New(2)
	buf := []byte("OPTIONS sip:a@b SIP/2.0\r\n\r\n")
	b.Add(t0, "sent", "p", buf)
	copy(buf, "XXXXXXX")
	if m := b.Snapshot(Options{})[0].Message; !strings.HasPrefix(m, "OPTIONS") {
		t.Fatalf("stored message changed with the caller's buffer: %q", m)
	}
}

func TestConcurrentUse(t *testing.T) {
	b := New(50)
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := range 200 {
				b.Add(time.Now(), "received", fmt.Sprintf("10.0.0.%d:5060", w), register)
				if i%50 == 0 {
					for _, e := range b.Snapshot(Options{Secrets: secrets}) {
						assertClean(t, e.Message)
					}
				}
			}
		})
	}
	wg.Wait()
	if n := len(b.Snapshot(Options{})); n != 50 {
		t.Fatalf("kept %d, want 50", n)
	}
}

func TestText(t *testing.T) {
	b := New(4)
	b.Add(t0, "sent", "127.0.0.1:5060", register)
	b.Add(t0.Add(time.Second), "received", "127.0.0.1:5060\n--- forged", unauthorized)
	b.Add(t0.Add(2*time.Second), "received", "127.0.0.1:5060", []byte("junk"))
	text := b.Text(b.Snapshot(Options{Secrets: secrets}))
	assertClean(t, text)
	heads := []string{
		fmt.Sprintf("--- 2026-11-26T10:00:00.123Z sent to 127.0.0.1:5060 (%d bytes)\nREGISTER sip:sip.example.net SIP/2.0\n", len(register)),
		fmt.Sprintf("--- 2026-11-26T10:00:01.123Z received from 127.0.0.1:5060?--- forged (%d bytes)\nSIP/2.0 401 Unauthorized\n", len(unauthorized)),
		"--- 2026-11-26T10:00:02.123Z received from 127.0.0.1:5060 (4 bytes, not valid SIP: redacted line by line)\njunk\n",
	}
	for _, h := range heads {
		if !strings.Contains(text, h) {
			t.Errorf("missing\n%s\nin\n%s", h, text)
		}
	}
	if n := strings.Count(text, "\n--- "); n != 2 {
		t.Errorf("found %d separators after the first, want 2 (a peer must not forge one)", n)
	}
}

func BenchmarkAdd(b *testing.B) {
	buf := New(DefaultSize)
	for b.Loop() {
		buf.Add(t0, "sent", "203.0.113.1:5060", invite)
	}
}

func BenchmarkSnapshot200(b *testing.B) {
	buf := New(DefaultSize)
	for i := range DefaultSize {
		buf.Add(t0, "sent", "203.0.113.1:5060", [][]byte{register, unauthorized, invite, ok200}[i%4])
	}
	opts := Options{Anonymize: true, Tokens: NewTokenizer([]byte("k")), Secrets: secrets}
	for b.Loop() {
		buf.Snapshot(opts)
	}
}
