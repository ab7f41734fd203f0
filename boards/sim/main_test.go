package sim

import (
	"context"
	"errors"
	"math"
	"net/http"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/tipring/tipring/boards"
	"github.com/tipring/tipring/boards/dsp"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// t0 is where manual clocks start; any fixed time does.
var t0 = time.Date(2025, 3, 14, 15, 9, 26, 0, time.UTC)

// rig is a sim board run on a manual clock, with a control API client.
type rig struct {
	t      *testing.T
	board  *Board
	clock  *ManualClock
	client *Client
	ctx    context.Context
}

// newRig starts a board for region on 127.0.0.1:0 and stops it when the
// test ends.
func newRig(t *testing.T, region string) *rig {
	t.Helper()
	clk := NewManualClock(t0)
	b, err := New(boards.Options{Region: region, Control: "127.0.0.1:0"}, WithClock(clk))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.Run(ctx) }()
	tr := &http.Transport{}
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
		tr.CloseIdleConnections()
	})
	wctx, wcancel := context.WithTimeout(ctx, 5*time.Second)
	defer wcancel()
	addr, err := b.WaitControl(wctx)
	if err != nil {
		t.Fatalf("WaitControl: %v", err)
	}
	tctx, tcancel := context.WithTimeout(ctx, 60*time.Second)
	t.Cleanup(tcancel)
	return &rig{t: t, board: b, clock: clk, client: NewClient("http://"+addr, &http.Client{Transport: tr}), ctx: tctx}
}

func (r *rig) port(n int) boards.Port {
	return r.board.Ports()[n-1]
}

// step advances the board by d.
func (r *rig) step(d time.Duration) {
	r.t.Helper()
	if err := r.clock.Advance(r.ctx, d); err != nil {
		r.t.Fatalf("step %v: %v", d, err)
	}
}

// during runs call (a request that returns when the phone on port is
// done) while stepping the clock, and returns its error. The clock stands
// still until the phone has taken the request up, so board time is not
// spent before the request arrives. It fails the test if the call has not
// returned after limit of board time.
func (r *rig) during(port int, limit time.Duration, call func(ctx context.Context) error) error {
	r.t.Helper()
	done := make(chan error, 1)
	go func() { done <- call(r.ctx) }()
	if !r.waitBusy(port, done) {
		return <-done
	}
	for elapsed := time.Duration(0); elapsed <= limit; elapsed += boards.FrameDuration {
		select {
		case err := <-done:
			return err
		default:
		}
		if !r.busy(port) {
			// Done on the board; the answer is on its way.
			break
		}
		r.step(boards.FrameDuration)
	}
	select {
	case err := <-done:
		return err
	case <-time.After(10 * time.Second):
	}
	r.t.Fatalf("call did not return within %v of board time", limit)
	return nil
}

// busy reports whether the phone on port is doing something over time
// (dialling, sending, a flash).
func (r *rig) busy(port int) bool {
	p := r.board.ports[port-1]
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.phone.script != nil || p.phone.micJob != nil
}

// waitBusy waits, in real time, until the phone on port has taken up a
// request; false if the request returned on done first (its answer is
// left there).
func (r *rig) waitBusy(port int, done chan error) bool {
	r.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !r.busy(port) {
		select {
		case err := <-done:
			done <- err
			return false
		case <-time.After(time.Millisecond):
		}
		if time.Now().After(deadline) {
			r.t.Fatal("the phone never took the request up")
		}
	}
	return true
}

func (r *rig) state(n int) PhoneState {
	r.t.Helper()
	st, err := r.client.Phone(r.ctx, n)
	if err != nil {
		r.t.Fatalf("Phone(%d): %v", n, err)
	}
	return st
}

func (r *rig) hook(n int, off bool) {
	r.t.Helper()
	if err := r.client.Hook(r.ctx, n, off); err != nil {
		r.t.Fatalf("Hook(%d, %v): %v", n, off, err)
	}
}

// drain returns the events the port has queued.
func drain(p boards.Port) []boards.Event {
	var out []boards.Event
	for {
		select {
		case ev, ok := <-p.Events():
			if !ok {
				return out
			}
			out = append(out, ev)
		default:
			return out
		}
	}
}

// fakeLine is a stand-in for the firmware's side of a port: it records
// the audio the phone sends and answers with a test tone, if set.
type fakeLine struct {
	mu   sync.Mutex
	up   []int16
	gen  *dsp.ToneGen
	tone bool
}

func (l *fakeLine) audio(up, down *boards.Frame) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.up = append(l.up, up[:]...)
	if l.tone {
		l.gen.Fill(down)
	}
}

func (l *fakeLine) play(t boards.Tone) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.gen == nil {
		l.gen = dsp.NewToneGen(t)
	} else {
		l.gen.Reset(t)
	}
	l.tone = true
}

// recorded returns, and forgets, what the phone sent.
func (l *fakeLine) recorded() []int16 {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := l.up
	l.up = nil
	return out
}

// pureTone is a steady tone at one frequency.
func pureTone(hz, level float64) boards.Tone {
	return boards.Tone{Name: "test", LoopFrom: -1, Segments: []boards.Segment{{Freqs: []float64{hz}, LevelDBm0: level}}}
}

func kinds(evs []boards.Event) []string {
	out := make([]string, len(evs))
	for i, ev := range evs {
		out[i] = ev.Kind.String()
		if ev.Kind == boards.Digit {
			out[i] += "(" + string(rune(ev.Digit)) + ")"
		}
	}
	return out
}

func apiStatus(err error) int {
	var ae *APIError
	if errors.As(err, &ae) {
		return ae.Status
	}
	return 0
}

func near64(a, b, tol float64) bool { return math.Abs(a-b) <= tol }
