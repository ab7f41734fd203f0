package media

import (
	"net/netip"
	"time"

	"github.com/pion/rtcp"
)

// handleRTCP takes one datagram from the RTCP socket (or RTCP that arrived
// on the RTP socket). Every datagram is counted once: RTCPReceived, foreign
// or malformed.
func (s *Session) handleRTCP(buf []byte, from netip.AddrPort, now time.Time) {
	from = netip.AddrPortFrom(from.Addr().Unmap(), from.Port())
	s.rxMu.Lock()
	defer s.rxMu.Unlock()
	n := s.neg.Load()
	rx := &s.rx
	if n == nil {
		s.c.malformed.Add(1)
		return
	}
	// RTCP is accepted from the remote's host as the SDP or the latched RTP
	// source knows it; its port is whatever it is (NATs rarely keep RTP+1).
	known := from == rx.rtcpFrom || from.Addr() == n.rtcp.Addr() ||
		(rx.latched.IsValid() && from.Addr() == rx.latched.Addr())
	if !known {
		s.c.foreign.Add(1)
		return
	}
	if len(buf) < 8 || len(buf) > maxDatagram || buf[0]>>6 != 2 {
		s.c.malformed.Add(1)
		return
	}
	pkts, err := rtcp.Unmarshal(buf)
	if err != nil {
		s.c.malformed.Add(1)
		return
	}
	s.c.rtcpReceived.Add(1)
	rx.rtcpFrom = from // symmetric RTCP: reply where it came from
	for _, p := range pkts {
		switch p := p.(type) {
		case *rtcp.SenderReport:
			if !rx.haveSSRC || p.SSRC == rx.ssrc {
				rx.lastSR = uint32(p.NTPTime >> 16)
				rx.lastSRAt = now
			}
			s.takeReports(p.Reports, now)
		case *rtcp.ReceiverReport:
			s.takeReports(p.Reports, now)
		case *rtcp.Goodbye:
			s.log.Debug("media: RTCP BYE from the remote", "sources", p.Sources, "reason", p.Reason)
		}
	}
}

// takeReports keeps the remote's view of our stream. s.rxMu held.
func (s *Session) takeReports(reports []rtcp.ReceptionReport, now time.Time) {
	for _, r := range reports {
		if r.SSRC != s.ssrc {
			continue
		}
		peer := &s.rx.peer
		peer.fractionLost = float64(r.FractionLost) / 256
		peer.jitterMs = float64(r.Jitter) / 8
		if r.LastSenderReport == 0 {
			continue // the remote has not seen an SR of ours yet
		}
		// RFC 3550 section 6.4.1: RTT = arrival - LSR - DLSR, all in the
		// middle 32 bits of NTP time (1/65536 s).
		a := uint32(ntpTime(s.wallAt(now)) >> 16)
		rtt := a - r.LastSenderReport - r.Delay
		if int32(rtt) < 0 || rtt > 60<<16 {
			continue // clocks or report nonsense: keep the last good figure
		}
		peer.rtt = time.Duration(uint64(rtt) * uint64(time.Second) >> 16)
	}
}

// wallAt is t on a wall clock that runs with the monotonic clock, so NTP
// timestamps stay consistent if the system clock is stepped mid-call.
func (s *Session) wallAt(t time.Time) time.Time { return s.wall.Add(s.since(t)) }

// reportBlock is our reception report on the remote's stream (RFC 3550
// appendix A.3). s.rxMu held, rx.haveSSRC true.
func (s *Session) reportBlock(now time.Time) rtcp.ReceptionReport {
	rx := &s.rx
	t := &rx.seq
	expected := t.expected()
	lost := int64(expected) - int64(t.received)
	lost = min(max(lost, -1<<23), 1<<23-1) // a 24-bit signed field
	expInt := expected - t.expectedPrior
	recInt := t.received - t.receivedPrior
	t.expectedPrior, t.receivedPrior = expected, t.received
	var fraction uint8
	if lostInt := int64(expInt) - int64(recInt); expInt > 0 && lostInt > 0 {
		fraction = uint8(min(lostInt<<8/int64(expInt), 255))
	}
	var dlsr uint32
	if rx.lastSR != 0 {
		dlsr = uint32(now.Sub(rx.lastSRAt) * 65536 / time.Second)
	}
	return rtcp.ReceptionReport{
		SSRC:               rx.ssrc,
		FractionLost:       fraction,
		TotalLost:          uint32(lost) & 0xFFFFFF,
		LastSequenceNumber: t.extendedMax(),
		Jitter:             uint32(rx.jitter),
		LastSenderReport:   rx.lastSR,
		Delay:              dlsr,
	}
}

// sendRTCP sends a compound report: SR if we sent RTP lately, else RR, with
// our CNAME, and a BYE when the session closes.
func (s *Session) sendRTCP(now time.Time, bye bool) {
	n := s.neg.Load()
	if n == nil {
		return
	}
	s.rxMu.Lock()
	dst := n.rtcp
	if s.rx.rtcpFrom.IsValid() {
		dst = s.rx.rtcpFrom
	}
	var reports []rtcp.ReceptionReport
	if s.rx.haveSSRC && s.rx.seq.started {
		reports = append(reports, s.reportBlock(now))
	}
	s.rxMu.Unlock()
	if !dst.Addr().IsValid() || dst.Addr().IsUnspecified() || dst.Port() == 0 {
		return // held the RFC 2543 way (c=0.0.0.0): nowhere to send
	}

	var first rtcp.Packet = &rtcp.ReceiverReport{SSRC: s.ssrc, Reports: reports}
	// RFC 3550 section 6.4: an SR if we sent data since the report before
	// last.
	sinceSend := s.since(now) - time.Duration(s.c.lastSendNS.Load())
	if sent := s.c.sentPackets.Load(); sent > 0 && sinceSend < 2*s.set.rtcpInterval {
		first = &rtcp.SenderReport{
			SSRC:        s.ssrc,
			NTPTime:     ntpTime(s.wallAt(now)),
			RTPTime:     s.c.lastSentTS.Load() + uint32(sinceSend/125_000),
			PacketCount: uint32(sent),
			OctetCount:  uint32(s.c.sentOctets.Load()),
			Reports:     reports,
		}
	}
	pkts := []rtcp.Packet{first, &rtcp.SourceDescription{Chunks: []rtcp.SourceDescriptionChunk{{
		Source: s.ssrc,
		Items:  []rtcp.SourceDescriptionItem{{Type: rtcp.SDESCNAME, Text: s.cname}},
	}}}}
	if bye {
		pkts = append(pkts, &rtcp.Goodbye{Sources: []uint32{s.ssrc}})
	}
	buf, err := rtcp.Marshal(pkts)
	if err != nil {
		s.log.Warn("media: marshal RTCP", "err", err)
		return
	}
	if _, err := s.rtcpConn.WriteToUDPAddrPort(buf, dst); err != nil {
		if !s.closing.Load() {
			s.log.Debug("media: send RTCP", "to", dst.String(), "err", err)
		}
		return
	}
	s.c.rtcpSent.Add(1)
}
