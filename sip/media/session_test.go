package media

import (
	"errors"
	"math"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tipring/tipring/boards/dsp"
)

const toneDBm0 = -7.0

func TestToneBothWays(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name           string
		offerer, other []string
		codec          string
	}{
		{"PCMU offered", nil, nil, "PCMU"},
		{"PCMA answered by a PCMA-only peer", nil, []string{"PCMA"}, "PCMA"},
		{"both prefer PCMA", []string{"PCMA", "PCMU"}, []string{"PCMA", "PCMU"}, "PCMA"},
		// The answerer's configured preference decides (see Answer).
		{"answerer's preference wins", []string{"PCMA", "PCMU"}, nil, "PCMU"},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			call := newCall(t)
			a := call.session(testConfig(func(cfg *Config) { cfg.Codecs = c.offerer }))
			b := call.session(testConfig(func(cfg *Config) { cfg.Codecs = c.other }))
			evA, evB := collect(a), collect(b)
			connect(t, a, b, nil, nil)
			pa := call.join(a, tone(1004, toneDBm0), b)
			pb := call.join(b, tone(697, toneDBm0-6), a)
			call.talk(1500 * time.Millisecond)

			checkTone(t, "B hears A", pb.heard[len(pb.heard)-8000:], 1004, toneDBm0)
			checkTone(t, "A hears B", pa.heard[len(pa.heard)-8000:], 697, toneDBm0-6)
			for _, s := range []*Session{a, b} {
				st := s.Stats()
				if st.Codec != c.codec {
					t.Errorf("codec %q, want %q", st.Codec, c.codec)
				}
				if st.PacketsReceived < 60 || st.PacketsLost != 0 || st.Concealed != 0 || st.Malformed != 0 {
					t.Errorf("clean loopback stats: %+v", st)
				}
				if st.AudioReceived < time.Second || st.AudioSent < time.Second {
					t.Errorf("audio sent %v received %v", st.AudioSent, st.AudioReceived)
				}
				if st.FirstPacketAt.IsZero() || st.LatchedAddr != st.RemoteAddr {
					t.Errorf("first packet %v, latched %v, SDP %v", st.FirstPacketAt, st.LatchedAddr, st.RemoteAddr)
				}
			}
			a.Close()
			b.Close()
			for _, e := range []*events{evA, evB} {
				e.wg.Wait()
				if e.count(FirstMedia) != 1 || e.count(RemoteAddrChanged) != 0 || e.count(Timeout) != 0 {
					t.Errorf("events %+v", e.all())
				}
			}
		})
	}
}

func TestDigitsArrive(t *testing.T) {
	t.Parallel()
	call := newCall(t)
	a := call.session(testConfig())
	b := call.session(testConfig())
	evB := collect(b)
	connect(t, a, b, nil, nil)
	call.join(a, tone(1004, toneDBm0), b)
	pb := call.join(b, nil, a)
	call.talk(200 * time.Millisecond)
	digits := []struct {
		d   byte
		dur time.Duration
	}{{'5', 100 * time.Millisecond}, {'#', 60 * time.Millisecond}, {'A', 250 * time.Millisecond}, {'0', 45 * time.Millisecond}}
	for _, d := range digits {
		if err := a.SendDigit(d.d, d.dur); err != nil {
			t.Fatal(err)
		}
	}
	call.talk(1500 * time.Millisecond)
	// Audio resumed after the digits.
	checkTone(t, "B after digits", pb.heard[len(pb.heard)-4000:], 1004, toneDBm0)
	b.Close()
	evB.wg.Wait()

	var got []Event
	for _, ev := range evB.all() {
		if ev.Kind == DigitStart || ev.Kind == DigitEnd {
			got = append(got, ev)
		}
	}
	if len(got) != 2*len(digits) {
		t.Fatalf("got %d digit events, want %d: %+v", len(got), 2*len(digits), got)
	}
	for i, d := range digits {
		start, end := got[2*i], got[2*i+1]
		if start.Kind != DigitStart || start.Digit != d.d || end.Kind != DigitEnd || end.Digit != d.d {
			t.Errorf("digit %d: events %+v %+v, want start/end of %q", i, start, end, d.d)
		}
		if end.Duration != d.dur {
			t.Errorf("digit %q: duration %v, want %v", d.d, end.Duration, d.dur)
		}
		// In the call's virtual time, events arrive on 20 ms steps, less
		// the real time the packet waited in the socket before ReadFrame
		// took it in (the kernel stamps arrivals).
		const slack = 20*time.Millisecond + 5*time.Millisecond
		if gap := end.At.Sub(start.At); gap < d.dur-slack || gap > d.dur+slack {
			t.Errorf("digit %q: end came %v after start, want %v", d.d, gap, d.dur)
		}
	}
	if st := b.Stats(); st.Malformed != 0 || st.PacketsLost != 0 {
		t.Errorf("B stats after digits: %+v", st)
	}
}

