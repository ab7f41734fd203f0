package dsp

import (
	"fmt"
	"time"

	"github.com/tipring/tipring/boards"
)

// HookTiming bounds the hook signals. Zero fields take the defaults below.
type HookTiming struct {
	Debounce   time.Duration // ignore changes shorter than this (default 10 ms)
	FlashMin   time.Duration // default 100 ms: a break shorter than this is a dial pulse (or bounce if < Debounce)
	FlashMax   time.Duration // default 900 ms: a break longer than this is a hang-up
	InterDigit time.Duration // make time that ends a pulse digit (default 200 ms)
}

// Default hook timings. 10 pps dials break 60 ms and make 40 ms; 200 ms of
// make is well past any make inside a digit (at most 52 ms at 8 pps and a
// 58 % break) and well short of the pause people leave between digits.
const (
	DefaultDebounce   = 10 * time.Millisecond
	DefaultFlashMin   = 100 * time.Millisecond
	DefaultFlashMax   = 900 * time.Millisecond
	DefaultInterDigit = 200 * time.Millisecond
)

// withDefaults fills zero (and negative) fields and makes the bounds
// consistent: Debounce <= FlashMin <= FlashMax.
func (t HookTiming) withDefaults() HookTiming {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&t.Debounce, DefaultDebounce)
	def(&t.FlashMin, DefaultFlashMin)
	def(&t.FlashMax, DefaultFlashMax)
	def(&t.InterDigit, DefaultInterDigit)
	t.FlashMin = max(t.FlashMin, t.Debounce)
	t.FlashMax = max(t.FlashMax, t.FlashMin)
	return t
}

// HookDecoder turns raw hook-switch transitions into debounced events:
// OffHook, OnHook, Flash and pulse-dialled Digits.
//
// A raw change counts once it has lasted Debounce; until then it may still
// turn out to be a bounce. Events carry the time the condition was met, not
// the time Hook or Tick happened to be called:
//   - OffHook, at the make, reported at once when the line was idle
//     (on-hook past FlashMax): no debounce delay before dial tone;
//   - OnHook, at break + FlashMax, once the break is longer than FlashMax;
//   - Flash, at the make ending a break of FlashMin..FlashMax, with the
//     break as Duration;
//   - Digit (Pulse), at last make + InterDigit, or at break + FlashMin when
//     a longer break follows the pulses; Duration runs from the first
//     pulse's break to the last make. Breaks of Debounce..FlashMin are
//     pulses; 1-10 pulses are '1'-'9' and '0', and a train of more than 10
//     is dropped as no digit.
//
// Events that depend only on time passing (OnHook, Digit) come from Tick,
// or from the next Hook call, whichever comes first. Times that go
// backwards are taken as the latest time seen.
type HookDecoder struct {
	t   HookTiming
	now time.Time // latest time seen

	raw     bool      // the switch as last reported
	pending bool      // raw differs from the debounced state since pendAt
	pendAt  time.Time // when raw last changed

	off        bool      // debounced switch state
	idle       bool      // on-hook past FlashMax: the line is on-hook
	breakAt    time.Time // start of the current break (when !off)
	lastMake   time.Time
	pulses     int
	trainStart time.Time

	out []boards.Event
}

// NewHookDecoder returns a decoder whose switch is off-hook (true) or
// on-hook, at rest: an on-hook decoder is idle and reports the next
// off-hook at once.
func NewHookDecoder(t HookTiming, offHook bool) *HookDecoder {
	return &HookDecoder{t: t.withDefaults(), raw: offHook, off: offHook, idle: !offHook}
}

// OffHook reports the line's state as the events tell it: true from
// OffHook until OnHook, including during dial-pulse breaks and flashes.
func (h *HookDecoder) OffHook() bool { return !h.idle }

