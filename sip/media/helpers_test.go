package media

import (
	"errors"
	"fmt"
	"math"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/tipring/tipring/boards"
	"github.com/tipring/tipring/boards/dsp"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// Tests take ports from this range; the engine skips ports other tests (or
// other programs) hold.
const testPortMin, testPortMax = 42000, 42999

func testConfig(mod ...func(*Config)) Config {
	cfg := Config{
		BindIP:       "127.0.0.1",
		PortMin:      testPortMin,
		PortMax:      testPortMax,
		RTCPInterval: 200 * time.Millisecond,
	}
	for _, f := range mod {
		f(&cfg)
	}
	return cfg
}

func newTestSession(t *testing.T, cfg Config) *Session {
	t.Helper()
	return newSessionOn(t, cfg, time.Now)
}

func newSessionOn(t *testing.T, cfg Config, clock func() time.Time) *Session {
	t.Helper()
	e, err := NewEngine(cfg)
	if err != nil {
		t.Fatal(err)
	}
	e.now = clock
	s, err := e.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// fakeClock is virtual time: it moves only when the test says.
type fakeClock struct {
	base time.Time
	ns   atomic.Int64
}

func (c *fakeClock) now() time.Time          { return c.base.Add(time.Duration(c.ns.Load())) }
func (c *fakeClock) advance(d time.Duration) { c.ns.Add(int64(d)) }

// call is a call under test: sessions on one virtual clock, talking over
// real loopback sockets (directly or through a relay), stepped one 20 ms
// frame at a time. Each step waits until the packets sent in it have been
// taken in, so a loaded machine slows the test down but does not turn into
// jitter and loss.
type call struct {
	t       *testing.T
	clock   *fakeClock
	relay   *relay
	parties []*party
}

func newCall(t *testing.T) *call {
	return &call{t: t, clock: &fakeClock{base: time.Now()}}
}

func (c *call) session(cfg Config) *Session {
	c.t.Helper()
	return newSessionOn(c.t, cfg, c.clock.now)
}

// party is one side of a call: what it says and what it hears.
type party struct {
	s     *Session
	say   func() []int16 // nil: says nothing (sends no RTP)
	heard []int16
	// expect is how many RTP datagrams should have reached s by now.
	expect func() uint64
}

// join adds a party that hears from peer directly.
func (c *call) join(s *Session, say func() []int16, peer *Session) *party {
	p := &party{s: s, say: say, expect: func() uint64 { return peer.c.sentPackets.Load() }}
	c.parties = append(c.parties, p)
	return p
}

// rtpTaken counts the RTP datagrams s has accounted for.
func rtpTaken(s *Session) uint64 {
	return s.c.received.Load() + s.c.malformed.Load() + s.c.foreign.Load()
}

// talk runs the call for d of virtual time, never faster than real time.
func (c *call) talk(d time.Duration) {
	c.t.Helper()
	buf := make([]int16, frameSamples)
	start := time.Now()
	for k := range int(d / (20 * time.Millisecond)) {
		time.Sleep(time.Until(start.Add(time.Duration(k) * 20 * time.Millisecond)))
		c.clock.advance(20 * time.Millisecond)
		for _, p := range c.parties {
			if p.say != nil {
				p.s.WriteFrame(p.say())
			}
		}
		if c.relay != nil {
			c.relay.step(c.clock.now())
		}
		ok := waitFor(5*time.Second, func() bool {
			for _, p := range c.parties {
				// What ReadFrame does first: once the session is
				// clocked, its read goroutine leaves the socket to it.
				p.s.drainRTP(c.clock.now())
				if rtpTaken(p.s) < p.expect() {
					return false
				}
			}
			return true
		})
		if !ok {
			c.t.Fatalf("step %d: packets sent were not received within 5 s", k)
		}
		for _, p := range c.parties {
			p.s.ReadFrame(buf)
			p.heard = append(p.heard, buf...)
		}
	}
}

// connect has a offer and b answer; rewrite, if set, edits each SDP in
// flight (as a relay or a NAT would make it look).
func connect(t *testing.T, a, b *Session, rewriteOffer, rewriteAnswer func([]byte) []byte) {
	t.Helper()
	offer, err := a.Offer()
	if err != nil {
		t.Fatal(err)
	}
	if rewriteOffer != nil {
		offer = rewriteOffer(offer)
	}
	answer, err := b.Answer(offer)
	if err != nil {
		t.Fatalf("answer: %v\noffer:\n%s", err, offer)
	}
	if rewriteAnswer != nil {
		answer = rewriteAnswer(answer)
	}
	if err := a.SetAnswer(answer); err != nil {
		t.Fatalf("set answer: %v\nanswer:\n%s", err, answer)
	}
}

// setPort rewrites the m=audio port of an SDP.
func setPort(port uint16) func([]byte) []byte {
	return func(b []byte) []byte {
		lines := strings.Split(string(b), "\r\n")
		for i, l := range lines {
			if f := strings.Fields(l); len(f) > 2 && f[0] == "m=audio" {
				f[1] = fmt.Sprint(port)
				lines[i] = strings.Join(f, " ")
			}
		}
		return []byte(strings.Join(lines, "\r\n"))
	}
}

// tone returns a source of frames of a continuous sine at hz and
// levelDBm0, rendered as the boards render tones.
func tone(hz, levelDBm0 float64) func() []int16 {
	g := dsp.NewToneGen(boards.Tone{LoopFrom: -1, Segments: []boards.Segment{{Freqs: []float64{hz}, LevelDBm0: levelDBm0}}})
	return func() []int16 {
		var f boards.Frame
		g.Fill(&f)
		return f[:]
	}
}

// checkTone asserts that x is a tone at hz and levelDBm0 (±1 dB), clean of
// other frequencies.
func checkTone(t *testing.T, who string, x []int16, hz, levelDBm0 float64) {
	t.Helper()
	got := dsp.ToneLevelDBm0(x, hz)
	if d := got - levelDBm0; math.Abs(d) > 1 {
		t.Errorf("%s: %g Hz at %.1f dBm0, sent at %.1f dBm0: %+.2f dB, want within ±1 dB", who, hz, got, levelDBm0, d)
	}
	for _, other := range []float64{hz - 100, hz + 100, hz / 2, hz * 2} {
		if o := dsp.ToneLevelDBm0(x, other); got-o < 30 {
			t.Errorf("%s: %g Hz only %.1f dB above %g Hz", who, hz, got-o, other)
		}
	}
}

// events collects a session's events as they come.
type events struct {
	mu  sync.Mutex
	evs []Event
	wg  sync.WaitGroup
}

func collect(s *Session) *events {
	e := &events{}
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		for ev := range s.Events() {
			e.mu.Lock()
			e.evs = append(e.evs, ev)
			e.mu.Unlock()
		}
	}()
	return e
}

func (e *events) all() []Event {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]Event(nil), e.evs...)
}

