package media

import (
	"net/netip"
	"time"

	"github.com/pion/rtp"

	"github.com/tipring/tipring/sip/media/jitter"
)

// rxState is the receiving side's state, guarded by Session.rxMu.
type rxState struct {
	pkt      rtp.Packet // reused: Unmarshal aliases the payload into the read buffer
	pcm      [jitter.MaxPacket]int16
	latched  netip.AddrPort // the remote's RTP source, once known
	rtcpFrom netip.AddrPort // the remote's RTCP source, once known
	ssrc     uint32
	haveSSRC bool
	seq      seqTracker
	// loss figures of earlier SSRCs of this call
	lostBefore     int64
	expectedBefore uint64

	jitter      float64 // RFC 3550 A.8, in timestamp units
	lastTransit int32
	haveTransit bool

	firstAt time.Time
	dtmf    rxDigit

	eventsClosed bool // Close closed Session.events: nothing may emit

	lastSR   uint32 // middle 32 bits of the remote's last SR NTP time
	lastSRAt time.Time
	peer     peerView
}

// peerView is what the remote's RTCP reports say about our stream.
type peerView struct {
	fractionLost float64
	jitterMs     float64
	rtt          time.Duration
}

// seqTracker follows a source's sequence numbers as RFC 3550 appendix A.1
// describes: extended highest sequence number, packets received, and
// confirmation of big jumps by a second packet before they are believed.
type seqTracker struct {
	started                      bool
	max                          uint16
	cycles                       uint32 // count of wraps, shifted left 16
	base                         uint32
	bad                          uint32
	received                     uint32
	expectedPrior, receivedPrior uint32
}

const (
	maxDropout  = 3000
	maxMisorder = 100
	seqMod      = 1 << 16
)

func (t *seqTracker) reset(seq uint16) {
	*t = seqTracker{started: true, max: seq, base: uint32(seq), bad: seqMod + 1}
}

// update counts a packet and reports whether to accept it: false for the
// first packet after a jump of the sequence number, until a second one
// confirms the new numbering.
func (t *seqTracker) update(seq uint16) bool {
	if !t.started {
		t.reset(seq)
		t.received = 1
		return true
	}
	switch delta := seq - t.max; {
	case delta < maxDropout:
		if seq < t.max {
			t.cycles += seqMod
		}
		t.max = seq
	case delta <= seqMod-maxMisorder:
		if uint32(seq) != t.bad {
			t.bad = uint32(seq+1) & (seqMod - 1)
			return false
		}
		// Two packets in sequence after the jump: the sender restarted.
		t.reset(seq)
	default:
		// a duplicate or a packet reordered a little
	}
	t.received++
	return true
}

func (t *seqTracker) extendedMax() uint32 { return t.cycles + uint32(t.max) }

func (t *seqTracker) expected() uint32 { return t.extendedMax() - t.base + 1 }

// isRTCP tells RTCP from RTP on a shared port by the packet type byte
// (RFC 5761 section 4): some peers send RTCP to the RTP port. An RTP packet
// with the marker bit and a payload type of 64-95 looks the same, so a
// payload type we negotiated wins.
func isRTCP(b []byte, n *negotiation) bool {
	if len(b) < 2 || b[1] < 192 || b[1] > 223 {
		return false
	}
	pt := b[1] & 0x7f
	return n == nil || (n.recv[pt] == noCodec && int(pt) != n.dtmfPT)
}

