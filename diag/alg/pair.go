package alg

import (
	"github.com/emiago/sipgo/sip"
)

// Message is one message of the SIP trace.
type Message struct {
	// Sent is true for a message the device sent, false for one it
	// received.
	Sent bool
	// Raw is the message as it crossed the wire, or as the trace shows it.
	Raw []byte
}

// Pair finds the requests the device sent and the final responses that
// answered them (same Call-ID, CSeq and Via branch), in the order the
// requests were sent. Retransmissions count once; requests without a
// final answer, and messages that do not parse, are left out: the trace
// is evidence, and a garbled line in it must not hide the rest.
func Pair(msgs []Message) []Exchange {
	type key struct{ callID, cseq, branch string }
	keyOf := func(m sip.Message) (key, bool) {
		v, id, cs := m.Via(), m.CallID(), m.CSeq()
		if v == nil || id == nil || cs == nil {
			return key{}, false
		}
		b, _ := v.Params.Get("branch")
		return key{id.Value(), cs.Value(), b}, true
	}
	var out []Exchange
	index := map[key]int{}
	for _, m := range msgs {
		msg, err := parse(m.Raw)
		if err != nil {
			continue
		}
		k, ok := keyOf(msg)
		if !ok {
			continue
		}
		switch msg := msg.(type) {
		case *sip.Request:
			if !m.Sent || msg.IsAck() {
				continue
			}
			if _, seen := index[k]; !seen {
				index[k] = len(out)
				out = append(out, Exchange{Sent: m.Raw})
			}
		case *sip.Response:
			i, ok := index[k]
			if m.Sent || !ok || msg.StatusCode < 200 || out[i].Received != nil {
				continue
			}
			out[i].Received = m.Raw
		}
	}
	answered := out[:0]
	for _, ex := range out {
		if ex.Received != nil {
			answered = append(answered, ex)
		}
	}
	return answered
}
