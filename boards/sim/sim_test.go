package sim

import (
	"bytes"
	"context"
	"errors"
	"math"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tipring/tipring/boards"
	"github.com/tipring/tipring/boards/dsp"
	"github.com/tipring/tipring/boards/region"
)

const ms = time.Millisecond

func TestOffHookAndOnHookEvents(t *testing.T) {
	r := newRig(t, "us")
	p := r.port(1)
	r.hook(1, true)
	r.step(100 * ms)
	if got := kinds(drain(p)); !slices.Equal(got, []string{"off-hook"}) {
		t.Fatalf("after lifting the handset: events %v, want [off-hook]", got)
	}
	if !p.OffHook() {
		t.Errorf("Port.OffHook() = false after off-hook")
	}
	if st := r.state(1); st.Hook != "off" {
		t.Errorf("state hook = %q, want off", st.Hook)
	}
	r.hook(1, false)
	r.step(1500 * ms) // past any flash window
	if got := kinds(drain(p)); !slices.Equal(got, []string{"on-hook"}) {
		t.Fatalf("after hanging up: events %v, want [on-hook]", got)
	}
	if p.OffHook() {
		t.Errorf("Port.OffHook() = true after on-hook")
	}
	if got := kinds(drain(r.port(2))); len(got) != 0 {
		t.Errorf("port 2 saw %v; only port 1 was used", got)
	}
}

func TestDialDTMF(t *testing.T) {
	r := newRig(t, "us")
	p := r.port(1)
	r.hook(1, true)
	r.step(40 * ms)
	drain(p)
	err := r.during(1, 5*time.Second, func(ctx context.Context) error { return r.client.Dial(ctx, 1, "123#", "dtmf") })
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	r.step(100 * ms)
	evs := drain(p)
	if got := kinds(evs); !slices.Equal(got, []string{"digit(1)", "digit(2)", "digit(3)", "digit(#)"}) {
		t.Fatalf("events %v, want digits 1 2 3 #", got)
	}
	for _, ev := range evs {
		if ev.Pulse {
			t.Errorf("digit %c marked as pulse", ev.Digit)
		}
		if !near64(ev.LevelDBm0, DefaultDTMFDBm0, 1.5) {
			t.Errorf("digit %c measured at %.1f dBm0, sent at %.1f", ev.Digit, ev.LevelDBm0, DefaultDTMFDBm0)
		}
	}
}

func TestDialPulse(t *testing.T) {
	r := newRig(t, "us")
	p := r.port(1)
	r.hook(1, true)
	r.step(40 * ms)
	drain(p)
	err := r.during(1, 10*time.Second, func(ctx context.Context) error { return r.client.Dial(ctx, 1, "905", "pulse") })
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	evs := drain(p)
	if got := kinds(evs); !slices.Equal(got, []string{"digit(9)", "digit(0)", "digit(5)"}) {
		t.Fatalf("events %v, want pulse digits 9 0 5 and nothing else", got)
	}
	for _, ev := range evs {
		if !ev.Pulse {
			t.Errorf("digit %c not marked as pulse", ev.Digit)
		}
	}
	if !p.OffHook() {
		t.Errorf("line on-hook after pulse dialling")
	}
}

// TestDialOptions dials with timings other than the defaults: 8 pulses a
// second (breaks that do not fall on frame boundaries) and short, quiet
// DTMF.
func TestDialOptions(t *testing.T) {
	r := newRig(t, "us")
	p := r.port(1)
	r.hook(1, true)
	r.step(40 * ms)
	drain(p)
	err := r.during(1, 10*time.Second, func(ctx context.Context) error {
		return r.client.DialWith(ctx, 1, DialRequest{Digits: "27", Mode: "pulse", BreakMs: 75, MakeMs: 50, PauseMs: 500})
	})
	if err != nil {
		t.Fatalf("pulse DialWith: %v", err)
	}
	level := -20.0
	err = r.during(1, 10*time.Second, func(ctx context.Context) error {
		return r.client.DialWith(ctx, 1, DialRequest{Digits: "*0", OnMs: 50, OffMs: 50, LevelDBm0: &level})
	})
	if err != nil {
		t.Fatalf("DTMF DialWith: %v", err)
	}
	r.step(100 * ms)
	evs := drain(p)
	if got := kinds(evs); !slices.Equal(got, []string{"digit(2)", "digit(7)", "digit(*)", "digit(0)"}) {
		t.Fatalf("events %v, want 2 7 * 0", got)
	}
	if d := evs[1].Duration; d < 810*ms || d > 830*ms {
		// 7 pulses: 7 breaks of 75 ms and 6 makes of 50 ms between them.
		t.Errorf("digit 7 took %v, want 825ms: pulse timing is not kept", d)
	}
	if !near64(evs[3].LevelDBm0, level, 1.5) {
		t.Errorf("DTMF measured at %.1f dBm0, sent at %.1f", evs[3].LevelDBm0, level)
	}
}

