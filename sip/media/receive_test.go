package media

import (
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
)

var (
	remoteAddr  = netip.MustParseAddrPort("127.0.0.1:6000")
	foreignAddr = netip.MustParseAddrPort("127.0.0.1:7000")
)

// unstarted returns a session negotiated with a remote at remoteAddr (PCMU
// and PCMA on 0 and 8, telephone-event on 101) whose goroutines are not
// running: the test feeds its receive path directly.
func unstarted(t testing.TB) *Session {
	t.Helper()
	e, err := NewEngine(testConfig())
	if err != nil {
		t.Fatal(err)
	}
	s, err := e.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	n := &negotiation{codec: pcmu, pt: 0, dtmfPT: 101, remote: remoteAddr,
		rtcp: netip.AddrPortFrom(remoteAddr.Addr(), remoteAddr.Port()+1), send: true, expect: true}
	n.recv[0], n.recv[8] = pcmu, pcma
	s.neg.Store(n)
	return s
}

func rtpPacket(ssrc uint32, seq uint16, ts uint32, pt uint8, payload []byte) []byte {
	p := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: pt, SequenceNumber: seq, Timestamp: ts, SSRC: ssrc}, Payload: payload}
	b, err := p.Marshal()
	if err != nil {
		panic(err)
	}
	return b
}

func audio() []byte {
	b := make([]byte, 160)
	for i := range b {
		b[i] = byte(i) // loud, varied μ-law
	}
	return b
}

// counted is every datagram the receive path has accounted for.
func counted(s *Session) uint64 {
	return s.c.received.Load() + s.c.foreign.Load() + s.c.malformed.Load() + s.c.rtcpReceived.Load()
}

func TestReceiveValidation(t *testing.T) {
	s := unstarted(t)
	t0 := time.Now()
	good := rtpPacket(1, 100, 1000, 0, audio())
	withExt := rtpPacket(1, 101, 1160, 0, audio())
	withExt[0] |= 0x10 // extension bit without an extension
	padded := append(rtpPacket(1, 101, 1160, 0, audio()), 0, 0, 200)
	padded[0] |= 0x20 // padding longer than the packet
	cases := []struct {
		name string
		pkt  []byte
		from netip.AddrPort
		want func(Stats) uint64
	}{
		{"good", good, remoteAddr, func(s Stats) uint64 { return s.PacketsReceived }},
		{"foreign after latching", rtpPacket(1, 101, 1160, 0, audio()), foreignAddr, func(s Stats) uint64 { return s.ForeignPackets }},
		{"too short", good[:11], remoteAddr, func(s Stats) uint64 { return s.Malformed }},
		{"version 1", append([]byte{0x40}, good[1:]...), remoteAddr, func(s Stats) uint64 { return s.Malformed }},
		{"payload type not negotiated", rtpPacket(1, 101, 1160, 9, audio()), remoteAddr, func(s Stats) uint64 { return s.Malformed }},
		{"comfort noise not negotiated", rtpPacket(1, 101, 1160, 13, []byte{40}), remoteAddr, func(s Stats) uint64 { return s.Malformed }},
		{"oversized", rtpPacket(1, 101, 1160, 0, make([]byte, 1600)), remoteAddr, func(s Stats) uint64 { return s.Malformed }},
		{"empty audio", rtpPacket(1, 101, 1160, 0, nil), remoteAddr, func(s Stats) uint64 { return s.Malformed }},
		{"short telephone event", rtpPacket(1, 101, 1160, 101, []byte{1, 2, 3}), remoteAddr, func(s Stats) uint64 { return s.Malformed }},
		{"truncated extension", withExt[:14], remoteAddr, func(s Stats) uint64 { return s.Malformed }},
		{"bad padding", padded, remoteAddr, func(s Stats) uint64 { return s.Malformed }},
		{"PCMA also accepted", rtpPacket(1, 101, 1160, 8, audio()), remoteAddr, func(s Stats) uint64 { return s.PacketsReceived }},
	}
	for i, c := range cases {
		before := c.want(s.Stats())
		s.handleRTP(c.pkt, c.from, t0.Add(time.Duration(i)*time.Millisecond))
		if after := c.want(s.Stats()); after != before+1 {
			t.Errorf("%s: counter went %d -> %d, want +1", c.name, before, after)
		}
		if counted(s) != uint64(i+1) {
			t.Errorf("%s: %d datagrams accounted for after %d", c.name, counted(s), i+1)
		}
	}
	if st := s.Stats(); st.LatchedAddr != remoteAddr || st.BytesReceived != 320 || st.AudioReceived != 40*time.Millisecond {
		t.Errorf("stats %+v", st)
	}
}

