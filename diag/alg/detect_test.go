package alg

import (
	"strings"
	"testing"
)

// msg joins lines with CRLF, the way SIP crosses the wire.
func msg(lines ...string) []byte { return []byte(strings.Join(lines, "\r\n") + "\r\n") }

func register(via, contact string) []byte {
	return msg("REGISTER sip:tipring.test SIP/2.0",
		"Via: SIP/2.0/UDP "+via+";branch=z9hG4bK-1;rport",
		"From: <sip:1001@tipring.test>;tag=a",
		"To: <sip:1001@tipring.test>",
		"Call-ID: c1",
		"CSeq: 7 REGISTER",
		"Contact: <sip:1001@"+contact+">",
		"Content-Length: 0", "")
}

func answer(code, via string, contacts ...string) []byte {
	lines := []string{"SIP/2.0 " + code,
		"Via: SIP/2.0/UDP " + via,
		"From: <sip:1001@tipring.test>;tag=a",
		"To: <sip:1001@tipring.test>;tag=b",
		"Call-ID: c1",
		"CSeq: 7 REGISTER"}
	for _, c := range contacts {
		lines = append(lines, "Contact: "+c)
	}
	return msg(append(lines, "Content-Length: 0", "")...)
}

func TestDetectCases(t *testing.T) {
	const ours = "10.0.0.2:5060"
	const seen = ";branch=z9hG4bK-1;rport=40000;received=203.0.113.9"
	for _, tc := range []struct {
		name       string
		in         Input
		suspect    bool
		confidence float64 // at least
		evidence   string
		errors     bool
	}{
		{name: "untouched, behind a NAT",
			in:       Input{Exchanges: []Exchange{{register(ours, ours), answer("200 OK", ours+seen, "<sip:1001@10.0.0.2:5060>;expires=3600")}}},
			evidence: "no sign of a SIP ALG"},
		{name: "default port written out by the server",
			in:       Input{Exchanges: []Exchange{{register("10.0.0.2", "10.0.0.2"), answer("200 OK", ours+seen, "<sip:1001@10.0.0.2:5060>;expires=3600")}}},
			evidence: "no sign of a SIP ALG"},
		{name: "Via and Contact rewritten",
			in:      Input{Exchanges: []Exchange{{register(ours, ours), answer("200 OK", "203.0.113.9:5060"+seen, "<sip:1001@203.0.113.9:5060>;expires=3600")}}},
			suspect: true, confidence: 0.95, evidence: "REGISTER Via sent as UDP 10.0.0.2:5060, seen by the server as UDP 203.0.113.9:5060"},
		{name: "Contact alone rewritten to a third address",
			in:      Input{Exchanges: []Exchange{{register(ours, ours), answer("200 OK", ours+seen, "<sip:1001@198.51.100.7:5060>;expires=3600")}}},
			suspect: true, confidence: 0.6, evidence: "REGISTER Contact sent as 10.0.0.2:5060"},
		{name: "registrar's own NAT fix",
			in:         Input{Exchanges: []Exchange{{register(ours, ours), answer("200 OK", ours+seen, "<sip:1001@203.0.113.9:40000>;expires=3600")}}},
			confidence: 0.2, evidence: "a registrar's own NAT fix"},
		{name: "other devices' bindings only",
			in:       Input{Exchanges: []Exchange{{register(ours, ours), answer("200 OK", ours+seen, "<sip:1001@192.0.2.1:5060>;expires=60", "<sip:1001@192.0.2.2:5060>;expires=60")}}},
			evidence: "none of them ours as sent"},
		{name: "refused registration lists no bindings",
			in:       Input{Exchanges: []Exchange{{register(ours, ours), answer("403 Forbidden", ours+seen)}}},
			evidence: "no sign of a SIP ALG"},
		{name: "trace text with bare LF",
			in: Input{Exchanges: []Exchange{{
				[]byte(strings.ReplaceAll(string(register(ours, ours)), "\r\n", "\n")),
				[]byte(strings.ReplaceAll(string(answer("200 OK", "203.0.113.9:5060"+seen)), "\r\n", "\n"))}}},
			suspect: true, confidence: 0.9, evidence: "Via sent as"},
		{name: "answer to another request",
			in: Input{Exchanges: []Exchange{{register(ours, ours),
				[]byte(strings.Replace(string(answer("200 OK", "203.0.113.9:5060"+seen)), "Call-ID: c1", "Call-ID: c2", 1))}}},
			evidence: "no answered SIP request", errors: true},
		{name: "garbage",
			in:       Input{Exchanges: []Exchange{{[]byte("hello"), []byte{0, 1, 2}}, {register(ours, ours), []byte("SIP/2.0 200")}}},
			evidence: "no answered SIP request", errors: true},
		{name: "swapped request and response",
			in:       Input{Exchanges: []Exchange{{answer("200 OK", ours+seen), register(ours, ours)}}},
			evidence: "no answered SIP request", errors: true},
		{name: "unanswered",
			in:       Input{Exchanges: []Exchange{{Sent: register(ours, ours)}}},
			evidence: "no answered SIP request"},
		{name: "nothing", evidence: "no answered SIP request"},
		{name: "5060 refused, another port accepted",
			in: Input{Ports: &PortTest{
				Standard: Exchange{register(ours, ours), answer("503 Service Unavailable", ours+seen)},
				Other:    Exchange{register("10.0.0.2:5062", "10.0.0.2:5062"), answer("200 OK", "10.0.0.2:5062"+seen, "<sip:1001@10.0.0.2:5062>")}}},
			suspect: true, confidence: 0.5, evidence: "REGISTER from port 5060 was answered 503, from another port 200"},
		{name: "both ports alike",
			in: Input{Ports: &PortTest{
				Standard: Exchange{register(ours, ours), answer("200 OK", ours+seen, "<sip:1001@10.0.0.2:5060>")},
				Other:    Exchange{register("10.0.0.2:5062", "10.0.0.2:5062"), answer("200 OK", "10.0.0.2:5062"+seen, "<sip:1001@10.0.0.2:5062>")}}},
			evidence: "no sign of a SIP ALG"},
		{name: "both ports unanswered",
			in:       Input{Ports: &PortTest{Standard: Exchange{Sent: register(ours, ours)}, Other: Exchange{Sent: register("10.0.0.2:5062", "10.0.0.2:5062")}}},
			evidence: "no answered SIP request"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := Detect(tc.in)
			if r.Suspected != tc.suspect || r.Confidence < tc.confidence || r.Confidence > maxConfidence {
				t.Errorf("Suspected = %v, confidence %.2f; want %v, at least %.2f", r.Suspected, r.Confidence, tc.suspect, tc.confidence)
			}
			if !strings.Contains(evidence(r), tc.evidence) {
				t.Errorf("evidence lacks %q:\n%s", tc.evidence, evidence(r))
			}
			if (len(r.Errors) > 0) != tc.errors {
				t.Errorf("Errors = %q", r.Errors)
			}
			if r.Suspected != (r.Why() != "") {
				t.Errorf("Suspected %v but Why() = %q", r.Suspected, r.Why())
			}
		})
	}
}

