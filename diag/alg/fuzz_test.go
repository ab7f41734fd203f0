package alg

import (
	"bytes"
	"testing"
)

// FuzzDetect feeds arbitrary request and response bytes to Detect, alone
// and as a port test: it must never panic, and its verdict must stay
// consistent with its confidence.
func FuzzDetect(f *testing.F) {
	f.Add(register("10.0.0.2:5060", "10.0.0.2:5060"), answer("200 OK", "203.0.113.9:5060;branch=z9hG4bK-1;rport=4000;received=203.0.113.9", "<sip:1001@203.0.113.9:5060>"))
	f.Add(register("10.0.0.2", "10.0.0.2"), []byte("SIP/2.0 200 OK\nVia: SIP/2.0/UDP 10.0.0.2\nCall-ID: c1\nCSeq: 7 REGISTER\n\n"))
	f.Fuzz(func(t *testing.T, sent, received []byte) {
		for _, in := range []Input{
			{Exchanges: []Exchange{{sent, received}}},
			{Ports: &PortTest{Standard: Exchange{sent, received}, Other: Exchange{sent, nil}}},
		} {
			r := Detect(in)
			if r.Confidence < 0 || r.Confidence > maxConfidence {
				t.Fatalf("confidence %v", r.Confidence)
			}
			if r.Suspected != (r.Confidence >= suspectAt) {
				t.Fatalf("suspected %v at confidence %v", r.Suspected, r.Confidence)
			}
			if len(r.Evidence) == 0 {
				t.Fatal("a verdict without evidence")
			}
			if r.Suspected && r.Why() == "" {
				t.Fatal("suspected without a reason")
			}
		}
	})
}

// FuzzPair splits the input at blank-line-NUL markers into a trace of
// alternating sent and received messages.
func FuzzPair(f *testing.F) {
	f.Add(bytes.Join([][]byte{register("10.0.0.2:5060", "10.0.0.2:5060"), answer("200 OK", "10.0.0.2:5060;branch=z9hG4bK-1")}, []byte{0}))
	f.Add([]byte("\x00\x00"))
	f.Fuzz(func(t *testing.T, blob []byte) {
		var msgs []Message
		for i, part := range bytes.Split(blob, []byte{0}) {
			msgs = append(msgs, Message{Sent: i%2 == 0, Raw: part})
		}
		for _, ex := range Pair(msgs) {
			if len(ex.Sent) == 0 || len(ex.Received) == 0 {
				t.Fatalf("incomplete exchange %q", ex)
			}
			if _, err := parseRequest(ex.Sent); err != nil {
				t.Fatalf("paired a sent message that is not a request: %v", err)
			}
			if _, err := parseResponse(ex.Received); err != nil {
				t.Fatalf("paired a received message that is not a response: %v", err)
			}
		}
	})
}
