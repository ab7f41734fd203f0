package config

import (
	"crypto/ed25519"
	"encoding/base64"
	"fmt"
	"net/netip"
	"strings"
	"time"
)

// ProvisionConfig is the [provision] table: where the device refreshes its
// configuration from, and how it trusts what it fetches.
type ProvisionConfig struct {
	// URL is the provisioning server's base URL; the device fetches
	// cfg<mac>.toml, then cfg.toml, under it every Interval. Empty: the
	// configuration is never refreshed.
	URL      string   `toml:"url"`
	Interval Duration `toml:"interval"`
	// PublicKey is a base64 ed25519 key; when set, a fetched file is
	// accepted only with a valid detached signature (<file>.sig).
	PublicKey string `toml:"public_key"`
	// CA is a PEM file of certificates to trust besides the system's, for
	// a provisioning server with a private CA.
	CA string `toml:"ca"`
	// AllowHTTP accepts a plain http:// URL to a host other than loopback.
	AllowHTTP bool `toml:"allow_http"`
}

// defaultProvisionInterval is how often a provisioned device asks again.
const defaultProvisionInterval = Duration(24 * time.Hour)

func (p *ProvisionConfig) validate(v *validator) {
	if p.URL != "" {
		u, ok := httpURL(p.URL)
		switch {
		case !ok:
			v.fail("provision.url", "provision.url", fmt.Sprintf("want an https URL, got %q", p.URL))
		case u.Scheme == "http" && !p.AllowHTTP && !isLoopbackHost(u.Hostname()):
			v.fail("provision.url", "provision.url", "plain http would send the SIP passwords in the clear: use https, or set allow_http = true")
		}
		if p.Interval.D() < time.Minute {
			v.fail("provision.interval", "provision.interval", "want at least 1m: every refresh is a request to the provisioning server")
		}
	}
	if p.PublicKey != "" {
		if b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(p.PublicKey)); err != nil || len(b) != ed25519.PublicKeySize {
			v.fail("provision.public_key", "provision.public_key", "want a base64 ed25519 public key (32 bytes)")
		}
	}
}

func isLoopbackHost(h string) bool {
	a, err := netip.ParseAddr(h)
	return (err == nil && a.IsLoopback()) || h == "localhost"
}