func TestFlash(t *testing.T) {
	r := newRig(t, "us")
	p := r.port(1)
	r.hook(1, true)
	r.step(40 * ms)
	drain(p)
	if err := r.during(1, 2*time.Second, func(ctx context.Context) error { return r.client.Flash(ctx, 1, 0) }); err != nil {
		t.Fatalf("Flash: %v", err)
	}
	r.step(100 * ms)
	evs := drain(p)
	if got := kinds(evs); !slices.Equal(got, []string{"flash"}) {
		t.Fatalf("events %v, want [flash]", got)
	}
	if d := evs[0].Duration; d < 480*ms || d > 520*ms {
		t.Errorf("flash lasted %v, want about %dms", d, DefaultFlashMs)
	}
	if st := r.state(1); st.Hook != "off" {
		t.Errorf("hook %q after a flash, want off", st.Hook)
	}
}

func TestHangUpInterruptsFlash(t *testing.T) {
	r := newRig(t, "us")
	r.hook(1, true)
	done := make(chan error, 1)
	go func() { done <- r.client.Flash(r.ctx, 1, 2000) }()
	r.waitBusy(1, done)
	// Wait until the flash has the hook switch open.
	for i := 0; r.state(1).Hook != "on"; i++ {
		if i > 500 {
			t.Fatal("the flash never opened the hook switch")
		}
		r.step(20 * ms)
	}
	r.hook(1, false)
	if err := <-done; apiStatus(err) != http.StatusConflict || !strings.Contains(err.Error(), "interrupted") {
		t.Fatalf("Flash interrupted by a hang-up: %v, want 409 interrupted", err)
	}
	r.step(100 * ms)
	if st := r.state(1); st.Hook != "on" {
		t.Errorf("hook %q, want on: the hang-up wins", st.Hook)
	}
}

func TestHearsPlayedTone(t *testing.T) {
	for _, tc := range []struct {
		region string
		freqs  []float64
	}{
		{"us", []float64{350, 440}},
		{"de", []float64{425}},
	} {
		t.Run(tc.region, func(t *testing.T) {
			r := newRig(t, tc.region)
			reg, err := region.Lookup(tc.region)
			if err != nil {
				t.Fatal(err)
			}
			r.hook(1, true)
			r.port(1).PlayTone(reg.Dial)
			r.step(1500 * ms)
			st := r.state(1)
			if st.Hearing != "dial" {
				t.Errorf("hearing %q, want dial", st.Hearing)
			}
			if !freqsNear(st.ToneHz, tc.freqs, 5) {
				t.Errorf("tone_hz %v, want %v", st.ToneHz, tc.freqs)
			}
			r.port(1).StopTone()
			r.step(1500 * ms)
			if st := r.state(1); st.Hearing != "silence" {
				t.Errorf("after StopTone: hearing %q, want silence", st.Hearing)
			}
		})
	}
}

func freqsNear(got, want []float64, tol float64) bool {
	if len(got) != len(want) {
		return false
	}
	g := slices.Clone(got)
	slices.Sort(g)
	for i := range g {
		if !near64(g[i], want[i], tol) {
			return false
		}
	}
	return true
}

