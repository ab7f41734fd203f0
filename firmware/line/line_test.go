package line

import (
	"context"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/tipring/tipring/boards"
	"github.com/tipring/tipring/boards/region"
	"github.com/tipring/tipring/firmware/dialplan"
	"github.com/tipring/tipring/sip"
	"github.com/tipring/tipring/sip/media"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// fakePort is a port whose copper is the test: it records what the line
// asked the board to do.
type fakePort struct {
	events chan boards.Event
	mu     sync.Mutex
	off    bool
	tone   string
	tones  []string
	ring   *boards.Ring
	audio  boards.AudioFunc
}

func newFakePort() *fakePort { return &fakePort{events: make(chan boards.Event, 16)} }

func (p *fakePort) Number() int                 { return 1 }
func (p *fakePort) Events() <-chan boards.Event { return p.events }
func (p *fakePort) SetReversed(bool)            {}
func (p *fakePort) SetAudio(f boards.AudioFunc) { p.mu.Lock(); p.audio = f; p.mu.Unlock() }
func (p *fakePort) OffHook() bool               { p.mu.Lock(); defer p.mu.Unlock(); return p.off }
func (p *fakePort) StopTone()                   { p.mu.Lock(); p.tone = ""; p.mu.Unlock() }
func (p *fakePort) StopRing()                   { p.mu.Lock(); p.ring = nil; p.mu.Unlock() }
func (p *fakePort) Ring(r boards.Ring) error    { p.mu.Lock(); p.ring = &r; p.mu.Unlock(); return nil }
func (p *fakePort) PlayTone(t boards.Tone) {
	p.mu.Lock()
	p.tone = t.Name
	p.tones = append(p.tones, t.Name)
	p.mu.Unlock()
}
func (p *fakePort) hook(off bool) {
	p.mu.Lock()
	p.off = off
	p.mu.Unlock()
	kind := boards.OnHook
	if off {
		kind = boards.OffHook
	}
	p.events <- boards.Event{Kind: kind, At: time.Now()}
}
func (p *fakePort) dial(digits string) {
	for i := range len(digits) {
		p.events <- boards.Event{Kind: boards.Digit, Digit: digits[i], At: time.Now()}
	}
}
func (p *fakePort) playing() string { p.mu.Lock(); defer p.mu.Unlock(); return p.tone }
func (p *fakePort) ringing() *boards.Ring {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.ring
}

type fakeCall struct {
	id       string
	remote   sip.Party
	offer    []byte
	events   chan sip.CallEvent
	mu       sync.Mutex
	answered []byte
	rejected int
	hungUp   bool
	ringing  bool
}

func newFakeCall(remote string) *fakeCall {
	return &fakeCall{id: "call-" + remote, remote: sip.Party{Number: remote}, events: make(chan sip.CallEvent, 8)}
}

func (c *fakeCall) ID() string                   { return c.id }
func (c *fakeCall) Remote() sip.Party            { return c.remote }
func (c *fakeCall) Offer() []byte                { return c.offer }
func (c *fakeCall) Events() <-chan sip.CallEvent { return c.events }
func (c *fakeCall) Ringing() error               { c.mu.Lock(); c.ringing = true; c.mu.Unlock(); return nil }
func (c *fakeCall) Answer(sdp []byte, _ sip.Negotiator) error {
	c.mu.Lock()
	c.answered = sdp
	c.mu.Unlock()
	return nil
}
func (c *fakeCall) Reject(code int, _ string) error {
	c.mu.Lock()
	c.rejected = code
	c.mu.Unlock()
	return nil
}
func (c *fakeCall) Hangup(context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.hungUp {
		c.hungUp = true
		close(c.events)
	}
	return nil
}
func (c *fakeCall) state() (answered []byte, rejected int, hungUp bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.answered, c.rejected, c.hungUp
}

type fakeSignalling struct {
	mu         sync.Mutex
	registered bool
	dialled    []string
	next       *fakeCall
}

func (s *fakeSignalling) Registered() bool { s.mu.Lock(); defer s.mu.Unlock(); return s.registered }
func (s *fakeSignalling) Dial(_ context.Context, number string, offer []byte, _ sip.Negotiator) (Call, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.dialled = append(s.dialled, number)
	c := newFakeCall(number)
	s.next = c
	return c, nil
}
func (s *fakeSignalling) last() (string, *fakeCall) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.dialled) == 0 {
		return "", nil
	}
	return s.dialled[len(s.dialled)-1], s.next
}

type fakeSession struct {
	events  chan media.Event
	mu      sync.Mutex
	answers [][]byte
	digits  []byte
	closed  bool
	refuse  bool
}

