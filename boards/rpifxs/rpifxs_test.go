package rpifxs

import (
	"context"
	"errors"
	"testing"
	"time"

	"periph.io/x/conn/v3/conntest"
	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/physic"
	"periph.io/x/conn/v3/spi"
	"periph.io/x/conn/v3/spi/spitest"

	"github.com/tipring/tipring/boards"
)

func kinds(evs []boards.Event) string {
	s := ""
	for _, e := range evs {
		switch e.Kind {
		case boards.Digit:
			s += "digit:" + string(e.Digit) + " "
		default:
			s += e.Kind.String() + " "
		}
	}
	return s
}

func TestHookDebounceAndFlash(t *testing.T) {
	tb := newTestBoard(t, boards.Options{FlashMin: 100 * time.Millisecond, FlashMax: 900 * time.Millisecond})
	p := tb.ports[0]
	tb.advance(100 * time.Millisecond)
	tb.edge(1, true)
	if got := kinds(drain(p.Events())); got != "off-hook " {
		t.Fatalf("lifting the handset: events %q, want off-hook", got)
	}
	if !p.OffHook() {
		t.Fatal("OffHook false after lifting")
	}
	// A 4 ms bounce is no event at all.
	tb.advance(time.Second)
	tb.edge(1, false)
	tb.wait(4 * time.Millisecond)
	tb.edge(1, true)
	tb.advance(time.Second)
	if got := kinds(drain(p.Events())); got != "" {
		t.Fatalf("a 4 ms bounce gave events %q", got)
	}
	// 300 ms on-hook is a flash.
	tb.edge(1, false)
	tb.advance(300 * time.Millisecond)
	tb.edge(1, true)
	tb.advance(time.Second)
	evs := drain(p.Events())
	if got := kinds(evs); got != "flash " {
		t.Fatalf("300 ms on-hook: events %q, want flash", got)
	}
	if d := evs[0].Duration; d < 280*time.Millisecond || d > 320*time.Millisecond {
		t.Errorf("flash lasted %v, want about 300 ms", d)
	}
	// 1.5 s on-hook is a hang-up.
	tb.edge(1, false)
	tb.advance(1500 * time.Millisecond)
	if got := kinds(drain(p.Events())); got != "on-hook " {
		t.Fatalf("1.5 s on-hook: events %q, want on-hook", got)
	}
	if p.OffHook() {
		t.Fatal("OffHook true after hanging up")
	}
	// The other port heard nothing.
	if got := kinds(drain(tb.ports[1].Events())); got != "" {
		t.Errorf("port 2 events %q", got)
	}
}

// TestPulseDigits dials 3, 1 and 0 at 10 pulses per second (60 ms break,
// 40 ms make) with a 700 ms pause between digits, the edges landing
// between frames as a real dial's do.
func TestPulseDigits(t *testing.T) {
	tb := newTestBoard(t, boards.Options{})
	p := tb.ports[1]
	tb.edge(2, true)
	tb.advance(time.Second)
	drain(p.Events())
	for _, pulses := range []int{3, 1, 10} {
		for range pulses {
			tb.wait(7 * time.Millisecond) // off the frame grid
			tb.edge(2, false)
			tb.advance(60 * time.Millisecond)
			tb.edge(2, true)
			tb.advance(40 * time.Millisecond)
		}
		tb.advance(700 * time.Millisecond)
	}
	evs := drain(p.Events())
	if got := kinds(evs); got != "digit:3 digit:1 digit:0 " {
		t.Fatalf("dialled 3, 1, 0: events %q", got)
	}
	for _, e := range evs {
		if !e.Pulse {
			t.Errorf("digit %c not marked Pulse", e.Digit)
		}
	}
	if !p.OffHook() {
		t.Error("dialling hung up the line")
	}
}

