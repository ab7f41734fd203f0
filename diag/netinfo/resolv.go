package netinfo

import (
	"bufio"
	"fmt"
	"io"
	"net/netip"
	"strings"
)

// Resolver is what resolv.conf says about name resolution.
type Resolver struct {
	Servers []netip.Addr `json:"servers"`
	Search  []string     `json:"search,omitempty"`
}

// ParseResolvConf parses resolv.conf(5). Only nameserver, search and
// domain matter for support; other options are ignored as the C library
// ignores what it does not know. A nameserver that is not an address is an
// error because the resolver would skip it silently and the customer's DNS
// would be broken without a trace.
func ParseResolvConf(r io.Reader) (Resolver, error) {
	var res Resolver
	sc := bufio.NewScanner(r)
	line := 0
	for sc.Scan() {
		line++
		text := sc.Text()
		if i := strings.IndexAny(text, "#;"); i >= 0 {
			text = text[:i]
		}
		f := strings.Fields(text)
		if len(f) == 0 {
			continue
		}
		switch f[0] {
		case "nameserver":
			if len(f) < 2 {
				return Resolver{}, fmt.Errorf("resolv.conf line %d: nameserver without an address", line)
			}
			a, err := netip.ParseAddr(f[1])
			if err != nil {
				return Resolver{}, fmt.Errorf("resolv.conf line %d: nameserver %q: %w", line, f[1], err)
			}
			res.Servers = append(res.Servers, a)
		case "search", "domain":
			// The last search or domain line wins, as in the C library.
			res.Search = append([]string(nil), f[1:]...)
		}
	}
	if err := sc.Err(); err != nil {
		return Resolver{}, fmt.Errorf("resolv.conf: %w", err)
	}
	return res, nil
}

// stubOnly reports whether every server is a local stub resolver (such as
// systemd-resolved's 127.0.0.53), which tells support nothing about the
// network's real DNS.
func (r Resolver) stubOnly() bool {
	if len(r.Servers) == 0 {
		return false
	}
	for _, a := range r.Servers {
		if !a.IsLoopback() {
			return false
		}
	}
	return true
}
