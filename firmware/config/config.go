// Package config loads the device configuration: one TOML file whose every
// key is documented in docs/config.md. Loading is strict: an unknown key or a
// bad value is an error naming the key and the line it is on, because a
// silently ignored typo on a device in a customer's home is a support call.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/pelletier/go-toml/v2"

	"github.com/tipring/tipring/boards/region"
	"github.com/tipring/tipring/firmware/dialplan"
)

// Config is the whole device configuration.
type Config struct {
	Device DeviceConfig `toml:"device"`
	SIP    SIPConfig    `toml:"sip"`
	Lines  []LineConfig `toml:"line"`
	Admin  AdminConfig  `toml:"admin"`
	Sim    SimConfig    `toml:"sim"`
	Meter  MeterConfig  `toml:"meter"`
	Diag   DiagConfig   `toml:"diag"`

	Provision ProvisionConfig `toml:"provision"`
	Update    UpdateConfig    `toml:"update"`
}

// DeviceConfig is the [device] table.
type DeviceConfig struct {
	Board     string   `toml:"board"`
	Region    string   `toml:"region"`
	DataDir   string   `toml:"data_dir"`
	Emergency []string `toml:"emergency"`
	FlashMin  Duration `toml:"hook_flash_min"`
	FlashMax  Duration `toml:"hook_flash_max"`
	LogLevel  string   `toml:"log_level"`
	// Prompts is the directory of the voice prompts; empty means the
	// prompts directory beside the tipring executable, where an image
	// installs them.
	Prompts string `toml:"prompts"`
}

// SIPConfig is the [sip] table: what all lines share.
type SIPConfig struct {
	Listen         string   `toml:"listen"`
	RTPPorts       string   `toml:"rtp_ports"`
	MediaIP        string   `toml:"media_ip"`
	Codecs         []string `toml:"codecs"`
	JitterTarget   Duration `toml:"jitter_target"`
	JitterMin      Duration `toml:"jitter_min"`
	JitterMax      Duration `toml:"jitter_max"`
	RTPTimeout     Duration `toml:"rtp_timeout"`
	AllowAnySource bool     `toml:"allow_any_source"`
	UserAgent      string   `toml:"user_agent"`
}

// LineConfig is one [[line]]: an FXS port and its SIP account.
type LineConfig struct {
	Port            int      `toml:"port"`
	User            string   `toml:"user"`
	AuthUser        string   `toml:"auth_user"`
	Password        string   `toml:"password"`
	DisplayName     string   `toml:"display_name"`
	Domain          string   `toml:"domain"`
	Registrar       string   `toml:"registrar"`
	BackupRegistrar string   `toml:"backup_registrar"`
	Proxy           string   `toml:"proxy"`
	Transport       string   `toml:"transport"`
	DialPlan        string   `toml:"dial_plan"`
	ShortTimer      Duration `toml:"interdigit_short"`
	LongTimer       Duration `toml:"interdigit_long"`
	Expires         Duration `toml:"register_expires"`
	KeepAlive       Duration `toml:"keepalive"`

	plan *dialplan.Plan // parsed dial_plan (or the region's), set by validation
}

// Plan returns the line's parsed dial plan: dial_plan, or the region's
// default when dial_plan is empty.
func (l *LineConfig) Plan() *dialplan.Plan { return l.plan }

// AdminConfig is the [admin] table: the management API.
type AdminConfig struct {
	Listen   string `toml:"listen"`
	Password string `toml:"password"`
}

// SimConfig is the [sim] table, used only by the sim board.
type SimConfig struct {
	Control string `toml:"control"`
}

