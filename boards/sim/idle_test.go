package sim

import (
	"bytes"
	"context"
	"math/bits"
	"math/rand/v2"
	"net/http"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tipring/tipring/boards"
	"github.com/tipring/tipring/boards/dsp"
	"github.com/tipring/tipring/boards/region"
)

// needs says why the port needs the audio clock.
func (r *rig) needs(n int) clockNeed {
	return r.board.ports[n-1].clockNeeds()
}

// settle steps the clock until no port needs it and returns the board
// time that took.
func (r *rig) settle() time.Duration {
	r.t.Helper()
	var d time.Duration
	for r.board.needsClock() {
		if d > 20*time.Second {
			r.t.Fatalf("the board still needs its clock after %v: port 1 %v, port 2 %v", d, r.needs(1), r.needs(2))
		}
		r.step(boards.FrameDuration)
		d += boards.FrameDuration
	}
	return d
}

// whileBusy makes a request that returns when the phone on port is done,
// runs check once the phone has taken it up, then steps the clock until
// the phone is done and returns the request's error.
func (r *rig) whileBusy(port int, call func(ctx context.Context) error, check func()) error {
	r.t.Helper()
	done := make(chan error, 1)
	go func() { done <- call(r.ctx) }()
	if !r.waitBusy(port, done) {
		return <-done
	}
	check()
	for elapsed := time.Duration(0); r.busy(port); elapsed += boards.FrameDuration {
		if elapsed > 30*time.Second {
			r.t.Fatal("the phone is still busy after 30 s of board time")
		}
		r.step(boards.FrameDuration)
	}
	return <-done
}

func silentPCM(pcm []int16) bool {
	return !slices.ContainsFunc(pcm, func(v int16) bool { return v != 0 })
}

func TestClockNeedString(t *testing.T) {
	if got := clockNeed(0).String(); got != "none" {
		t.Errorf("no need: %q", got)
	}
	if got := (needOffHook | needListener).String(); got != "off-hook+listener" {
		t.Errorf("two needs: %q", got)
	}
	if len(clockNeedNames) != bits.Len(uint(needListener)) {
		t.Errorf("%d names for %d needs", len(clockNeedNames), bits.Len(uint(needListener)))
	}
}

// TestClockIdlesOnceThePhonesSettle: a new board runs its clock until
// the phones have heard enough silence to be sure of it, then needs it
// no more, and the phones say they hear silence.
func TestClockIdlesOnceThePhonesSettle(t *testing.T) {
	r := newRig(t, "us")
	for n := 1; n <= Ports; n++ {
		if got := r.needs(n); got != needListener {
			t.Errorf("new board, port %d needs %v, want the listener only", n, got)
		}
	}
	d := r.settle()
	// US ringback has 4 s gaps: until more has passed, a tone heard before
	// may still go on.
	if d < 4*time.Second*115/100+35*ms {
		t.Errorf("clock idle after %v, within a ringback gap", d)
	}
	if want := time.Duration(r.board.ports[0].phone.settle) * boards.FrameDuration; d != want {
		t.Errorf("clock idle after %v, want the settling time %v", d, want)
	}
	for n := 1; n <= Ports; n++ {
		if st := r.state(n); st.Hearing != "silence" || st.LevelDBm0 != dsp.FloorDBm0 || len(st.ToneHz) != 0 {
			t.Errorf("idle phone %d hears %q %v at %v dBm0, want silence at %v", n, st.Hearing, st.ToneHz, st.LevelDBm0, dsp.FloorDBm0)
		}
	}
}

// TestClockRunsUntilHangUpIsReported: after the handset goes down, the
// hook decoder needs FlashMax to tell a hang-up from a flash; the clock
// runs until the on-hook event has come, and no longer.
func TestClockRunsUntilHangUpIsReported(t *testing.T) {
	r := newRig(t, "us")
	p := r.port(1)
	r.settle()
	r.hook(1, true)
	if got := r.needs(1); got&needOffHook == 0 {
		t.Errorf("off-hook: needs %v, want off-hook among them", got)
	}
	r.step(100 * ms)
	drain(p)
	r.hook(1, false)
	if got := r.needs(1); got != needHookDecoder {
		t.Fatalf("just hung up: needs %v, want the hook decoder only", got)
	}
	var d time.Duration
	for r.needs(1)&needHookDecoder != 0 {
		if evs := drain(p); len(evs) != 0 {
			t.Fatalf("events %v while the decoder still needed time", kinds(evs))
		}
		r.step(boards.FrameDuration)
		d += boards.FrameDuration
	}
	if got := kinds(drain(p)); !slices.Equal(got, []string{"on-hook"}) {
		t.Errorf("when the decoder was done: events %v, want [on-hook]", got)
	}
	if d < dsp.DefaultFlashMax || d > dsp.DefaultFlashMax+2*boards.FrameDuration {
		t.Errorf("decoder needed the clock for %v after the hang-up, want just over FlashMax %v", d, dsp.DefaultFlashMax)
	}
	if got := r.needs(1); got != 0 {
		t.Errorf("after the on-hook event: needs %v, want none", got)
	}
}