// TestRingCadence checks that a ring drives the SLIC's LINEFEED register
// through the cadence (2 s on, 4 s off) and that the phone's light
// follows the bursts, using periph's SPI recorder.
func TestRingCadence(t *testing.T) {
	rec := &spitest.Record{}
	conn, err := rec.Connect(physic.MegaHertz, spi.Mode3, 8)
	if err != nil {
		t.Fatal(err)
	}
	tb := newTestBoard(t, boards.Options{})
	tb.slic.regs[0][regLCRRTP] = 0
	tb.Board.slic.bus = conn
	p := tb.ports[0]
	if err := p.Ring(boards.Ring{Cadence: boards.Cadence{2 * time.Second, 4 * time.Second}}); err != nil {
		t.Fatal(err)
	}
	var light []bool // at 0.5 s, 1.5 s, ... 5.5 s
	tb.advance(500 * time.Millisecond)
	for range 6 {
		light = append(light, tb.phone1.Read() == gpio.High)
		tb.advance(time.Second)
	}
	tb.advance(time.Second)
	p.StopRing()
	tb.advance(time.Second)
	var ops []conntest.IO
	for _, op := range rec.Ops {
		if op.W[0] == 0x20 { // port 1 only
			ops = append(ops, op)
		}
	}
	want := []conntest.IO{
		{W: []byte{0x20, regLinefeed, lfRinging}},   // t=0: first burst
		{W: []byte{0x20, regLinefeed, lfFwdActive}}, // t=2 s: silence
		{W: []byte{0x20, regLinefeed, lfRinging}},   // t=6 s: second burst
		{W: []byte{0x20, regLinefeed, lfFwdActive}}, // stopped
	}
	if len(ops) != len(want) {
		t.Fatalf("SPI traffic %v, want %v", ops, want)
	}
	for i := range want {
		if string(ops[i].W) != string(want[i].W) {
			t.Errorf("SPI op %d: %#v, want %#v", i, ops[i].W, want[i].W)
		}
	}
	wantLight := []bool{true, true, false, false, false, false}
	for i := range wantLight {
		if light[i] != wantLight[i] {
			t.Errorf("phone light at %d.5 s: %v, want %v", i, light[i], wantLight[i])
		}
	}
	if tb.phone1.Read() == gpio.High {
		t.Error("phone light still on after the ring stopped")
	}
}

func TestRingTripAndOffHookRefusal(t *testing.T) {
	tb := newTestBoard(t, boards.Options{})
	p := tb.ports[0]
	if err := p.Ring(boards.Ring{Cadence: boards.Cadence{2 * time.Second, 4 * time.Second}}); err != nil {
		t.Fatal(err)
	}
	tb.advance(500 * time.Millisecond)
	tb.edge(1, true) // answered during the burst
	tb.advance(100 * time.Millisecond)
	lf := tb.slic.linefeeds(0)
	if len(lf) < 2 || lf[len(lf)-1] != lfFwdActive {
		t.Fatalf("after ring trip the line feed writes are %v, want ringing then forward active", lf)
	}
	if tb.phone1.Read() != gpio.High {
		t.Error("phone light off while the phone is off-hook")
	}
	if err := p.Ring(boards.Ring{Cadence: boards.Cadence{time.Second, time.Second}}); !errors.Is(err, boards.ErrOffHook) {
		t.Errorf("Ring while off-hook: %v, want boards.ErrOffHook", err)
	}
	if err := p.Ring(boards.Ring{Cadence: boards.Cadence{time.Second}}); err == nil {
		t.Error("an odd cadence was accepted")
	}
}

func TestPolarityReversal(t *testing.T) {
	tb := newTestBoard(t, boards.Options{})
	p := tb.ports[1]
	tb.advance(40 * time.Millisecond)
	p.SetReversed(true)
	tb.advance(40 * time.Millisecond)
	p.SetReversed(false)
	tb.advance(40 * time.Millisecond)
	got := tb.slic.linefeeds(1)
	want := []byte{lfFwdActive, lfRevActive, lfFwdActive}
	if string(got) != string(want) {
		t.Errorf("port 2 line feed writes %v, want %v", got, want)
	}
}