// MeterConfig is the [meter] table: prepaid metering.
type MeterConfig struct {
	Backend      string   `toml:"backend"`
	Account      string   `toml:"account"`
	Token        string   `toml:"token"`
	Checkpoint   Duration `toml:"checkpoint"`
	WarnBefore   Duration `toml:"warn_before"`
	OfflineGrace Duration `toml:"offline_grace"`
	// SyncInterval is how often the account is fetched from the back end
	// when no call prompts it.
	SyncInterval Duration `toml:"sync_interval"`
	// BalanceCode speaks the balance on the handset.
	BalanceCode string `toml:"balance_code"`
	// AnnounceLimit says "you have N minutes for this call" before a
	// metered call is dialled.
	AnnounceLimit bool `toml:"announce_limit"`
}

// DiagConfig is the [diag] table.
type DiagConfig struct {
	SupportURL string `toml:"support_url"`
	STUN       string `toml:"stun"`
	// Code sends a bundle to SupportURL from the handset.
	Code string `toml:"code"`
	// Discovery asks the LAN who is there (UPnP/SSDP, mDNS) and the router
	// what it is; Probes measures the paths to the gateway, the DNS server
	// and the SIP server. Both send traffic, so both can be turned off.
	Discovery bool `toml:"discovery"`
	Probes    bool `toml:"probes"`
}

// httpURL parses s as an http or https URL with a host: what every server
// the device calls is given as.
func httpURL(s string) (*url.URL, bool) {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, false
	}
	return u, true
}

// keypadOnly reports whether a device code can be dialled: digits, * and
// # only (the empty code turns the feature off).
func keypadOnly(code string) bool { return strings.Trim(code, "0123456789*#") == "" }

// Duration is a time.Duration written as a Go duration string ("10s", "4m").
type Duration time.Duration

// UnmarshalText implements encoding.TextUnmarshaler.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return fmt.Errorf("not a duration (write it like \"10s\", \"500ms\" or \"2m\"): %q", b)
	}
	if v < 0 {
		return fmt.Errorf("negative duration %q", b)
	}
	*d = Duration(v)
	return nil
}

// MarshalText implements encoding.TextMarshaler.
func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// D returns the value as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// Error is a configuration error tied to a key and, when known, a line of the file.
type Error struct {
	File string
	Line int
	Key  string
	Msg  string
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("config")
	if e.File != "" {
		b.WriteString(" ")
		b.WriteString(e.File)
	}
	if e.Line > 0 {
		fmt.Fprintf(&b, " line %d", e.Line)
	}
	if e.Key != "" {
		fmt.Fprintf(&b, ": %s", e.Key)
	}
	b.WriteString(": ")
	b.WriteString(e.Msg)
	return b.String()
}

// Load reads and validates the file at path.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	return Parse(path, data)
}

// Parse decodes and validates a configuration. name is used in errors.
func Parse(name string, data []byte) (*Config, error) {
	c := Defaults()
	dec := toml.NewDecoder(bytes.NewReader(data)).DisallowUnknownFields()
	if err := dec.Decode(c); err != nil {
		return nil, decodeError(name, err)
	}
	idx, err := indexKeys(data)
	if err != nil {
		return nil, &Error{File: name, Msg: err.Error()}
	}
	v := validator{file: name, idx: idx}
	c.applyDefaults()
	c.validate(&v)
	if len(v.errs) > 0 {
		return nil, errors.Join(v.errs...)
	}
	return c, nil
}

// decodeError turns the TOML library's errors into ours, one per problem.
func decodeError(name string, err error) error {
	var strict *toml.StrictMissingError
	if errors.As(err, &strict) {
		errs := make([]error, 0, len(strict.Errors))
		for i := range strict.Errors {
			e := &strict.Errors[i]
			row, _ := e.Position()
			errs = append(errs, &Error{File: name, Line: row, Key: keyString(e.Key()), Msg: "unknown key (see docs/config.md for the keys there are)"})
		}
		return errors.Join(errs...)
	}
	var de *toml.DecodeError
	if errors.As(err, &de) {
		row, _ := de.Position()
		return &Error{File: name, Line: row, Key: keyString(de.Key()), Msg: de.Error()}
	}
	return &Error{File: name, Msg: err.Error()}
}