// TestClockRunsWhileThePhoneSaysRinging: the ring meter closes an episode
// only when its timeout has passed after the last burst.
func TestClockRunsWhileThePhoneSaysRinging(t *testing.T) {
	r := newRig(t, "us")
	p := r.port(1)
	r.settle()
	if err := p.Ring(boards.Ring{Cadence: boards.Cadence{2 * time.Second, 4 * time.Second}}); err != nil {
		t.Fatal(err)
	}
	if got := r.needs(1); got != needRinger {
		t.Errorf("ring started: needs %v, want the ringer", got)
	}
	r.step(time.Second)
	if got := r.needs(1); got != needRinger|needRingMeter {
		t.Errorf("in the first burst: needs %v, want the ringer and the ring meter", got)
	}
	p.StopRing()
	if got := r.needs(1); got != needRingMeter {
		t.Fatalf("ring stopped: needs %v, want the ring meter only", got)
	}
	var d time.Duration
	for r.needs(1) != 0 {
		if !r.state(1).Ringing {
			t.Fatalf("%v after the ring stopped the phone says it is not ringing, yet needs %v", d, r.needs(1))
		}
		r.step(boards.FrameDuration)
		d += boards.FrameDuration
	}
	if st := r.state(1); st.Ringing {
		t.Errorf("clock needed no more, but the phone still says ringing")
	}
	if d < ringTimeoutUnmeasured {
		t.Errorf("ring meter needed the clock for %v after the ring stopped, want its timeout %v", d, ringTimeoutUnmeasured)
	}
}

// TestClockRunsForCallerIDAndPolarity: a caller-ID sequence before the
// first ring reverses the line; the ringer needs the clock from the
// start, and when it stops, the clock runs until the phone has sensed
// the polarity going back.
func TestClockRunsForCallerIDAndPolarity(t *testing.T) {
	r := newRig(t, "uk")
	p := r.port(1)
	reg, _ := region.Lookup("uk")
	r.settle()
	err := p.Ring(boards.Ring{Cadence: reg.Ring, CallerID: &boards.CallerID{Number: "01632960123"}, Standard: reg.CallerID})
	if err != nil {
		t.Fatal(err)
	}
	if got := r.needs(1); got != needRinger|needPolarity {
		t.Errorf("caller ID lead-in: needs %v, want the ringer and the polarity", got)
	}
	r.step(60 * ms)
	if st := r.state(1); st.Polarity != "reversed" {
		t.Fatalf("polarity %q in the caller-ID lead-in, want reversed", st.Polarity)
	}
	p.StopRing()
	if got := r.needs(1); got != needPolarity {
		t.Errorf("ring stopped in the lead-in: needs %v, want the polarity only", got)
	}
	r.step(boards.FrameDuration)
	if got := r.needs(1); got != 0 {
		t.Errorf("a frame later: needs %v, want none", got)
	}
	if st := r.state(1); st.Polarity != "normal" {
		t.Errorf("polarity %q after the ring stopped, want normal", st.Polarity)
	}

	// The firmware reversing an idle line: one frame for the phone to
	// sense it.
	p.SetReversed(true)
	if got := r.needs(1); got != needPolarity {
		t.Errorf("line reversed: needs %v, want the polarity only", got)
	}
	r.step(boards.FrameDuration)
	if got, st := r.needs(1), r.state(1); got != 0 || st.Polarity != "reversed" {
		t.Errorf("a frame later: needs %v, polarity %q; want none, reversed", got, st.Polarity)
	}
}