func (e *events) count(k EventKind) int {
	n := 0
	for _, ev := range e.all() {
		if ev.Kind == k {
			n++
		}
	}
	return n
}

// waitFor polls cond for up to d.
func waitFor(d time.Duration, cond func() bool) bool {
	for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(200 * time.Microsecond) {
		if cond() {
			return true
		}
	}
	return cond()
}

// relay forwards RTP and RTCP between two sessions on loopback, like a
// network that can lose, delay and reorder packets, in the call's virtual
// time. Leg 0 faces A (A sends to it), leg 1 faces B.
type relay struct {
	legs    [2][2]*net.UDPConn // [leg][0 RTP, 1 RTCP]
	dst     [2]netip.AddrPort  // real RTP addresses of A and B
	senders [2]*Session
	clock   *fakeClock
	filter  func(toB, rtcp bool, n int) (drop bool, delay time.Duration)

	mu        sync.Mutex
	counts    [2][2]int        // datagrams taken in, per leg and kind
	queue     []held           // delayed datagrams
	delivered [2]atomic.Uint64 // RTP datagrams sent towards A (0) and B (1)
	wg        sync.WaitGroup
}

type held struct {
	due  time.Time
	leg  int // the leg it came in on
	kind int
	pkt  []byte
}

func newRelay(t *testing.T, clock *fakeClock, a, b *Session, filter func(toB, rtcp bool, n int) (bool, time.Duration)) *relay {
	t.Helper()
	r := &relay{dst: [2]netip.AddrPort{a.LocalAddr(), b.LocalAddr()}, senders: [2]*Session{a, b}, clock: clock, filter: filter}
	for leg := range 2 {
		r.legs[leg] = bindTestPair(t)
	}
	for leg := range 2 {
		for kind := range 2 {
			r.wg.Add(1)
			go r.read(leg, kind)
		}
	}
	t.Cleanup(r.close)
	return r
}

// port is the RTP port of the leg facing A (0) or B (1).
func (r *relay) port(leg int) uint16 {
	return r.legs[leg][0].LocalAddr().(*net.UDPAddr).AddrPort().Port()
}

