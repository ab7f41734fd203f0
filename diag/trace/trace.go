// Package trace keeps the last SIP messages the device sent and received,
// for the diagnostics bundle's sip-trace.txt, and hands them out redacted.
//
// Messages are stored as they crossed the wire (up to a size cap) and are
// redacted only when a snapshot is taken: the SIP path pays for a copy and
// nothing more, and redaction always uses the bundle's current secrets and
// anonymization key. Credentials are removed in every mode; phone numbers
// are replaced by tokens only when the bundle asks for anonymization.
package trace

import (
	"strconv"
	"strings"
	"sync"
	"time"
)

const (
	// DefaultSize is the number of messages kept when New is given n ≤ 0.
	DefaultSize = 200
	// MaxMessageBytes caps one stored message; the rest is dropped. SIP
	// over UDP stays far below it (sipgo fails above ~1300 bytes).
	MaxMessageBytes = 8 << 10
	// MaxTotalBytes caps the memory of the whole buffer: the oldest
	// messages go first when a burst of large ones would exceed it.
	MaxTotalBytes = 512 << 10

	maxPeerBytes = 256
	maxDirBytes  = 16
)

// Buffer is a ring of the most recent SIP messages. It is safe for
// concurrent use: the SIP stack adds from its transport goroutines while the
// bundle takes snapshots.
type Buffer struct {
	mu    sync.Mutex
	ring  []stored
	head  int // index of the oldest message
	count int
	bytes int
}

type stored struct {
	at   time.Time
	dir  string
	peer string
	msg  []byte // at most MaxMessageBytes, owned by the buffer
	size int    // length on the wire
}

func (s stored) cost() int { return len(s.msg) + len(s.peer) + len(s.dir) }

// New returns a Buffer that keeps the last n messages (DefaultSize if n ≤ 0),
// and never more than MaxTotalBytes of them.
func New(n int) *Buffer {
	if n <= 0 {
		n = DefaultSize
	}
	return &Buffer{ring: make([]stored, n)}
}

// Add records one message. dir is "sent" or "received", peer the remote
// address. msg is copied, so the caller may reuse its buffer (sipgo's tracer
// hands out its read buffer).
func (b *Buffer) Add(at time.Time, dir, peer string, msg []byte) {
	kept := msg
	if len(kept) > MaxMessageBytes {
		kept = kept[:MaxMessageBytes]
	}
	s := stored{
		at:   at,
		dir:  clip(dir, maxDirBytes),
		peer: clip(peer, maxPeerBytes),
		msg:  append([]byte(nil), kept...),
		size: len(msg),
	}

	b.mu.Lock()
	defer b.mu.Unlock()
	if b.count == len(b.ring) {
		b.dropOldest()
	}
	for b.count > 0 && b.bytes+s.cost() > MaxTotalBytes {
		b.dropOldest()
	}
	b.ring[(b.head+b.count)%len(b.ring)] = s
	b.count++
	b.bytes += s.cost()
}

func (b *Buffer) dropOldest() {
	b.bytes -= b.ring[b.head].cost()
	b.ring[b.head] = stored{}
	b.head = (b.head + 1) % len(b.ring)
	b.count--
}

// Options says how a snapshot is redacted.
type Options struct {
	// Anonymize replaces phone numbers with tokens from Tokens.
	Anonymize bool
	// Tokens is the bundle's tokenizer, shared by all its files so that a
	// number gets the same token everywhere. When nil and Anonymize is set,
	// a tokenizer with a random key is used for this snapshot alone.
	Tokens *Tokenizer
	// Secrets are literal values (the SIP password, the billing token, the
	// admin password …) that must not appear anywhere, whatever header or
	// body they hide in. They are matched without regard to case, and in
	// their URL-escaped forms too.
	Secrets []string
}

// Entry is one redacted message.
type Entry struct {
	At   time.Time
	Dir  string // "sent" or "received"
	Peer string
	// Size is the message's length on the wire.
	Size int
	// Truncated says only the first MaxMessageBytes were kept.
	Truncated bool
	// Parsed says the message parsed as SIP and was redacted header by
	// header; otherwise it was redacted line by line, more bluntly.
	Parsed bool
	// Message is the redacted text, lines separated by "\n".
	Message string
}

// Snapshot returns the buffered messages, oldest first, redacted per opts.
// Redaction runs outside the lock, so a snapshot never stalls the SIP stack.
func (b *Buffer) Snapshot(opts Options) []Entry {
	b.mu.Lock()
	msgs := make([]stored, 0, b.count)
	for i := range b.count {
		msgs = append(msgs, b.ring[(b.head+i)%len(b.ring)])
	}
	b.mu.Unlock()

	r := newRedactor(opts)
	out := make([]Entry, 0, len(msgs))
	for _, m := range msgs {
		truncated := m.size > len(m.msg)
		text, parsed := r.message(m.msg, truncated)
		out = append(out, Entry{
			At:        m.at,
			Dir:       r.secrets(printable(m.dir)),
			Peer:      r.secrets(printable(m.peer)),
			Size:      m.size,
			Truncated: truncated,
			Parsed:    parsed,
			Message:   text,
		})
	}
	return out
}

// Text renders entries as sip-trace.txt: each message after a line naming
// its time, direction, peer and size.
func (b *Buffer) Text(entries []Entry) string {
	var sb strings.Builder
	for _, e := range entries {
		sb.WriteString("--- ")
		sb.WriteString(e.At.UTC().Format("2006-01-02T15:04:05.000Z07:00"))
		switch e.Dir {
		case "sent":
			sb.WriteString(" sent to ")
		case "received":
			sb.WriteString(" received from ")
		default:
			sb.WriteString(" " + printable(e.Dir) + " ")
		}
		sb.WriteString(printable(e.Peer))
		sb.WriteString(" (")
		sb.WriteString(strconv.Itoa(e.Size))
		sb.WriteString(" bytes")
		if e.Truncated {
			sb.WriteString(", first " + strconv.Itoa(MaxMessageBytes) + " kept")
		}
		if !e.Parsed {
			sb.WriteString(", not valid SIP: redacted line by line")
		}
		sb.WriteString(")\n")
		sb.WriteString(e.Message)
		if !strings.HasSuffix(e.Message, "\n") {
			sb.WriteString("\n")
		}
		sb.WriteString("\n")
	}
	return sb.String()
}

// clip cuts s to at most n bytes.
func clip(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