func (s *fakeSession) Offer() ([]byte, error) { return []byte("v=0 offer"), nil }
func (s *fakeSession) SetAnswer(sdp []byte) error {
	s.mu.Lock()
	s.answers = append(s.answers, sdp)
	s.mu.Unlock()
	return nil
}
func (s *fakeSession) Answer(offer []byte) ([]byte, error) {
	if s.refuse {
		return nil, media.ErrNoCommonCodec
	}
	return []byte("v=0 answer"), nil
}
func (s *fakeSession) Reoffer(offer []byte) ([]byte, error) { return offer, nil }
func (s *fakeSession) WriteFrame([]int16)                   {}
func (s *fakeSession) ReadFrame([]int16)                    {}
func (s *fakeSession) SendDigit(d byte, _ time.Duration) error {
	s.mu.Lock()
	s.digits = append(s.digits, d)
	s.mu.Unlock()
	return nil
}
func (s *fakeSession) Events() <-chan media.Event { return s.events }
func (s *fakeSession) Stats() media.Stats         { return media.Stats{} }
func (s *fakeSession) Close() error {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	return nil
}

type fakeMedia struct {
	mu     sync.Mutex
	last   *fakeSession
	refuse bool
}

func (m *fakeMedia) NewSession() (MediaSession, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.last = &fakeSession{events: make(chan media.Event, 8), refuse: m.refuse}
	return m.last, nil
}
func (m *fakeMedia) session() *fakeSession { m.mu.Lock(); defer m.mu.Unlock(); return m.last }

type rig struct {
	t    *testing.T
	port *fakePort
	sig  *fakeSignalling
	med  *fakeMedia
	line *Line
	reg  *region.Region
}

