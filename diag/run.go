package diag

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// Collector gathers one part of the bundle. Run must honour ctx: when its
// deadline passes the bundle goes on without it, and the collector's
// goroutine should end soon after.
type Collector struct {
	Name    string
	Timeout time.Duration // default DefaultTimeout
	Run     func(ctx context.Context) (any, error)
}

// DefaultTimeout bounds a collector that does not say otherwise. The whole
// bundle must be ready in 5 s; collectors run at once, so each may take
// nearly all of it.
const DefaultTimeout = 4 * time.Second

// abandonAfter is how long past its deadline a collector that ignores its
// context is waited for before the bundle goes on without it.
const abandonAfter = 250 * time.Millisecond

// Section is one collector's result in diag.json.
type Section struct {
	Name   string `json:"name"`
	TookMS int64  `json:"took_ms"`
	// Error says why the section is missing or partial; the rest of the
	// bundle does not depend on it.
	Error string `json:"error,omitempty"`
	Data  any    `json:"data,omitempty"`
}

// Collect runs the collectors concurrently, each under its own timeout, and
// returns their sections in the collectors' order. A collector that fails,
// panics or overruns is recorded with its error; it never holds up the
// others or the bundle.
func Collect(ctx context.Context, collectors []Collector, log *slog.Logger) []Section {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	out := make([]Section, len(collectors))
	var wg sync.WaitGroup
	for i, c := range collectors {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out[i] = runOne(ctx, c, log)
		}()
	}
	wg.Wait()
	return out
}

type result struct {
	data any
	err  error
}

func runOne(ctx context.Context, c Collector, log *slog.Logger) Section {
	timeout := c.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	start := time.Now()
	cctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	done := make(chan result, 1) // buffered: an abandoned collector can still finish
	go func() {
		defer func() {
			if p := recover(); p != nil {
				done <- result{err: fmt.Errorf("collector panicked: %v", p)}
			}
		}()
		data, err := c.Run(cctx)
		done <- result{data, err}
	}()
	var r result
	select {
	case r = <-done:
	case <-cctx.Done():
		select {
		case r = <-done:
		case <-time.After(abandonAfter):
			r.err = fmt.Errorf("did not finish within %v: %w", timeout, cctx.Err())
		}
	}
	s := Section{Name: c.Name, TookMS: time.Since(start).Milliseconds(), Data: r.data}
	if r.err != nil {
		if errors.Is(r.err, context.DeadlineExceeded) && r.data != nil {
			s.Error = "partial: " + r.err.Error()
		} else {
			s.Error = r.err.Error()
		}
		log.Warn("diag: collector", "name", c.Name, "err", r.err)
	}
	return s
}
