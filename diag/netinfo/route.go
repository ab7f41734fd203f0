package netinfo

import (
	"bufio"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"net/netip"
	"strconv"
	"strings"
)

// Route flags from <linux/route.h>; only the ones that decide whether a
// route is a usable default route.
const (
	rtfUp      = 0x0001
	rtfGateway = 0x0002
	rtfReject  = 0x0200
)

// Route is one entry of the kernel's routing table as /proc shows it.
type Route struct {
	Interface string       `json:"interface"`
	Dest      netip.Prefix `json:"dest"`
	Gateway   netip.Addr   `json:"gateway"` // invalid when the route is on-link
	Flags     uint32       `json:"flags"`
	Metric    uint32       `json:"metric"`
}

// IsDefault reports whether r is a usable default route through a router.
func (r Route) IsDefault() bool {
	return r.Dest.Bits() == 0 && r.Gateway.IsValid() && !r.Gateway.IsUnspecified() &&
		r.Flags&rtfUp != 0 && r.Flags&rtfGateway != 0 && r.Flags&rtfReject == 0
}

// ParseRoute parses /proc/net/route. The kernel prints each IPv4 address
// (a big-endian __be32) as a host-order integer, so the text differs
// between little-endian and big-endian machines: order must be the byte
// order of the machine that wrote the file (binary.NativeEndian when
// reading the live file).
func ParseRoute(r io.Reader, order binary.ByteOrder) ([]Route, error) {
	sc := bufio.NewScanner(r)
	var routes []Route
	line := 0
	for sc.Scan() {
		line++
		f := strings.Fields(sc.Text())
		if len(f) == 0 {
			continue
		}
		if line == 1 && f[0] == "Iface" {
			continue
		}
		if len(f) < 8 {
			return nil, fmt.Errorf("route line %d: %d fields, want at least 8", line, len(f))
		}
		dst, err := hexIPv4(f[1], order)
		if err != nil {
			return nil, fmt.Errorf("route line %d: destination: %w", line, err)
		}
		gw, err := hexIPv4(f[2], order)
		if err != nil {
			return nil, fmt.Errorf("route line %d: gateway: %w", line, err)
		}
		flags, err := strconv.ParseUint(f[3], 16, 32)
		if err != nil {
			return nil, fmt.Errorf("route line %d: flags %q: %w", line, f[3], err)
		}
		metric, err := strconv.ParseUint(f[6], 10, 32)
		if err != nil {
			return nil, fmt.Errorf("route line %d: metric %q: %w", line, f[6], err)
		}
		mask, err := hexIPv4(f[7], order)
		if err != nil {
			return nil, fmt.Errorf("route line %d: mask: %w", line, err)
		}
		bits, err := maskBits(mask)
		if err != nil {
			return nil, fmt.Errorf("route line %d: %w", line, err)
		}
		rt := Route{Interface: f[0], Dest: netip.PrefixFrom(dst, bits).Masked(), Flags: uint32(flags), Metric: uint32(metric)}
		if !gw.IsUnspecified() {
			rt.Gateway = gw
		}
		routes = append(routes, rt)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("route: %w", err)
	}
	return routes, nil
}

func hexIPv4(s string, order binary.ByteOrder) (netip.Addr, error) {
	if len(s) != 8 {
		return netip.Addr{}, fmt.Errorf("address %q: want 8 hex digits", s)
	}
	v, err := strconv.ParseUint(s, 16, 32)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("address %q: %w", s, err)
	}
	var b [4]byte
	order.PutUint32(b[:], uint32(v))
	return netip.AddrFrom4(b), nil
}

// maskBits turns a netmask into a prefix length, refusing masks whose ones
// are not contiguous because no prefix describes them.
func maskBits(m netip.Addr) (int, error) {
	v := binary.BigEndian.Uint32(m.AsSlice())
	ones := 0
	for v&0x80000000 != 0 {
		ones++
		v <<= 1
	}
	if v != 0 {
		return 0, fmt.Errorf("mask %s is not contiguous", m)
	}
	return ones, nil
}

// ParseIPv6Route parses /proc/net/ipv6_route, whose addresses are printed
// byte by byte and so do not depend on the machine's byte order.
func ParseIPv6Route(r io.Reader) ([]Route, error) {
	sc := bufio.NewScanner(r)
	var routes []Route
	line := 0
	for sc.Scan() {
		line++
		f := strings.Fields(sc.Text())
		if len(f) == 0 {
			continue
		}
		if len(f) != 10 {
			return nil, fmt.Errorf("ipv6_route line %d: %d fields, want 10", line, len(f))
		}
		dst, err := hexIPv6(f[0])
		if err != nil {
			return nil, fmt.Errorf("ipv6_route line %d: destination: %w", line, err)
		}
		plen, err := strconv.ParseUint(f[1], 16, 8)
		if err != nil || plen > 128 {
			return nil, fmt.Errorf("ipv6_route line %d: prefix length %q is not 0-128", line, f[1])
		}
		gw, err := hexIPv6(f[4])
		if err != nil {
			return nil, fmt.Errorf("ipv6_route line %d: next hop: %w", line, err)
		}
		metric, err := strconv.ParseUint(f[5], 16, 32)
		if err != nil {
			return nil, fmt.Errorf("ipv6_route line %d: metric %q: %w", line, f[5], err)
		}
		flags, err := strconv.ParseUint(f[8], 16, 32)
		if err != nil {
			return nil, fmt.Errorf("ipv6_route line %d: flags %q: %w", line, f[8], err)
		}
		rt := Route{Interface: f[9], Dest: netip.PrefixFrom(dst, int(plen)).Masked(), Flags: uint32(flags), Metric: uint32(metric)}
		if !gw.IsUnspecified() {
			rt.Gateway = gw
		}
		routes = append(routes, rt)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("ipv6_route: %w", err)
	}
	return routes, nil
}

func hexIPv6(s string) (netip.Addr, error) {
	if len(s) != 32 {
		return netip.Addr{}, fmt.Errorf("address %q: want 32 hex digits", s)
	}
	var b [16]byte
	if _, err := hex.Decode(b[:], []byte(s)); err != nil {
		return netip.Addr{}, fmt.Errorf("address %q: %w", s, err)
	}
	return netip.AddrFrom16(b), nil
}

// DefaultRoute picks the default route the kernel would use: the usable
// one with the lowest metric (ties go to the first listed, as the kernel's
// table order does).
func DefaultRoute(routes []Route) (Route, bool) {
	var best Route
	found := false
	for _, r := range routes {
		if !r.IsDefault() {
			continue
		}
		if !found || r.Metric < best.Metric {
			best, found = r, true
		}
	}
	return best, found
}