func TestSequenceWrapAndLoss(t *testing.T) {
	s := unstarted(t)
	t0 := time.Now()
	seq, ts := uint16(65530), uint32(1<<32-800)
	for i := range 20 {
		if i != 8 && i != 9 { // two lost, straddling the wrap of ts
			s.handleRTP(rtpPacket(7, seq, ts, 0, audio()), remoteAddr, t0.Add(time.Duration(i)*20*time.Millisecond))
		}
		seq++
		ts += 160
	}
	st := s.Stats()
	if st.PacketsLost != 2 || st.PacketsReceived != 18 {
		t.Fatalf("lost %d received %d, want 2 and 18", st.PacketsLost, st.PacketsReceived)
	}
	s.rxMu.Lock()
	rb := s.reportBlock(t0.Add(400 * time.Millisecond))
	s.rxMu.Unlock()
	const lastSeq = 1<<16 + 13 // 65530+19, one wrap
	if rb.LastSequenceNumber != lastSeq || rb.TotalLost != 2 || rb.FractionLost != 2*256/20 {
		t.Errorf("report block %+v: want extended seq %d, 2 lost, fraction %d", rb, lastSeq, 2*256/20)
	}
}

func TestSequenceJumpNeedsConfirmation(t *testing.T) {
	s := unstarted(t)
	t0 := time.Now()
	for i := range 5 {
		s.handleRTP(rtpPacket(7, uint16(100+i), uint32(i*160), 0, audio()), remoteAddr, t0)
	}
	// One packet far ahead is not believed...
	s.handleRTP(rtpPacket(7, 30000, 800, 0, audio()), remoteAddr, t0)
	if st := s.Stats(); st.Malformed != 1 || st.PacketsReceived != 5 {
		t.Fatalf("single jump: %+v", st)
	}
	// ...but two in sequence mean the sender restarted its numbering.
	s.handleRTP(rtpPacket(7, 30001, 960, 0, audio()), remoteAddr, t0)
	s.handleRTP(rtpPacket(7, 30002, 1120, 0, audio()), remoteAddr, t0)
	if st := s.Stats(); st.PacketsReceived != 7 || st.PacketsLost != 0 {
		t.Fatalf("after the confirmed jump: received %d lost %d, want 7 and 0", st.PacketsReceived, st.PacketsLost)
	}
}

func TestSSRCChangeKeepsTotals(t *testing.T) {
	s := unstarted(t)
	t0 := time.Now()
	for i := range 10 {
		if i != 4 {
			s.handleRTP(rtpPacket(1, uint16(i), uint32(i*160), 0, audio()), remoteAddr, t0.Add(time.Duration(i)*20*time.Millisecond))
		}
	}
	// A new source (a media server switching streams), its own numbering.
	for i := range 10 {
		if i != 6 {
			s.handleRTP(rtpPacket(2, uint16(5000+i), uint32(900000+i*160), 0, audio()), remoteAddr, t0.Add(time.Duration(10+i)*20*time.Millisecond))
		}
	}
	st := s.Stats()
	if st.PacketsLost != 2 || st.PacketsReceived != 18 || st.Malformed != 0 {
		t.Fatalf("across an SSRC change: lost %d received %d malformed %d, want 2, 18, 0", st.PacketsLost, st.PacketsReceived, st.Malformed)
	}
	// The jitter buffer follows the new source.
	pcm := make([]int16, 160)
	s.readFrameAt(pcm, t0.Add(400*time.Millisecond)) // plays the new source at 360 ms
	if !slices.ContainsFunc(pcm, func(v int16) bool { return v != 0 }) {
		t.Error("silence after the SSRC change")
	}
}

func eventPacket(seq uint16, ts uint32, ev byte, end bool, dur uint16) []byte {
	p := []byte{ev, 10, byte(dur >> 8), byte(dur)}
	if end {
		p[1] |= 0x80
	}
	return rtpPacket(9, seq, ts, 101, p)
}

