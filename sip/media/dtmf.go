package media

import (
	"encoding/binary"
	"fmt"
	"time"
)

// RFC 4733 event codes 0-15 are the DTMF digits.
func digitEvent(d byte) (byte, bool) {
	switch {
	case d >= '0' && d <= '9':
		return d - '0', true
	case d == '*':
		return 10, true
	case d == '#':
		return 11, true
	case d >= 'A' && d <= 'D':
		return 12 + d - 'A', true
	case d >= 'a' && d <= 'd':
		return 12 + d - 'a', true
	}
	return 0, false
}

func eventDigit(e byte) (byte, bool) {
	switch {
	case e <= 9:
		return '0' + e, true
	case e == 10:
		return '*', true
	case e == 11:
		return '#', true
	case e <= 15:
		return 'A' + e - 12, true
	}
	return 0, false
}

const (
	// dtmfVolume is the power level we report: -10 dBm0, a typical DTMF
	// level (RFC 4733 section 2.3.4).
	dtmfVolume = 10
	// maxDigit: the 16-bit duration field holds 8.19 s at 8 kHz; longer
	// events would need segments nobody uses for DTMF.
	maxDigit = 8 * time.Second
)

type digitRequest struct {
	event   byte
	samples uint32
}

// SendDigit queues an RFC 4733 DTMF event ('0'-'9', '*', '#', 'A'-'D') of
// duration d. It goes out from the following WriteFrame calls, in place of
// audio, with the negotiated telephone-event payload type: one packet per
// frame with the growing duration, the final one (E bit) sent three times.
// Queued digits follow each other with 40 ms of audio between them.
func (s *Session) SendDigit(digit byte, d time.Duration) error {
	ev, ok := digitEvent(digit)
	if !ok {
		return fmt.Errorf("media: %q is not a DTMF digit (0-9, *, #, A-D)", digit)
	}
	if d <= 0 || d > maxDigit {
		return fmt.Errorf("media: digit duration %v out of range (0, %v]", d, maxDigit)
	}
	if s.closing.Load() {
		return ErrClosed
	}
	n := s.neg.Load()
	if n == nil {
		return fmt.Errorf("media: SendDigit before negotiation: %w", ErrNoTelephoneEvent)
	}
	if n.dtmfPT < 0 {
		return ErrNoTelephoneEvent
	}
	select {
	case s.digits <- digitRequest{event: ev, samples: uint32(d * 8000 / time.Second)}:
		return nil
	default:
		return fmt.Errorf("media: %d digits already queued", digitsCap)
	}
}

// txDigit is a telephone event being sent.
type txDigit struct {
	active bool
	first  bool
	event  byte
	start  uint32 // RTP timestamp of the event's start: all its packets carry it
	total  uint32 // duration in samples
	dur    uint32 // duration reported so far
	ends   int    // final packets still to send
}

func newTxDigit(d digitRequest, ts uint32) txDigit {
	return txDigit{active: true, first: true, event: d.event, start: ts, total: max(d.samples, 1), ends: 3}
}

// sendEvent sends the current digit's packet for this frame.
func (s *Session) sendEvent(n *negotiation, samples uint32) {
	tx := &s.tx
	d := &tx.digit
	d.dur = min(d.dur+samples, d.total)
	end := d.dur >= d.total
	h := tx.buf[:12]
	h[0] = 0x80 // version 2
	h[1] = byte(n.dtmfPT)
	if d.first {
		h[1] |= 0x80 // marker: the event's first packet
	}
	binary.BigEndian.PutUint16(h[2:], tx.seq)
	binary.BigEndian.PutUint32(h[4:], d.start)
	binary.BigEndian.PutUint32(h[8:], s.ssrc)
	p := tx.buf[12:16]
	p[0] = d.event
	p[1] = dtmfVolume
	if end {
		p[1] |= 0x80
	}
	binary.BigEndian.PutUint16(p[2:], uint16(d.dur))
	s.sendRTP(n, tx.buf[:16], 4, 0)
	tx.seq++
	d.first = false
	if end {
		d.ends--
		if d.ends == 0 {
			d.active = false
			tx.gap = 2
			tx.marker = true // audio resumes with a new talkspurt
		}
	}
}

// rxDigit is the telephone event being received.
type rxDigit struct {
	active, ended bool
	ts            uint32
	event         byte
	dur           uint16
	last          time.Time
}

// handleEvent takes an RFC 4733 payload (at least 4 bytes). s.rxMu held.
func (s *Session) handleEvent(p []byte, ts uint32, now time.Time) {
	ev, end, dur := p[0], p[1]&0x80 != 0, binary.BigEndian.Uint16(p[2:4])
	digit, ok := eventDigit(ev)
	if !ok {
		return // flash and other events are not digits
	}
	d := &s.rx.dtmf
	if d.active && d.ts == ts && d.event == ev {
		if d.ended {
			return // a retransmitted final packet
		}
		d.dur = max(d.dur, dur)
		d.last = now
		if end {
			s.endDigit(now)
		}
		return
	}
	if d.active && int32(ts-d.ts) < 0 {
		return // a straggler from an earlier event
	}
	if d.active && !d.ended {
		s.endDigit(now) // its final packets were lost
	}
	*d = rxDigit{active: true, ts: ts, event: ev, dur: dur, last: now}
	s.emit(Event{Kind: DigitStart, Digit: digit, At: now})
	if end {
		s.endDigit(now)
	}
}

// endDigit reports the end of the current event. s.rxMu held.
func (s *Session) endDigit(now time.Time) {
	d := &s.rx.dtmf
	d.ended = true
	digit, _ := eventDigit(d.event)
	s.emit(Event{Kind: DigitEnd, Digit: digit, Duration: time.Duration(d.dur) * time.Second / 8000, At: now})
}