// Hook feeds one raw transition of the hook switch at time at and returns
// the events that are complete by then.
func (h *HookDecoder) Hook(offHook bool, at time.Time) []boards.Event {
	h.out = nil
	at = h.advance(at)
	if offHook == h.raw {
		return h.out
	}
	h.raw = offHook
	switch {
	case h.pending:
		// Back to the debounced state before the change lasted Debounce:
		// a bounce.
		h.pending = false
	case offHook && h.idle:
		h.make(at)
	default:
		h.pending = true
		h.pendAt = at
	}
	return h.out
}

// Tick lets time pass to at (call it every 20 ms) and returns the events
// that are complete by then.
func (h *HookDecoder) Tick(at time.Time) []boards.Event {
	h.out = nil
	h.advance(at)
	return h.out
}

// advance processes everything that happens up to at, in time order, and
// returns at clamped to never go backwards.
func (h *HookDecoder) advance(at time.Time) time.Time {
	if at.Before(h.now) {
		at = h.now
	}
	h.now = at
	for {
		// The debounced state's own deadlines can only be trusted up to a
		// pending change; after it they depend on whether it is confirmed.
		limit := at
		confirm := h.pending && !at.Before(h.pendAt.Add(h.t.Debounce))
		if h.pending {
			limit = h.pendAt
		}
		if h.deadline(limit) {
			continue
		}
		if !confirm {
			return at
		}
		h.pending = false
		if h.raw {
			h.make(h.pendAt)
		} else {
			h.brk(h.pendAt)
		}
	}
}

// deadline emits the earliest time-driven event due by limit, if any.
func (h *HookDecoder) deadline(limit time.Time) bool {
	switch {
	case h.off && h.pulses > 0 && !limit.Before(h.lastMake.Add(h.t.InterDigit)):
		h.digit(h.lastMake.Add(h.t.InterDigit))
		return true
	case !h.off && !h.idle && h.pulses > 0 && !limit.Before(h.breakAt.Add(h.t.FlashMin)):
		h.digit(h.breakAt.Add(h.t.FlashMin))
		return true
	case !h.off && !h.idle && limit.After(h.breakAt.Add(h.t.FlashMax)):
		h.idle = true
		h.emit(boards.Event{Kind: boards.OnHook, At: h.breakAt.Add(h.t.FlashMax)})
		return true
	}
	return false
}

// make applies a confirmed off-hook at time at.
func (h *HookDecoder) make(at time.Time) {
	h.off = true
	if h.idle {
		h.idle = false
		h.pulses = 0
		h.emit(boards.Event{Kind: boards.OffHook, At: at})
		return
	}
	d := at.Sub(h.breakAt)
	if d < h.t.FlashMin {
		if h.pulses == 0 {
			h.trainStart = h.breakAt
		}
		h.pulses++
		h.lastMake = at
		return
	}
	// FlashMin..FlashMax: longer breaks were ended by deadline as OnHook.
	h.emit(boards.Event{Kind: boards.Flash, Duration: d, At: at})
}

// brk applies a confirmed on-hook at time at.
func (h *HookDecoder) brk(at time.Time) {
	h.off = false
	h.breakAt = at
}

// digit ends a pulse train at time at.
func (h *HookDecoder) digit(at time.Time) {
	n := h.pulses
	h.pulses = 0
	if n > 10 {
		return
	}
	h.emit(boards.Event{Kind: boards.Digit, Digit: "1234567890"[n-1], Pulse: true, Duration: h.lastMake.Sub(h.trainStart), At: at})
}

func (h *HookDecoder) emit(e boards.Event) { h.out = append(h.out, e) }

// HookTimingFor is the hook decoder's timing a board's options ask for,
// the other fields left to their defaults. It refuses a flash window
// that is not one rather than let the decoder quietly repair it.
func HookTimingFor(opts boards.Options) (HookTiming, error) {
	if opts.FlashMin < 0 || opts.FlashMax < 0 || (opts.FlashMax != 0 && opts.FlashMin > opts.FlashMax) {
		return HookTiming{}, fmt.Errorf("hook flash window %v-%v is not a window", opts.FlashMin, opts.FlashMax)
	}
	return HookTiming{FlashMin: opts.FlashMin, FlashMax: opts.FlashMax}, nil
}