func TestReceiveDigits(t *testing.T) {
	s := unstarted(t)
	t0 := time.Now()
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	seq := uint16(0)
	send := func(ms int, ts uint32, ev byte, end bool, dur uint16) {
		s.handleRTP(eventPacket(seq, ts, ev, end, dur), remoteAddr, at(ms))
		seq++
	}
	// '1': its end packets are all lost; '2' starts.
	send(0, 1000, 1, false, 160)
	send(20, 1000, 1, false, 320)
	send(40, 2000, 2, false, 160)
	// '2' ends, the end sent three times.
	send(60, 2000, 2, true, 400)
	send(80, 2000, 2, true, 400)
	send(100, 2000, 2, true, 400)
	// A straggler of '1' changes nothing.
	send(110, 1000, 1, false, 480)
	// '#' whose start was lost: its end alone reports it.
	send(200, 3000, 11, true, 800)
	// '*' with no end at all: ended by the watchdog.
	send(300, 4000, 10, false, 160)
	s.watch(at(300 + 499))
	s.watch(at(300 + 500))

	want := []struct {
		kind  EventKind
		digit byte
		dur   time.Duration
	}{
		{FirstMedia, 0, 0},
		{DigitStart, '1', 0}, {DigitEnd, '1', 40 * time.Millisecond},
		{DigitStart, '2', 0}, {DigitEnd, '2', 50 * time.Millisecond},
		{DigitStart, '#', 0}, {DigitEnd, '#', 100 * time.Millisecond},
		{DigitStart, '*', 0}, {DigitEnd, '*', 20 * time.Millisecond},
	}
	var got []Event
	for len(s.events) > 0 {
		got = append(got, <-s.events)
	}
	if len(got) != len(want) {
		t.Fatalf("got %d events, want %d: %+v", len(got), len(want), got)
	}
	for i, w := range want {
		if got[i].Kind != w.kind || got[i].Digit != w.digit || got[i].Duration != w.dur {
			t.Errorf("event %d: %v %q %v, want %v %q %v", i, got[i].Kind, got[i].Digit, got[i].Duration, w.kind, w.digit, w.dur)
		}
	}
}

func TestRTCPRoundTripMath(t *testing.T) {
	s := unstarted(t)
	t0 := time.Now()
	// The remote received our SR at t0 and reports 100 ms later; its report
	// reaches us at t0+150 ms: the network took 50 ms both ways.
	lsr := uint32(ntpTime(s.wallAt(t0)) >> 16)
	rr := &rtcp.ReceiverReport{SSRC: 9, Reports: []rtcp.ReceptionReport{{
		SSRC: s.ssrc, FractionLost: 64, TotalLost: 12, Jitter: 80, LastSenderReport: lsr, Delay: 65536 / 10,
	}}}
	buf, err := rtcp.Marshal([]rtcp.Packet{rr})
	if err != nil {
		t.Fatal(err)
	}
	s.handleRTCP(buf, netip.AddrPortFrom(remoteAddr.Addr(), 6001), t0.Add(150*time.Millisecond))
	st := s.Stats()
	if d := st.RTT - 50*time.Millisecond; d < -50*time.Microsecond || d > 50*time.Microsecond {
		t.Errorf("RTT %v, want 50ms", st.RTT)
	}
	if st.RemoteFractionLost != 0.25 || st.RemoteJitterMs != 10 || st.RTCPReceived != 1 {
		t.Errorf("remote view %+v", st)
	}
	// A report about someone else's stream changes nothing.
	rr.Reports[0].SSRC = s.ssrc + 1
	rr.Reports[0].FractionLost = 255
	buf, _ = rtcp.Marshal([]rtcp.Packet{rr})
	s.handleRTCP(buf, netip.AddrPortFrom(remoteAddr.Addr(), 6001), t0.Add(time.Second))
	if st := s.Stats(); st.RemoteFractionLost != 0.25 {
		t.Errorf("report on another SSRC taken: %+v", st)
	}
}

func TestRTCPSenderReportEchoed(t *testing.T) {
	s := unstarted(t)
	t0 := time.Now()
	s.handleRTP(rtpPacket(9, 1, 160, 0, audio()), remoteAddr, t0)
	sr := &rtcp.SenderReport{SSRC: 9, NTPTime: 0x1234_5678_9abc_def0, PacketCount: 1}
	buf, _ := rtcp.Marshal([]rtcp.Packet{sr})
	// RTCP arriving on the RTP port (RFC 5761 demultiplexing) counts too.
	s.handleRTP(buf, remoteAddr, t0)
	s.rxMu.Lock()
	rb := s.reportBlock(t0.Add(250 * time.Millisecond))
	s.rxMu.Unlock()
	if rb.LastSenderReport != 0x5678_9abc || rb.Delay != 65536/4 {
		t.Errorf("report block LSR %#x DLSR %d, want 0x56789abc and %d", rb.LastSenderReport, rb.Delay, 65536/4)
	}
	// Garbage and strangers.
	s.handleRTCP([]byte{0x80, 200, 0, 50, 1, 2, 3, 4}, remoteAddr, t0)
	s.handleRTCP(buf, netip.MustParseAddrPort("127.0.0.2:6001"), t0)
	if st := s.Stats(); st.RTCPReceived != 1 || st.Malformed != 1 || st.ForeignPackets != 1 {
		t.Errorf("stats %+v", st)
	}
}
