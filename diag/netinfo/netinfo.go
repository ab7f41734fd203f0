// Package netinfo collects the network evidence of the support checklist:
// the box's interfaces, default gateway (and who made it), DNS servers and
// DHCP lease (collector 5), latency, jitter and loss without ICMP
// privileges, and a census of the home network from the neighbour table,
// SSDP and mDNS (collector 8).
//
// Where each piece comes from, on Linux:
//
//   - interfaces: net.Interfaces (rtnetlink), with kind, state and speed
//     from /sys/class/net/IF/{uevent,type,operstate,speed};
//   - gateways: /proc/net/route (printed in the machine's byte order) and
//     /proc/net/ipv6_route, lowest-metric usable default route;
//   - DNS: /etc/resolv.conf, or /run/systemd/resolve/resolv.conf when the
//     former names only a local stub such as 127.0.0.53;
//   - DHCP lease: dhclient (/var/lib/dhcp/dhclient*.leases,
//     /var/lib/dhclient/, /var/lib/NetworkManager/dhclient-*.lease),
//     systemd-networkd (/run/systemd/netif/leases/IFINDEX) and
//     NetworkManager's internal client (/var/lib/NetworkManager/
//     internal-*.lease). dhcpcd's lease is a raw DHCP packet and is only
//     noted; udhcpc (BusyBox, OpenWrt) keeps no lease file, so there the
//     lease is reported as unknown, with the reason;
//   - neighbours: /proc/net/arp for IPv4 and an RTM_GETNEIGH dump for both
//     families (there is no /proc file for the IPv6 table); makers from the
//     curated OUI table in oui.txt;
//   - SSDP: an M-SEARCH for ssdp:all, and the description at LOCATION
//     when it is on the answering LAN host itself;
//   - mDNS: a legacy-unicast query for the DNS-SD service enumeration and
//     common service types;
//   - probes: UDP to a closed port, timed to the ICMP port-unreachable that
//     Linux reports as ECONNREFUSED on a connected socket, else TCP
//     connection timing. A router rate-limits its ICMP errors (Linux: a
//     burst of about 6, then one a second), so long fast series to a
//     gateway may show loss the line does not have.
//
// Files are read under Options.Root and the kernel is reached through the
// Kernel seam, so tests run on invented fixtures. Nothing is sent unless
// the caller names a destination: DeviceOptions names the real multicast
// groups and probes the gateway; tests point at loopback responders.
package netinfo

import (
	"cmp"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/tipring/tipring/internal/order"
)

// Report is the network evidence.
type Report struct {
	Interfaces []Interface   `json:"interfaces"`
	Gateway    *Gateway      `json:"gateway"`  // the IPv4 default gateway
	Gateway6   *Gateway      `json:"gateway6"` // the IPv6 default gateway
	DNS        []netip.Addr  `json:"dns"`
	DNSSearch  []string      `json:"dns_search,omitempty"`
	DNSSource  string        `json:"dns_source,omitempty"` // the file DNS came from
	DHCP       *Lease        `json:"dhcp"`
	DHCPNote   string        `json:"dhcp_note,omitempty"` // where leases were looked for, and what was found
	Neighbours []Neighbour   `json:"neighbours"`
	Hosts      int           `json:"hosts"`   // distinct devices that answered on the local links
	Routers    int           `json:"routers"` // of those, how many look like routers or gateways
	SSDP       []SSDPDevice  `json:"ssdp"`
	MDNS       []MDNSService `json:"mdns"`
	Probes     []ProbeReport `json:"probes"`
	Errors     []string      `json:"errors,omitempty"`
	Took       time.Duration `json:"took_ns"`
	Routes     []Route       `json:"routes,omitempty"`
	_          struct{}      `json:"-"`
}

// Gateway is a default router and what the neighbour table and OUI table
// say about it.
type Gateway struct {
	Addr       netip.Addr `json:"addr"`
	Interface  string     `json:"interface"`
	Metric     uint32     `json:"metric"`
	MAC        string     `json:"mac,omitempty"`
	Vendor     string     `json:"vendor,omitempty"`
	VendorKind string     `json:"vendor_kind,omitempty"`
}

// ProbeTarget names something to measure the path to.
type ProbeTarget struct {
	Name    string // "gateway", "dns", "sip"
	Addr    netip.AddrPort
	TCPPort uint16 // TCP fallback port; default Addr's port
	Payload []byte // UDP payload; default a short marker
}

// ProbeReport is a probe series to a named target.
type ProbeReport struct {
	Name string `json:"name"`
	ProbeResult
	Error string `json:"error,omitempty"`
}

