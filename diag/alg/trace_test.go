package alg

import (
	"testing"
	"time"

	"github.com/tipring/tipring/diag/trace"
)

// What the firmware hands Pair is the diagnostics trace's redacted text,
// not wire bytes: a REGISTER and its answer kept by a trace.Buffer must
// still pair, and a rewritten Via must still be found in them.
func TestPairsAndDetectsOnRedactedTrace(t *testing.T) {
	ours := "10.0.0.2:5060"
	buf := trace.New(10)
	at := time.Now()
	buf.Add(at, "sent", "192.0.2.10:5060", register(ours, ours))
	buf.Add(at, "received", "192.0.2.10:5060", answer("200 OK", "203.0.113.9:5060;branch=z9hG4bK-1;rport=1;received=203.0.113.9"))
	for _, anon := range []bool{false, true} {
		var msgs []Message
		for _, e := range buf.Snapshot(trace.Options{Anonymize: anon}) {
			msgs = append(msgs, Message{Sent: e.Dir == "sent", Raw: []byte(e.Message)})
		}
		exs := Pair(msgs)
		if len(exs) != 1 {
			t.Fatalf("anonymize=%v: Pair found %d exchanges in the trace, want 1: %+v", anon, len(exs), msgs)
		}
		if r := Detect(Input{Exchanges: exs}); !r.Suspected {
			t.Errorf("anonymize=%v: a Via rewritten to 203.0.113.9:5060 was not suspected: %+v", anon, r)
		}
	}
}
