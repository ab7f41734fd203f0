package media

import (
	"math"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pion/rtcp"
)

func addSDPSeeds(f *testing.F) {
	files, err := filepath.Glob(filepath.Join("testdata", "sdp", "*.sdp"))
	if err != nil {
		f.Fatal(err)
	}
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
}

func checkErr(t *testing.T, err error) {
	t.Helper()
	if !strings.HasPrefix(err.Error(), "media: ") {
		t.Fatalf("error without context: %v", err)
	}
}

func FuzzAnswer(f *testing.F) {
	addSDPSeeds(f)
	f.Fuzz(func(t *testing.T, offer []byte) {
		r, err := parseSDP(offer)
		if err != nil {
			checkErr(t, err)
			return
		}
		body, n, err := testLocal().answerTo(r, noCodec)
		if err != nil {
			checkErr(t, err)
			return
		}
		if n.codec == noCodec || n.recv[n.pt] != n.codec || (n.dtmfPT < -1 || n.dtmfPT > 127) {
			t.Fatalf("bad negotiation %+v", n)
		}
		back, err := parseSDP(body)
		if err != nil {
			t.Fatalf("our answer does not parse: %v\n%s", err, body)
		}
		if len(back.media) != len(r.media) {
			t.Fatalf("answer has %d m= lines for %d offered", len(back.media), len(r.media))
		}
		accepted := 0
		for _, m := range back.media {
			if m.port != 0 {
				accepted++
				if m.media != "audio" || m.port != 40000 {
					t.Fatalf("accepted stream %+v", m)
				}
			}
		}
		if accepted != 1 {
			t.Fatalf("answer accepts %d streams, want 1:\n%s", accepted, body)
		}
	})
}

func FuzzSetAnswer(f *testing.F) {
	addSDPSeeds(f)
	f.Fuzz(func(t *testing.T, answer []byte) {
		r, err := parseSDP(answer)
		if err != nil {
			checkErr(t, err)
			return
		}
		n, err := testLocal().answered(r)
		if err != nil {
			checkErr(t, err)
			return
		}
		if (n.codec != pcmu && n.codec != pcma) || n.recv[n.pt] != n.codec || !n.remote.Addr().IsValid() {
			t.Fatalf("bad negotiation %+v", n)
		}
	})
}

// fuzzConns are sockets for fuzzed sessions, bound once per process: the
// sessions are never started, so nothing reads or closes them.
func fuzzConns(tb testing.TB) (*net.UDPConn, *net.UDPConn) {
	a, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		tb.Fatal(err)
	}
	b, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { a.Close(); b.Close() })
	return a, b
}

// fuzzSession is a fresh negotiated session on shared sockets.
func fuzzSession(t testing.TB, set settings, a, b *net.UDPConn) *Session {
	s := newSession(set, time.Now, a, b)
	n := &negotiation{codec: pcmu, pt: 0, dtmfPT: 101, remote: remoteAddr,
		rtcp: netip.AddrPortFrom(remoteAddr.Addr(), remoteAddr.Port()+1), send: true, expect: true}
	n.recv[0], n.recv[8] = pcmu, pcma
	s.neg.Store(n)
	return s
}

func checkSane(t *testing.T, s *Session) {
	t.Helper()
	st := s.Stats()
	bad := func(v float64, lo, hi float64) bool { return math.IsNaN(v) || v < lo || v > hi }
	if bad(st.FractionLost, 0, 1) || bad(st.RemoteFractionLost, 0, 1) || bad(st.JitterMs, 0, math.MaxUint32) ||
		bad(st.RemoteJitterMs, 0, math.MaxUint32) || st.RTT < 0 || st.RTT > time.Minute || math.IsNaN(st.JitterBufferMs) {
		t.Fatalf("insane stats %+v", st)
	}
	if st.PacketsLost > int64(math.MaxUint32) || st.PacketsLost < -int64(st.PacketsReceived) {
		t.Fatalf("lost %d with %d received", st.PacketsLost, st.PacketsReceived)
	}
}