func TestSendDigitErrors(t *testing.T) {
	t.Parallel()
	s := newTestSession(t, testConfig())
	if err := s.SendDigit('5', 100*time.Millisecond); !errors.Is(err, ErrNoTelephoneEvent) {
		t.Errorf("before negotiation: %v", err)
	}
	// A SIPp-style peer offers PCMU alone: no telephone-event.
	if _, err := s.Answer(toSink(t, readSDP(t, "sipp-uac.sdp"))); err != nil {
		t.Fatal(err)
	}
	if err := s.SendDigit('5', 100*time.Millisecond); !errors.Is(err, ErrNoTelephoneEvent) {
		t.Errorf("peer without telephone-event: %v", err)
	}
	s2 := newTestSession(t, testConfig())
	if _, err := s2.Answer(toSink(t, readSDP(t, "asterisk-pjsip.sdp"))); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []struct {
		d   byte
		dur time.Duration
	}{{'x', 100 * time.Millisecond}, {'5', 0}, {'5', -time.Second}, {'5', 9 * time.Second}} {
		if err := s2.SendDigit(bad.d, bad.dur); err == nil {
			t.Errorf("SendDigit(%q, %v) accepted", bad.d, bad.dur)
		}
	}
	s2.Close()
	if err := s2.SendDigit('1', 100*time.Millisecond); !errors.Is(err, ErrClosed) {
		t.Errorf("after Close: %v", err)
	}
}

// blockQuality looks at x in 20 ms blocks: the lowest level of the tone in
// any block (dB relative to levelDBm0) and the lowest share of a block's
// power that is the tone.
func blockQuality(x []int16, hz, levelDBm0 float64) (minDB, minPurity float64) {
	minDB, minPurity = math.Inf(1), math.Inf(1)
	for i := 0; i+160 <= len(x); i += 160 {
		blk := x[i : i+160]
		g := dsp.ToneLevelDBm0(blk, hz)
		minDB = math.Min(minDB, g-levelDBm0)
		if all := dsp.LevelDBm0(blk); all > dsp.FloorDBm0 {
			minPurity = math.Min(minPurity, math.Pow(10, (g-all)/10))
		}
	}
	return minDB, minPurity
}

func TestLossIsConcealedAndCounted(t *testing.T) {
	t.Parallel()
	call := newCall(t)
	a := call.session(testConfig())
	b := call.session(testConfig())
	// Lose every tenth packet from A after the first second: isolated
	// losses, the kind concealment is for.
	_, pb := call.viaRelay(a, b, tone(1004, toneDBm0), nil, func(toB, rtcp bool, n int) (bool, time.Duration) {
		return toB && !rtcp && n >= 50 && n%10 == 5, 0
	})
	call.talk(3 * time.Second)

	st := b.Stats()
	sent := a.Stats().PacketsSent
	wantLost := int64(0)
	for n := 50; n < int(sent); n++ {
		if n%10 == 5 {
			wantLost++
		}
	}
	if st.PacketsLost != wantLost {
		t.Errorf("PacketsLost %d, want %d", st.PacketsLost, wantLost)
	}
	if st.FractionLost < 0.05 || st.FractionLost > 0.1 {
		t.Errorf("FractionLost %.3f, want about 0.067", st.FractionLost)
	}
	if st.Concealed < uint64(wantLost) || st.Concealed > 2*uint64(wantLost) {
		t.Errorf("Concealed %d reads, want %d to %d (a gap may straddle two reads)", st.Concealed, wantLost, 2*wantLost)
	}
	// Smooth: every 20 ms of the last 1.5 s is still mostly the tone at
	// nearly full level. Silence in the gaps would fail both.
	lvl, purity := blockQuality(pb.heard[len(pb.heard)-12000:], 1004, toneDBm0)
	if lvl < -3 || purity < 0.9 {
		t.Errorf("with concealment the worst 20 ms block is %.1f dB, %.0f%% tone; want >= -3 dB and >= 90%%", lvl, 100*purity)
	}
	t.Logf("B: %+v; worst block %.2f dB, %.1f%% tone", st, lvl, 100*purity)
}

