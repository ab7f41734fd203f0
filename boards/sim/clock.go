package sim

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/tipring/tipring/boards"
)

// ManualClock drives a sim board's audio clock by hand, so tests can run
// ring cadences and dialling faster than real time and know exactly what
// the board has processed. Give it to one board with WithClock; the board
// then takes its time from the clock and ticks only when stepped.
type ManualClock struct {
	mu    sync.Mutex
	now   time.Time
	ticks chan manualTick
}

type manualTick struct {
	at time.Time
	// done is closed by the board once it has processed the frame.
	done chan struct{}
}

// NewManualClock returns a clock that reads start until it is stepped.
func NewManualClock(start time.Time) *ManualClock {
	return &ManualClock{now: start, ticks: make(chan manualTick)}
}

// Now is the time of the last frame stepped (start before any).
func (c *ManualClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Step advances the clock by n frames of 20 ms, one at a time, and returns
// when the board has processed the last one. It needs the board's Run to
// be running and fails when ctx ends first.
func (c *ManualClock) Step(ctx context.Context, n int) error {
	for i := range n {
		c.mu.Lock()
		c.now = c.now.Add(boards.FrameDuration)
		t := manualTick{at: c.now, done: make(chan struct{})}
		c.mu.Unlock()
		select {
		case c.ticks <- t:
		case <-ctx.Done():
			return fmt.Errorf("manual clock: frame %d of %d not taken: %w", i+1, n, ctx.Err())
		}
		select {
		case <-t.done:
		case <-ctx.Done():
			return fmt.Errorf("manual clock: frame %d of %d not processed: %w", i+1, n, ctx.Err())
		}
	}
	return nil
}

// Advance steps the clock by d, rounded up to whole frames.
func (c *ManualClock) Advance(ctx context.Context, d time.Duration) error {
	n := int((d + boards.FrameDuration - 1) / boards.FrameDuration)
	return c.Step(ctx, n)
}