// TestClockRunsUntilTheToneHasFaded: after a tone ends, the clock runs
// until the phone says it hears silence at the floor level, and long
// enough after that for no gap of a region tone to be still open.
func TestClockRunsUntilTheToneHasFaded(t *testing.T) {
	r := newRig(t, "us")
	p := r.port(1)
	r.settle()
	p.PlayTone(boards.Tone{Name: "test", LoopFrom: -1, Segments: []boards.Segment{{Freqs: []float64{1004}, LevelDBm0: -10, Duration: 500 * ms}}})
	if got := r.needs(1); got != needTone {
		t.Errorf("tone playing: needs %v, want the tone", got)
	}
	r.step(600 * ms)
	if got := r.needs(1); got != needListener {
		t.Fatalf("tone over: needs %v, want the listener only", got)
	}
	if st := r.state(1); st.Hearing != "tone" {
		t.Fatalf("just after the tone the phone hears %q, want tone", st.Hearing)
	}
	var d time.Duration
	for r.needs(1) != 0 {
		r.step(boards.FrameDuration)
		d += boards.FrameDuration
	}
	if st := r.state(1); st.Hearing != "silence" || st.LevelDBm0 != dsp.FloorDBm0 || len(st.ToneHz) != 0 {
		t.Errorf("clock needed no more, but the phone hears %q %v at %v dBm0", st.Hearing, st.ToneHz, st.LevelDBm0)
	}
	if settle := time.Duration(r.board.ports[0].phone.settle) * boards.FrameDuration; d < settle-100*ms {
		t.Errorf("listener needed the clock for %v after the tone, want about the settling time %v", d, settle)
	}
}

// TestClockRunsForThePhonesActions: hook scripts (flash, pulse dialling)
// and the microphone (DTMF, sends) need the clock, and wake it.
func TestClockRunsForThePhonesActions(t *testing.T) {
	r := newRig(t, "us")
	r.hook(1, true)
	r.step(100 * ms)
	for _, tc := range []struct {
		name string
		call func(ctx context.Context) error
		want clockNeed
	}{
		{"flash", func(ctx context.Context) error { return r.client.Flash(ctx, 1, 300) }, needHookScript},
		{"pulse dialling", func(ctx context.Context) error { return r.client.Dial(ctx, 1, "2", "pulse") }, needHookScript},
		{"DTMF dialling", func(ctx context.Context) error { return r.client.Dial(ctx, 1, "5", "dtmf") }, needMic},
		{"send", func(ctx context.Context) error {
			return r.client.Send(ctx, 1, SendRequest{ToneHz: 1004, Ms: 200, Wait: true})
		}, needMic},
	} {
		select {
		case <-r.board.wake:
		default:
		}
		err := r.whileBusy(1, tc.call, func() {
			if got := r.needs(1); got&tc.want == 0 {
				t.Errorf("%s: needs %v, want %v among them", tc.name, got, tc.want)
			}
			if len(r.board.wake) == 0 {
				t.Errorf("%s did not wake the clock", tc.name)
			}
		})
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if got := r.needs(1); got&(needHookScript|needMic) != 0 {
			t.Errorf("after %s: needs %v", tc.name, got)
		}
	}
}

// TestClockWakeUps: whatever starts something that needs frames wakes the
// clock at once; what does not, does not.
func TestClockWakeUps(t *testing.T) {
	r := newRig(t, "us")
	p := r.port(1)
	reg, _ := region.Lookup("us")
	for _, tc := range []struct {
		name   string
		action func()
		wake   bool
	}{
		{"state", func() { r.state(1) }, false},
		{"heard", func() { _, _ = r.client.Heard(r.ctx, 1, 100) }, false},
		{"device", func() { _ = r.client.SetDevice(r.ctx, 1, DefaultDevice()) }, false},
		{"set audio", func() { p.SetAudio(func(_, _ *boards.Frame) {}) }, false},
		{"ring", func() { _ = p.Ring(boards.Ring{Cadence: reg.Ring}) }, true},
		{"stop ring", p.StopRing, false},
		{"play tone", func() { p.PlayTone(reg.Busy) }, true},
		{"stop tone", p.StopTone, false},
		{"reverse", func() { p.SetReversed(true) }, true},
		{"off-hook", func() { r.hook(1, true) }, true},
		{"send", func() { _ = r.client.SendTone(r.ctx, 1, 1004, 100, -10) }, true},
		{"on-hook", func() { r.hook(1, false) }, true},
	} {
		select {
		case <-r.board.wake:
		default:
		}
		tc.action()
		if woke := len(r.board.wake) == 1; woke != tc.wake {
			t.Errorf("%s: woke the clock %v, want %v", tc.name, woke, tc.wake)
		}
	}
}

