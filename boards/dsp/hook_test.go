package dsp

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/tipring/tipring/boards"
)

const hms = time.Millisecond

// hookRig drives a decoder the way a board does: raw transitions at their
// times and a Tick every 20 ms, collecting every event.
type hookRig struct {
	h    *HookDecoder
	now  time.Time
	next time.Time // next tick
	evs  []boards.Event
	raw  bool
}

func newHookRig(t HookTiming, off bool) *hookRig {
	t0 := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	return &hookRig{h: NewHookDecoder(t, off), now: t0, next: t0.Add(20 * hms), raw: off}
}

// wait lets d pass, ticking on the way.
func (r *hookRig) wait(d time.Duration) {
	end := r.now.Add(d)
	for !r.next.After(end) {
		r.evs = append(r.evs, r.h.Tick(r.next)...)
		r.next = r.next.Add(20 * hms)
	}
	r.now = end
}

// set moves the switch now.
func (r *hookRig) set(off bool) {
	r.raw = off
	r.evs = append(r.evs, r.h.Hook(off, r.now)...)
}

// hold sets the switch and keeps it there for d.
func (r *hookRig) hold(off bool, d time.Duration) {
	r.set(off)
	r.wait(d)
}

func (r *hookRig) take() []boards.Event {
	e := r.evs
	r.evs = nil
	return e
}

func hookSummary(evs []boards.Event) string {
	var b strings.Builder
	for _, e := range evs {
		switch e.Kind {
		case boards.OffHook:
			b.WriteString("off ")
		case boards.OnHook:
			b.WriteString("on ")
		case boards.Flash:
			b.WriteString("flash ")
		case boards.Digit:
			fmt.Fprintf(&b, "%c ", e.Digit)
		}
	}
	return strings.TrimSpace(b.String())
}

func TestHookOffHookIsImmediate(t *testing.T) {
	r := newHookRig(HookTiming{}, false)
	r.wait(55 * hms)
	at := r.now
	evs := r.h.Hook(true, at)
	if len(evs) != 1 || evs[0].Kind != boards.OffHook || !evs[0].At.Equal(at) {
		t.Fatalf("Hook(off-hook) = %+v, want OffHook at once, at %v", evs, at)
	}
	if !r.h.OffHook() {
		t.Error("OffHook() = false after the off-hook event")
	}
}

func TestHookBounceIgnored(t *testing.T) {
	r := newHookRig(HookTiming{}, false)
	// Lifting: the contacts chatter for a few ms.
	r.hold(true, 2*hms)
	r.hold(false, 1*hms)
	r.hold(true, 3*hms)
	r.hold(false, 2*hms)
	r.hold(true, 2*time.Second)
	// Off-hook, a 9 ms open (shorter than Debounce), off-hook again.
	r.hold(false, 9*hms)
	r.hold(true, 2*time.Second)
	// Hanging up with chatter.
	r.hold(false, 2*hms)
	r.hold(true, 1*hms)
	r.hold(false, 2*time.Second)
	if got := hookSummary(r.take()); got != "off on" {
		t.Errorf("events %q, want \"off on\"", got)
	}
	if r.h.OffHook() {
		t.Error("OffHook() = true after hanging up")
	}
}

func TestHookHangUp(t *testing.T) {
	r := newHookRig(HookTiming{}, false)
	r.hold(true, time.Second)
	r.take()
	brk := r.now
	r.hold(false, 899*hms)
	if evs := r.take(); len(evs) != 0 {
		t.Fatalf("events %v before the break passed FlashMax", evs)
	}
	if !r.h.OffHook() {
		t.Fatal("OffHook() = false within the flash window")
	}
	r.wait(41 * hms)
	evs := r.take()
	if len(evs) != 1 || evs[0].Kind != boards.OnHook {
		t.Fatalf("events %+v, want OnHook", evs)
	}
	if want := brk.Add(900 * hms); !evs[0].At.Equal(want) {
		t.Errorf("OnHook at %v, want break + FlashMax = %v", evs[0].At, want)
	}
	if r.h.OffHook() {
		t.Error("OffHook() = true after OnHook")
	}
	// Lifting again is a new call, reported at once.
	r.set(true)
	if evs := r.take(); len(evs) != 1 || evs[0].Kind != boards.OffHook {
		t.Errorf("events %+v after lifting again, want OffHook", evs)
	}
}

func TestHookFlash(t *testing.T) {
	for _, d := range []time.Duration{100 * hms, 101 * hms, 250 * hms, 500 * hms, 899 * hms, 900 * hms} {
		t.Run(d.String(), func(t *testing.T) {
			r := newHookRig(HookTiming{}, true)
			r.wait(time.Second)
			r.hold(false, d)
			at := r.now
			r.hold(true, time.Second)
			evs := r.take()
			if len(evs) != 1 || evs[0].Kind != boards.Flash {
				t.Fatalf("events %+v, want one Flash", evs)
			}
			if evs[0].Duration != d || !evs[0].At.Equal(at) {
				t.Errorf("Flash %v at %v, want %v at %v", evs[0].Duration, evs[0].At, d, at)
			}
		})
	}
	t.Run("901ms is a hang-up", func(t *testing.T) {
		r := newHookRig(HookTiming{}, true)
		r.hold(false, 901*hms)
		r.hold(true, time.Second)
		if got := hookSummary(r.take()); got != "on off" {
			t.Errorf("events %q, want \"on off\"", got)
		}
	})
}

