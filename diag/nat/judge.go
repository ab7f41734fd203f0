package nat

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/pion/stun/v3"
)

// InSharedSpace reports whether a is in RFC 6598's shared address space,
// 100.64.0.0/10, which carriers use between their NAT and the customer's
// router: the mark of carrier-grade NAT.
func InSharedSpace(a netip.Addr) bool {
	return netip.PrefixFrom(netip.AddrFrom4([4]byte{100, 64, 0, 0}), 10).Contains(a)
}

// private reports addresses that cannot be a router's Internet-facing
// address without another NAT beyond it.
func private(a netip.Addr) bool {
	return a.IsPrivate() || InSharedSpace(a) || a.IsLinkLocalUnicast() || a.IsLoopback()
}

// judge turns the observations into CGNAT, double-NAT and plain-words
// evidence.
func judge(rep *Report, router netip.Addr) {
	say := func(format string, args ...any) { rep.Evidence = append(rep.Evidence, fmt.Sprintf(format, args...)) }
	mapped := rep.Mapped.Addr()
	if rep.Mapped.IsValid() {
		say("the STUN server %s sees us as %s", rep.Server, rep.Mapped)
		switch {
		case InSharedSpace(mapped):
			rep.CGNAT = true
			say("that address is in the carriers' shared space 100.64.0.0/10: carrier-grade NAT")
		case mapped.IsPrivate():
			say("that address is private, so the STUN server is not on the Internet: its view says nothing about the ISP")
		}
	}
	router = router.Unmap()
	if router.IsValid() {
		switch {
		case InSharedSpace(router):
			rep.CGNAT, rep.DoubleNAT = true, true
			say("the router's external address %s is in the carriers' shared space: the ISP's carrier-grade NAT sits beyond the router", router)
		case private(router):
			rep.DoubleNAT = true
			say("the router's external address %s is private: another NAT (a second router, or the ISP's modem-router) sits in front of it", router)
		case rep.Mapped.IsValid() && router != mapped:
			rep.CGNAT = true
			say("the router's external address %s differs from the address the STUN server sees (%s): a NAT beyond the router, most likely the ISP's", router, mapped)
		case rep.Mapped.IsValid():
			say("the router's external address is the public address: the router is the only NAT")
		}
	}
	if b := rep.Behaviour; b != nil {
		switch {
		case b.NoNAT:
			say("no NAT between this device and the STUN server")
		default:
			say("NAT mapping %s, filtering %s", b.Mapping, b.Filtering)
		}
		if b.Mapping == AddressDependent || b.Mapping == AddressAndPortDependent {
			say("the mapping changes with the destination (a \"symmetric\" NAT): the address learned from one server is wrong for another, so media needs the SIP server's relay or the keep-alives of one fixed peer")
		}
	} else if rep.BehaviourNote != "" {
		say("NAT behaviour discovery: %s", rep.BehaviourNote)
	}
	if len(rep.RTTs) > 0 {
		kind, conf, why := ClassifyRTT(rep.RTTs)
		say("round trips to the STUN server: %s (connection type %q, confidence %.1f)", why, kind, conf)
	}
	if rep.BindingLifetime > 0 || rep.BindingExpired > 0 {
		switch {
		case rep.BindingExpired > 0 && rep.BindingLifetime > 0:
			say("the NAT keeps an idle UDP mapping at least %v but less than %v: SIP keep-alives must come more often", rep.BindingLifetime, rep.BindingExpired)
		case rep.BindingExpired > 0:
			say("the NAT dropped an idle UDP mapping within %v: SIP keep-alives must come more often", rep.BindingExpired)
		default:
			say("the NAT keeps an idle UDP mapping at least %v", rep.BindingLifetime)
		}
	}
}

// lifetime runs the opt-in binding lifetime test (RFC 5780 section 4.6).
// For each idle time a fresh socket X makes a mapping and stays quiet; then
// a second socket asks the server, with RESPONSE-PORT, to answer to X's
// mapped port. The answer reaches X only while the NAT still holds X's
// mapping. A first probe with no idle time checks that the server honours
// RESPONSE-PORT at all, so that a server that ignores it is not mistaken
// for a NAT with a short memory.
func lifetime(ctx context.Context, opts Options, srv netip.AddrPort, rep *Report) {
	probes := append([]time.Duration{0}, opts.LifetimeProbes...)
	for _, idle := range probes {
		held, err := lifetimeProbe(ctx, opts, srv, idle)
		switch {
		case err != nil:
			rep.Errors = append(rep.Errors, fmt.Sprintf("binding lifetime after %v: %v", idle, err))
			return
		case !held && idle == 0:
			rep.Errors = append(rep.Errors, "binding lifetime: the server does not honour RESPONSE-PORT; not measured")
			return
		case !held:
			rep.BindingExpired = idle
			return
		}
		rep.BindingLifetime = idle
	}
}

func lifetimeProbe(ctx context.Context, opts Options, srv netip.AddrPort, idle time.Duration) (bool, error) {
	x, err := newProber(opts.LocalAddr, opts.Timeout)
	if err != nil {
		return false, err
	}
	defer x.Close()
	r, err := x.do(ctx, srv)
	if err != nil {
		return false, err
	}
	t := time.NewTimer(idle)
	select {
	case <-ctx.Done():
		t.Stop()
		return false, ctx.Err()
	case <-t.C:
	}
	y, err := newProber(opts.LocalAddr, opts.Timeout)
	if err != nil {
		return false, err
	}
	defer y.Close()
	req := stun.New()
	if err := req.Build(stun.TransactionID, stun.BindingRequest, ResponsePort(r.mapped.Port()), stun.Fingerprint); err != nil {
		return false, fmt.Errorf("build request: %w", err)
	}
	_, err = y.exchange(ctx, req, srv, x.conn)
	var se errServer
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, errNoAnswer):
		return false, nil
	case errors.As(err, &se):
		// 420: RESPONSE-PORT unknown; the error went to X, so it is also
		// proof that the attribute was not understood.
		return false, nil
	}
	return false, err
}