// TestHeardPadsTheTimeTheClockStood: while the clock stands still the
// phone hears silence, and a recording says so; when it runs again, the
// silence stays in the recording between what came before and after.
func TestHeardPadsTheTimeTheClockStood(t *testing.T) {
	clk := NewManualClock(t0)
	b, err := New(boards.Options{Region: "us"}, WithClock(clk))
	if err != nil {
		t.Fatal(err)
	}
	p := b.ports[0]
	tickAt := func(at time.Time) {
		clk.mu.Lock()
		clk.now = at
		clk.mu.Unlock()
		b.tick()
	}
	recording := func(ms int, now time.Time) []int16 {
		p.mu.Lock()
		defer p.mu.Unlock()
		return p.phone.recording(ms, now)
	}
	p.PlayTone(pureTone(1004, -10))
	for range 50 {
		tickAt(clk.Now().Add(boards.FrameDuration))
	}
	p.StopTone()
	last := clk.Now()
	p.pause(last)

	pcm := recording(5000, last.Add(3*time.Second+5*ms))
	if want := 4 * boards.SampleRate; len(pcm) != want {
		t.Fatalf("5 s asked, 1 s heard and 3 s stood still: %d samples, want %d", len(pcm), want)
	}
	if lvl := dsp.ToneLevelDBm0(pcm[:boards.SampleRate], 1004); !near64(lvl, -10, 1) {
		t.Errorf("the tone heard before the clock stopped is at %.1f dBm0, want -10", lvl)
	}
	if !silentPCM(pcm[boards.SampleRate:]) {
		t.Errorf("the time the clock stood still is not silence")
	}
	if pcm := recording(2000, last.Add(3*time.Second+5*ms)); len(pcm) != 2*boards.SampleRate || !silentPCM(pcm) {
		t.Errorf("the last 2 s: %d samples, silent %v; want 2 s of silence", len(pcm), silentPCM(pcm))
	}

	// The clock starts again 151 frames after the last, with a tone.
	at := last.Add(151 * boards.FrameDuration)
	p.resume(at)
	p.PlayTone(pureTone(600, -10))
	tickAt(at)
	pcm = recording(MaxHeardMs, at)
	if want := (50 + 150 + 1) * boards.FrameSamples; len(pcm) != want {
		t.Fatalf("after the clock ran again: %d samples, want %d", len(pcm), want)
	}
	if lvl := dsp.ToneLevelDBm0(pcm[:boards.SampleRate], 1004); !near64(lvl, -10, 1) {
		t.Errorf("the first tone is at %.1f dBm0, want -10", lvl)
	}
	if !silentPCM(pcm[boards.SampleRate : len(pcm)-boards.FrameSamples]) {
		t.Errorf("the pause is not silence")
	}
	if silentPCM(pcm[len(pcm)-boards.FrameSamples:]) {
		t.Errorf("the frame after the pause is silent; the tone was playing")
	}
}

// TestListenerAfterIdleHearsAsAfterLongQuiet: stopping the clock once the
// phone has settled must not change what it recognises later. A listener
// that heard the settling time of silence hears every region tone just as
// one that heard a minute of it.
func TestListenerAfterIdleHearsAsAfterLongQuiet(t *testing.T) {
	for _, code := range region.Codes() {
		reg, err := region.Lookup(code)
		if err != nil {
			t.Fatal(err)
		}
		tones := reg.Tones()
		settle := settleFrames(tones)
		for _, tone := range tones {
			hear := func(quiet int) []dsp.Hearing {
				l := dsp.NewListener(tones)
				var f boards.Frame
				g := dsp.NewToneGen(reg.Ringback)
				for range 150 {
					g.Fill(&f)
					l.Process(&f)
				}
				f = boards.Frame{}
				for range quiet {
					l.Process(&f)
				}
				var out []dsp.Hearing
				g = dsp.NewToneGen(tone)
				for i := range 250 {
					f = boards.Frame{}
					if i < 150 {
						g.Fill(&f)
					}
					l.Process(&f)
					out = append(out, l.Hearing())
				}
				return out
			}
			idle, long := hear(settle), hear(3000)
			for i := range idle {
				a, b := idle[i], long[i]
				if a.Name != b.Name || !slices.Equal(a.FreqsHz, b.FreqsHz) || a.LevelDBm0 != b.LevelDBm0 {
					t.Errorf("%s %s, frame %d: after the settling time %s %v %.1f, after a minute %s %v %.1f",
						code, tone.Name, i, a.Name, a.FreqsHz, a.LevelDBm0, b.Name, b.FreqsHz, b.LevelDBm0)
					break
				}
			}
		}
	}
}