// dialPulses opens and closes the loop like a rotary dial: n breaks at pps
// pulses per second with the given break ratio, each transition with a
// little contact bounce when bounce is set.
func (r *hookRig) dialPulses(n int, pps, ratio float64, bounce bool) {
	period := time.Duration(float64(time.Second) / pps)
	brk := time.Duration(float64(period) * ratio)
	for range n {
		r.hold(false, 1*hms)
		if bounce {
			r.hold(true, 1*hms)
			r.hold(false, brk-2*hms)
		} else {
			r.wait(brk - 1*hms)
		}
		r.hold(true, 1*hms)
		if bounce {
			r.hold(false, 1*hms)
			r.hold(true, period-brk-2*hms)
		} else {
			r.wait(period - brk - 1*hms)
		}
	}
}

func TestHookPulseDialling(t *testing.T) {
	for _, pps := range []float64{8, 10, 12} {
		for _, ratio := range []float64{0.58, 0.62, 0.66} {
			for _, bounce := range []bool{false, true} {
				t.Run(fmt.Sprintf("%vpps/%v/bounce=%v", pps, ratio, bounce), func(t *testing.T) {
					r := newHookRig(HookTiming{}, false)
					r.hold(true, 700*hms)
					start := r.now
					for _, d := range "1234567890" {
						n := int(d - '0')
						if n == 0 {
							n = 10
						}
						r.dialPulses(n, pps, ratio, bounce)
						r.wait(600 * hms)
					}
					evs := r.take()
					if got := hookSummary(evs); got != "off 1 2 3 4 5 6 7 8 9 0" {
						t.Fatalf("events %q, want the digits 1-0 after off-hook", got)
					}
					for _, e := range evs[1:] {
						if !e.Pulse || e.LevelDBm0 != 0 {
							t.Errorf("digit %+v: want a pulse digit without levels", e)
						}
						if !e.At.After(start) {
							t.Errorf("digit %c at %v, before dialling began", e.Digit, e.At)
						}
					}
					// A 5 at 10 pps lasts 4 periods and a break: 460-480 ms.
					period := time.Duration(float64(time.Second) / pps)
					if d, want := evs[5].Duration, 4*period+time.Duration(float64(period)*ratio); d < want-5*hms || d > want+5*hms {
						t.Errorf("digit 5 lasted %v, want about %v", d, want)
					}
					if !r.h.OffHook() {
						t.Error("OffHook() = false after dialling")
					}
				})
			}
		}
	}
}

func TestHookPulsesThenHangUp(t *testing.T) {
	r := newHookRig(HookTiming{}, true)
	r.wait(time.Second)
	r.dialPulses(3, 10, 0.6, false)
	r.hold(false, 2*time.Second) // hang up right after the last pulse
	evs := r.take()
	if got := hookSummary(evs); got != "3 on" {
		t.Fatalf("events %q, want \"3 on\"", got)
	}
	if !evs[0].At.Before(evs[1].At) {
		t.Errorf("digit at %v, not before on-hook at %v", evs[0].At, evs[1].At)
	}
}

func TestHookElevenPulsesAreNoDigit(t *testing.T) {
	r := newHookRig(HookTiming{}, true)
	r.wait(time.Second)
	r.dialPulses(11, 10, 0.6, false)
	r.wait(time.Second)
	r.dialPulses(2, 10, 0.6, false)
	r.wait(time.Second)
	if got := hookSummary(r.take()); got != "2" {
		t.Errorf("events %q, want only the 2", got)
	}
}

// TestHookWithoutTicks: a board that calls only Hook still gets every
// event, in order, with the times they happened.
func TestHookWithoutTicks(t *testing.T) {
	h := NewHookDecoder(HookTiming{}, false)
	t0 := time.Unix(5000, 0)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * hms) }
	var evs []boards.Event
	for _, s := range []struct {
		off bool
		ms  int
	}{
		{true, 0},
		{false, 1000}, {true, 1060}, {false, 1100}, {true, 1160}, // 2 pulses
		{false, 3000}, {true, 3400}, // flash
		{false, 5000}, {true, 7000}, // hang up, lift
	} {
		evs = append(evs, h.Hook(s.off, at(s.ms))...)
	}
	if got := hookSummary(evs); got != "off 2 flash on off" {
		t.Fatalf("events %q", got)
	}
	want := []time.Time{at(0), at(1160 + 200), at(3400), at(5900), at(7000)}
	for i, e := range evs {
		if !e.At.Equal(want[i]) {
			t.Errorf("%v at %v, want %v", e.Kind, e.At.Sub(t0), want[i].Sub(t0))
		}
	}
}

