//go:build linux && !386

package media

import (
	"encoding/binary"
	"net"
	"net/netip"
	"sync"
	"syscall"
	"testing"
	"time"
	"unsafe"
)

// needDrain skips a test of ReadFrame reading RTP where the kernel gives
// no receive timestamps (qemu-user, for one): there it does not.
func needDrain(t testing.TB, s *Session) {
	t.Helper()
	if !s.rtp.canRecv() {
		t.Skip("no kernel receive timestamps here: the read goroutine reads all RTP")
	}
}

// pace runs f at start+k*period for k = 0, 1, ... n-1, on the real clock.
func pace(start time.Time, period time.Duration, n int, f func(k int)) {
	for k := range n {
		time.Sleep(time.Until(start.Add(time.Duration(k) * period)))
		f(k)
	}
}

func TestClockedSessionReadsInReadFrame(t *testing.T) {
	t.Parallel()
	a := newTestSession(t, testConfig())
	// RTPTimeout 1 s: the watch ticks every 100 ms.
	b := newTestSession(t, testConfig(func(c *Config) { c.RTPTimeout = time.Second }))
	needDrain(t, b)
	connect(t, a, b, nil, nil)
	say := tone(1004, toneDBm0)
	pcm := make([]int16, frameSamples)
	allTaken := func() bool { return b.Stats().PacketsReceived == a.Stats().PacketsSent }

	// The board's audio clock: WriteFrame on one side, ReadFrame on the
	// other, every 20 ms.
	pace(time.Now(), 20*time.Millisecond, 50, func(int) {
		a.WriteFrame(say())
		b.ReadFrame(pcm)
	})
	if !waitFor(5*time.Second, func() bool { b.ReadFrame(pcm); return allTaken() }) {
		t.Fatalf("clocked: %d packets sent, %d received", a.Stats().PacketsSent, b.Stats().PacketsReceived)
	}
	st := b.Stats()
	drained := b.c.drained.Load()
	byGoroutine := st.PacketsReceived - drained
	// The goroutine takes what comes before the first ReadFrame, and one
	// more packet at most before it sees the session is clocked.
	if byGoroutine > 2 || b.c.parks.Load() != 1 || b.rxOwner.Load() != rxParked {
		t.Errorf("clocked: %d of %d packets read by the goroutine, it parked %d times, owner %d; want at most 2, once, parked",
			byGoroutine, st.PacketsReceived, b.c.parks.Load(), b.rxOwner.Load())
	}
	if st.Malformed != 0 || st.ForeignPackets != 0 || st.PacketsLost != 0 || st.AudioReceived != time.Second {
		t.Errorf("clocked: %+v", st)
	}

	// ReadFrame stops (the call is put aside, nobody clocks it): the
	// goroutine takes over again, within clockedFor and a watch tick.
	sent := a.Stats().PacketsSent
	pace(time.Now(), 20*time.Millisecond, 20, func(int) { a.WriteFrame(say()) })
	if !waitFor(5*time.Second, allTaken) {
		t.Fatalf("unclocked: %d packets sent, %d received", a.Stats().PacketsSent, b.Stats().PacketsReceived)
	}
	if b.c.drained.Load() != drained || b.rxOwner.Load() != rxReader {
		t.Errorf("unclocked: ReadFrame took %d more, owner %d; want 0 and the goroutine", b.c.drained.Load()-drained, b.rxOwner.Load())
	}
	if got := b.Stats().PacketsReceived - st.PacketsReceived; got != a.Stats().PacketsSent-sent {
		t.Errorf("unclocked: received %d of %d", got, a.Stats().PacketsSent-sent)
	}

	// Clocked again: the goroutine stands aside once more.
	pace(time.Now(), 20*time.Millisecond, 10, func(int) {
		a.WriteFrame(say())
		b.ReadFrame(pcm)
	})
	if !waitFor(5*time.Second, func() bool { b.ReadFrame(pcm); return allTaken() }) {
		t.Fatalf("clocked again: %d packets sent, %d received", a.Stats().PacketsSent, b.Stats().PacketsReceived)
	}
	if b.c.parks.Load() != 2 || b.c.drained.Load() < drained+8 {
		t.Errorf("clocked again: parked %d times, ReadFrame took %d; want 2 and at least 8", b.c.parks.Load(), b.c.drained.Load()-drained)
	}
	st = b.Stats()
	if st.PacketsReceived != a.Stats().PacketsSent || st.Malformed != 0 || st.PacketsLost != 0 {
		t.Errorf("in all: %+v, %d sent", st, a.Stats().PacketsSent)
	}
}