func TestHearsAudioFunc(t *testing.T) {
	r := newRig(t, "us")
	line := &fakeLine{}
	r.port(1).SetAudio(line.audio)
	line.play(pureTone(1004, -10))
	r.hook(1, true)
	r.step(1500 * ms)
	st := r.state(1)
	if st.Hearing != "tone" || !freqsNear(st.ToneHz, []float64{1004}, 5) {
		t.Errorf("hearing %q %v, want tone [1004]", st.Hearing, st.ToneHz)
	}
	if !near64(st.LevelDBm0, -10, 1.5) {
		t.Errorf("level %.1f dBm0, want about -10", st.LevelDBm0)
	}

	// A tone played on the port replaces the AudioFunc's audio...
	reg, _ := region.Lookup("us")
	r.port(1).PlayTone(reg.Busy)
	r.step(2500 * ms)
	if st := r.state(1); st.Hearing != "busy" {
		t.Errorf("during PlayTone(busy): hearing %q, want busy", st.Hearing)
	}
	// ...while the AudioFunc keeps being called and the phone's audio
	// still flows up.
	line.recorded()
	r.step(200 * ms)
	if n := len(line.recorded()); n != 10*boards.FrameSamples {
		t.Errorf("AudioFunc got %d samples in 200 ms during a tone, want %d", n, 10*boards.FrameSamples)
	}
	r.port(1).StopTone()
	r.step(1500 * ms)
	if st := r.state(1); st.Hearing != "tone" {
		t.Errorf("after StopTone: hearing %q, want tone (the AudioFunc's again)", st.Hearing)
	}
}

func TestSendToneReachesAudioFunc(t *testing.T) {
	r := newRig(t, "us")
	line := &fakeLine{}
	r.port(2).SetAudio(line.audio)
	r.hook(2, true)
	r.step(100 * ms)
	line.recorded()
	if err := r.client.SendTone(r.ctx, 2, 1004, 1000, -10); err != nil {
		t.Fatalf("SendTone: %v", err)
	}
	r.step(1000 * ms)
	up := line.recorded()
	if lvl := dsp.ToneLevelDBm0(up[len(up)/4:len(up)*3/4], 1004); !near64(lvl, -10, 1) {
		t.Errorf("1004 Hz in the up audio at %.1f dBm0, want -10", lvl)
	}
	if lvl := dsp.ToneLevelDBm0(up, 700); lvl > -40 {
		t.Errorf("700 Hz in the up audio at %.1f dBm0: the phone sent more than its tone", lvl)
	}
	// The tone lasted 1 s: after it the phone is quiet again.
	r.step(200 * ms)
	if lvl := dsp.ToneLevelDBm0(line.recorded(), 1004); lvl > -50 {
		t.Errorf("1004 Hz still at %.1f dBm0 after the tone's end", lvl)
	}
}

func TestSendWaitsWhenAsked(t *testing.T) {
	r := newRig(t, "us")
	line := &fakeLine{}
	r.port(1).SetAudio(line.audio)
	r.hook(1, true)
	start := r.clock.Now()
	err := r.during(1, 3*time.Second, func(ctx context.Context) error {
		return r.client.Send(ctx, 1, SendRequest{ToneHz: 600, Ms: 800, Wait: true})
	})
	if err != nil {
		t.Fatalf("Send: %v", err)
	}
	if took := r.clock.Now().Sub(start); took < 800*ms {
		t.Errorf("send with wait returned after %v of board time, before its 800 ms tone ended", took)
	}
	if lvl := dsp.ToneLevelDBm0(line.recorded(), 600); !near64(lvl, DefaultSendDBm0, 3) {
		t.Errorf("600 Hz sent at %.1f dBm0, want about %.0f", lvl, DefaultSendDBm0)
	}
}