func TestPair(t *testing.T) {
	reg := register("10.0.0.2:5060", "10.0.0.2:5060")
	trying := []byte(strings.Replace(string(answer("100 Trying", "10.0.0.2:5060;branch=z9hG4bK-1;rport=1;received=203.0.113.9")), "To: <sip:1001@tipring.test>;tag=b", "To: <sip:1001@tipring.test>", 1))
	ok := answer("200 OK", "10.0.0.2:5060;branch=z9hG4bK-1;rport=1;received=203.0.113.9")
	other := []byte(strings.NewReplacer("z9hG4bK-1", "z9hG4bK-2", "CSeq: 7", "CSeq: 8").Replace(string(reg)))
	incoming := []byte(strings.NewReplacer("REGISTER sip:tipring.test", "INVITE sip:1001@10.0.0.2", "CSeq: 7 REGISTER", "CSeq: 1 INVITE", "z9hG4bK-1", "z9hG4bK-in").Replace(string(reg)))
	exs := Pair([]Message{
		{Sent: true, Raw: reg},
		{Sent: false, Raw: trying},
		{Sent: true, Raw: reg}, // retransmission
		{Sent: false, Raw: []byte("garbage")},
		{Sent: true, Raw: other}, // never answered
		{Sent: false, Raw: incoming},
		{Sent: false, Raw: ok},
		{Sent: false, Raw: ok}, // retransmitted answer
		{Sent: true, Raw: ok},  // a response we sent answers nothing of ours
	})
	if len(exs) != 1 || string(exs[0].Sent) != string(reg) || string(exs[0].Received) != string(ok) {
		t.Fatalf("Pair = %d exchanges: %q", len(exs), exs)
	}
	if r := Detect(Input{Exchanges: exs}); r.Suspected || r.Public.String() != "203.0.113.9:1" {
		t.Errorf("Detect on the pair: %+v", r)
	}
}

// BenchmarkDetect times one verdict over a REGISTER exchange and a port
// test, which is what a diagnostics bundle asks for.
func BenchmarkDetect(b *testing.B) {
	const seen = ";branch=z9hG4bK-1;rport=40000;received=203.0.113.9"
	in := Input{
		Exchanges: []Exchange{{register("10.0.0.2:5060", "10.0.0.2:5060"), answer("200 OK", "198.51.100.7:5060"+seen, "<sip:1001@198.51.100.7:5060>")}},
		Ports: &PortTest{
			Standard: Exchange{register("10.0.0.2:5060", "10.0.0.2:5060"), answer("200 OK", "10.0.0.2:5060"+seen, "<sip:1001@10.0.0.2:5060>")},
			Other:    Exchange{register("10.0.0.2:5062", "10.0.0.2:5062"), answer("200 OK", "10.0.0.2:5062"+seen, "<sip:1001@10.0.0.2:5062>")},
		},
	}
	for b.Loop() {
		if r := Detect(in); !r.Suspected {
			b.Fatal(r.Evidence)
		}
	}
}