// rfc3550Jitter is RFC 3550 A.8's estimate, in ms, for 8 kHz packets with
// the given RTP timestamps arriving at the given times.
func rfc3550Jitter(ts []uint32, at []time.Duration) float64 {
	var j float64
	for i := 1; i < len(ts); i++ {
		d := float64(int32(uint32(at[i]/125_000)-ts[i]) - int32(uint32(at[i-1]/125_000)-ts[i-1]))
		if d < 0 {
			d = -d
		}
		j += (d - j) / 16
	}
	return j / 8
}

func TestKernelArrivalTimesKeepJitterExact(t *testing.T) {
	t.Parallel()
	b := newTestSession(t, testConfig())
	needDrain(t, b)
	if _, err := b.Answer(toSink(t, readSDP(t, "sipp-uac.sdp"))); err != nil {
		t.Fatal(err)
	}
	remote := bindTestPair(t)
	defer remote[1].Close()
	defer remote[0].Close()

	// A perfectly paced stream: each packet's RTP timestamp is the moment
	// it is sent, so the only jitter is the network's (loopback: none).
	// The phone reads every 21 ms: the phase of its reads against the
	// packets drifts across a whole frame four times in the run.
	const n = 100
	ts := make([]uint32, n)
	start := time.Now()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		pace(start, 20*time.Millisecond, n, func(k int) {
			ts[k] = 1000 + uint32(time.Since(start)/125_000)
			if _, err := remote[0].WriteToUDPAddrPort(rtpPacket(77, uint16(k), ts[k], 0, audio()), b.LocalAddr()); err != nil {
				t.Error(err)
			}
		})
	}()
	pcm := make([]int16, frameSamples)
	// What arrival times taken at the reads would be: each packet at the
	// first read that finds it.
	var tick []time.Duration
	pace(start.Add(10*time.Millisecond), 21*time.Millisecond, n*20/21, func(int) {
		b.ReadFrame(pcm)
		for range b.Stats().PacketsReceived - uint64(len(tick)) {
			tick = append(tick, time.Since(start))
		}
	})
	wg.Wait()
	if !waitFor(5*time.Second, func() bool { b.ReadFrame(pcm); return b.Stats().PacketsReceived == n }) {
		t.Fatalf("received %d of %d", b.Stats().PacketsReceived, n)
	}
	st := b.Stats()
	if d := b.c.drained.Load(); d < n-3 {
		t.Fatalf("ReadFrame took in %d of %d packets: the read goroutine did not stand aside", d, n)
	}
	t.Logf("interarrival jitter %.3f ms with kernel timestamps; %.2f ms if stamped at the reads",
		st.JitterMs, rfc3550Jitter(ts[:len(tick)], tick))
	if st.JitterMs > 1 {
		t.Errorf("interarrival jitter %.2f ms of a perfectly paced stream on loopback, want near 0 (< 1 ms)", st.JitterMs)
	}
}