func TestSendWAVReachesAudioFunc(t *testing.T) {
	r := newRig(t, "us")
	line := &fakeLine{}
	r.port(1).SetAudio(line.audio)
	r.hook(1, true)
	r.step(40 * ms)
	// Half a second of 1004 Hz at -10 dBm0.
	pcm := dsp.AppendTone(nil, pureTone(1004, -10), 500*ms)
	line.recorded()
	if err := r.client.SendWAV(r.ctx, 1, EncodeWAV(pcm)); err != nil {
		t.Fatalf("SendWAV: %v", err)
	}
	r.step(600 * ms)
	up := line.recorded()
	// Every sample counts alike in the measure: 500 ms of tone in 600 ms of
	// audio is 20·log10(5/6) below the tone's level.
	if lvl := dsp.ToneLevelDBm0(up, 1004); !near64(lvl, -10+20*math.Log10(500.0/600), 1) {
		t.Errorf("1004 Hz in 600 ms of up audio at %.1f dBm0, want the 500 ms WAV at -10", lvl)
	}
}

func TestHeard(t *testing.T) {
	r := newRig(t, "us")
	r.hook(1, true)
	r.port(1).PlayTone(pureTone(1004, -10))
	r.step(1000 * ms)
	wav, err := r.client.Heard(r.ctx, 1, 500)
	if err != nil {
		t.Fatalf("Heard: %v", err)
	}
	pcm, err := ReadWAV(strings.NewReader(string(wav)))
	if err != nil {
		t.Fatalf("heard is not a WAV we can read: %v", err)
	}
	if len(pcm) != 4000 {
		t.Errorf("heard 500 ms = %d samples, want 4000", len(pcm))
	}
	if lvl := dsp.ToneLevelDBm0(pcm, 1004); !near64(lvl, -10, 1) {
		t.Errorf("1004 Hz in heard at %.1f dBm0, want -10", lvl)
	}
	// More than has been heard: what there is.
	wav, err = r.client.Heard(r.ctx, 1, MaxHeardMs)
	if err != nil {
		t.Fatalf("Heard: %v", err)
	}
	if pcm, _ := ReadWAV(strings.NewReader(string(wav))); len(pcm) != 8000 {
		t.Errorf("heard %d samples after 1 s, want 8000", len(pcm))
	}
}

func TestPolarity(t *testing.T) {
	r := newRig(t, "us")
	if st := r.state(1); st.Polarity != "normal" {
		t.Fatalf("polarity %q at start", st.Polarity)
	}
	r.port(1).SetReversed(true)
	r.step(20 * ms)
	if st := r.state(1); st.Polarity != "reversed" {
		t.Errorf("polarity %q after SetReversed(true)", st.Polarity)
	}
	if st := r.state(2); st.Polarity != "normal" {
		t.Errorf("port 2 polarity %q: only port 1 was reversed", st.Polarity)
	}
}

// ringObservation is what a test saw of a ringing phone, polling its state
// every 100 ms of board time.
type ringObservation struct {
	last             PhoneState
	reversedBefore   bool // polarity reversed before the first ring
	cidBeforeRing    bool // caller ID complete before the first ring
	maxRings         int
	reversedRinging  bool // polarity reversed while a ring was counted
	firstRingAt      time.Time
	ringsMonotonic   bool
	ringingAllAlong  bool
	sawRingingFalse  bool
	observationCount int
}

func observeRing(r *rig, port int, d time.Duration) ringObservation {
	o := ringObservation{ringsMonotonic: true, ringingAllAlong: true}
	for elapsed := time.Duration(0); elapsed < d; elapsed += 100 * ms {
		r.step(100 * ms)
		st := r.state(port)
		o.observationCount++
		if st.Rings == 0 && st.Polarity == "reversed" {
			o.reversedBefore = true
		}
		if st.Rings == 0 && st.CallerID != nil {
			o.cidBeforeRing = true
		}
		if st.Rings > 0 && o.firstRingAt.IsZero() {
			o.firstRingAt = r.clock.Now()
		}
		if st.Rings < o.maxRings {
			o.ringsMonotonic = false
		}
		o.maxRings = max(o.maxRings, st.Rings)
		if st.Rings > 0 && !st.Ringing {
			o.ringingAllAlong = false
		}
		o.last = st
	}
	return o
}