func TestReorderAndJitter(t *testing.T) {
	t.Parallel()
	call := newCall(t)
	a := call.session(testConfig())
	b := call.session(testConfig())
	// From packet 25 on, every other packet from A is held back 60 ms, so
	// it arrives after the next two: more than the initial 40 ms playout
	// delay can absorb.
	_, pb := call.viaRelay(a, b, tone(1004, toneDBm0), nil, func(toB, rtcp bool, n int) (bool, time.Duration) {
		if toB && !rtcp && n >= 25 && n%2 == 0 {
			return false, 60 * time.Millisecond
		}
		return false, 0
	})
	call.talk(300 * time.Millisecond)
	before := b.Stats().JitterBufferMs
	call.talk(2500 * time.Millisecond)
	st := b.Stats()
	if st.JitterBufferMs < before+20 || st.JitterBufferMs < 70 {
		t.Errorf("playout delay %.1f ms (was %.1f) with 60 ms of reordering, want grown to >= 70 ms", st.JitterBufferMs, before)
	}
	// The last held-back packet is still on its way.
	if st.PacketsLost > 1 {
		t.Errorf("reordering counted as loss: %d", st.PacketsLost)
	}
	if st.JitterMs < 10 {
		t.Errorf("interarrival jitter %.1f ms, want it to see the reordering", st.JitterMs)
	}
	// Once grown, the buffer plays the reordered packets in order.
	lvl, purity := blockQuality(pb.heard[len(pb.heard)-12000:], 1004, toneDBm0)
	if lvl < -1 || purity < 0.98 {
		t.Errorf("reordered stream: worst block %.1f dB, %.1f%% tone; want clean", lvl, 100*purity)
	}
	t.Logf("B: %+v", st)
}

func TestLatchingAndForeignPackets(t *testing.T) {
	t.Parallel()
	call := newCall(t)
	a := call.session(testConfig())
	b := call.session(testConfig())
	evB := collect(b)
	// A's offer names a port A does not use, as a NAT would make it look:
	// B must answer where A's packets really come from. What B sends
	// there before it latches lands in a sink.
	sink := bindTestPair(t)
	var sunk atomic.Uint64
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		buf := make([]byte, 2048)
		for {
			if _, _, err := sink[0].ReadFromUDPAddrPort(buf); err != nil {
				return
			}
			sunk.Add(1)
		}
	}()
	defer wg.Wait()
	defer sink[1].Close()
	defer sink[0].Close()
	connect(t, a, b, setPort(sink[0].LocalAddr().(*net.UDPAddr).AddrPort().Port()), nil)

	pa := call.join(a, tone(1004, toneDBm0), b)
	pa.expect = func() uint64 { return b.c.sentPackets.Load() - sunk.Load() }
	pb := call.join(b, tone(697, toneDBm0), a)
	call.talk(time.Second)
	if st := b.Stats(); st.LatchedAddr != a.LocalAddr() {
		t.Fatalf("B latched to %v, want A's real address %v", st.LatchedAddr, a.LocalAddr())
	}
	if sunk.Load() > 2 {
		t.Errorf("B sent %d packets to the SDP address after A's first packet", sunk.Load())
	}
	checkTone(t, "A hears B despite the wrong SDP port", pa.heard[len(pa.heard)-4000:], 697, toneDBm0)

	// Now a stranger sends well-formed RTP to B.
	stranger := bindTestPair(t)
	defer stranger[0].Close()
	defer stranger[1].Close()
	pkt := make([]byte, 12+160)
	pkt[0], pkt[1] = 0x80, 0
	for i := range 10 {
		pkt[3] = byte(i)
		if _, err := stranger[0].WriteToUDPAddrPort(pkt, b.LocalAddr()); err != nil {
			t.Fatal(err)
		}
	}
	if !waitFor(5*time.Second, func() bool { return b.Stats().ForeignPackets == 10 }) {
		t.Errorf("ForeignPackets %d, want 10", b.Stats().ForeignPackets)
	}
	// B has taken the stranger's 10 datagrams as well as A's: talk must
	// wait for A's on top of them, or it ends before B took A's last
	// packet when the machine is slow (as under qemu).
	fromA := pb.expect
	pb.expect = func() uint64 { return fromA() + 10 }
	received := b.Stats().PacketsReceived
	call.talk(500 * time.Millisecond)
	if got := b.Stats().PacketsReceived - received; got != 25 {
		t.Errorf("B took %d packets in 500 ms, want A's 25", got)
	}
	checkTone(t, "B's audio undisturbed", pb.heard[len(pb.heard)-3200:], 1004, toneDBm0)
	b.Close()
	evB.wg.Wait()
	if evB.count(RemoteAddrChanged) != 1 {
		t.Errorf("want one RemoteAddrChanged for the latch, got %+v", evB.all())
	}
}

