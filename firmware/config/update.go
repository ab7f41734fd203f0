package config

import (
	"fmt"
	"time"
)

// UpdateConfig is the [update] table: firmware updates (docs/boards.md).
type UpdateConfig struct {
	// URL is where the device looks for new images every Interval:
	// <url>/<board>/latest.json. Images are signed, so plain http is
	// allowed. Empty: the device never looks by itself.
	URL      string   `toml:"url"`
	Interval Duration `toml:"interval"`
	// ConfirmAfter is how long a new image runs before it counts as
	// healthy when its lines have not all registered by then.
	ConfirmAfter Duration `toml:"confirm_after"`
}

// Defaults for zero values.
const (
	defaultUpdateInterval = 24 * time.Hour
	defaultConfirmAfter   = 5 * time.Minute
)

// PullInterval is interval, or its default of 24h.
func (u UpdateConfig) PullInterval() time.Duration {
	if u.Interval == 0 {
		return defaultUpdateInterval
	}
	return u.Interval.D()
}

// ConfirmWait is confirm_after, or its default of 5m.
func (u UpdateConfig) ConfirmWait() time.Duration {
	if u.ConfirmAfter == 0 {
		return defaultConfirmAfter
	}
	return u.ConfirmAfter.D()
}

func (u *UpdateConfig) validate(v *validator) {
	if u.URL != "" {
		if pu, ok := httpURL(u.URL); !ok || pu.RawQuery != "" {
			v.fail("update.url", "update.url", fmt.Sprintf("want an http(s) URL without a query, got %q", u.URL))
		}
	}
	if u.Interval != 0 && u.Interval.D() < time.Minute {
		v.fail("update.interval", "update.interval", "want at least 1m: every check is a request to the update server")
	}
}
