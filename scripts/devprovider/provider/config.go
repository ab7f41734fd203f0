// Package provider is the development SIP provider behind `make run`: a
// registrar with digest authentication and a back-to-back user agent that
// connects registered users to each other and to a few test numbers
// (docs/devprovider.md). It listens on loopback only and is never part of a
// device image.
package provider

import (
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// DefaultRealm is the digest realm, and the domain of every address the
// provider hands out.
const DefaultRealm = "tipring.dev"

// The test numbers (docs/devprovider.md).
const (
	NumberTone       = "600" // answers and plays 1004 Hz at -10 dBm0
	NumberEcho       = "601" // answers and returns the caller's audio
	NumberBusy       = "602" // 486 Busy Here
	NumberCallback   = "603" // beeps, hangs up, then calls the caller back
	NumberEarlyMedia = "604" // 183 with an 800 Hz tone, then 200 and 1004 Hz
)

// Tone frequencies and level of the test numbers.
const (
	ToneHz       = 1004
	EarlyToneHz  = 800
	ToneLevelDBm = -10
)

// Config is the provider's settings. Zero durations take the defaults
// given in the comments; tests shorten them.
type Config struct {
	// Listen is the UDP and TCP address; it must be a loopback address.
	Listen netip.AddrPort
	// Users maps user names to passwords.
	Users map[string]string
	// RTPPortMin and RTPPortMax bound the media ports of the test numbers;
	// default 17000-17998 (away from the device's 16384-16482).
	RTPPortMin, RTPPortMax int
	// Realm of the digest challenges; default DefaultRealm.
	Realm string
	// MinExpires is the shortest registration accepted (423 below it);
	// default 60 s.
	MinExpires time.Duration

	// ToneHangup: 600 and 604 hang up this long after answering; default 60 s.
	ToneHangup time.Duration
	// EchoHangup: 601 hangs up after this; default 10 minutes.
	EchoHangup time.Duration
	// CallbackHangup: 603 hangs up this long after answering (default 2 s)
	// and CallbackDelay later (default 3 s) calls the caller back, playing
	// 1004 Hz for CallbackTalk (default 30 s) if answered.
	CallbackHangup time.Duration
	CallbackDelay  time.Duration
	CallbackTalk   time.Duration
	// EarlyMedia: how long 604 plays its early tone before answering;
	// default 4 s.
	EarlyMedia time.Duration

	Logger *slog.Logger
}

func (c *Config) setDefaults() {
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	if c.RTPPortMin == 0 && c.RTPPortMax == 0 {
		c.RTPPortMin, c.RTPPortMax = 17000, 17998
	}
	if c.Realm == "" {
		c.Realm = DefaultRealm
	}
	def(&c.MinExpires, 60*time.Second)
	def(&c.ToneHangup, 60*time.Second)
	def(&c.EchoHangup, 10*time.Minute)
	def(&c.CallbackHangup, 2*time.Second)
	def(&c.CallbackDelay, 3*time.Second)
	def(&c.CallbackTalk, 30*time.Second)
	def(&c.EarlyMedia, 4*time.Second)
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
}

func (c *Config) validate() error {
	if !c.Listen.IsValid() || c.Listen.Port() == 0 {
		return fmt.Errorf("listen address %q: want a loopback host:port such as 127.0.0.1:5070", c.Listen)
	}
	if !c.Listen.Addr().IsLoopback() {
		return fmt.Errorf("listen address %s is not a loopback address: the development provider serves this machine only", c.Listen)
	}
	if len(c.Users) == 0 {
		return errors.New("no users: give at least one user:password")
	}
	for u := range c.Users {
		if isTestNumber(u) {
			return fmt.Errorf("user %q is a test number", u)
		}
	}
	if c.RTPPortMin < 1024 || c.RTPPortMax > 65535 || c.RTPPortMin >= c.RTPPortMax {
		return fmt.Errorf("RTP ports %d-%d: want a range within 1024-65535", c.RTPPortMin, c.RTPPortMax)
	}
	return nil
}

func isTestNumber(s string) bool {
	switch s {
	case NumberTone, NumberEcho, NumberBusy, NumberCallback, NumberEarlyMedia:
		return true
	}
	return false
}

// ParseListen parses the -listen flag: a loopback IP and a port.
func ParseListen(s string) (netip.AddrPort, error) {
	ap, err := netip.ParseAddrPort(s)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("listen address %q: %w", s, err)
	}
	if !ap.Addr().IsLoopback() {
		return netip.AddrPort{}, fmt.Errorf("listen address %s is not a loopback address: the development provider serves this machine only", ap)
	}
	if ap.Port() == 0 {
		return netip.AddrPort{}, fmt.Errorf("listen address %s has no port", ap)
	}
	return ap, nil
}

// ParseUsers parses the -users flag: "1001:pass1001,1002:pass1002".
func ParseUsers(s string) (map[string]string, error) {
	users := map[string]string{}
	for i, item := range strings.Split(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			return nil, fmt.Errorf("users: entry %d is empty", i+1)
		}
		name, pass, ok := strings.Cut(item, ":")
		if !ok {
			return nil, fmt.Errorf("users: entry %d (%q) has no ':' between user and password", i+1, item)
		}
		if err := checkUserPart(name); err != nil {
			return nil, fmt.Errorf("users: entry %d: %w", i+1, err)
		}
		if pass == "" {
			return nil, fmt.Errorf("users: %s has an empty password", name)
		}
		for _, r := range pass {
			if r < 0x21 || r > 0x7e || r == '"' || r == '\\' {
				return nil, fmt.Errorf("users: the password of %s has a character other than printable ASCII (or a quote or backslash)", name)
			}
		}
		if _, dup := users[name]; dup {
			return nil, fmt.Errorf("users: %s appears twice", name)
		}
		users[name] = pass
	}
	return users, nil
}

// checkUserPart accepts the user names a phone can dial and a SIP URI
// carries without escaping.
func checkUserPart(name string) error {
	if name == "" {
		return errors.New("empty user name")
	}
	if len(name) > 64 {
		return fmt.Errorf("user name of %d characters; at most 64", len(name))
	}
	for _, r := range name {
		ok := r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || strings.ContainsRune("-_.+*#", r)
		if !ok {
			return fmt.Errorf("user name %q: only letters, digits and -_.+*# are allowed", name)
		}
	}
	return nil
}

// ParsePortRange parses the -rtp-ports flag: "17000-17998".
func ParsePortRange(s string) (lo, hi int, err error) {
	a, b, ok := strings.Cut(s, "-")
	if !ok {
		return 0, 0, fmt.Errorf("port range %q: want MIN-MAX", s)
	}
	lo, err = strconv.Atoi(strings.TrimSpace(a))
	if err != nil {
		return 0, 0, fmt.Errorf("port range %q: bad minimum: %w", s, err)
	}
	hi, err = strconv.Atoi(strings.TrimSpace(b))
	if err != nil {
		return 0, 0, fmt.Errorf("port range %q: bad maximum: %w", s, err)
	}
	if lo < 1024 || hi > 65535 || lo >= hi {
		return 0, 0, fmt.Errorf("port range %q: want 1024 <= MIN < MAX <= 65535", s)
	}
	if hi-lo < 3 {
		return 0, 0, fmt.Errorf("port range %q: too small for one RTP/RTCP pair per call", s)
	}
	return lo, hi, nil
}