func TestRingWithCallerID(t *testing.T) {
	for _, tc := range []struct {
		region      string
		beforeRing  bool
		wantReverse bool
	}{
		{"us", false, false},
		{"uk", true, true},
		{"de", false, false},
	} {
		t.Run(tc.region, func(t *testing.T) {
			r := newRig(t, tc.region)
			reg, err := region.Lookup(tc.region)
			if err != nil {
				t.Fatal(err)
			}
			cid := &boards.CallerID{Number: "5551234", Name: "ALICE", Time: time.Date(2025, 3, 14, 9, 30, 0, 0, time.UTC)}
			if err := r.port(1).Ring(boards.Ring{Cadence: reg.Ring, CallerID: cid, Standard: reg.CallerID}); err != nil {
				t.Fatalf("Ring: %v", err)
			}
			// Two full periods, plus the caller-ID lead for before-ring.
			o := observeRing(r, 1, 2*reg.Ring.Period()+2*time.Second)
			st := o.last
			if !st.Ringing {
				t.Errorf("not ringing while the board rings")
			}
			wantRings := 3 * len(reg.Ring) / 2 // bursts in two periods plus the next one
			if o.maxRings < wantRings-1 || !o.ringsMonotonic || !o.ringingAllAlong {
				t.Errorf("rings went up to %d (want ~%d), monotonic %v, ringing all along %v",
					o.maxRings, wantRings, o.ringsMonotonic, o.ringingAllAlong)
			}
			want := make([]int, len(reg.Ring))
			for i, d := range reg.Ring {
				want[i] = int(d.Milliseconds())
			}
			if !cadenceNear(st.RingCadenceMs, want) {
				t.Errorf("ring_cadence_ms %v, want %v", st.RingCadenceMs, want)
			}
			if st.CallerID == nil || st.CallerID.Number != "5551234" || st.CallerID.Name != "ALICE" {
				t.Fatalf("caller_id %+v, want 5551234 ALICE", st.CallerID)
			}
			if st.CallerID.At.IsZero() || st.CallerID.At.After(r.clock.Now()) {
				t.Errorf("caller_id at %v: not a time of reception", st.CallerID.At)
			}
			if o.cidBeforeRing != tc.beforeRing {
				t.Errorf("caller ID complete before the first ring: %v, want %v", o.cidBeforeRing, tc.beforeRing)
			}
			if o.reversedBefore != tc.wantReverse {
				t.Errorf("polarity reversed before the first ring: %v, want %v", o.reversedBefore, tc.wantReverse)
			}
			if st.Polarity != "normal" {
				t.Errorf("polarity %q while ringing after caller ID, want normal", st.Polarity)
			}

			r.port(1).StopRing()
			// The phone only knows the ringing stopped when no burst comes:
			// the longest gap measured plus half a second.
			var maxOff time.Duration
			for i := 1; i < len(reg.Ring); i += 2 {
				maxOff = max(maxOff, reg.Ring[i])
			}
			r.step(maxOff + 700*ms)
			st = r.state(1)
			if st.Ringing {
				t.Errorf("still ringing %v after StopRing", maxOff+700*ms)
			}
			if st.CallerID == nil {
				t.Errorf("caller ID forgotten when the ringing stopped; it is kept until the next call")
			}
		})
	}
}

func cadenceNear(got, want []int) bool {
	if len(got) != len(want) {
		return false
	}
	for i := range got {
		if d := got[i] - want[i]; d < -40 || d > 40 {
			return false
		}
	}
	return true
}

func TestRingWithoutCallerIDClearsOldOne(t *testing.T) {
	r := newRig(t, "us")
	reg, _ := region.Lookup("us")
	cid := &boards.CallerID{Number: "5551234", Name: "ALICE"}
	if err := r.port(1).Ring(boards.Ring{Cadence: reg.Ring, CallerID: cid, Standard: reg.CallerID}); err != nil {
		t.Fatal(err)
	}
	r.step(6 * time.Second)
	if st := r.state(1); st.CallerID == nil {
		t.Fatalf("no caller ID after the first ring cycle")
	}
	r.port(1).StopRing()
	r.step(6 * time.Second)
	if err := r.port(1).Ring(boards.Ring{Cadence: reg.Ring}); err != nil {
		t.Fatal(err)
	}
	r.step(time.Second)
	st := r.state(1)
	if !st.Ringing || st.Rings != 1 {
		t.Fatalf("second call: ringing %v rings %d, want true 1", st.Ringing, st.Rings)
	}
	if st.CallerID != nil {
		t.Errorf("second call without caller ID shows the first call's: %+v", st.CallerID)
	}
}