func TestTimeoutAndHold(t *testing.T) {
	t.Parallel()
	const timeout = 300 * time.Millisecond
	call := newCall(t)
	a := call.session(testConfig(func(c *Config) { c.RTPTimeout = timeout }))
	b := call.session(testConfig())
	evA := collect(a)
	connect(t, b, a, nil, nil) // B calls A
	call.join(a, tone(1004, toneDBm0), b)
	pb := call.join(b, tone(697, toneDBm0), a)
	call.talk(500 * time.Millisecond)
	if n := evA.count(Timeout); n != 0 {
		t.Fatalf("timeout while media flows: %+v", evA.all())
	}

	// B puts A on hold: re-INVITE with a=sendonly. B stops talking.
	hold, err := b.Offer()
	if err != nil {
		t.Fatal(err)
	}
	hold = []byte(strings.Replace(string(hold), "a=sendrecv", "a=sendonly", 1))
	ans, err := a.Reoffer(hold)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(ans), "a=recvonly\r\n") {
		t.Errorf("answer to sendonly:\n%s", ans)
	}
	sentBefore := a.Stats().PacketsSent
	pb.say = nil
	call.talk(4 * timeout)
	if n := evA.count(Timeout); n != 0 {
		t.Errorf("timeout fired while held: %+v", evA.all())
	}
	if sent := a.Stats().PacketsSent; sent != sentBefore {
		t.Errorf("A sent %d packets while held", sent-sentBefore)
	}

	// Resume: B re-offers sendrecv but stays silent: now the timeout fires.
	resume, err := b.Offer()
	if err != nil {
		t.Fatal(err)
	}
	ans, err = a.Reoffer(resume)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(ans), "a=sendrecv\r\n") {
		t.Errorf("answer to resume:\n%s", ans)
	}
	start := call.clock.now()
	call.talk(3 * timeout)
	if sent := a.Stats().PacketsSent; sent <= sentBefore+10 {
		t.Errorf("A did not resume sending: %d packets", sent-sentBefore)
	}
	a.Close()
	evA.wg.Wait()
	var fired []Event
	for _, ev := range evA.all() {
		if ev.Kind == Timeout {
			fired = append(fired, ev)
		}
	}
	if len(fired) != 1 {
		t.Fatalf("want exactly one Timeout after resuming, got %+v", evA.all())
	}
	if after := fired[0].At.Sub(start); after < timeout || after > timeout+100*time.Millisecond {
		t.Errorf("timeout fired %v after resuming, want %v", after, timeout)
	}
	if !strings.Contains(fired[0].Reason, "no RTP") {
		t.Errorf("timeout reason %q", fired[0].Reason)
	}
}

func TestRTCPRoundTripAndLoss(t *testing.T) {
	t.Parallel()
	const oneWay = 15 * time.Millisecond
	call := newCall(t)
	a := call.session(testConfig(func(c *Config) { c.RTCPInterval = 100 * time.Millisecond }))
	b := call.session(testConfig(func(c *Config) { c.RTCPInterval = 100 * time.Millisecond }))
	// Every packet takes 15 ms each way, which the call's 20 ms steps make
	// 20 ms; a quarter of A's RTP is lost.
	call.viaRelay(a, b, tone(1004, toneDBm0), tone(697, toneDBm0),
		func(toB, rtcp bool, n int) (bool, time.Duration) {
			return toB && !rtcp && n%4 == 1, oneWay
		})
	call.talk(1500 * time.Millisecond)
	sa, sb := a.Stats(), b.Stats()
	for name, st := range map[string]Stats{"A": sa, "B": sb} {
		// RTCP is sent on real-time ticks, so a report may wait one more
		// step on each leg.
		if st.RTT < 39*time.Millisecond || st.RTT > 81*time.Millisecond {
			t.Errorf("%s: RTT %v, want 40 ms (20 ms each way), at most 80 ms", name, st.RTT)
		}
		if st.RTCPSent < 5 || st.RTCPReceived < 5 {
			t.Errorf("%s: RTCP sent %d received %d", name, st.RTCPSent, st.RTCPReceived)
		}
	}
	if sa.RemoteFractionLost < 0.1 || sa.RemoteFractionLost > 0.45 {
		t.Errorf("A: the remote reports %.2f of our packets lost, want about 0.25", sa.RemoteFractionLost)
	}
	if sb.RemoteFractionLost != 0 {
		t.Errorf("B: the remote reports %.2f lost on a lossless path", sb.RemoteFractionLost)
	}
	if sb.FractionLost < 0.2 || sb.FractionLost > 0.3 {
		t.Errorf("B: FractionLost %.2f, want 0.25", sb.FractionLost)
	}
	t.Logf("A: %+v\nB: %+v", sa, sb)
}