func keyString(k toml.Key) string { return strings.Join(k, ".") }

// Defaults returns a configuration with every default filled in and no lines.
func Defaults() *Config {
	return &Config{
		Device: DeviceConfig{
			Board:    "sim",
			Region:   "us",
			DataDir:  "/var/lib/tipring",
			FlashMin: Duration(100 * time.Millisecond),
			FlashMax: Duration(900 * time.Millisecond),
			LogLevel: "info",
		},
		SIP: SIPConfig{
			Listen:       "0.0.0.0:5060",
			RTPPorts:     "16384-16482",
			Codecs:       []string{"PCMU", "PCMA"},
			JitterTarget: Duration(40 * time.Millisecond),
			JitterMin:    Duration(20 * time.Millisecond),
			JitterMax:    Duration(200 * time.Millisecond),
			RTPTimeout:   Duration(30 * time.Second),
		},
		Admin:     AdminConfig{Listen: "127.0.0.1:8080"},
		Provision: ProvisionConfig{Interval: defaultProvisionInterval},
		Sim:       SimConfig{Control: "127.0.0.1:7070"},
		Meter: MeterConfig{
			Checkpoint:   Duration(10 * time.Second),
			WarnBefore:   Duration(60 * time.Second),
			OfflineGrace: Duration(72 * time.Hour),
			SyncInterval: Duration(5 * time.Minute),
			BalanceCode:  "*225",
		},
		Diag: DiagConfig{Code: "*47", Discovery: true, Probes: true},
	}
}

// applyDefaults fills per-line defaults that depend on other keys.
func (c *Config) applyDefaults() {
	for i := range c.Lines {
		l := &c.Lines[i]
		if l.Transport == "" {
			l.Transport = "udp"
		}
		if l.ShortTimer == 0 {
			l.ShortTimer = Duration(4 * time.Second)
		}
		if l.LongTimer == 0 {
			l.LongTimer = Duration(10 * time.Second)
		}
		if l.Expires == 0 {
			l.Expires = Duration(3600 * time.Second)
		}
		if l.KeepAlive == 0 {
			l.KeepAlive = Duration(25 * time.Second)
		}
	}
}

// RTPPortRange returns the parsed [sip] rtp_ports.
func (c *Config) RTPPortRange() (lo, hi int, err error) {
	a, b, ok := strings.Cut(c.SIP.RTPPorts, "-")
	if !ok {
		return 0, 0, fmt.Errorf("want a range like 16384-16482, got %q", c.SIP.RTPPorts)
	}
	lo, err1 := strconv.Atoi(strings.TrimSpace(a))
	hi, err2 := strconv.Atoi(strings.TrimSpace(b))
	switch {
	case err1 != nil || err2 != nil:
		return 0, 0, fmt.Errorf("want a range like 16384-16482, got %q", c.SIP.RTPPorts)
	case lo < 1024 || hi > 65535 || lo > hi:
		return 0, 0, fmt.Errorf("range %d-%d is outside 1024-65535 or reversed", lo, hi)
	case hi-lo < 3:
		return 0, 0, fmt.Errorf("range %d-%d holds fewer than two RTP/RTCP port pairs", lo, hi)
	}
	return lo, hi, nil
}

// LineFor returns the [[line]] for a port, or nil.
func (c *Config) LineFor(port int) *LineConfig {
	for i := range c.Lines {
		if c.Lines[i].Port == port {
			return &c.Lines[i]
		}
	}
	return nil
}

// validator collects every problem, so an installer fixes them in one go.
type validator struct {
	file string
	idx  keyIndex
	errs []error
}

// fail records a problem with the key at path (e.g. "line.0.password");
// table is the key to point at when the key itself is absent.
func (v *validator) fail(path, display, msg string) {
	v.errs = append(v.errs, &Error{File: v.file, Line: v.idx.line(path), Key: display, Msg: msg})
}