func TestIPv6Call(t *testing.T) {
	t.Parallel()
	probe, err := net.ListenUDP("udp6", &net.UDPAddr{IP: net.IPv6loopback})
	if err != nil {
		t.Skip("no IPv6 loopback:", err)
	}
	probe.Close()
	v6 := func(c *Config) { c.BindIP = "::1" }
	call := newCall(t)
	a := call.session(testConfig(v6))
	b := call.session(testConfig(v6))
	connect(t, a, b, nil, nil)
	pa := call.join(a, tone(1004, toneDBm0), b)
	pb := call.join(b, tone(697, toneDBm0), a)
	call.talk(time.Second)
	checkTone(t, "B hears A over IPv6", pb.heard[len(pb.heard)-4000:], 1004, toneDBm0)
	checkTone(t, "A hears B over IPv6", pa.heard[len(pa.heard)-4000:], 697, toneDBm0)
	for _, s := range []*Session{a, b} {
		st := s.Stats()
		drainedEnough := !s.rtp.canRecv() || s.c.drained.Load() >= 45
		if !st.LatchedAddr.Addr().Is6() || st.LatchedAddr != st.RemoteAddr || st.PacketsReceived != 50 || !drainedEnough {
			t.Errorf("%v: %+v, %d drained", s.LocalAddr(), st, s.c.drained.Load())
		}
	}
}

func TestDrainingReadFrameDoesNotAllocate(t *testing.T) {
	r := unstarted(t)
	needDrain(t, r)
	r.rxOwner.Store(rxParked) // as a started session's read goroutine does
	s := unstarted(t)
	n := *s.neg.Load()
	n.remote = r.LocalAddr()
	s.neg.Store(&n)
	frame := tone(1004, toneDBm0)()
	pcm := make([]int16, frameSamples)
	// The first packet latches and announces the first media.
	s.WriteFrame(frame)
	waitFor(5*time.Second, func() bool { r.ReadFrame(pcm); return r.Stats().PacketsReceived == 1 })
	if a := testing.AllocsPerRun(200, func() {
		s.WriteFrame(frame)
		r.ReadFrame(pcm)
	}); a != 0 {
		t.Errorf("WriteFrame and ReadFrame with a datagram to take in allocate %.1f times per frame", a)
	}
	waitFor(5*time.Second, func() bool { r.ReadFrame(pcm); return r.Stats().PacketsReceived == s.Stats().PacketsSent })
	if st := r.Stats(); st.PacketsReceived != s.Stats().PacketsSent || r.c.drained.Load() != st.PacketsReceived {
		t.Errorf("received %d, ReadFrame took in %d, of %d sent", st.PacketsReceived, r.c.drained.Load(), s.Stats().PacketsSent)
	}
}

func TestSendAddressErrors(t *testing.T) {
	s := unstarted(t) // an IPv4 socket
	frame := make([]int16, frameSamples)
	for _, dst := range []netip.AddrPort{{}, netip.MustParseAddrPort("[2001:db8::1]:5004")} {
		n := *s.neg.Load()
		n.remote = dst
		s.neg.Store(&n)
		s.WriteFrame(frame)
		if st := s.Stats(); st.PacketsSent != 0 {
			t.Errorf("to %v: %d packets sent", dst, st.PacketsSent)
		}
	}
	if got := testing.AllocsPerRun(20, func() { s.WriteFrame(frame) }); got != 0 {
		t.Errorf("failing sends allocate %.1f times per frame", got)
	}
}

// BenchmarkReadFrameDrain is ReadFrame on the audio clock of a call: the
// recvmsg of a waiting datagram with its kernel timestamp, the recvmsg that
// finds the socket empty, validation, statistics, decoding, the jitter
// buffer and the frame out. The datagrams are sent, in batches, outside the
// timed part; per frame the work is the same as one arriving per frame.
func BenchmarkReadFrameDrain(b *testing.B) {
	r := unstarted(b)
	needDrain(b, r)
	r.rxOwner.Store(rxParked)
	clock := &fakeClock{base: time.Now()}
	r.now = clock.now
	src, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		b.Fatal(err)
	}
	defer src.Close()
	const batch = 32
	pkt := rtpPacket(5, 0, 0, 0, audio())
	pcm := make([]int16, frameSamples)
	seq := 0
	b.ReportAllocs()
	for b.Loop() {
		if seq%batch == 0 {
			b.StopTimer()
			for k := range batch {
				i := seq + k
				binary.BigEndian.PutUint16(pkt[2:], uint16(i))
				binary.BigEndian.PutUint32(pkt[4:], uint32(i*frameSamples))
				if _, err := src.WriteToUDPAddrPort(pkt, r.LocalAddr()); err != nil {
					b.Fatal(err)
				}
			}
			b.StartTimer()
		}
		seq++
		clock.advance(20 * time.Millisecond)
		r.ReadFrame(pcm)
	}
	b.StopTimer()
	if d := r.c.drained.Load(); d < uint64(seq)*9/10 {
		b.Fatalf("ReadFrame took in %d of %d datagrams", d, seq)
	}
}