// TestWallClockStopsWhenIdleAndWakes runs the board on real time: once
// the phones have settled, the audio clock takes no frames, and lifting
// the handset starts it again in time for dial tone.
func TestWallClockStopsWhenIdleAndWakes(t *testing.T) {
	t.Parallel()
	reg, _ := region.Lookup("uk") // the shortest settling time
	b, err := New(boards.Options{Region: reg.Code, Control: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	var frames atomic.Int64
	p := b.ports[0]
	p.SetAudio(func(_, _ *boards.Frame) { frames.Add(1) })
	ctx, cancel := context.WithCancel(context.Background())
	started := time.Now()
	done := make(chan error, 1)
	go func() { done <- b.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	// The firmware's part: dial tone while the handset is up.
	go func() {
		for ev := range p.Events() {
			switch ev.Kind {
			case boards.OffHook:
				p.PlayTone(reg.Dial)
			case boards.OnHook:
				p.StopTone()
			}
		}
	}()
	addr, err := b.WaitControl(ctx)
	if err != nil {
		t.Fatal(err)
	}
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	c := NewClient(addr, &http.Client{Transport: tr})

	// Idle: no frame for longer than a scheduling hiccup lasts.
	deadline := time.Now().Add(20 * time.Second)
	for last := int64(-1); ; {
		time.Sleep(250 * ms)
		n := frames.Load()
		if n == last {
			break
		}
		last = n
		if time.Now().After(deadline) {
			t.Fatalf("the audio clock still runs 20 s after start, with both phones idle")
		}
	}
	if frames.Load() == 0 {
		t.Fatal("the audio clock never ran")
	}
	before := frames.Load()
	time.Sleep(300 * ms)
	if n := frames.Load() - before; n != 0 {
		t.Errorf("%d frames in 300 ms with both phones idle, want none", n)
	}
	time.Sleep(700 * ms)

	// The recording covers the whole run, the idle time as silence.
	from := time.Since(started)
	wav, err := c.Heard(ctx, 1, MaxHeardMs)
	if err != nil {
		t.Fatal(err)
	}
	to := time.Since(started)
	pcm, err := ReadWAV(bytes.NewReader(wav))
	if err != nil {
		t.Fatal(err)
	}
	got := time.Duration(len(pcm)) * time.Second / boards.SampleRate
	if got < from-500*ms || got > to {
		t.Errorf("heard %v of audio %v-%v after start", got, from, to)
	}
	if !silentPCM(pcm) {
		t.Errorf("an idle phone heard something")
	}

	wctx, wcancel := context.WithTimeout(ctx, 10*time.Second)
	defer wcancel()
	if err := c.Hook(wctx, 1, true); err != nil {
		t.Fatal(err)
	}
	if _, err := c.WaitFor(wctx, 1, func(st PhoneState) bool { return st.Hearing == "dial" }); err != nil {
		t.Errorf("no dial tone after lifting the handset: %v", err)
	}
	if frames.Load() == before {
		t.Errorf("the audio clock did not start again")
	}
}

// BenchmarkWakeToFirstFrame measures, on real time, how long after a
// wake-up the stopped audio clock takes its first frame: at the next
// frame boundary, so 0-20 ms, 10 ms on average, as on a clock that never
// stopped. The wake-up is a line reversal, which needs one frame.
func BenchmarkWakeToFirstFrame(b *testing.B) {
	brd, err := New(boards.Options{Region: "uk"})
	if err != nil {
		b.Fatal(err)
	}
	frames := make(chan time.Time, 1)
	p := brd.ports[0]
	p.SetAudio(func(_, _ *boards.Frame) {
		select {
		case frames <- time.Now():
		default:
		}
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- brd.Run(ctx) }()
	defer func() {
		cancel()
		<-done
	}()
	// idle waits until no frame has come for longer than a frame.
	idle := func() {
		for {
			select {
			case <-frames:
			case <-time.After(2 * boards.FrameDuration):
				return
			}
		}
	}
	idle()
	var total, worst time.Duration
	reversed := false
	n := 0
	for b.Loop() {
		idle()
		// Wake-ups come at any time, not in step with the frames: the
		// wait for idle above is.
		time.Sleep(rand.N(boards.FrameDuration))
		reversed = !reversed
		start := time.Now()
		p.SetReversed(reversed)
		lat := (<-frames).Sub(start)
		total += lat
		worst = max(worst, lat)
		n++
	}
	b.ReportMetric(float64(total.Microseconds())/float64(n)/1000, "ms-mean")
	b.ReportMetric(float64(worst.Microseconds())/1000, "ms-worst")
}