func (c *Config) validate(v *validator) {
	if c.Device.Board == "" {
		v.fail("device.board", "device.board", "missing: name the board (e.g. \"sim\")")
	}
	if _, err := region.Lookup(c.Device.Region); err != nil {
		v.fail("device.region", "device.region", err.Error())
	}
	if c.Device.FlashMin >= c.Device.FlashMax {
		v.fail("device.hook_flash_min", "device.hook_flash_min", "must be shorter than device.hook_flash_max")
	}
	switch strings.ToLower(c.Device.LogLevel) {
	case "debug", "info", "warn", "error":
	default:
		v.fail("device.log_level", "device.log_level", fmt.Sprintf("unknown level %q (debug, info, warn, error)", c.Device.LogLevel))
	}
	if _, err := netip.ParseAddrPort(c.SIP.Listen); err != nil {
		v.fail("sip.listen", "sip.listen", fmt.Sprintf("want ip:port, got %q", c.SIP.Listen))
	}
	if _, _, err := c.RTPPortRange(); err != nil {
		v.fail("sip.rtp_ports", "sip.rtp_ports", err.Error())
	}
	if c.SIP.MediaIP != "" {
		if a, err := netip.ParseAddr(c.SIP.MediaIP); err != nil || a.IsUnspecified() {
			v.fail("sip.media_ip", "sip.media_ip", fmt.Sprintf("want a concrete IP address, got %q", c.SIP.MediaIP))
		}
	}
	for i, codec := range c.SIP.Codecs {
		switch strings.ToUpper(codec) {
		case "PCMU", "PCMA":
		default:
			v.fail("sip.codecs", "sip.codecs", fmt.Sprintf("codec %d %q is not supported (PCMU, PCMA)", i+1, codec))
		}
	}
	if len(c.SIP.Codecs) == 0 {
		v.fail("sip.codecs", "sip.codecs", "empty: list at least one of PCMU, PCMA")
	}
	if !(c.SIP.JitterMin <= c.SIP.JitterTarget && c.SIP.JitterTarget <= c.SIP.JitterMax) {
		v.fail("sip.jitter_target", "sip.jitter_target", "want jitter_min ≤ jitter_target ≤ jitter_max")
	}
	if c.Admin.Listen != "" {
		if _, err := netip.ParseAddrPort(c.Admin.Listen); err != nil {
			v.fail("admin.listen", "admin.listen", fmt.Sprintf("want ip:port, got %q", c.Admin.Listen))
		}
	}
	if c.Meter.Backend != "" {
		if _, ok := httpURL(c.Meter.Backend); !ok {
			v.fail("meter.backend", "meter.backend", fmt.Sprintf("want an http(s) URL, got %q", c.Meter.Backend))
		}
		if c.Meter.Account == "" {
			v.fail("meter.account", "meter", "missing: meter.backend is set, so the account number is needed")
		}
		if c.Meter.Token == "" {
			v.fail("meter.token", "meter", "missing: meter.backend is set, so the device token is needed")
		}
	}
	if c.Meter.Checkpoint.D() < time.Second {
		v.fail("meter.checkpoint", "meter.checkpoint", "want at least 1s: every checkpoint is a write to flash")
	}
	if c.Meter.SyncInterval.D() < time.Second {
		v.fail("meter.sync_interval", "meter.sync_interval", "want at least 1s")
	}
	if bc := c.Meter.BalanceCode; !keypadOnly(bc) {
		v.fail("meter.balance_code", "meter.balance_code", fmt.Sprintf("want digits, * and # only, got %q", bc))
	}
	if dc := c.Diag.Code; !keypadOnly(dc) {
		v.fail("diag.code", "diag.code", fmt.Sprintf("want digits, * and # only, got %q", dc))
	}
	if dc := c.Diag.Code; dc != "" && dc == c.Meter.BalanceCode {
		v.fail("diag.code", "diag.code", fmt.Sprintf("%q is also meter.balance_code", dc))
	}
	if st := c.Diag.STUN; st != "" {
		if _, port, err := net.SplitHostPort(st); err != nil || port == "" {
			v.fail("diag.stun", "diag.stun", fmt.Sprintf("want host:port (e.g. \"stun.example.net:3478\"), got %q", st))
		}
	}
	if u := c.Diag.SupportURL; u != "" {
		if _, ok := httpURL(u); !ok {
			v.fail("diag.support_url", "diag.support_url", fmt.Sprintf("want an http(s) URL, got %q", u))
		}
	}
	c.Provision.validate(v)
	c.Update.validate(v)
	if len(c.Lines) == 0 {
		v.fail("", "line", "no [[line]] configured: add one per phone port")
	}
	seen := map[int]bool{}
	reg, _ := region.Lookup(c.Device.Region)
	for i := range c.Lines {
		c.Lines[i].validate(v, i, seen, reg)
	}
}

