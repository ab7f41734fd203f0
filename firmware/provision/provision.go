package provision

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/tipring/tipring/diag/netinfo"
)

// Candidate is a provisioning URL and where it came from, for the logs.
type Candidate struct {
	URL    string
	Source string // "flag", "factory", "configuration", "dhcp option 160", "dhcp option 66"
}

// Discover picks the provisioning URL: the one given on the command line,
// else the factory's, else DHCP option 160, else option 66 of the current
// lease. ok is false when there is none yet.
func Discover(flagURL string, f *Factory, lease *netinfo.Lease) (c Candidate, ok bool) {
	switch {
	case flagURL != "":
		return Candidate{URL: flagURL, Source: "flag"}, true
	case f != nil && f.ProvisionURL != "":
		return Candidate{URL: f.ProvisionURL, Source: "factory"}, true
	case lease != nil && lease.ProvisionURL != "":
		return Candidate{URL: lease.ProvisionURL, Source: "dhcp option 160"}, true
	case lease != nil && lease.TFTPServer != "":
		return Candidate{URL: lease.TFTPServer, Source: "dhcp option 66"}, true
	}
	return Candidate{}, false
}

// SystemLease returns the current DHCP lease of the default route's
// interface as diag/netinfo finds it under root ("/" on a device), or nil
// with the reason.
func SystemLease(root string) (*netinfo.Lease, string) {
	return netinfo.CurrentLease(netinfo.Options{Root: root})
}

// Default retry bounds while a device has no configuration.
const (
	DefaultRetryMin = 5 * time.Second
	DefaultRetryMax = 5 * time.Minute
)

// Loop is a blank device's wait for its configuration.
type Loop struct {
	Fetcher *Fetcher
	MAC     string
	// Find returns the URL to try; it is called before every attempt
	// because a DHCP lease, and its options, can arrive later.
	Find func(ctx context.Context) (Candidate, bool)
	// RetryMin and RetryMax bound the wait between attempts, doubling
	// from one to the other; zero means the defaults.
	RetryMin, RetryMax time.Duration
	Logger             *slog.Logger
}

// Run tries until a valid configuration is fetched or ctx ends. Every
// failure (no URL yet, no file, a server error, a refused signature, a
// configuration that does not validate) is logged and tried again later:
// the installer fixes the server, not the device.
func (l *Loop) Run(ctx context.Context) (Fetched, error) {
	log := l.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	wait, hi := l.RetryMin, l.RetryMax
	if wait <= 0 {
		wait = DefaultRetryMin
	}
	if hi <= 0 {
		hi = DefaultRetryMax
	}
	hi = max(hi, wait)
	t := time.NewTimer(0)
	defer t.Stop()
	for attempt := 1; ; attempt++ {
		select {
		case <-ctx.Done():
			return Fetched{}, fmt.Errorf("provisioning: stopped before a configuration was found: %w", ctx.Err())
		case <-t.C:
		}
		c, ok := l.Find(ctx)
		if !ok {
			log.Warn("provisioning: no provisioning URL yet (no --provision flag, none in the factory file, no DHCP option 160 or 66)", "attempt", attempt, "retry_in", wait)
		} else {
			log.Info("provisioning: asking "+c.URL, "source", c.Source, "mac", l.MAC, "attempt", attempt)
			got, err := l.Fetcher.Fetch(ctx, c.URL, l.MAC)
			if err == nil {
				return got, nil
			}
			if ctx.Err() != nil {
				continue
			}
			lvl := slog.LevelError
			if errors.Is(err, ErrNotFound) {
				lvl = slog.LevelWarn
			}
			log.Log(ctx, lvl, err.Error(), "retry_in", wait)
		}
		t.Reset(wait)
		wait = min(2*wait, hi)
	}
}