func TestOffHookStopsRing(t *testing.T) {
	r := newRig(t, "us")
	reg, _ := region.Lookup("us")
	p := r.port(1)
	if err := p.Ring(boards.Ring{Cadence: reg.Ring}); err != nil {
		t.Fatal(err)
	}
	r.step(500 * ms)
	if st := r.state(1); !st.Ringing || st.Rings != 1 {
		t.Fatalf("ringing %v rings %d, want true 1", st.Ringing, st.Rings)
	}
	r.hook(1, true)
	if st := r.state(1); st.Ringing {
		t.Errorf("still ringing right after going off-hook")
	}
	// The board tripped the ring: no more bursts, even after hanging up.
	r.step(7 * time.Second)
	r.hook(1, false)
	r.step(7 * time.Second)
	if st := r.state(1); st.Ringing || st.Rings != 1 {
		t.Errorf("after answering: ringing %v rings %d, want false 1", st.Ringing, st.Rings)
	}
	if got := kinds(drain(p)); !slices.Equal(got, []string{"off-hook", "on-hook"}) {
		t.Errorf("events %v, want [off-hook on-hook]", got)
	}
	// Ringing an off-hook phone trips at once.
	r.hook(1, true)
	if err := p.Ring(boards.Ring{Cadence: reg.Ring}); !errors.Is(err, boards.ErrOffHook) {
		t.Errorf("Ring while off-hook: %v, want boards.ErrOffHook", err)
	}
}

func TestRingRejectsBadCadence(t *testing.T) {
	r := newRig(t, "us")
	for _, tc := range []struct {
		name string
		ring boards.Ring
		want string
	}{
		{"empty", boards.Ring{}, "empty"},
		{"odd", boards.Ring{Cadence: boards.Cadence{time.Second}}, "pairs"},
		{"tiny", boards.Ring{Cadence: boards.Cadence{time.Second, ms}}, "element 1"},
		{"bad caller ID", boards.Ring{Cadence: boards.Cadence{time.Second, time.Second},
			CallerID: &boards.CallerID{Number: "555-HELLO"}, Standard: boards.CallerIDBell202}, "caller ID"},
	} {
		err := r.port(1).Ring(tc.ring)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: Ring error %v, want one mentioning %q", tc.name, err, tc.want)
		}
	}
	r.step(time.Second)
	if st := r.state(1); st.Rings != 0 {
		t.Errorf("a rejected ring rang %d times", st.Rings)
	}
}

func TestNew(t *testing.T) {
	for _, tc := range []struct {
		opts boards.Options
		want string
	}{
		{boards.Options{Region: "xx"}, "region"},
		{boards.Options{Region: "us", Control: "0.0.0.0:7070"}, "loopback"},
		{boards.Options{Region: "us", Control: ":7070"}, "loopback"},
		{boards.Options{Region: "us", Control: "192.168.1.10:7070"}, "loopback"},
		{boards.Options{Region: "us", Control: "example.com:7070"}, "loopback"},
		{boards.Options{Region: "us", Control: "127.0.0.1"}, "port"},
		{boards.Options{Region: "us", FlashMin: time.Second, FlashMax: 100 * ms}, "flash"},
	} {
		if _, err := New(tc.opts); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("New(%+v): %v, want an error about %s", tc.opts, err, tc.want)
		}
	}
	for _, addr := range []string{"", "127.0.0.1:0", "[::1]:0", "localhost:0", "127.1.2.3:7070"} {
		if _, err := New(boards.Options{Region: "us", Control: addr}); err != nil {
			t.Errorf("New with control %q: %v", addr, err)
		}
	}
	b, _ := New(boards.Options{Region: "us"})
	if b.Name() != "sim" || len(b.Ports()) != 2 || b.Ports()[0].Number() != 1 || b.Ports()[1].Number() != 2 {
		t.Errorf("board %q with ports %v, want sim with 1 and 2", b.Name(), b.Ports())
	}
	if b.ControlAddr() != "" {
		t.Errorf("ControlAddr %q before Run", b.ControlAddr())
	}
}

