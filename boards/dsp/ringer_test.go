package dsp

import (
	"errors"
	"testing"
	"time"

	"github.com/tipring/tipring/boards"
)

// ringFrame is what one Ringer.Step reported.
type ringFrame struct{ voltage, sending, reversing bool }

// runRinger steps g for d and returns each frame's report.
func runRinger(g *Ringer, d time.Duration) []ringFrame {
	var out []ringFrame
	var down boards.Frame
	for range int(d / boards.FrameDuration) {
		v, s := g.Step(&down)
		out = append(out, ringFrame{v, s, g.Reversing()})
	}
	return out
}

// startRinger returns a Ringer started with r.
func startRinger(t *testing.T, r boards.Ring) *Ringer {
	t.Helper()
	g := new(Ringer)
	if err := g.Start(r); err != nil {
		t.Fatal(err)
	}
	return g
}

// runs is the lengths of the runs of equal values of f over frames, with
// the value each run has.
func runs(frames []ringFrame, f func(ringFrame) bool) (lens []int, vals []bool) {
	for i, fr := range frames {
		v := f(fr)
		if i == 0 || v != vals[len(vals)-1] {
			lens, vals = append(lens, 0), append(vals, v)
		}
		lens[len(lens)-1]++
	}
	return lens, vals
}

func TestCheckCadence(t *testing.T) {
	for _, c := range []boards.Cadence{
		nil,
		{time.Second},
		{time.Second, 10 * time.Millisecond},
	} {
		if err := CheckCadence(c); err == nil {
			t.Errorf("cadence %v accepted", c)
		}
		var g Ringer
		if err := g.Start(boards.Ring{Cadence: c}); err == nil || g.Active() {
			t.Errorf("Start with cadence %v: %v, active %v", c, err, g.Active())
		}
	}
	if err := CheckCadence(boards.Cadence{2 * time.Second, 4 * time.Second}); err != nil {
		t.Errorf("US cadence refused: %v", err)
	}
}

// TestRingerCadence: without caller ID the voltage follows the cadence
// frame for frame, and repeats it.
func TestRingerCadence(t *testing.T) {
	g := startRinger(t, boards.Ring{Cadence: boards.Cadence{400 * time.Millisecond, 200 * time.Millisecond, 400 * time.Millisecond, 2 * time.Second}})
	lens, vals := runs(runRinger(g, 6*time.Second), func(f ringFrame) bool { return f.voltage })
	want := []int{20, 10, 20, 100, 20, 10, 20, 100}
	if len(lens) != len(want) || !vals[0] {
		t.Fatalf("runs %v starting %v, want %v starting on", lens, vals[0], want)
	}
	for i := range want {
		if lens[i] != want[i] {
			t.Fatalf("runs %v, want %v", lens, want)
		}
	}
	g.Stop()
	if g.Active() {
		t.Error("active after Stop")
	}
	if v, s := g.Step(&boards.Frame{}); v || s {
		t.Error("a stopped ringer rings or sends")
	}
}