// handleRTP validates and takes one datagram from the RTP socket. Every
// datagram is counted exactly once: received, foreign or malformed (or, if
// it is RTCP, by handleRTCP).
func (s *Session) handleRTP(buf []byte, from netip.AddrPort, now time.Time) {
	from = netip.AddrPortFrom(from.Addr().Unmap(), from.Port())
	n := s.neg.Load()
	if isRTCP(buf, n) {
		s.handleRTCP(buf, from, now)
		return
	}
	s.rxMu.Lock()
	defer s.rxMu.Unlock()
	rx := &s.rx
	switch {
	case rx.eventsClosed:
		return // a ReadFrame racing Close: the session is gone
	case n == nil:
		s.c.malformed.Add(1)
		return
	case rx.latched.IsValid() && from != rx.latched:
		s.c.foreign.Add(1)
		return
	case len(buf) < 12 || len(buf) > maxDatagram || buf[0]>>6 != 2:
		s.c.malformed.Add(1)
		return
	}
	p := &rx.pkt
	if err := p.Unmarshal(buf); err != nil {
		s.c.malformed.Add(1)
		return
	}
	event := n.dtmfPT >= 0 && int(p.PayloadType) == n.dtmfPT
	c := n.recv[p.PayloadType]
	switch {
	case event && len(p.Payload) < 4,
		!event && c == noCodec,
		!event && (len(p.Payload) == 0 || len(p.Payload) > jitter.MaxPacket):
		s.c.malformed.Add(1)
		return
	}
	if !rx.haveSSRC || p.SSRC != rx.ssrc {
		s.newSource(p.SSRC)
	}
	if !rx.seq.update(p.SequenceNumber) {
		s.c.malformed.Add(1)
		return
	}

	if !rx.latched.IsValid() {
		// Symmetric RTP: answer wherever the remote's media really comes
		// from, which behind a NAT is not what its SDP says.
		rx.latched = from
		latch := from
		s.sendLatch.Store(&latch)
		if from != n.remote {
			s.emit(Event{Kind: RemoteAddrChanged, At: now, Reason: "latched to " + from.String() + ", SDP said " + n.remote.String()})
		}
	}
	if rx.firstAt.IsZero() {
		rx.firstAt = now
		s.emit(Event{Kind: FirstMedia, At: now, Reason: "from " + from.String()})
	}
	s.c.received.Add(1)
	s.c.receivedOctets.Add(uint64(len(p.Payload)))
	s.c.lastRxNS.Store(int64(s.since(now)))
	s.c.timeoutFired.Store(false)

	if event {
		s.handleEvent(p.Payload, p.Timestamp, now)
		return
	}
	// Interarrival jitter (RFC 3550 A.8) on audio only: the packets of one
	// telephone event share a timestamp and would read as huge jitter.
	arrival := uint32(s.since(now) / 125_000) // in 8 kHz timestamp units
	transit := int32(arrival - p.Timestamp)
	if rx.haveTransit {
		d := float64(transit - rx.lastTransit)
		if d < 0 {
			d = -d
		}
		rx.jitter += (d - rx.jitter) / 16
	}
	rx.lastTransit, rx.haveTransit = transit, true

	k := c.decode(rx.pcm[:], p.Payload)
	s.jbMu.Lock()
	s.jb.Put(p.Timestamp, rx.pcm[:k], s.since(now))
	s.jbMu.Unlock()
	s.c.receivedSamples.Add(uint64(k))
}

// newSource restarts reception for a new SSRC, keeping the loss figures of
// the old one for the call's totals. s.rxMu held.
func (s *Session) newSource(ssrc uint32) {
	rx := &s.rx
	if rx.haveSSRC {
		s.log.Debug("media: remote SSRC changed", "from", rx.ssrc, "to", ssrc)
		if rx.seq.started {
			e := rx.seq.expected()
			rx.lostBefore += int64(e) - int64(rx.seq.received)
			rx.expectedBefore += uint64(e)
		}
		s.jbMu.Lock()
		s.jb.Reset()
		s.jbMu.Unlock()
		rx.dtmf = rxDigit{}
		rx.lastSR, rx.lastSRAt = 0, time.Time{}
	}
	rx.ssrc, rx.haveSSRC = ssrc, true
	rx.seq = seqTracker{}
	rx.jitter, rx.haveTransit = 0, false
}