// Options tell Collect where to read and where it may send.
type Options struct {
	// Root is the filesystem root under which /proc, /sys, /etc, /run and
	// /var are read; "" means "/".
	Root string
	// Kernel answers interface addresses and the neighbour table; nil
	// means this machine's kernel (SystemKernel).
	Kernel Kernel
	// SSDPAddr and MDNSAddr are where discovery queries go; the zero value
	// skips that discovery. On a device use SSDPGroup and MDNSGroup.
	SSDPAddr netip.AddrPort
	MDNSAddr netip.AddrPort
	// Wait is how long to listen for discovery answers; default 1.5 s.
	Wait time.Duration
	// ProbeGateway adds the default gateway (UDP 33434, TCP 80) and the
	// first DNS server (a DNS query on UDP 53, TCP 53) to ProbeTargets.
	ProbeGateway bool
	ProbeTargets []ProbeTarget
	Probe        ProbeOptions // count, interval and timeout for every target
	Logger       *slog.Logger

	// routeOrder is the byte order of proc/net/route; nil means this
	// machine's. Tests set it so little-endian fixtures read the same on a
	// big-endian machine.
	routeOrder binary.ByteOrder
}

// DeviceOptions are the options for a real device: the real discovery
// groups, and probes to the gateway and DNS server sized so that the whole
// collection fits the bundle's 5 s.
func DeviceOptions() Options {
	return Options{
		Root:         "/",
		SSDPAddr:     netip.MustParseAddrPort(SSDPGroup),
		MDNSAddr:     netip.MustParseAddrPort(MDNSGroup),
		Wait:         1500 * time.Millisecond,
		ProbeGateway: true,
		Probe:        ProbeOptions{Count: 5, Interval: 200 * time.Millisecond, Timeout: 700 * time.Millisecond},
	}
}

// collector carries one collection's state; Collect's goroutines append
// errors under mu.
type collector struct {
	root  string
	log   *slog.Logger
	order binary.ByteOrder
	mu    sync.Mutex
	rep   Report
}

func (c *collector) fail(what string, err error) {
	c.log.Debug("netinfo", "part", what, "err", err)
	c.mu.Lock()
	c.rep.Errors = append(c.rep.Errors, fmt.Sprintf("%s: %v", what, err))
	c.mu.Unlock()
}

func (c *collector) path(p string) string { return filepath.Join(c.root, p) }

// Collect gathers the network evidence. Parts that fail are recorded in
// Report.Errors and the rest is still returned; the error is set only when
// ctx ended first (the report then holds what was gathered by then).
func Collect(ctx context.Context, opts Options) (Report, error) {
	start := time.Now()
	if opts.Wait < 0 {
		return Report{}, errors.New("netinfo: Wait must not be negative")
	}
	wait := cmp.Or(opts.Wait, 1500*time.Millisecond)
	c, kernel := newCollector(opts)

	c.interfaces(kernel)
	c.routes()
	c.dns()
	c.dhcp()
	c.neighbours(kernel)

	var wg sync.WaitGroup
	if opts.SSDPAddr.IsValid() {
		wg.Go(func() { c.ssdp(ctx, opts.SSDPAddr, wait) })
	}
	if opts.MDNSAddr.IsValid() {
		wg.Go(func() {
			svcs, err := BrowseMDNS(ctx, opts.MDNSAddr, wait)
			c.mu.Lock()
			c.rep.MDNS = svcs
			c.mu.Unlock()
			if err != nil {
				c.fail("mdns", err)
			}
		})
	}
	targets := append([]ProbeTarget(nil), opts.ProbeTargets...)
	if opts.ProbeGateway {
		targets = append(c.defaultTargets(), targets...)
	}
	probes := make([]ProbeReport, len(targets))
	for i, t := range targets {
		wg.Go(func() {
			po := opts.Probe
			po.TCPPort, po.Payload = t.TCPPort, t.Payload
			r, err := ProbeWith(ctx, t.Addr, po)
			probes[i] = ProbeReport{Name: t.Name, ProbeResult: r}
			if err != nil {
				probes[i].Error = err.Error()
			}
		})
	}
	wg.Wait()
	c.rep.Probes = probes
	c.rep.Took = time.Since(start)
	if err := ctx.Err(); err != nil {
		return c.rep, fmt.Errorf("netinfo: %w", err)
	}
	return c.rep, nil
}

// CurrentLease is the DHCP lease of the default route's interface and the
// note on where it was looked for, as Collect reports them, without the
// rest of the collection (neighbours, discovery, probes): a device waiting
// for its provisioning URL asks for it again and again.
func CurrentLease(opts Options) (*Lease, string) {
	c, kernel := newCollector(opts)
	c.interfaces(kernel)
	c.routes()
	c.dhcp()
	return c.rep.DHCP, c.rep.DHCPNote
}