func (l *LineConfig) validate(v *validator, i int, seen map[int]bool, reg *region.Region) {
	p := fmt.Sprintf("line.%d.", i)
	name := fmt.Sprintf("[[line]] #%d (port %d) ", i+1, l.Port)
	fail := func(key, msg string) {
		path := p + key
		if v.idx.line(path) == 0 {
			path = fmt.Sprintf("line.%d", i)
		}
		v.fail(path, name+key, msg)
	}
	if l.Port < 1 {
		fail("port", "missing or below 1: the phone port this line serves")
	} else if seen[l.Port] {
		fail("port", fmt.Sprintf("port %d is used by two lines", l.Port))
	}
	seen[l.Port] = true
	if l.User == "" {
		fail("user", "missing: the SIP user name")
	}
	if l.Password == "" {
		fail("password", "missing: the SIP password")
	}
	if l.Registrar == "" {
		fail("registrar", "missing: the provider's registrar (host or host:port)")
	} else if err := checkHostPort(l.Registrar); err != nil {
		fail("registrar", err.Error())
	}
	if l.BackupRegistrar != "" {
		if err := checkHostPort(l.BackupRegistrar); err != nil {
			fail("backup_registrar", err.Error())
		}
	}
	if l.Proxy != "" {
		if err := checkHostPort(l.Proxy); err != nil {
			fail("proxy", err.Error())
		}
	}
	switch l.Transport {
	case "udp", "tcp":
	case "tls":
		fail("transport", "tls is not supported yet (udp, tcp)")
	default:
		fail("transport", fmt.Sprintf("unknown transport %q (udp, tcp)", l.Transport))
	}
	if l.ShortTimer > l.LongTimer {
		fail("interdigit_short", "must not be longer than interdigit_long")
	}
	if l.Expires < Duration(60*time.Second) {
		fail("register_expires", "below 60s: registrars refuse such short registrations")
	}
	plan := l.DialPlan
	if plan == "" && reg != nil {
		plan = reg.DialPlan
	}
	if plan != "" {
		p, err := dialplan.Parse(plan, dialplan.Options{ShortTimer: l.ShortTimer.D(), LongTimer: l.LongTimer.D()})
		if err != nil {
			fail("dial_plan", err.Error())
		}
		l.plan = p
	}
}

// checkHostPort accepts "host" or "host:port".
func checkHostPort(s string) error {
	if strings.ContainsAny(s, " /@;") {
		return fmt.Errorf("want host or host:port, got %q", s)
	}
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		if strings.Contains(err.Error(), "missing port") {
			return nil
		}
		return fmt.Errorf("want host or host:port, got %q", s)
	}
	if host == "" {
		return fmt.Errorf("empty host in %q", s)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return fmt.Errorf("bad port in %q", s)
	}
	return nil
}