func TestRegister(t *testing.T) {
	reg := boards.NewRegistry()
	Register(reg)
	b, err := reg.Open("sim", boards.Options{Region: "uk"})
	if err != nil {
		t.Fatalf("Open(sim): %v", err)
	}
	if b.Name() != "sim" {
		t.Errorf("opened %q", b.Name())
	}
}

// TestRunOnWallClock runs the board as the firmware does, on real time.
func TestRunOnWallClock(t *testing.T) {
	b, err := New(boards.Options{Region: "us", Control: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.Run(ctx) }()
	addr, err := b.WaitControl(ctx)
	if err != nil {
		t.Fatal(err)
	}
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	c := NewClient(addr, &http.Client{Transport: tr})
	p := b.Ports()[0]
	line := &fakeLine{}
	p.SetAudio(line.audio)
	if err := c.Hook(ctx, 1, true); err != nil {
		t.Fatal(err)
	}
	select {
	case ev := <-p.Events():
		if ev.Kind != boards.OffHook {
			t.Errorf("first event %v, want off-hook", ev.Kind)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no off-hook event")
	}
	wctx, wcancel := context.WithTimeout(ctx, 5*time.Second)
	defer wcancel()
	if _, err := c.WaitFor(wctx, 1, func(PhoneState) bool { return len(line.recorded()) > 0 }); err != nil {
		t.Errorf("the audio clock never called the AudioFunc: %v", err)
	}
	if err := b.Run(ctx); err == nil {
		t.Errorf("second Run did not fail")
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run: %v", err)
	}
	if _, ok := <-p.Events(); ok {
		t.Errorf("events channel still open after Run returned")
	}
}

func TestControlAddressInUse(t *testing.T) {
	r := newRig(t, "us")
	b, err := New(boards.Options{Region: "us", Control: r.board.ControlAddr()})
	if err != nil {
		t.Fatal(err)
	}
	err = b.Run(context.Background())
	if err == nil || !strings.Contains(err.Error(), "control API") {
		t.Errorf("Run on a busy address: %v", err)
	}
	if _, err := b.WaitControl(context.Background()); err == nil {
		t.Errorf("WaitControl succeeded on a board that failed to listen")
	}
}

func TestEventsDropWhenFull(t *testing.T) {
	r := newRig(t, "us")
	p := r.port(1)
	// Nobody reads: the clock must not stall.
	for i := 0; i < EventBuffer; i++ {
		r.hook(1, true)
		r.step(40 * ms)
		r.hook(1, false)
		r.step(1 * time.Second)
	}
	r.step(time.Second)
	if n := len(drain(p)); n != EventBuffer {
		t.Errorf("%d events queued, want the buffer's %d", n, EventBuffer)
	}
}

func TestHeardKeepsTheLastTenSeconds(t *testing.T) {
	r := newRig(t, "us")
	p := r.port(1)
	p.PlayTone(pureTone(1004, -10))
	r.step(time.Second)
	p.PlayTone(pureTone(600, -10))
	r.step(10*time.Second + 500*ms)
	wav, err := r.client.Heard(r.ctx, 1, MaxHeardMs)
	if err != nil {
		t.Fatal(err)
	}
	pcm, err := ReadWAV(bytes.NewReader(wav))
	if err != nil {
		t.Fatal(err)
	}
	if len(pcm) != MaxHeardMs*8 {
		t.Fatalf("heard %d samples, want %d", len(pcm), MaxHeardMs*8)
	}
	if lvl := dsp.ToneLevelDBm0(pcm, 1004); lvl > -40 {
		t.Errorf("1004 Hz from 10.5 s ago still in heard at %.1f dBm0", lvl)
	}
	if lvl := dsp.ToneLevelDBm0(pcm[len(pcm)-8000:], 600); !near64(lvl, -10, 1) {
		t.Errorf("600 Hz in the last second of heard at %.1f dBm0, want -10", lvl)
	}
}