// TestSetupTraffic replays the SLIC's expected start-up conversation with
// periph's SPI playback: a read of the ID register, then per channel the
// PCM slot, the hook interrupt enable and the line feed.
func TestSetupTraffic(t *testing.T) {
	ops := []conntest.IO{{W: []byte{0x60, regID, 0}, R: []byte{0, 0, 0xc3}}}
	for ch, cb := range []byte{0x20, 0x30} {
		slot := byte(ch * 16)
		for _, w := range [][2]byte{
			{regPCMMode, pcmModeLinear16}, {regPCMTXLo, slot}, {regPCMTXHi, 0},
			{regPCMRXLo, slot}, {regPCMRXHi, 0}, {regIRQEN2, bitLCR | bitRTP}, {regLinefeed, lfFwdActive},
		} {
			ops = append(ops, conntest.IO{W: []byte{cb, w[0], w[1]}})
		}
	}
	pb := &spitest.Playback{Playback: conntest.Playback{Ops: ops, DontPanic: true}}
	conn, err := pb.Connect(physic.MegaHertz, spi.Mode3, 8)
	if err != nil {
		t.Fatal(err)
	}
	s := &slic{bus: conn}
	if err := s.setup(2); err != nil {
		t.Fatal(err)
	}
	if err := pb.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestSetupNoChip(t *testing.T) {
	pb := &spitest.Playback{Playback: conntest.Playback{Ops: []conntest.IO{{W: []byte{0x60, regID, 0}, R: []byte{0, 0, 0xff}}}, DontPanic: true}}
	conn, _ := pb.Connect(physic.MegaHertz, spi.Mode3, 8)
	err := (&slic{bus: conn}).setup(2)
	if err == nil {
		t.Fatal("setup succeeded with no chip answering")
	}
	t.Log(err)
}

func TestResetButton(t *testing.T) {
	start := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	hold := func(d time.Duration) int {
		var b button
		fired := 0
		for t := time.Duration(0); t <= d; t += irqPoll {
			if b.sample(true, start.Add(t)) {
				fired++
			}
		}
		if b.sample(false, start.Add(d+irqPoll)) {
			fired++
		}
		return fired
	}
	if n := hold(2 * time.Second); n != 0 {
		t.Errorf("held 2 s: %d reset requests, want none", n)
	}
	if n := hold(10 * time.Second); n != 1 {
		t.Errorf("held 10 s: %d reset requests, want 1", n)
	}
	if n := hold(30 * time.Second); n != 1 {
		t.Errorf("held 30 s: %d reset requests, want exactly 1", n)
	}
}

// TestRun runs the board on periph's fake pins, a fake SLIC and a fake
// PCM: reset pulse, power light, hook events from an interrupt edge, the
// reset button, and a clean stop.
func TestRun(t *testing.T) {
	tb := newTestBoard(t, boards.Options{})
	var mu = &tb.slic.mu
	clock := time.Now()
	tb.Board.now = func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		clock = clock.Add(time.Millisecond)
		return clock
	}
	start := clock
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- tb.Run(ctx) }()
	deadline := time.After(10 * time.Second)
	waitFor := func(what string, ok func() bool) {
		t.Helper()
		for !ok() {
			select {
			case <-deadline:
				cancel()
				t.Fatalf("timed out waiting for %s", what)
			case <-time.After(time.Millisecond):
			}
		}
	}
	waitFor("power light", func() bool { return tb.power.Read() == gpio.High })
	if tb.reset.Read() != gpio.High {
		t.Error("SLIC still held in reset")
	}
	tb.slic.setHook(0, true)
	var ev boards.Event
	select {
	case ev = <-tb.ports[0].Events():
	case <-deadline:
		t.Fatal("no event after lifting the handset")
	}
	if ev.Kind != boards.OffHook {
		t.Fatalf("event %v, want off-hook", ev.Kind)
	}
	// The button, held while the clock runs 10 s ahead.
	tb.button.Out(gpio.Low)
	mu.Lock()
	clock = start.Add(time.Minute)
	mu.Unlock()
	time.Sleep(3 * irqPoll) // the GPIO loop sees the button down
	mu.Lock()
	clock = clock.Add(ResetHold + time.Second)
	mu.Unlock()
	select {
	case <-tb.ResetRequests():
	case <-deadline:
		t.Fatal("holding the reset button asked for no reset")
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if tb.power.Read() != gpio.Low {
		t.Error("power light on after Run ended")
	}
	if lf := tb.slic.linefeeds(0); lf[len(lf)-1] != lfOpen {
		t.Errorf("line left in state %d after Run, want open", lf[len(lf)-1])
	}
	if _, ok := <-tb.ResetRequests(); ok {
		t.Error("ResetRequests not closed")
	}
	for range tb.ports[0].Events() {
	}
	if tb.pcm.played == 0 {
		t.Error("no audio written")
	}
}

func TestCompiledDescriptor(t *testing.T) {
	d, err := Descriptor()
	if err != nil {
		t.Fatal(err)
	}
	if d.Name != Name || d.Ports != 2 || d.SLIC.Chip != "si3226x" {
		t.Errorf("compiled-in board.toml: %+v", d)
	}
}

func TestNewWithHardwareRefusesMissingParts(t *testing.T) {
	if _, err := NewWithHardware(Hardware{}, 2, boards.Options{}); err == nil {
		t.Error("a board without SPI, pins and PCM was built")
	}
	tb := newTestBoard(t, boards.Options{})
	hw := tb.hw
	if _, err := NewWithHardware(hw, 3, boards.Options{}); err == nil {
		t.Error("three ports on a two-channel SLIC accepted")
	}
	if _, err := NewWithHardware(hw, 2, boards.Options{FlashMin: time.Second, FlashMax: time.Millisecond}); err == nil {
		t.Error("an inverted flash window accepted")
	}
}
