package boards

import (
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"time"
)

// Options are what every board is told when it is opened.
type Options struct {
	// Region is the region code ("us", "uk", "de"...): boards use it for
	// ring voltage and caller-ID line reversal, the sim phone to recognise
	// tones.
	Region string
	// FlashMin and FlashMax bound a hook flash; an on-hook shorter than
	// FlashMin is a pulse or a bounce, longer than FlashMax is a hang-up.
	FlashMin, FlashMax time.Duration
	// Control is the sim board's control API address; real boards ignore it.
	Control string
	Logger  *slog.Logger
}

// Factory opens a board.
type Factory func(opts Options) (Board, error)

// Registry maps board names to factories. The composition root builds one
// with every board compiled in; there is no global registry.
type Registry struct {
	factories map[string]Factory
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry {
	return &Registry{factories: map[string]Factory{}}
}

// Register adds a board; registering a name twice is a programming error.
func (r *Registry) Register(name string, f Factory) {
	if _, dup := r.factories[name]; dup {
		panic("boards: board registered twice: " + name)
	}
	r.factories[name] = f
}

// Names lists the registered boards, sorted.
func (r *Registry) Names() []string {
	names := make([]string, 0, len(r.factories))
	for n := range r.factories {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Open opens the named board.
func (r *Registry) Open(name string, opts Options) (Board, error) {
	f, ok := r.factories[name]
	if !ok {
		return nil, fmt.Errorf("unknown board %q (known: %s)", name, strings.Join(r.Names(), ", "))
	}
	b, err := f(opts)
	if err != nil {
		return nil, fmt.Errorf("open board %q: %w", name, err)
	}
	return b, nil
}