func TestHookTimingDefaultsAndCustom(t *testing.T) {
	r := newHookRig(HookTiming{FlashMin: 300 * hms, FlashMax: 600 * hms, InterDigit: 400 * hms, Debounce: 20 * hms}, true)
	r.wait(time.Second)
	r.hold(false, 15*hms) // shorter than this Debounce: ignored
	r.hold(true, time.Second)
	r.hold(false, 200*hms) // under FlashMin: a pulse
	r.hold(true, 300*hms)  // under InterDigit: not yet a digit
	if evs := r.take(); len(evs) != 0 {
		t.Fatalf("events %v before InterDigit passed", evs)
	}
	r.wait(200 * hms)
	r.hold(false, 450*hms) // a flash
	r.hold(true, time.Second)
	r.hold(false, 700*hms) // a hang-up
	if got := hookSummary(r.take()); got != "1 flash on" {
		t.Errorf("events %q, want \"1 flash on\"", got)
	}
}

func TestHookTimeGoingBackwards(t *testing.T) {
	h := NewHookDecoder(HookTiming{}, false)
	t0 := time.Unix(100, 0)
	h.Hook(true, t0)
	h.Tick(t0.Add(time.Second))
	// A late transition stamped in the past is taken as happening now.
	h.Hook(false, t0)
	evs := h.Tick(t0.Add(3 * time.Second))
	if len(evs) != 1 || evs[0].Kind != boards.OnHook || !evs[0].At.Equal(t0.Add(1900*hms)) {
		t.Errorf("events %+v, want OnHook at 1.9 s", evs)
	}
}

// FuzzHookDecoder drives the decoder with arbitrary timings and transition
// streams and checks that the events always make a consistent story.
func FuzzHookDecoder(f *testing.F) {
	f.Add([]byte{0, 0, 0, 0, 1, 0, 1, 60, 0, 40, 1, 60, 0, 200, 2, 250, 2, 250, 1, 10, 0, 255})
	f.Add([]byte{10, 100, 90, 200, 0, 5, 1, 3, 0, 2, 1, 255, 2, 255, 2, 255, 2, 255, 2, 255})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		var cfg [4]byte
		copy(cfg[:], b)
		b = b[min(len(b), 4):]
		// Timing fields in 5 ms steps (0 means the default).
		tm := HookTiming{
			Debounce:   time.Duration(cfg[0]%8) * 5 * hms,
			FlashMin:   time.Duration(cfg[1]) * 5 * hms,
			FlashMax:   time.Duration(cfg[2]) * 5 * hms,
			InterDigit: time.Duration(cfg[3]) * 5 * hms,
		}
		eff := tm.withDefaults()
		start := len(b) > 0 && b[0]&0x80 != 0
		h := NewHookDecoder(tm, start)
		t0 := time.Unix(1e6, 0)
		now := t0
		off := start
		var last time.Time
		check := func(evs []boards.Event) {
			for _, e := range evs {
				if e.At.Before(last) || e.At.After(now) {
					t.Fatalf("event %+v out of order (last %v, now %v)", e, last.Sub(t0), now.Sub(t0))
				}
				last = e.At
				switch e.Kind {
				case boards.OffHook:
					if off {
						t.Fatalf("OffHook while off-hook")
					}
					off = true
				case boards.OnHook:
					if !off {
						t.Fatalf("OnHook while on-hook")
					}
					off = false
				case boards.Flash:
					if !off || e.Duration < eff.FlashMin || e.Duration > eff.FlashMax {
						t.Fatalf("bad flash %+v (off-hook %v)", e, off)
					}
				case boards.Digit:
					if !off || !e.Pulse || e.Digit < '0' || e.Digit > '9' || e.Duration < 0 {
						t.Fatalf("bad digit %+v (off-hook %v)", e, off)
					}
				default:
					t.Fatalf("unknown event %+v", e)
				}
			}
			if h.OffHook() != off {
				t.Fatalf("OffHook() = %v, events say %v", h.OffHook(), off)
			}
		}
		for i := 0; i+1 < len(b); i += 2 {
			op, arg := b[i]%4, time.Duration(b[i+1])
			switch op {
			case 0, 1: // a transition after arg ms
				now = now.Add(arg * hms)
				check(h.Hook(op == 1, now))
			case 2: // a tick after arg*4 ms
				now = now.Add(arg * 4 * hms)
				check(h.Tick(now))
			case 3: // a stale timestamp
				check(h.Hook(arg%2 == 0, now.Add(-arg*hms)))
			}
		}
	})
}

// BenchmarkHookOffHookToDialTone measures the decoder's share of the delay
// between lifting the handset and hearing dial tone: the OffHook event
// must come from the Hook call itself.
func BenchmarkHookOffHookToDialTone(b *testing.B) {
	t0 := time.Unix(0, 0)
	rng := rand.New(rand.NewPCG(1, 1))
	b.ReportAllocs()
	for b.Loop() {
		h := NewHookDecoder(HookTiming{}, false)
		at := t0.Add(time.Duration(rng.IntN(1000)) * hms)
		evs := h.Hook(true, at)
		if len(evs) != 1 || evs[0].Kind != boards.OffHook || evs[0].At != at {
			b.Fatalf("no immediate OffHook: %+v", evs)
		}
	}
}
