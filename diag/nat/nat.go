// Package nat collects evidence about the Internet connection as seen from
// outside: the public address and port a STUN server sees, the NAT's
// mapping and filtering behaviour (RFC 5780), carrier-grade and double NAT,
// the connection type suggested by round-trip times, and the ISP suggested
// by the public address's reverse DNS name.
package nat

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"time"
)

// Mapping and filtering behaviours, RFC 4787 section 4.1 and 5 terms.
const (
	EndpointIndependent     = "endpoint-independent"
	AddressDependent        = "address-dependent"
	AddressAndPortDependent = "address-and-port-dependent"
	Unknown                 = "unknown"
)

// NotAvailable is Report.BehaviourNote when the server cannot run the
// RFC 5780 tests.
const NotAvailable = "not available from this server"

// Options tune Collect.
type Options struct {
	// Server is the STUN server, host:port ([diag] stun).
	Server string
	// RouterExternal is the external address the router reported over UPnP,
	// if known: comparing it with the STUN address reveals NATs beyond the
	// router.
	RouterExternal netip.Addr
	// LocalAddr is the local IPv4 address:port to send from; default any.
	LocalAddr string
	// Timeout bounds one STUN transaction, retransmissions included; a test
	// that gets no answer costs this much. Default 800 ms.
	Timeout time.Duration
	// RTTSamples is how many extra Binding requests measure the round trip
	// to the server; default 3.
	RTTSamples int
	// LifetimeProbes, when set, opts in to the binding lifetime test
	// (RFC 5780 section 4.6): for each idle time, ascending, a fresh mapping
	// is made, left idle, and the server asked to answer to it. It takes
	// the sum of the probes and needs a server that honours RESPONSE-PORT.
	LifetimeProbes []time.Duration
	// Resolver resolves Server; default net.DefaultResolver.
	Resolver *net.Resolver
	Logger   *slog.Logger
}

// Behaviour is the NAT behaviour found by the RFC 5780 tests.
type Behaviour struct {
	// Mapping and Filtering are one of the constants above.
	Mapping   string `json:"mapping"`
	Filtering string `json:"filtering"`
	// NoNAT is true when the mapped address is our own: no NAT on the path.
	NoNAT bool `json:"no_nat"`
}

// Report is what the STUN server showed.
type Report struct {
	Server     string         `json:"server"`
	ServerAddr netip.AddrPort `json:"server_addr"`
	Local      netip.AddrPort `json:"local"`
	// Mapped is the public address and port the server saw.
	Mapped netip.AddrPort `json:"mapped"`
	// Behaviour is nil when the tests could not run; BehaviourNote says why.
	Behaviour     *Behaviour `json:"behaviour"`
	BehaviourNote string     `json:"behaviour_note"`
	CGNAT         bool       `json:"cgnat"`
	DoubleNAT     bool       `json:"double_nat"`
	// RTTs are round trips to the server, retransmissions excluded.
	RTTs []time.Duration `json:"rtts_ns"`
	// BindingLifetime is the longest probed idle time after which the
	// mapping still worked; BindingExpired the shortest after which it did
	// not (zero if none did). Both zero when not measured.
	BindingLifetime time.Duration `json:"binding_lifetime_ns"`
	BindingExpired  time.Duration `json:"binding_expired_ns"`
	// Evidence holds plain-words lines for the summary.
	Evidence []string `json:"evidence"`
	Errors   []string `json:"errors"`
}

func (o *Options) defaults() error {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Resolver == nil {
		o.Resolver = net.DefaultResolver
	}
	if o.Timeout <= 0 {
		o.Timeout = 800 * time.Millisecond
	}
	if o.RTTSamples <= 0 {
		o.RTTSamples = 3
	}
	if o.LocalAddr == "" {
		o.LocalAddr = "0.0.0.0:0"
	}
	if o.Server == "" {
		return errors.New("nat: no STUN server configured")
	}
	if _, _, err := net.SplitHostPort(o.Server); err != nil {
		return fmt.Errorf("nat: STUN server %q: %w", o.Server, err)
	}
	for i := 1; i < len(o.LifetimeProbes); i++ {
		if o.LifetimeProbes[i] <= o.LifetimeProbes[i-1] {
			return fmt.Errorf("nat: lifetime probes must be ascending: %v", o.LifetimeProbes)
		}
	}
	return nil
}

func (o *Options) resolve(ctx context.Context) (netip.AddrPort, error) {
	host, portStr, _ := net.SplitHostPort(o.Server)
	port, err := strconv.ParseUint(portStr, 10, 16)
	if err != nil || port == 0 {
		return netip.AddrPort{}, fmt.Errorf("nat: STUN server %q: bad port", o.Server)
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		if !ip.Unmap().Is4() {
			return netip.AddrPort{}, fmt.Errorf("nat: STUN server %q: NAT tests run over IPv4", o.Server)
		}
		return netip.AddrPortFrom(ip.Unmap(), uint16(port)), nil
	}
	ips, err := o.Resolver.LookupNetIP(ctx, "ip4", host)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("nat: resolve STUN server %q: %w", host, err)
	}
	if len(ips) == 0 {
		return netip.AddrPort{}, fmt.Errorf("nat: STUN server %q has no IPv4 address", host)
	}
	return netip.AddrPortFrom(ips[0].Unmap(), uint16(port)), nil
}

