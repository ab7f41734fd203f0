package rpifxs

import (
	"context"
	"sync"
	"time"

	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpiotest"

	"github.com/tipring/tipring/boards"
)

// fakeSLIC is a ProSLIC's register file behind the SPI protocol: enough of
// the chip to answer the driver, and to record what it was told.
type fakeSLIC struct {
	mu     sync.Mutex
	regs   [2][128]byte
	writes []regWrite
	irq    *gpiotest.Pin // pulsed low when a hook changes; may be nil
}

type regWrite struct {
	ch       int
	reg, val byte
}

func newFakeSLIC(irq *gpiotest.Pin) *fakeSLIC {
	s := &fakeSLIC{irq: irq}
	s.regs[0][regID] = 0xc3
	s.regs[1][regID] = 0xc3
	return s
}

func (s *fakeSLIC) Tx(w, r []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	ch := 0
	if w[0]&0x10 != 0 {
		ch = 1
	}
	reg := w[1]
	if w[0]&0x40 != 0 {
		r[2] = s.regs[ch][reg]
		if reg >= regIRQ1 && reg <= regIRQ1+3 {
			s.regs[ch][reg] = 0
		}
		return nil
	}
	s.regs[ch][reg] = w[2]
	s.writes = append(s.writes, regWrite{ch, reg, w[2]})
	return nil
}

// setHook moves the phone's hook switch on channel ch.
func (s *fakeSLIC) setHook(ch int, off bool) {
	s.mu.Lock()
	if off {
		s.regs[ch][regLCRRTP] |= bitLCR
	} else {
		s.regs[ch][regLCRRTP] &^= bitLCR
	}
	s.regs[ch][regIRQ2] |= bitLCR
	s.mu.Unlock()
	if s.irq != nil {
		select {
		case s.irq.EdgesChan <- gpio.Low:
		default:
		}
	}
}

func (s *fakeSLIC) linefeeds(ch int) []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []byte
	for _, w := range s.writes {
		if w.ch == ch && w.reg == regLinefeed {
			out = append(out, w.val)
		}
	}
	return out
}

// fakePCM paces periods by a ticker (or as fast as asked), records what was
// played and reports a steady playback queue.
type fakePCM struct {
	mu      sync.Mutex
	every   time.Duration
	played  int // frames
	closed  bool
	channel int
}

func (f *fakePCM) Read(ctx context.Context, buf []int16) error {
	t := time.NewTimer(f.every)
	defer t.Stop()
	select {
	case <-t.C:
		clear(buf)
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (f *fakePCM) Write(buf []int16) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.played += len(buf) / f.channel
	return nil
}

func (f *fakePCM) Queued() (int, error) { return playbackPrefill - framePeriod, nil }

func (f *fakePCM) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.closed = true
	return nil
}

// testBoard is a board on fakes, with a clock the test moves.
type testBoard struct {
	*Board
	slic           *fakeSLIC
	irq, button    *gpiotest.Pin
	reset, power   *gpiotest.Pin
	phone1, phone2 *gpiotest.Pin
	pcm            *fakePCM
	now            time.Time
}

func newTestBoard(t interface {
	Fatal(...any)
	Helper()
}, opts boards.Options) *testBoard {
	t.Helper()
	irq := &gpiotest.Pin{N: "GPIO25", EdgesChan: make(chan gpio.Level, 16)}
	tb := &testBoard{
		slic:   newFakeSLIC(irq),
		irq:    irq,
		button: &gpiotest.Pin{N: "GPIO26"},
		reset:  &gpiotest.Pin{N: "GPIO24"},
		power:  &gpiotest.Pin{N: "GPIO5"},
		phone1: &gpiotest.Pin{N: "GPIO13"},
		phone2: &gpiotest.Pin{N: "GPIO16"},
		pcm:    &fakePCM{every: 2 * time.Millisecond, channel: 2},
		now:    time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC),
	}
	b, err := NewWithHardware(Hardware{
		SPI: tb.slic, Reset: tb.reset, Interrupt: irq, Button: tb.button,
		Power: tb.power, Phones: []OutPin{tb.phone1, tb.phone2}, PCM: tb.pcm,
	}, 2, opts)
	if err != nil {
		t.Fatal(err)
	}
	b.sleep = func(context.Context, time.Duration) error { return nil }
	tb.Board = b
	return tb
}

// edge moves port n's hook at the current test time and lets the driver
// read it, as the interrupt loop does.
func (tb *testBoard) edge(n int, off bool) {
	tb.slic.setHook(n-1, off)
	tb.scanHooks(tb.now)
}

// advance lets d pass in 20 ms frames, running every port's frame.
func (tb *testBoard) advance(d time.Duration) {
	for end := tb.now.Add(d); tb.now.Before(end); {
		tb.now = tb.now.Add(boards.FrameDuration)
		var up, down boards.Frame
		for _, p := range tb.ports {
			p.frame(&up, &down, tb.now)
		}
	}
}

// wait lets d pass without a frame boundary: for edges inside a frame.
func (tb *testBoard) wait(d time.Duration) { tb.now = tb.now.Add(d) }

func drain(ch <-chan boards.Event) []boards.Event {
	var out []boards.Event
	for {
		select {
		case ev, ok := <-ch:
			if !ok {
				return out
			}
			out = append(out, ev)
		default:
			return out
		}
	}
}
