package sip

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"slices"
	"strings"
)

// target is one concrete place a request can be sent to.
type target struct {
	addr netip.AddrPort
	// name is where the address came from (configured host or SRV target),
	// for status and logs.
	name string
	// backup marks targets of Account.BackupRegistrar.
	backup bool
}

// family limits resolution to the address family the listening socket can
// reach: a socket on 127.0.0.1 cannot send to ::1.
type family int

const (
	familyV4 family = iota + 1
	familyV6
	familyAny
)

func familyOf(listen netip.Addr) family {
	switch {
	case listen.Is4():
		return familyV4
	case listen.IsUnspecified(): // "::" is dual-stack on Linux
		return familyAny
	default:
		return familyV6
	}
}

func (f family) network() string {
	switch f {
	case familyV4:
		return "ip4"
	case familyV6:
		return "ip6"
	}
	return "ip"
}

func (f family) allows(a netip.Addr) bool {
	a = a.Unmap()
	switch f {
	case familyV4:
		return a.Is4()
	case familyV6:
		return a.Is6()
	}
	return true
}

// resolveHost turns a configured host[:port] into targets, in the order they
// should be tried. An IP literal is used as is. A name with a port gets
// A/AAAA lookups. A name without a port is looked up as SRV first
// (RFC 3263): every SRV target is kept, ordered by priority and weight
// (RFC 2782), so failover can walk them all; without SRV records the name's
// A/AAAA records on port 5060 are used.
func resolveHost(ctx context.Context, r Resolver, hp hostPort, transport string, fam family) ([]target, error) {
	if ip, err := netip.ParseAddr(hp.host); err == nil {
		ip = ip.Unmap()
		if !fam.allows(ip) {
			return nil, fmt.Errorf("%s: address family not reachable from the listening address", hp.host)
		}
		return []target{{addr: netip.AddrPortFrom(ip, uint16(cmp.Or(hp.port, 5060))), name: hp.String()}}, nil
	}
	if hp.port != 0 {
		return lookupAddrs(ctx, r, hp.host, uint16(hp.port), fam)
	}
	_, srvs, srvErr := r.LookupSRV(ctx, "sip", transport, hp.host)
	if srvErr == nil && len(srvs) == 1 && (srvs[0].Target == "." || srvs[0].Target == "") {
		return nil, fmt.Errorf("SRV _sip._%s.%s says the service is not available", transport, hp.host)
	}
	if srvErr == nil && len(srvs) > 0 {
		var out []target
		var lastErr error
		for _, s := range orderSRV(srvs) {
			ts, err := lookupAddrs(ctx, r, strings.TrimSuffix(s.Target, "."), s.Port, fam)
			if err != nil {
				lastErr = err
				continue
			}
			out = append(out, ts...)
		}
		if len(out) == 0 {
			return nil, fmt.Errorf("SRV _sip._%s.%s: no target resolved: %w", transport, hp.host, lastErr)
		}
		return out, nil
	}
	ts, err := lookupAddrs(ctx, r, hp.host, 5060, fam)
	if err != nil {
		if srvErr != nil {
			return nil, errors.Join(fmt.Errorf("SRV _sip._%s.%s: %w", transport, hp.host, srvErr), err)
		}
		return nil, err
	}
	return ts, nil
}

func lookupAddrs(ctx context.Context, r Resolver, host string, port uint16, fam family) ([]target, error) {
	ips, err := r.LookupNetIP(ctx, fam.network(), host)
	if err != nil {
		return nil, fmt.Errorf("look up %s: %w", host, err)
	}
	var out []target
	seen := map[netip.Addr]bool{}
	for _, ip := range ips {
		ip = ip.Unmap()
		if !ip.IsValid() || !fam.allows(ip) || seen[ip] {
			continue
		}
		seen[ip] = true
		out = append(out, target{addr: netip.AddrPortFrom(ip, port), name: net.JoinHostPort(host, fmt.Sprint(port))})
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("look up %s: no usable address", host)
	}
	return out, nil
}

// orderSRV sorts records by priority and, within a priority, draws them in
// weighted random order as RFC 2782 describes, so load spreads as the zone
// owner intended. It does not rely on the resolver having done so.
func orderSRV(in []*net.SRV) []*net.SRV {
	recs := slices.Clone(in)
	recs = slices.DeleteFunc(recs, func(s *net.SRV) bool { return s == nil })
	slices.SortStableFunc(recs, func(a, b *net.SRV) int { return cmp.Compare(a.Priority, b.Priority) })
	out := make([]*net.SRV, 0, len(recs))
	for i := 0; i < len(recs); {
		j := i
		for j < len(recs) && recs[j].Priority == recs[i].Priority {
			j++
		}
		group := recs[i:j]
		// Zero-weight records go first so they keep a small chance, as the
		// RFC's selection algorithm arranges.
		slices.SortStableFunc(group, func(a, b *net.SRV) int {
			return cmp.Compare(min(a.Weight, 1), min(b.Weight, 1))
		})
		for len(group) > 0 {
			total := 0
			for _, s := range group {
				total += int(s.Weight)
			}
			pick := 0
			if total > 0 {
				n := rand.IntN(total + 1)
				run := 0
				for k, s := range group {
					run += int(s.Weight)
					if run >= n {
						pick = k
						break
					}
				}
			}
			out = append(out, group[pick])
			group = slices.Delete(group, pick, pick+1)
		}
		i = j
	}
	return out
}