func newRig(t *testing.T, registered bool, mutate ...func(*Config)) *rig {
	t.Helper()
	reg, err := region.Lookup("us")
	if err != nil {
		t.Fatal(err)
	}
	plan, err := dialplan.Parse("(911|60x|1[2-9]xxxxxxxxx|[2-9]xxxxxxxxx|011x.T)", dialplan.Options{ShortTimer: 300 * time.Millisecond, LongTimer: 600 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	r := &rig{t: t, port: newFakePort(), sig: &fakeSignalling{registered: registered}, med: &fakeMedia{}, reg: reg}
	cfg := Config{
		Port: r.port, Region: reg, Plan: plan, Emergency: reg.Emergency,
		Signalling: r.sig, Media: r.med,
		ReorderFor: 300 * time.Millisecond, WarningFor: 300 * time.Millisecond,
	}
	for _, m := range mutate {
		m(&cfg)
	}
	r.line, err = New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.line.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	return r
}

// eventually waits (loosely bounded) for cond, failing with what it saw.
func (r *rig) eventually(what string, cond func() bool) {
	r.t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			r.t.Fatalf("timed out waiting for %s (state %s, tone %q)", what, r.line.Status().State, r.port.playing())
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func (r *rig) hears(tone string) {
	r.t.Helper()
	r.eventually("tone "+tone, func() bool { return r.port.playing() == tone })
}

func (r *rig) inState(s State) {
	r.t.Helper()
	r.eventually("state "+string(s), func() bool { return r.line.Status().State == s })
}

func (r *rig) dialled() (string, *fakeCall) {
	r.t.Helper()
	var n string
	var c *fakeCall
	r.eventually("an INVITE", func() bool { n, c = r.sig.last(); return c != nil })
	return n, c
}

func TestOffHookGivesDialToneAndFirstDigitStopsIt(t *testing.T) {
	r := newRig(t, true)
	r.port.hook(true)
	r.hears("dial")
	r.port.dial("6")
	r.eventually("silence after the first digit", func() bool { return r.port.playing() == "" })
	r.inState(Collecting)
}

func TestCompleteNumberDialsAtOnceAndRingbackThenAnswer(t *testing.T) {
	r := newRig(t, true)
	r.port.hook(true)
	r.port.dial("600")
	n, call := r.dialled()
	if n != "600" {
		t.Fatalf("dialled %q, want 600", n)
	}
	r.inState(Calling)
	call.events <- sip.CallEvent{Kind: sip.Progress, Code: 180, Reason: "Ringing"}
	r.hears("ringback")
	call.events <- sip.CallEvent{Kind: sip.Answered, Code: 200, SDP: []byte("v=0 answer")}
	r.inState(Connected)
	if r.port.playing() != "" {
		t.Fatalf("tone %q still playing after answer", r.port.playing())
	}
	if a := r.line.audio.Load(); a == nil || !a.send.Load() {
		t.Fatal("audio not flowing to the network after answer")
	}
}

func TestEarlyMediaReplacesRingbackOnceItArrives(t *testing.T) {
	r := newRig(t, true)
	r.port.hook(true)
	r.port.dial("601")
	_, call := r.dialled()
	call.events <- sip.CallEvent{Kind: sip.Progress, Code: 183, SDP: []byte("v=0 early")}
	r.hears("ringback") // negotiated, nothing heard yet
	r.inState(EarlyMedia)
	sess := r.med.session()
	sess.events <- media.Event{Kind: media.FirstMedia}
	r.eventually("far-end audio instead of local ringback", func() bool { return r.port.playing() == "" })
	if a := r.line.audio.Load(); a == nil || a.send.Load() {
		t.Fatal("early media must not send the caller's audio before the answer")
	}
}

func TestFailureTones(t *testing.T) {
	for _, tc := range []struct {
		code int
		tone string
	}{{486, "busy"}, {600, "busy"}, {404, "sit"}, {484, "sit"}, {410, "sit"}, {604, "sit"}, {403, "reorder"}, {408, "reorder"}, {480, "reorder"}, {503, "reorder"}} {
		r := newRig(t, true)
		r.port.hook(true)
		r.port.dial("602")
		_, call := r.dialled()
		call.events <- sip.CallEvent{Kind: sip.Failed, Code: tc.code, Reason: "x"}
		r.hears(tc.tone)
		r.inState(Disconnected)
	}
}

func TestSITIsFollowedByReorder(t *testing.T) {
	reg, _ := region.Lookup("us")
	tone := SITThenReorder(reg)
	if got, want := len(tone.Segments), len(reg.SIT.Segments)+len(reg.Reorder.Segments); got != want {
		t.Fatalf("segments %d, want %d", got, want)
	}
	if tone.LoopFrom != len(reg.SIT.Segments) {
		t.Fatalf("loops from %d: the SIT would repeat instead of reorder", tone.LoopFrom)
	}
}

func TestFarEndHangUpReorderThenWarningThenSilence(t *testing.T) {
	r := newRig(t, true)
	r.port.hook(true)
	r.port.dial("600")
	_, call := r.dialled()
	call.events <- sip.CallEvent{Kind: sip.Answered, Code: 200}
	r.inState(Connected)
	call.events <- sip.CallEvent{Kind: sip.Ended, By: sip.Remote}
	r.hears("reorder")
	r.hears("warning")
	r.inState(Lockout)
	if r.port.playing() != "" {
		t.Fatal("lockout should be silent")
	}
	if !r.med.session().closed {
		t.Fatal("media session left open")
	}
	r.port.hook(false)
	r.inState(Idle)
}

func TestOnHookWhileCallingHangsUp(t *testing.T) {
	r := newRig(t, true)
	r.port.hook(true)
	r.port.dial("600")
	_, call := r.dialled()
	r.port.hook(false)
	r.eventually("CANCEL/BYE", func() bool { _, _, h := call.state(); return h })
	r.inState(Idle)
}

func TestNotRegisteredPlaysNoServiceButEmergencyStillDials(t *testing.T) {
	r := newRig(t, false)
	r.port.hook(true)
	r.hears(r.reg.NoService.Name)
	if r.port.playing() == "dial" {
		t.Fatal("dial tone on a dead line")
	}
	r.inState(NoService)
	r.port.dial("911")
	n, _ := r.dialled()
	if n != "911" {
		t.Fatalf("dialled %q", n)
	}
}

func TestNotRegisteredOrdinaryNumberIsRefused(t *testing.T) {
	r := newRig(t, false)
	r.port.hook(true)
	r.port.dial("5551234567")
	r.inState(Disconnected)
	if n, _ := r.sig.last(); n != "" {
		t.Fatalf("dialled %q with no service", n)
	}
}

func TestNoRuleMatchesGivesReorder(t *testing.T) {
	r := newRig(t, true)
	r.port.hook(true)
	r.port.dial("0")
	r.hears("reorder")
}

func TestTimeoutDialsTRule(t *testing.T) {
	r := newRig(t, true)
	r.port.hook(true)
	r.port.dial("01144")
	n, _ := r.dialled()
	if n != "01144" {
		t.Fatalf("dialled %q", n)
	}
}

func TestDigitsInCallGoOutAsEventsAndReceivedDigitsArePlayed(t *testing.T) {
	r := newRig(t, true)
	r.port.hook(true)
	r.port.dial("600")
	_, call := r.dialled()
	call.events <- sip.CallEvent{Kind: sip.Answered, Code: 200}
	r.inState(Connected)
	r.port.dial("5#")
	sess := r.med.session()
	r.eventually("RFC 4733 digits", func() bool {
		sess.mu.Lock()
		defer sess.mu.Unlock()
		return string(sess.digits) == "5#"
	})
	sess.events <- media.Event{Kind: media.DigitStart, Digit: '7'}
	r.eventually("DTMF to the phone", func() bool { return r.port.playing() != "" })
	sess.events <- media.Event{Kind: media.DigitEnd, Digit: '7'}
	r.eventually("DTMF ends", func() bool { return r.port.playing() == "" })
}

func TestRTPTimeoutHangsUp(t *testing.T) {
	r := newRig(t, true)
	r.port.hook(true)
	r.port.dial("600")
	_, call := r.dialled()
	call.events <- sip.CallEvent{Kind: sip.Answered, Code: 200}
	r.inState(Connected)
	r.med.session().events <- media.Event{Kind: media.Timeout, Reason: "no RTP for 30s"}
	r.eventually("BYE", func() bool { _, _, h := call.state(); return h })
	r.hears("reorder")
}

func TestIncomingCallRingsWithCallerIDAndAnswers(t *testing.T) {
	r := newRig(t, true)
	c := newFakeCall("5551234")
	c.remote.Name = "ALICE"
	c.offer = []byte("v=0 offer")
	r.line.Incoming(c)
	r.inState(Ringing)
	ring := r.port.ringing()
	if ring == nil || ring.CallerID == nil || ring.CallerID.Number != "5551234" || ring.CallerID.Name != "ALICE" {
		t.Fatalf("ring %+v: want caller ID 5551234 ALICE", ring)
	}
	if ring.Standard != boards.CallerIDBell202 || ring.Cadence.Period() != 6*time.Second {
		t.Fatalf("ring %+v: want the US cadence and Bell 202", ring)
	}
	r.port.hook(true)
	r.inState(Connected)
	if ans, _, _ := c.state(); string(ans) != "v=0 answer" {
		t.Fatalf("answered with %q", ans)
	}
	if r.port.ringing() != nil {
		t.Fatal("still ringing after answer")
	}
	r.port.hook(false)
	r.eventually("BYE", func() bool { _, _, h := c.state(); return h })
}

func TestIncomingCancelStopsRinging(t *testing.T) {
	r := newRig(t, true)
	c := newFakeCall("5551234")
	c.offer = []byte("v=0 offer")
	r.line.Incoming(c)
	r.inState(Ringing)
	c.events <- sip.CallEvent{Kind: sip.Cancelled}
	r.inState(Idle)
	if r.port.ringing() != nil {
		t.Fatal("still ringing after CANCEL")
	}
}

func TestIncomingWhileOffHookIsBusy(t *testing.T) {
	r := newRig(t, true)
	r.port.hook(true)
	r.hears("dial")
	c := newFakeCall("5551234")
	c.offer = []byte("v=0 offer")
	r.line.Incoming(c)
	r.eventually("486", func() bool { _, rej, _ := c.state(); return rej == 486 })
}

func TestIncomingWithNoCommonCodecIs488(t *testing.T) {
	r := newRig(t, true)
	r.med.refuse = true
	c := newFakeCall("5551234")
	c.offer = []byte("v=0 offer")
	r.line.Incoming(c)
	r.eventually("488", func() bool { _, rej, _ := c.state(); return rej == 488 })
	if r.port.ringing() != nil {
		t.Fatal("rang for a call it cannot take")
	}
}

func TestNewRefusesIncompleteConfig(t *testing.T) {
	if _, err := New(Config{}); err == nil {
		t.Fatal("want an error for an empty config")
	}
}

func TestCallerIDForSIPIdentities(t *testing.T) {
	at := time.Now()
	for _, tc := range []struct {
		party       sip.Party
		number      string
		name        string
		unavailable bool
	}{
		{sip.Party{Number: "5551234", Name: "ALICE"}, "5551234", "ALICE", false},
		{sip.Party{Number: "+442079460000"}, "442079460000", "", false},
		{sip.Party{Number: "alice"}, "", "alice", true},
		{sip.Party{Number: "alice", Name: "Alice B"}, "", "Alice B", true},
		{sip.Party{}, "", "", true},
		{sip.Party{Number: "5551234", Withheld: true}, "", "", false},
	} {
		cid := CallerIDFor(tc.party, at)
		if cid.Number != tc.number || cid.Name != tc.name || cid.Unavailable != tc.unavailable || cid.Withheld != tc.party.Withheld {
			t.Errorf("%+v → %+v", tc.party, cid)
		}
	}
}