func (r *relay) read(leg, kind int) {
	defer r.wg.Done()
	buf := make([]byte, 2048)
	for {
		n, _, err := r.legs[leg][kind].ReadFromUDPAddrPort(buf)
		if err != nil {
			return
		}
		pkt := append([]byte(nil), buf[:n]...)
		r.mu.Lock()
		i := r.counts[leg][kind]
		r.counts[leg][kind]++
		drop, delay := false, time.Duration(0)
		if r.filter != nil {
			drop, delay = r.filter(leg == 0, kind == 1, i)
		}
		switch {
		case drop:
		case delay == 0:
			r.send(leg, kind, pkt)
		default:
			r.queue = append(r.queue, held{due: r.clock.now().Add(delay), leg: leg, kind: kind, pkt: pkt})
		}
		r.mu.Unlock()
	}
}

// send forwards a datagram that came in on leg. r.mu held.
func (r *relay) send(leg, kind int, pkt []byte) {
	other := 1 - leg
	dst := r.dst[other]
	if kind == 1 {
		dst = netip.AddrPortFrom(dst.Addr(), dst.Port()+1)
	}
	if _, err := r.legs[other][kind].WriteToUDPAddrPort(pkt, dst); err == nil && kind == 0 {
		r.delivered[other].Add(1)
	}
}

// step waits until the relay has taken in every RTP packet the sessions
// sent, then forwards the held packets that are due.
func (r *relay) step(now time.Time) {
	waitFor(5*time.Second, func() bool {
		r.mu.Lock()
		defer r.mu.Unlock()
		return uint64(r.counts[0][0]) >= r.senders[0].c.sentPackets.Load() &&
			uint64(r.counts[1][0]) >= r.senders[1].c.sentPackets.Load()
	})
	r.mu.Lock()
	defer r.mu.Unlock()
	kept := r.queue[:0]
	for _, h := range r.queue {
		if now.Before(h.due) {
			kept = append(kept, h)
			continue
		}
		r.send(h.leg, h.kind, h.pkt)
	}
	r.queue = kept
}

func (r *relay) close() {
	for _, leg := range r.legs {
		for _, c := range leg {
			c.Close()
		}
	}
	r.wg.Wait()
}

// bindTestPair binds an even/odd UDP port pair on loopback.
func bindTestPair(t *testing.T) [2]*net.UDPConn {
	t.Helper()
	for port := 44000; port < 45000; port += 2 {
		a, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port})
		if err != nil {
			continue
		}
		b, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port + 1})
		if err != nil {
			a.Close()
			if errors.Is(err, syscall.EADDRINUSE) {
				continue
			}
			t.Fatal(err)
		}
		return [2]*net.UDPConn{a, b}
	}
	t.Fatal("no free port pair for the relay")
	return [2]*net.UDPConn{}
}

// viaRelay connects a and b through a relay with the given filter; they
// become the call's parties.
func (c *call) viaRelay(a, b *Session, sayA, sayB func() []int16, filter func(toB, rtcp bool, n int) (bool, time.Duration)) (pa, pb *party) {
	c.t.Helper()
	r := newRelay(c.t, c.clock, a, b, filter)
	c.relay = r
	// B sends to leg 1 (so it sees A's offer with leg 1's port), A to leg 0.
	connect(c.t, a, b, setPort(r.port(1)), setPort(r.port(0)))
	pa = &party{s: a, say: sayA, expect: func() uint64 { return r.delivered[0].Load() }}
	pb = &party{s: b, say: sayB, expect: func() uint64 { return r.delivered[1].Load() }}
	c.parties = append(c.parties, pa, pb)
	return pa, pb
}

// toSink rewrites an SDP's addresses to loopback and its audio port to a
// port pair the test holds, so that a session started with it sends its
// RTP and RTCP nowhere but there.
func toSink(t *testing.T, sdp []byte) []byte {
	t.Helper()
	sink := bindTestPair(t)
	t.Cleanup(func() { sink[0].Close(); sink[1].Close() })
	lines := strings.Split(string(sdp), "\n")
	for i, l := range lines {
		if strings.HasPrefix(l, "c=IN IP4 ") && !strings.Contains(l, "0.0.0.0") {
			lines[i] = "c=IN IP4 127.0.0.1\r"
		}
		if strings.HasPrefix(l, "a=rtcp:") {
			lines[i] = "a=x-dropped\r"
		}
	}
	return setPort(sink[0].LocalAddr().(*net.UDPAddr).AddrPort().Port())([]byte(strings.Join(lines, "\n")))
}