// TestRingerCallerIDAfterFirstRing: Bell 202 goes in the silence after
// the first burst, after its lead-in, and the second burst waits for the
// lead-out when the cadence's off-period is too short for it all.
func TestRingerCallerIDAfterFirstRing(t *testing.T) {
	cid := boards.CallerID{Number: "2125550123", Name: "Grace Hopper", Time: time.Date(2025, 12, 24, 18, 45, 0, 0, time.UTC)}
	sig, err := NewCallerIDSignal(boards.CallerIDBell202, cid, CallerIDLevelDBm0)
	if err != nil {
		t.Fatal(err)
	}
	sigFrames := int((sig.Duration() + boards.FrameDuration - 1) / boards.FrameDuration)
	tm := CallerIDTimingFor(boards.CallerIDBell202)
	// An off-period of one second is shorter than lead-in, signal and lead-out.
	g := startRinger(t, boards.Ring{Cadence: boards.Cadence{2 * time.Second, time.Second}, CallerID: &cid, Standard: boards.CallerIDBell202})
	frames := runRinger(g, 6*time.Second)
	on := func(f ringFrame) bool { return f.voltage }
	sending := func(f ringFrame) bool { return f.sending }
	vLens, vVals := runs(frames, on)
	sLens, sVals := runs(frames, sending)
	leadIn, leadOut := int(tm.LeadIn/boards.FrameDuration), int(tm.LeadOut/boards.FrameDuration)
	if !vVals[0] || vLens[0] != 100 {
		t.Fatalf("first burst: runs %v %v", vLens, vVals)
	}
	if sVals[0] || sLens[0] != 100+leadIn || !sVals[1] || sLens[1] != sigFrames {
		t.Errorf("caller ID runs %v %v: want quiet for the burst and %d lead-in frames, then %d frames of signal", sLens, sVals, leadIn, sigFrames)
	}
	// The second burst starts right after the lead-out.
	if gap := vLens[1]; gap != leadIn+sigFrames+leadOut {
		t.Errorf("gap before the second burst %d frames, want %d", gap, leadIn+sigFrames+leadOut)
	}
	for i, f := range frames {
		if f.reversing {
			t.Fatalf("frame %d: Bell 202 reverses the line", i)
		}
	}
}

// TestRingerCallerIDBeforeFirstRing: ETSI FSK reverses the line, sends
// before any ring, then restores the polarity and rings.
func TestRingerCallerIDBeforeFirstRing(t *testing.T) {
	cid := boards.CallerID{Number: "01632960123"}
	g := startRinger(t, boards.Ring{Cadence: boards.Cadence{400 * time.Millisecond, 200 * time.Millisecond}, CallerID: &cid, Standard: boards.CallerIDETSIFSK})
	if !g.Reversing() {
		t.Fatal("not reversed before the signal")
	}
	frames := runRinger(g, 4*time.Second)
	firstOn, lastSend := -1, -1
	for i, f := range frames {
		if f.sending {
			lastSend = i
		}
		if f.voltage && firstOn < 0 {
			firstOn = i
		}
		if f.voltage && f.reversing {
			t.Fatalf("frame %d rings on a reversed line", i)
		}
	}
	if lastSend < 0 || firstOn < 0 || firstOn <= lastSend {
		t.Fatalf("last signal frame %d, first ring frame %d: want the signal before the ring", lastSend, firstOn)
	}
	if frames[0].sending || frames[0].voltage {
		t.Error("the signal or the ring starts without the lead-in")
	}
}

// TestRingerBadCallerID: a caller ID that cannot be built is an error, and
// the ring in progress goes on.
func TestRingerBadCallerID(t *testing.T) {
	g := startRinger(t, boards.Ring{Cadence: boards.Cadence{time.Second, time.Second}})
	bad := boards.CallerID{Number: "12#"}
	err := g.Start(boards.Ring{Cadence: boards.Cadence{time.Second, time.Second}, CallerID: &bad, Standard: boards.CallerIDDTMF})
	if err == nil {
		t.Skip("the DTMF caller ID accepts this number; nothing to check")
	}
	if !g.Active() {
		t.Error("a refused ring stopped the one in progress")
	}
	if errors.Unwrap(err) == nil {
		t.Errorf("error %v does not wrap the cause", err)
	}
}

// TestRingerStepAllocs: Step runs on the audio clock.
func TestRingerStepAllocs(t *testing.T) {
	cid := boards.CallerID{Number: "2125550123"}
	g := startRinger(t, boards.Ring{Cadence: boards.Cadence{2 * time.Second, 4 * time.Second}, CallerID: &cid, Standard: boards.CallerIDBell202})
	var down boards.Frame
	if n := testing.AllocsPerRun(400, func() { g.Step(&down) }); n != 0 {
		t.Errorf("Step allocates %v times a frame", n)
	}
}
