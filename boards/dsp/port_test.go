package dsp

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/tipring/tipring/boards"
)

// TestPortRingTrip: Ring is refused while loop current flows, and loop
// current stops a ring in progress (the SLIC trips it).
func TestPortRingTrip(t *testing.T) {
	var mu sync.Mutex
	wakes := 0
	var seen []boards.EventKind
	p := NewPort(PortConfig{Number: 2, Lock: &mu, Wake: func() { wakes++ }, Observe: func(ev boards.Event) { seen = append(seen, ev.Kind) }})
	if p.Number() != 2 {
		t.Fatalf("Number %d", p.Number())
	}
	us := boards.Ring{Cadence: boards.Cadence{2 * time.Second, 4 * time.Second}}
	if err := p.Ring(us); err != nil {
		t.Fatal(err)
	}
	if wakes == 0 {
		t.Error("Ring did not wake the audio clock")
	}
	var up, down boards.Frame
	mu.Lock()
	if !p.Play(&down) || !p.Status().Ringing {
		t.Error("no ring voltage in the first frame")
	}
	at := time.Unix(0, 0)
	p.HookChanged(true, at)
	if p.Status().Ringing {
		t.Error("loop current did not trip the ring")
	}
	p.Decode(&up, at.Add(time.Second))
	mu.Unlock()
	if !p.OffHook() {
		t.Error("not off-hook a second after the loop closed")
	}
	if err := p.Ring(us); !errors.Is(err, boards.ErrOffHook) {
		t.Errorf("Ring while off-hook: %v, want boards.ErrOffHook", err)
	}
	if len(seen) != 1 || seen[0] != boards.OffHook {
		t.Errorf("observed %v, want one off-hook", seen)
	}
	if ev := <-p.Events(); ev.Kind != boards.OffHook {
		t.Errorf("event %v, want off-hook", ev.Kind)
	}
	mu.Lock()
	p.CloseEvents()
	p.CloseEvents()
	mu.Unlock()
	if _, ok := <-p.Events(); ok {
		t.Error("events not closed")
	}
}

// TestPortPolarity: the line is reversed as asked, flipped while caller
// ID wants it reversed; caller ID takes the place of a playing tone.
func TestPortPolarity(t *testing.T) {
	var mu sync.Mutex
	p := NewPort(PortConfig{Number: 1, Lock: &mu})
	p.SetReversed(true)
	mu.Lock()
	if !p.Status().Reversed {
		t.Error("SetReversed(true) not on the line")
	}
	mu.Unlock()
	cid := boards.CallerID{Number: "01632960123"}
	if err := p.Ring(boards.Ring{Cadence: boards.Cadence{time.Second, time.Second}, CallerID: &cid, Standard: boards.CallerIDETSIFSK}); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if p.Status().Reversed {
		t.Error("caller ID's reversal did not flip the asked-for polarity")
	}
}

// TestPortFrameAllocs: the per-frame path runs on the audio clock.
func TestPortFrameAllocs(t *testing.T) {
	var mu sync.Mutex
	p := NewPort(PortConfig{Number: 1, Lock: &mu})
	p.SetAudio(func(up, down *boards.Frame) { copy(down[:], up[:]) })
	p.PlayTone(boards.Tone{Segments: []boards.Segment{{Freqs: []float64{350, 440}, LevelDBm0: -13}}, LoopFrom: 0})
	if err := p.Ring(boards.Ring{Cadence: boards.Cadence{time.Second, time.Second}}); err != nil {
		t.Fatal(err)
	}
	var up, down boards.Frame
	at := time.Unix(0, 0)
	n := testing.AllocsPerRun(200, func() {
		p.CallAudio(&up, &down)
		mu.Lock()
		p.Play(&down)
		p.Decode(&up, at)
		mu.Unlock()
		at = at.Add(boards.FrameDuration)
	})
	if n != 0 {
		t.Errorf("a frame allocates %v times", n)
	}
}
