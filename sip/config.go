package sip

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// Config describes the user agent as a whole.
type Config struct {
	// Listen is the local address, e.g. "0.0.0.0:5060". The UA listens on
	// UDP and TCP at the same port (TLS will be added next to them). Port 0
	// picks a free port, which ListenAddr reports.
	Listen string
	// UserAgent is the User-Agent header, e.g. "tipring/0.1".
	UserAgent string
	// Resolver answers SRV and address lookups; nil means net.DefaultResolver.
	Resolver Resolver
	Logger   *slog.Logger
	// Trace, if set, sees every SIP message sent ("send") or received
	// ("recv"), raw, with the far address. It is called synchronously on
	// the network path, so it must be cheap, and raw is only valid during
	// the call (copy what you keep). Over TCP a "recv" may hold a fragment
	// or several messages: it is what the socket delivered. Keep-alive
	// CRLFs are not traced (they are counted in Stats). sipgo's own tracer
	// (sip.SIPDebugTracer) is a process-wide global, so the UA wraps its
	// sockets instead.
	Trace func(dir, peer string, raw []byte)
	// Incoming is called for each accepted incoming INVITE, after the UA
	// answered 100 Trying. The callee must call Ringing, Answer or Reject
	// promptly and must not block. nil answers incoming calls with 480.
	Incoming func(c *Call)
	// AllowAnySource turns ghost-call protection off: requests outside a
	// dialog are then accepted from any address. Leave it false on a device
	// reachable from the internet; see docs/sip.md.
	AllowAnySource bool
	// Timers tunes SIP timing; zero fields take the RFC 3261 defaults.
	Timers Timers
}

// Timers are the SIP timer values the UA uses itself. (sipgo's own
// retransmission timers are package globals that tipring leaves alone: see
// sipgo.go.)
type Timers struct {
	// T1 is the round-trip estimate: our 2xx to an INVITE is retransmitted
	// after T1, then at doubling intervals. Default 500 ms.
	T1 time.Duration
	// T2 caps that retransmission interval. Default 4 s.
	T2 time.Duration
	// Transaction is how long a request may go without a final answer (an
	// INVITE: without any answer) before it counts as timed out (408), and
	// how long we wait for the ACK of our 2xx. Default 64×T1 = 32 s.
	Transaction time.Duration
}

func (t Timers) withDefaults() Timers {
	if t.T1 <= 0 {
		t.T1 = 500 * time.Millisecond
	}
	if t.T2 <= 0 {
		t.T2 = 4 * time.Second
	}
	if t.T2 < t.T1 {
		t.T2 = t.T1
	}
	if t.Transaction <= 0 {
		t.Transaction = 64 * t.T1
	}
	return t
}