func TestLifecycleErrors(t *testing.T) {
	t.Parallel()
	s := newTestSession(t, testConfig())
	if err := s.SetAnswer(readSDP(t, "sipp-uas-answer.sdp")); err == nil || !strings.Contains(err.Error(), "without an offer") {
		t.Errorf("SetAnswer before Offer: %v", err)
	}
	if _, err := s.Reoffer(readSDP(t, "sipp-uac.sdp")); err == nil || !strings.Contains(err.Error(), "before the session was negotiated") {
		t.Errorf("Reoffer before negotiation: %v", err)
	}
	if _, err := s.Answer(readSDP(t, "no-common-codec.sdp")); !errors.Is(err, ErrNoCommonCodec) {
		t.Errorf("Answer with no common codec: %v", err)
	}
	// A refused offer leaves the session usable.
	uac := toSink(t, readSDP(t, "sipp-uac.sdp"))
	ans, err := s.Answer(uac)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(ans), "m=audio "+strconv.Itoa(int(s.LocalAddr().Port()))+" RTP/AVP 0\r\n") {
		t.Errorf("answer:\n%s", ans)
	}
	if _, err := s.Answer(uac); err == nil {
		t.Error("second Answer accepted")
	}
	// A re-INVITE that drops our codec cannot be taken; the call goes on.
	if _, err := s.Reoffer(readSDP(t, "t38-reinvite.sdp")); !errors.Is(err, ErrNoCommonCodec) {
		t.Errorf("T.38 re-INVITE: %v", err)
	}
	uacPort := strings.Fields(strings.Split(string(uac), "m=audio ")[1])[0]
	if st := s.Stats(); st.Codec != "PCMU" || st.RemoteAddr.String() != "127.0.0.1:"+uacPort {
		t.Errorf("after refused re-INVITE: %+v", st)
	}
	// The same answer again keeps the o= version; a changed one bumps it.
	again, err := s.Reoffer(uac)
	if err != nil {
		t.Fatal(err)
	}
	if originVersion(t, again) != originVersion(t, ans) {
		t.Errorf("unchanged answer bumped the version:\n%s\n%s", ans, again)
	}
	held, err := s.Reoffer([]byte(strings.Replace(string(uac), "a=rtpmap:0 PCMU/8000", "a=rtpmap:0 PCMU/8000\r\na=inactive", 1)))
	if err != nil {
		t.Fatal(err)
	}
	if originVersion(t, held) != originVersion(t, ans)+1 || !strings.Contains(string(held), "a=inactive") {
		t.Errorf("changed answer:\n%s", held)
	}

	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, ok := <-s.Events(); ok {
		t.Error("Events not closed")
	}
	if _, err := s.Offer(); !errors.Is(err, ErrClosed) {
		t.Errorf("Offer after Close: %v", err)
	}
	s.WriteFrame(make([]int16, 160)) // no-ops, no panic
	s.ReadFrame(make([]int16, 160))
}

func originVersion(t *testing.T, body []byte) int {
	t.Helper()
	for _, l := range strings.Split(string(body), "\r\n") {
		if f := strings.Fields(l); len(f) == 6 && strings.HasPrefix(f[0], "o=") {
			n := 0
			for _, c := range f[2] {
				n = n*10 + int(c-'0')
			}
			return n
		}
	}
	t.Fatalf("no o= line in\n%s", body)
	return 0
}

func TestWriteBeforeNegotiationIsNoop(t *testing.T) {
	t.Parallel()
	s := newTestSession(t, testConfig())
	s.WriteFrame(make([]int16, 160))
	out := []int16{1, 2, 3}
	s.ReadFrame(out)
	if out[0]|out[1]|out[2] != 0 {
		t.Errorf("ReadFrame before media: %v, want silence", out)
	}
	if st := s.Stats(); st.PacketsSent != 0 || st.Codec != "" {
		t.Errorf("stats %+v", st)
	}
}