// Collect asks the STUN server. It returns an error only for bad options
// or when no socket could be opened; a silent server gives a Report with
// Errors.
func Collect(ctx context.Context, opts Options) (Report, error) {
	if err := opts.defaults(); err != nil {
		return Report{}, err
	}
	rep := Report{Server: opts.Server}
	srv, err := opts.resolve(ctx)
	if err != nil {
		rep.Errors = append(rep.Errors, err.Error())
		judge(&rep, opts.RouterExternal)
		return rep, nil
	}
	rep.ServerAddr = srv

	mp, err := newProber(opts.LocalAddr, opts.Timeout)
	if err != nil {
		return rep, fmt.Errorf("nat: %w", err)
	}
	defer mp.Close()
	rep.Local = mp.local()

	first, err := mp.do(ctx, srv)
	if err != nil {
		rep.Errors = append(rep.Errors, err.Error())
		judge(&rep, opts.RouterExternal)
		return rep, nil
	}
	rep.Mapped = first.mapped
	opts.Logger.Debug("STUN mapped", "server", srv, "mapped", rep.Mapped)
	if first.rtt > 0 {
		rep.RTTs = append(rep.RTTs, first.rtt)
	}

	local := ourAddress(mp.local(), srv)
	noNAT := local.IsValid() && local == rep.Mapped
	other := first.other
	switch {
	case !other.IsValid():
		rep.BehaviourNote = NotAvailable + " (no OTHER-ADDRESS)"
	case other.Addr() == srv.Addr() || other.Port() == srv.Port():
		rep.BehaviourNote = NotAvailable + fmt.Sprintf(" (OTHER-ADDRESS %s does not differ in both address and port)", other)
	}

	var b Behaviour
	var wg sync.WaitGroup
	var filterErrs []string
	if rep.BehaviourNote == "" {
		// Filtering needs a fresh mapping: the mapping tests send to the
		// other address, which opens any NAT's filter to it.
		fp, err := newProber(opts.LocalAddr, opts.Timeout)
		if err != nil {
			return rep, fmt.Errorf("nat: %w", err)
		}
		defer fp.Close()
		wg.Go(func() { b.Filtering, filterErrs = filtering(ctx, fp, srv, other) })
	}
	var mapErrs []string
	if rep.BehaviourNote == "" {
		if noNAT {
			b.Mapping, b.NoNAT = EndpointIndependent, true
		} else {
			b.Mapping, mapErrs = mapping(ctx, mp, srv, other, rep.Mapped)
		}
	}
	for range opts.RTTSamples {
		if r, err := mp.do(ctx, srv); err == nil && r.rtt > 0 {
			rep.RTTs = append(rep.RTTs, r.rtt)
		}
	}
	wg.Wait()
	if rep.BehaviourNote == "" {
		rep.Behaviour = &b
		rep.Errors = append(rep.Errors, mapErrs...)
		rep.Errors = append(rep.Errors, filterErrs...)
	}

	if len(opts.LifetimeProbes) > 0 {
		lifetime(ctx, opts, srv, &rep)
	}
	judge(&rep, opts.RouterExternal)
	return rep, nil
}

// ourAddress is the local address packets to srv leave from. When the
// socket is bound to the wildcard, a connected UDP socket (which sends
// nothing) asks the kernel's routing table.
func ourAddress(bound, srv netip.AddrPort) netip.AddrPort {
	if !bound.Addr().IsUnspecified() {
		return bound
	}
	c, err := net.DialUDP("udp4", nil, net.UDPAddrFromAddrPort(srv))
	if err != nil {
		return netip.AddrPort{}
	}
	defer c.Close()
	ip := c.LocalAddr().(*net.UDPAddr).AddrPort().Addr()
	return netip.AddrPortFrom(ip.Unmap(), bound.Port())
}

// mapping runs RFC 5780 section 4.3 tests II and III; test I (mapped1) is
// already done on p.
func mapping(ctx context.Context, p *prober, srv, other, mapped1 netip.AddrPort) (string, []string) {
	r2, err := p.do(ctx, netip.AddrPortFrom(other.Addr(), srv.Port()))
	if err != nil {
		return Unknown, []string{"mapping test II: " + err.Error()}
	}
	if r2.mapped == mapped1 {
		return EndpointIndependent, nil
	}
	r3, err := p.do(ctx, other)
	if err != nil {
		return Unknown, []string{"mapping test III: " + err.Error()}
	}
	if r3.mapped == r2.mapped {
		return AddressDependent, nil
	}
	return AddressAndPortDependent, nil
}

// filtering runs RFC 5780 section 4.4 tests II and III on a fresh mapping.
// An answer's source address is checked: a server that ignores
// CHANGE-REQUEST answers from its primary address, and taking that for a
// pass would report an open NAT that is not.
func filtering(ctx context.Context, p *prober, srv, other netip.AddrPort) (string, []string) {
	r, err := p.do(ctx, srv, ChangeRequest{ChangeIP: true, ChangePort: true})
	switch {
	case err == nil && r.from == other:
		return EndpointIndependent, nil
	case err == nil:
		return Unknown, []string{fmt.Sprintf("filtering test II: asked to answer from %s, server answered from %s (CHANGE-REQUEST ignored)", other, r.from)}
	case !errors.Is(err, errNoAnswer):
		return Unknown, []string{"filtering test II: " + err.Error()}
	}
	want := netip.AddrPortFrom(srv.Addr(), other.Port())
	r, err = p.do(ctx, srv, ChangeRequest{ChangePort: true})
	switch {
	case err == nil && r.from == want:
		return AddressDependent, nil
	case err == nil:
		return Unknown, []string{fmt.Sprintf("filtering test III: asked to answer from %s, server answered from %s (CHANGE-REQUEST ignored)", want, r.from)}
	case errors.Is(err, errNoAnswer):
		return AddressAndPortDependent, nil
	}
	return Unknown, []string{"filtering test III: " + err.Error()}
}