func TestArrivalAt(t *testing.T) {
	now := time.Now()
	wall := now.UnixNano()
	for _, c := range []struct {
		stamp int64
		want  time.Duration // before now
	}{
		{0, 0},                                   // no stamp: now
		{wall - 3_000_000, 3 * time.Millisecond}, // 3 ms ago
		{wall + 1_000_000, 0},                    // the clock stepped back: now
		{wall - 60e9, maxArrivalAge},             // stepped forward, or a stall
	} {
		if got := now.Sub(arrivalAt(now, wall, c.stamp)); got != c.want {
			t.Errorf("stamp %d ns before the wall clock: arrival %v before now, want %v", wall-c.stamp, got, c.want)
		}
	}
}

// cmsgTimestamp is a control message as the kernel writes it for
// SCM_TIMESTAMPNS on this architecture, at ns after 1970.
func cmsgTimestamp(ns int64) []byte {
	ts := syscall.NsecToTimespec(ns)
	b := make([]byte, syscall.CmsgSpace(int(unsafe.Sizeof(ts)))) // 8-aligned, as the heap is
	h := (*syscall.Cmsghdr)(unsafe.Pointer(&b[0]))
	h.Level, h.Type = syscall.SOL_SOCKET, syscall.SCM_TIMESTAMPNS
	h.SetLen(syscall.CmsgLen(int(unsafe.Sizeof(ts))))
	*(*syscall.Timespec)(unsafe.Pointer(&b[syscall.CmsgLen(0)])) = ts
	return b
}

func TestControlTimestamp(t *testing.T) {
	const sec, nsec = 1_790_000_000, 123_456_789
	one := cmsgTimestamp(sec*1e9 + nsec)
	other := cmsgTimestamp(sec*1e9 + nsec)
	(*syscall.Cmsghdr)(unsafe.Pointer(&other[0])).Type = syscall.SCM_RIGHTS
	badNsec := cmsgTimestamp(sec * 1e9)
	(*syscall.Timespec)(unsafe.Pointer(&badNsec[syscall.CmsgLen(0)])).Nsec = 1e9
	for _, c := range []struct {
		name string
		b    []byte
		ok   bool
	}{
		{"one", one, true},
		{"after another message", append(other, one...), true},
		{"truncated", one[:len(one)-1], false},
		{"none", nil, false},
		{"only another", other, false},
		{"bad nanoseconds", badNsec, false},
	} {
		got, ok := controlTimestamp(c.b)
		if ok != c.ok || ok && got != sec*1e9+nsec {
			t.Errorf("%s: %d %v, want %v", c.name, got, ok, c.ok)
		}
	}
}

func FuzzControlTimestamp(f *testing.F) {
	one := cmsgTimestamp(1_790_000_000e9 + 5)
	f.Add(one)
	f.Add(append(append([]byte(nil), one...), one...))
	f.Add(one[:10])
	f.Fuzz(func(t *testing.T, b []byte) {
		ns, ok := controlTimestamp(b)
		if ok && (ns <= 0 || ns >= (1<<33)*1e9) {
			t.Fatalf("timestamp %d out of range", ns)
		}
		if !ok && ns != 0 {
			t.Fatalf("not found but %d", ns)
		}
	})
}