func newCollector(opts Options) (*collector, Kernel) {
	c := &collector{root: cmp.Or(opts.Root, "/"), log: opts.Logger, order: opts.routeOrder}
	if c.order == nil {
		c.order = binary.NativeEndian
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	kernel := opts.Kernel
	if kernel == nil {
		kernel = SystemKernel{}
	}
	return c, kernel
}

func (c *collector) interfaces(k Kernel) {
	ifs, err := k.Interfaces()
	if err != nil {
		c.fail("interfaces", err)
		return
	}
	for i := range ifs {
		sysfsDetails(c.root, &ifs[i])
	}
	c.rep.Interfaces = ifs
}

func (c *collector) routes() {
	f, err := os.Open(c.path("proc/net/route"))
	if err != nil {
		c.fail("ipv4 routes", err)
	} else {
		rs, err := ParseRoute(f, c.order)
		f.Close()
		if err != nil {
			c.fail("ipv4 routes", err)
		}
		c.rep.Routes = append(c.rep.Routes, rs...)
		if r, ok := DefaultRoute(rs); ok {
			c.rep.Gateway = &Gateway{Addr: r.Gateway, Interface: r.Interface, Metric: r.Metric}
		}
	}
	f, err = os.Open(c.path("proc/net/ipv6_route"))
	if errors.Is(err, fs.ErrNotExist) {
		return // IPv6 is disabled in this kernel: nothing to report
	}
	if err != nil {
		c.fail("ipv6 routes", err)
		return
	}
	rs, err := ParseIPv6Route(f)
	f.Close()
	if err != nil {
		c.fail("ipv6 routes", err)
	}
	c.rep.Routes = append(c.rep.Routes, rs...)
	if r, ok := DefaultRoute(rs); ok {
		c.rep.Gateway6 = &Gateway{Addr: r.Gateway, Interface: r.Interface, Metric: r.Metric}
	}
}

func (c *collector) dns() {
	read := func(p string) (Resolver, error) {
		f, err := os.Open(c.path(p))
		if err != nil {
			return Resolver{}, err
		}
		defer f.Close()
		return ParseResolvConf(f)
	}
	res, err := read("etc/resolv.conf")
	if err != nil {
		c.fail("dns", err)
		return
	}
	c.rep.DNS, c.rep.DNSSearch, c.rep.DNSSource = res.Servers, res.Search, "/etc/resolv.conf"
	if res.stubOnly() {
		// A local stub (systemd-resolved) hides the real servers; it keeps
		// them in its own file.
		if up, err := read("run/systemd/resolve/resolv.conf"); err == nil && len(up.Servers) > 0 {
			c.rep.DNS, c.rep.DNSSearch, c.rep.DNSSource = up.Servers, up.Search, "/run/systemd/resolve/resolv.conf (behind the local stub resolver)"
		}
	}
}

// dhcp looks for the lease of the gateway's interface where the common
// clients keep one, and says plainly where it looked when it finds none.
func (c *collector) dhcp() {
	iface := ""
	if c.rep.Gateway != nil {
		iface = c.rep.Gateway.Interface
	}
	index := 0
	for _, it := range c.rep.Interfaces {
		if it.Name == iface {
			index = it.Index
		}
	}
	var cands []Lease
	glob := func(pattern string) []string {
		m, _ := filepath.Glob(c.path(pattern)) // only ErrBadPattern, and the patterns are fixed
		return m
	}
	for _, p := range slices.Concat(glob("var/lib/dhcp/dhclient*.leases"), glob("var/lib/dhclient/*.lease*"), glob("var/lib/NetworkManager/dhclient-*.lease")) {
		f, err := os.Open(p)
		if err != nil {
			c.fail("dhcp", err)
			continue
		}
		ls, err := ParseDhclientLeases(f)
		f.Close()
		if err != nil {
			c.fail("dhcp "+c.rel(p), err)
			continue
		}
		for _, l := range ls {
			if iface == "" || l.Interface == "" || l.Interface == iface {
				l.Source = c.rel(p)
				cands = append(cands, l)
			}
		}
	}
	for _, p := range slices.Concat(glob("run/systemd/netif/leases/*"), glob("var/lib/NetworkManager/internal-*.lease")) {
		base := filepath.Base(p)
		// networkd names the file by interface index, NetworkManager ends
		// it with the interface name.
		if iface != "" && base != fmt.Sprint(index) && !strings.HasSuffix(base, "-"+iface+".lease") {
			continue
		}
		st, err := os.Stat(p)
		if err != nil {
			c.fail("dhcp", err)
			continue
		}
		f, err := os.Open(p)
		if err != nil {
			c.fail("dhcp", err)
			continue
		}
		l, err := ParseNetworkdLease(f, st.ModTime())
		f.Close()
		if err != nil {
			c.fail("dhcp "+c.rel(p), err)
			continue
		}
		l.Source, l.Interface = c.rel(p), cmp.Or(l.Interface, iface)
		if strings.Contains(p, "NetworkManager") {
			l.Client = "NetworkManager"
		}
		cands = append(cands, l)
	}
	dhcpcd := slices.Concat(glob("var/lib/dhcpcd/*.lease"), glob("var/db/dhcpcd/*.lease"))
	if len(cands) > 0 {
		// dhclient appends on every renewal: the latest expiry is current.
		best := cands[0]
		for _, l := range cands[1:] {
			if !l.Expire.Before(best.Expire) {
				best = l
			}
		}
		c.rep.DHCP = &best
		c.rep.DHCPNote = "lease read from " + best.Source
		return
	}
	if len(dhcpcd) > 0 {
		c.rep.DHCPNote = fmt.Sprintf("unknown: dhcpcd keeps its lease in a binary file (%s), which is not read", c.rel(dhcpcd[0]))
		return
	}
	c.rep.DHCPNote = "unknown: no lease file found (looked for dhclient, systemd-networkd and NetworkManager leases); " +
		"udhcpc, the client of BusyBox and OpenWrt, keeps none, and a static address has none"
}

func (c *collector) rel(p string) string {
	r, err := filepath.Rel(c.root, p)
	if err != nil {
		return p
	}
	return "/" + r
}

func (c *collector) neighbours(k Kernel) {
	var arp []Neighbour
	f, err := os.Open(c.path("proc/net/arp"))
	if err != nil {
		c.fail("arp", err)
	} else {
		arp, err = ParseARP(f)
		f.Close()
		if err != nil {
			c.fail("arp", err)
		}
	}
	kn, err := k.Neighbours()
	if err != nil {
		c.fail("neighbours", err)
	}
	ns := mergeNeighbours(arp, kn)
	oui, err := DefaultOUITable()
	if err != nil {
		c.fail("oui table", err) // only a broken build gets here; the test of oui.txt guards it
	}
	for i := range ns {
		n := &ns[i]
		if v, ok := oui.Lookup(n.MAC); ok {
			n.Vendor, n.VendorKind = v.Name, v.Kind
		}
		n.Router = n.IsRouter6 || n.VendorKind == KindRouter
		for _, g := range []*Gateway{c.rep.Gateway, c.rep.Gateway6} {
			if g == nil || g.Addr != n.Addr || (g.Interface != "" && g.Interface != n.Interface) {
				continue
			}
			n.Router = true
			if n.MAC != "" {
				g.MAC, g.Vendor, g.VendorKind = n.MAC, n.Vendor, n.VendorKind
			}
		}
	}
	order.Stable(ns, func(a, b Neighbour) int {
		return cmp.Or(cmp.Compare(a.Interface, b.Interface), a.Addr.Compare(b.Addr))
	})
	c.rep.Neighbours = ns
	c.rep.Hosts, c.rep.Routers = Census(ns)
}

func (c *collector) ssdp(ctx context.Context, target netip.AddrPort, wait time.Duration) {
	devs, err := SearchSSDP(ctx, target, wait)
	if err != nil {
		c.fail("ssdp", err)
	}
	if len(devs) > 0 {
		client := newDescriptionClient()
		for _, e := range describeSSDP(ctx, client, devs) {
			c.fail("ssdp description", errors.New(e))
		}
		client.CloseIdleConnections()
	}
	c.mu.Lock()
	c.rep.SSDP = devs
	c.mu.Unlock()
}

// defaultTargets are the gateway and the first DNS server. The gateway
// gets UDP to the traceroute port, which nothing listens on, so its
// port-unreachable times the trip; TCP 80 (its web page, or a RST) is the
// fallback. The DNS server gets a real query, which it answers.
func (c *collector) defaultTargets() []ProbeTarget {
	var ts []ProbeTarget
	if g := c.rep.Gateway; g != nil {
		ts = append(ts, ProbeTarget{Name: "gateway", Addr: netip.AddrPortFrom(g.Addr, 33434), TCPPort: 80})
	}
	if len(c.rep.DNS) > 0 && !c.rep.DNS[0].IsLoopback() {
		q, err := appendQuery(nil, 0x7470, []dnsQuestion{{Name: ".", Type: 2 /* NS */, Class: classIN}})
		if err == nil {
			q[2] = 0x01 // recursion desired, as a stub resolver asks
			ts = append(ts, ProbeTarget{Name: "dns", Addr: netip.AddrPortFrom(c.rep.DNS[0], 53), Payload: q})
		}
	}
	return ts
}
