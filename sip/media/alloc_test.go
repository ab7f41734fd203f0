package media

import (
	"net"
	"net/netip"
	"testing"
	"time"
)

// sendingSession is a session sending to a loopback sink that never reads.
func sendingSession(t testing.TB) *Session {
	t.Helper()
	s := unstarted(t)
	sink, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sink.Close() })
	n := *s.neg.Load()
	n.remote = sink.LocalAddr().(*net.UDPAddr).AddrPort()
	s.neg.Store(&n)
	return s
}

func TestAudioPathsDoNotAllocate(t *testing.T) {
	s := sendingSession(t)
	frame := make([]int16, 160)
	for i := range frame {
		frame[i] = int16(i * 50)
	}
	if a := testing.AllocsPerRun(200, func() { s.WriteFrame(frame) }); a != 0 {
		t.Errorf("WriteFrame allocates %.1f times per frame", a)
	}
	if err := s.SendDigit('7', 2*time.Second); err != nil {
		t.Fatal(err)
	}
	if a := testing.AllocsPerRun(50, func() { s.WriteFrame(frame) }); a != 0 {
		t.Errorf("WriteFrame sending a digit allocates %.1f times per frame", a)
	}

	r := unstarted(t)
	t0 := time.Now()
	i := 0
	pkt := rtpPacket(5, 0, 0, 0, audio())
	from := netip.MustParseAddrPort("127.0.0.1:6000")
	r.handleRTP(pkt, from, t0) // latch and first-media events happen once
	if a := testing.AllocsPerRun(200, func() {
		i++
		pkt[2], pkt[3] = byte(i>>8), byte(i)
		ts := uint32(i * 160)
		pkt[4], pkt[5], pkt[6], pkt[7] = byte(ts>>24), byte(ts>>16), byte(ts>>8), byte(ts)
		now := t0.Add(time.Duration(i) * 20 * time.Millisecond)
		r.handleRTP(pkt, from, now)
		r.readFrameAt(frame, now.Add(5*time.Millisecond))
	}); a != 0 {
		t.Errorf("receive path allocates %.1f times per frame", a)
	}
}

// BenchmarkSendPath is WriteFrame as the audio clock calls it: G.711
// encoding, the RTP header, and the socket write to a loopback sink.
func BenchmarkSendPath(b *testing.B) {
	s := sendingSession(b)
	frame := make([]int16, 160)
	for i := range frame {
		frame[i] = int16(i * 50)
	}
	b.ReportAllocs()
	for b.Loop() {
		s.WriteFrame(frame)
	}
}

// BenchmarkSendEncode is the send path without the system call.
func BenchmarkSendEncode(b *testing.B) {
	s := sendingSession(b)
	n := s.neg.Load()
	frame := make([]int16, 160)
	for i := range frame {
		frame[i] = int16(i * 50)
	}
	b.ReportAllocs()
	for b.Loop() {
		s.buildAudio(n, frame)
		s.tx.seq++
		s.tx.ts += 160
	}
}

// BenchmarkReceivePath is one packet through validation, statistics,
// decoding and the jitter buffer, and one ReadFrame out of it.
func BenchmarkReceivePath(b *testing.B) {
	r := unstarted(b)
	frame := make([]int16, 160)
	pkt := rtpPacket(5, 0, 0, 0, audio())
	from := netip.MustParseAddrPort("127.0.0.1:6000")
	t0 := time.Now()
	i := 0
	b.ReportAllocs()
	for b.Loop() {
		i++
		pkt[2], pkt[3] = byte(i>>8), byte(i)
		ts := uint32(i * 160)
		pkt[4], pkt[5], pkt[6], pkt[7] = byte(ts>>24), byte(ts>>16), byte(ts>>8), byte(ts)
		now := t0.Add(time.Duration(i) * 20 * time.Millisecond)
		r.handleRTP(pkt, from, now)
		r.readFrameAt(frame, now.Add(5*time.Millisecond))
	}
}

// BenchmarkReceiveConceal is the receive path with every fifth packet lost.
func BenchmarkReceiveConceal(b *testing.B) {
	r := unstarted(b)
	frame := make([]int16, 160)
	pkt := rtpPacket(5, 0, 0, 0, audio())
	from := netip.MustParseAddrPort("127.0.0.1:6000")
	t0 := time.Now()
	i := 0
	b.ReportAllocs()
	for b.Loop() {
		i++
		now := t0.Add(time.Duration(i) * 20 * time.Millisecond)
		if i%5 != 0 {
			pkt[2], pkt[3] = byte(i>>8), byte(i)
			ts := uint32(i * 160)
			pkt[4], pkt[5], pkt[6], pkt[7] = byte(ts>>24), byte(ts>>16), byte(ts>>8), byte(ts)
			r.handleRTP(pkt, from, now)
		}
		r.readFrameAt(frame, now.Add(5*time.Millisecond))
	}
}