// Resolver is what the UA needs from DNS. It is declared here because sip
// uses it; *net.Resolver satisfies it.
type Resolver interface {
	LookupSRV(ctx context.Context, service, proto, name string) (string, []*net.SRV, error)
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// Account is one SIP registration, serving one FXS port.
type Account struct {
	// Line is the FXS port number this account serves.
	Line int
	// User is the SIP user: the AOR user part, and the user part incoming
	// Request-URIs must carry.
	User string
	// AuthUser is the digest user name; "" means User.
	AuthUser string
	Password string
	// DisplayName is the caller name sent in From of our calls; "" sends
	// none.
	DisplayName string
	// Domain is the AOR domain; "" means the registrar's host.
	Domain string
	// Registrar is host[:port]. Without a port, SRV (_sip._udp or _sip._tcp)
	// is tried first, then A/AAAA on port 5060.
	Registrar string
	// BackupRegistrar is an optional failover target, same syntax.
	BackupRegistrar string
	// Proxy is an optional outbound proxy, host[:port]. When set, every
	// request goes there, with a Route header naming it (loose routing).
	Proxy string
	// Transport is "udp" (default) or "tcp".
	Transport string
	// Expires is the registration expiry asked for; default 3600 s.
	Expires time.Duration
	// KeepAlive is the interval of CRLF keep-alives to the registrar
	// (CRLFCRLF pings over TCP); default 25 s, negative disables.
	KeepAlive time.Duration
	// RetryMin and RetryMax bound the backoff after failures: RetryMin
	// (default 30 s) doubling up to RetryMax (default 30 min), ±20 % jitter.
	RetryMin, RetryMax time.Duration
}

// hostPort is a parsed host[:port]; port 0 means "not given".
type hostPort struct {
	host string
	port int
}

func (h hostPort) String() string {
	if h.port == 0 {
		if strings.Contains(h.host, ":") {
			return "[" + h.host + "]"
		}
		return h.host
	}
	return net.JoinHostPort(h.host, strconv.Itoa(h.port))
}

func (h hostPort) isZero() bool { return h.host == "" }

// parseHostPort accepts "host", "host:port", "[v6]", "[v6]:port" and a bare
// IPv6 literal.
func parseHostPort(s string) (hostPort, error) {
	if s == "" {
		return hostPort{}, errors.New("empty")
	}
	if strings.Contains(s, "://") || strings.HasPrefix(strings.ToLower(s), "sip:") || strings.HasPrefix(strings.ToLower(s), "sips:") {
		return hostPort{}, fmt.Errorf("%q: give host[:port], not a URI", s)
	}
	if strings.ContainsAny(s, " \t\r\n;,@<>/?\"") {
		return hostPort{}, fmt.Errorf("%q: not a host[:port]", s)
	}
	host, portStr := s, ""
	switch {
	case strings.HasPrefix(s, "["):
		end := strings.IndexByte(s, ']')
		if end < 0 {
			return hostPort{}, fmt.Errorf("%q: missing ']'", s)
		}
		host = s[1:end]
		rest := s[end+1:]
		if rest != "" {
			if !strings.HasPrefix(rest, ":") {
				return hostPort{}, fmt.Errorf("%q: junk after ']'", s)
			}
			portStr = rest[1:]
		}
		if _, err := netip.ParseAddr(host); err != nil {
			return hostPort{}, fmt.Errorf("%q: bad IPv6 literal", s)
		}
	case strings.Count(s, ":") == 1:
		i := strings.IndexByte(s, ':')
		host, portStr = s[:i], s[i+1:]
	case strings.Count(s, ":") > 1:
		if _, err := netip.ParseAddr(s); err != nil {
			return hostPort{}, fmt.Errorf("%q: bad IPv6 literal (use [addr]:port)", s)
		}
	}
	if host == "" {
		return hostPort{}, fmt.Errorf("%q: missing host", s)
	}
	if _, err := netip.ParseAddr(host); err != nil && !validHostname(host) {
		return hostPort{}, fmt.Errorf("%q: bad host name", s)
	}
	hp := hostPort{host: host}
	if portStr != "" || strings.HasSuffix(s, ":") {
		p, err := strconv.Atoi(portStr)
		if err != nil || p < 1 || p > 65535 {
			return hostPort{}, fmt.Errorf("%q: port must be 1-65535", s)
		}
		hp.port = p
	}
	return hp, nil
}

func validHostname(h string) bool {
	if len(h) > 253 {
		return false
	}
	for _, label := range strings.Split(strings.TrimSuffix(h, "."), ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
	}
	return true
}

// validUser accepts the SIP user parts tipring produces and providers use:
// unreserved characters and the few user-unreserved ones phones need.
func validUser(u string) bool {
	if u == "" || len(u) > 64 {
		return false
	}
	for i := 0; i < len(u); i++ {
		c := u[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case strings.IndexByte("-_.!~*'()&=+$,;?/%", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// Defaults for Account fields.
const (
	defaultExpires   = 3600 * time.Second
	defaultKeepAlive = 25 * time.Second
	defaultRetryMin  = 30 * time.Second
	defaultRetryMax  = 30 * time.Minute
)

// normalize checks one account and fills in its defaults. Errors name the
// field.
func (a Account) normalize() (Account, error) {
	if a.Line < 1 {
		return a, fmt.Errorf("Line %d: must be 1 or more", a.Line)
	}
	if !validUser(a.User) {
		return a, fmt.Errorf("User %q: must be a SIP user part (letters, digits, -_.!~*'()&=+$,;?/%%), at most 64 characters", a.User)
	}
	if a.AuthUser == "" {
		a.AuthUser = a.User
	}
	if strings.ContainsAny(a.AuthUser, "\"\\\r\n") {
		return a, fmt.Errorf("AuthUser %q: must not contain quotes, backslashes or line breaks", a.AuthUser)
	}
	if len(a.DisplayName) > 64 || strings.ContainsAny(a.DisplayName, "\"\\\r\n") {
		return a, fmt.Errorf("DisplayName %q: at most 64 characters, no quotes, backslashes or line breaks", a.DisplayName)
	}
	if strings.ContainsAny(a.Password, "\r\n") {
		return a, errors.New("Password: must not contain line breaks")
	}
	if _, err := parseHostPort(a.Registrar); err != nil {
		return a, fmt.Errorf("Registrar: %w", err)
	}
	if a.BackupRegistrar != "" {
		if _, err := parseHostPort(a.BackupRegistrar); err != nil {
			return a, fmt.Errorf("BackupRegistrar: %w", err)
		}
	}
	if a.Proxy != "" {
		if _, err := parseHostPort(a.Proxy); err != nil {
			return a, fmt.Errorf("Proxy: %w", err)
		}
	}
	if a.Domain != "" {
		hp, err := parseHostPort(a.Domain)
		if err != nil || hp.port != 0 {
			return a, fmt.Errorf("Domain %q: must be a host name without port", a.Domain)
		}
	}
	switch strings.ToLower(a.Transport) {
	case "", "udp":
		a.Transport = "udp"
	case "tcp":
		a.Transport = "tcp"
	case "tls":
		return a, errors.New(`Transport "tls": not supported yet (use "udp" or "tcp")`)
	default:
		return a, fmt.Errorf("Transport %q: must be \"udp\" or \"tcp\"", a.Transport)
	}
	switch {
	case a.Expires == 0:
		a.Expires = defaultExpires
	case a.Expires < time.Second:
		return a, fmt.Errorf("Expires %v: must be at least 1s", a.Expires)
	}
	if a.KeepAlive == 0 {
		a.KeepAlive = defaultKeepAlive
	}
	if a.RetryMin < 0 || a.RetryMax < 0 {
		return a, errors.New("RetryMin/RetryMax: must not be negative")
	}
	if a.RetryMin == 0 {
		a.RetryMin = defaultRetryMin
	}
	if a.RetryMax == 0 {
		a.RetryMax = max(defaultRetryMax, a.RetryMin)
	}
	if a.RetryMax < a.RetryMin {
		return a, fmt.Errorf("RetryMax %v: must not be below RetryMin %v", a.RetryMax, a.RetryMin)
	}
	return a, nil
}

// parseListen accepts "ip:port" or ":port".
func parseListen(s string) (netip.AddrPort, error) {
	if s == "" {
		return netip.AddrPort{}, errors.New("Listen: empty (want ip:port, e.g. 0.0.0.0:5060)")
	}
	host, portStr, err := net.SplitHostPort(s)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("Listen %q: %w", s, err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil || port < 0 || port > 65535 {
		return netip.AddrPort{}, fmt.Errorf("Listen %q: port must be 0-65535", s)
	}
	ip := netip.IPv4Unspecified()
	if host != "" {
		ip, err = netip.ParseAddr(host)
		if err != nil {
			return netip.AddrPort{}, fmt.Errorf("Listen %q: host must be an IP address", s)
		}
		if ip.Zone() != "" {
			return netip.AddrPort{}, fmt.Errorf("Listen %q: zoned addresses are not supported", s)
		}
	}
	return netip.AddrPortFrom(ip.Unmap(), uint16(port)), nil
}