func TestSockaddrRoundTrip(t *testing.T) {
	for _, c := range []struct {
		dst string
		v6  bool
	}{
		{"127.0.0.1:5004", false},
		{"[::ffff:127.0.0.1]:5004", false},
		{"127.0.0.1:5004", true}, // from an AF_INET6 socket: v4-mapped
		{"[2001:db8::7]:40000", true},
	} {
		dst := netip.MustParseAddrPort(c.dst)
		var sa [sizeofSockaddrInet6]byte
		n, err := putSockaddr(&sa, dst, c.v6)
		if err != nil {
			t.Fatalf("%v: %v", dst, err)
		}
		got, _, ok := parseSockaddr(sa[:n])
		want := dst
		if c.v6 {
			want = netip.AddrPortFrom(netip.AddrFrom16(dst.Addr().As16()), dst.Port())
		} else {
			want = netip.AddrPortFrom(dst.Addr().Unmap(), dst.Port())
		}
		if !ok || got != want {
			t.Errorf("%v (v6 socket %v): read back %v %v, want %v", dst, c.v6, got, ok, want)
		}
	}
	var sa [sizeofSockaddrInet6]byte
	if _, err := putSockaddr(&sa, netip.MustParseAddrPort("[2001:db8::7]:40000"), false); err == nil {
		t.Error("IPv6 destination accepted for an IPv4 socket")
	}
}

func FuzzSockaddr(f *testing.F) {
	for _, dst := range []string{"127.0.0.1:5004", "[2001:db8::7]:40000"} {
		var sa [sizeofSockaddrInet6]byte
		ap := netip.MustParseAddrPort(dst)
		n, _ := putSockaddr(&sa, ap, ap.Addr().Is6())
		f.Add(sa[:n])
	}
	f.Add([]byte{10, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		ap, _, ok := parseSockaddr(b)
		if !ok {
			return
		}
		var sa [sizeofSockaddrInet6]byte
		n, err := putSockaddr(&sa, ap, ap.Addr().Is6())
		if err != nil {
			t.Fatalf("%v read, cannot be written back: %v", ap, err)
		}
		if back, _, ok := parseSockaddr(sa[:n]); !ok || back != ap {
			t.Fatalf("%v read, written back and read as %v", ap, back)
		}
	})
}

func TestCloseWhileReadFrameDrains(t *testing.T) {
	t.Parallel()
	// A drain that was under way when Close closed the events channel: the
	// datagram it hands on would announce the first media.
	s := newTestSession(t, testConfig())
	if _, err := s.Answer(toSink(t, readSDP(t, "sipp-uac.sdp"))); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s.handleRTP(rtpPacket(1, 1, 160, 0, audio()), remoteAddr, time.Now()) // no send on the closed channel

	// The real interleaving, for the race detector: digits (an event each)
	// pour in while the phone's clock reads and the call hangs up.
	src := bindTestPair(t)
	defer src[1].Close()
	defer src[0].Close()
	for range 5 {
		s := newTestSession(t, testConfig())
		if _, err := s.Answer(toSink(t, readSDP(t, "asterisk-pjsip.sdp"))); err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		wg.Add(2)
		stop := make(chan struct{})
		go func() {
			defer wg.Done()
			for k := 0; ; k++ {
				select {
				case <-stop:
					return
				default:
				}
				_, _ = src[0].WriteToUDPAddrPort(eventPacket(uint16(k), uint32(k*800), byte(k%10), k%2 == 1, 400), s.LocalAddr())
				time.Sleep(50 * time.Microsecond)
			}
		}()
		go func() {
			defer wg.Done()
			pcm := make([]int16, frameSamples)
			for {
				select {
				case <-stop:
					return
				default:
				}
				s.ReadFrame(pcm)
				time.Sleep(100 * time.Microsecond)
			}
		}()
		time.Sleep(30 * time.Millisecond)
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		close(stop)
		wg.Wait()
	}
}