// FuzzRTPReceive feeds datagrams to the receive path. Each record is a
// flags byte (bit 0: from a foreign address; bit 1: to the RTCP socket;
// bit 2: read a frame afterwards; bits 3-7: length / 256), a length byte,
// then the datagram.
func FuzzRTPReceive(f *testing.F) {
	rec := func(flags byte, pkt []byte) []byte {
		return append([]byte{flags | byte(len(pkt)>>8)<<3, byte(len(pkt))}, pkt...)
	}
	var stream []byte
	for i := range 8 {
		stream = append(stream, rec(4, rtpPacket(3, uint16(i), uint32(i*160), 0, audio()))...)
	}
	f.Add(stream)
	f.Add(append(rec(0, rtpPacket(3, 1, 0, 101, []byte{5, 10, 0, 160})), rec(0, rtpPacket(3, 2, 0, 101, []byte{5, 0x8a, 3, 32}))...))
	f.Add(append(rec(0, rtpPacket(3, 65535, 1<<32-160, 8, audio())), rec(4, rtpPacket(4, 0, 0, 0, audio()))...))
	sr, _ := rtcp.Marshal([]rtcp.Packet{&rtcp.SenderReport{SSRC: 3, NTPTime: 1 << 40}})
	f.Add(append(rec(0, sr), rec(3, sr)...))
	f.Add(rec(0, make([]byte, 1600)))
	set, err := testConfig().settings()
	if err != nil {
		f.Fatal(err)
	}
	a, b := fuzzConns(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		s := fuzzSession(t, set, a, b)
		t0 := time.Now()
		frame := make([]int16, 160)
		handled := uint64(0)
		for i := 0; len(data) >= 2 && i < 100; i++ {
			flags := data[0]
			n := min(int(flags>>3)<<8|int(data[1]), len(data)-2)
			pkt := data[2 : 2+n]
			data = data[2+n:]
			from := remoteAddr
			if flags&1 != 0 {
				from = foreignAddr
			}
			now := t0.Add(time.Duration(i) * 7 * time.Millisecond)
			if flags&2 != 0 {
				s.handleRTCP(pkt, netip.AddrPortFrom(from.Addr(), from.Port()+1), now)
			} else {
				s.handleRTP(pkt, from, now)
			}
			handled++
			if got := counted(s); got != handled {
				t.Fatalf("%d datagrams handled, %d accounted for", handled, got)
			}
			if flags&4 != 0 {
				s.readFrameAt(frame, now)
			}
		}
		s.watch(t0.Add(time.Hour))
		checkSane(t, s)
	})
}

func FuzzRTCPReceive(f *testing.F) {
	rr, _ := rtcp.Marshal([]rtcp.Packet{
		&rtcp.ReceiverReport{SSRC: 3, Reports: []rtcp.ReceptionReport{{SSRC: 1, FractionLost: 10, TotalLost: 5, LastSenderReport: 77, Delay: 100}}},
		&rtcp.SourceDescription{Chunks: []rtcp.SourceDescriptionChunk{{Source: 3, Items: []rtcp.SourceDescriptionItem{{Type: rtcp.SDESCNAME, Text: "x"}}}}},
	})
	f.Add(rr)
	sr, _ := rtcp.Marshal([]rtcp.Packet{&rtcp.SenderReport{SSRC: 3, NTPTime: 1 << 40, Reports: []rtcp.ReceptionReport{{SSRC: 1}}}, &rtcp.Goodbye{Sources: []uint32{3}, Reason: "bye"}})
	f.Add(sr)
	f.Add([]byte{0x80, 201, 0, 1, 0, 0, 0, 3})
	f.Add([]byte{0x81, 201, 0xff, 0xff})
	set, err := testConfig().settings()
	if err != nil {
		f.Fatal(err)
	}
	a, b := fuzzConns(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		s := fuzzSession(t, set, a, b)
		// Let the report blocks be about us, whatever SSRC we drew.
		if len(data) >= 32 && data[1] == 201 {
			data = append([]byte(nil), data...)
			data[8], data[9], data[10], data[11] = byte(s.ssrc>>24), byte(s.ssrc>>16), byte(s.ssrc>>8), byte(s.ssrc)
		}
		t0 := time.Now()
		s.handleRTP(rtpPacket(3, 1, 0, 0, audio()), remoteAddr, t0)
		s.handleRTCP(data, netip.AddrPortFrom(remoteAddr.Addr(), remoteAddr.Port()+1), t0.Add(time.Second))
		if got := counted(s); got != 2 {
			t.Fatalf("2 datagrams, %d accounted for", got)
		}
		// Our next report, from whatever we took in (built, not sent).
		s.rxMu.Lock()
		rb := s.reportBlock(t0.Add(2 * time.Second))
		s.rxMu.Unlock()
		if _, err := rb.Marshal(); err != nil {
			t.Fatalf("our report block does not marshal: %v (%+v)", err, rb)
		}
		checkSane(t, s)
	})
}
