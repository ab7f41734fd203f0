package sim

import (
	"testing"
	"time"

	"github.com/tipring/tipring/boards"
	"github.com/tipring/tipring/boards/dsp"
	"github.com/tipring/tipring/boards/region"
)

// BenchmarkTick measures one audio clock tick of the whole board (both
// ports) in steady state: port 1 is in a call (the phone speaks a tone,
// the AudioFunc loops it back, a call-waiting style tone plays over it),
// port 2 is on-hook and ringing. It must not allocate.
func BenchmarkTick(b *testing.B) {
	clk := NewManualClock(t0)
	brd, err := New(boards.Options{Region: "us"}, WithClock(clk))
	if err != nil {
		b.Fatal(err)
	}
	reg, _ := region.Lookup("us")
	p1, p2 := brd.ports[0], brd.ports[1]
	p1.SetAudio(func(up, down *boards.Frame) { *down = *up })
	p1.mu.Lock()
	p1.phone.setHook(true, clk.Now())
	p1.phone.sayTone(pureTone(1004, -10), newJob())
	p1.mu.Unlock()
	p1.PlayTone(reg.Ringback)
	if err := p2.Ring(boards.Ring{Cadence: reg.Ring, CallerID: &boards.CallerID{Number: "5551234", Name: "ALICE"}, Standard: reg.CallerID}); err != nil {
		b.Fatal(err)
	}
	advance := func() {
		clk.mu.Lock()
		clk.now = clk.now.Add(boards.FrameDuration)
		clk.mu.Unlock()
		brd.tick()
	}
	// Past the caller ID and the first ring cycle, so the state is steady.
	for range int(7 * time.Second / boards.FrameDuration) {
		advance()
	}
	drain(p1)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		advance()
	}
}

// BenchmarkTickDialling measures a tick while the phone on port 1 keeps
// dialling DTMF: the detector confirms and releases digits and the port
// records them for LineStats. It must not allocate either.
func BenchmarkTickDialling(b *testing.B) {
	clk := NewManualClock(t0)
	brd, err := New(boards.Options{Region: "us"}, WithClock(clk))
	if err != nil {
		b.Fatal(err)
	}
	tone, err := dsp.DTMFString("159#", 60*time.Millisecond, 60*time.Millisecond, -9)
	if err != nil {
		b.Fatal(err)
	}
	tone.LoopFrom = 0
	p1 := brd.ports[0]
	p1.mu.Lock()
	p1.phone.setHook(true, clk.Now())
	p1.phone.sayTone(tone, newJob())
	p1.mu.Unlock()
	advance := func() {
		clk.mu.Lock()
		clk.now = clk.now.Add(boards.FrameDuration)
		clk.mu.Unlock()
		brd.tick()
		// The firmware reads the events as they come.
		for events := p1.Events(); len(events) > 0; {
			<-events
		}
	}
	for range 50 {
		advance()
	}
	if st := p1.LineStats(); len(st.Digits) < 2 || st.Digits[0].Duration < 55*time.Millisecond {
		b.Fatalf("the phone's digits are not seen: %+v", st)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		advance()
	}
}
