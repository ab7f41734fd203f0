package netinfo

import (
	"context"
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestCollectHomeFixture(t *testing.T) {
	rep, err := Collect(context.Background(), fixtureOptions("testdata/home"))
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Errors) != 0 {
		t.Errorf("errors: %v", rep.Errors)
	}
	g := rep.Gateway
	if g == nil {
		t.Fatal("no IPv4 gateway")
	}
	// Two default routes: the wired one has the lower metric and wins.
	if g.Addr != netip.MustParseAddr("192.168.178.1") || g.Interface != "eth0" || g.Metric != 100 {
		t.Errorf("gateway = %+v, want 192.168.178.1 on eth0 metric 100", *g)
	}
	if g.MAC != "3c:a6:2f:10:20:30" || g.Vendor != "AVM" || g.VendorKind != KindRouter {
		t.Errorf("gateway hardware = %s %q %q, want the AVM router", g.MAC, g.Vendor, g.VendorKind)
	}
	if rep.Gateway6 == nil || rep.Gateway6.Addr != netip.MustParseAddr("fe80::1") || rep.Gateway6.Vendor != "AVM" {
		t.Errorf("gateway6 = %+v, want fe80::1 made by AVM", rep.Gateway6)
	}
	// resolv.conf names only the local stub; the real servers are behind it.
	wantDNS := []netip.Addr{netip.MustParseAddr("192.168.178.1"), netip.MustParseAddr("fd00:1234:5678:a::1")}
	if !slices.Equal(rep.DNS, wantDNS) || !strings.Contains(rep.DNSSource, "/run/systemd/resolve") {
		t.Errorf("dns = %v from %q, want %v from systemd-resolved's upstream file", rep.DNS, rep.DNSSource, wantDNS)
	}
	if !slices.Equal(rep.DNSSearch, []string{"fritz.box"}) {
		t.Errorf("search = %v", rep.DNSSearch)
	}
	l := rep.DHCP
	if l == nil {
		t.Fatalf("no lease; note %q", rep.DHCPNote)
	}
	// The renewed (second) eth0 lease is current; the wlan0 one is not the gateway's.
	if l.Address != netip.MustParsePrefix("192.168.178.23/24") || l.Interface != "eth0" ||
		!l.Expire.Equal(time.Date(2026, 11, 25, 20, 0, 0, 0, time.UTC)) || l.Source != "/var/lib/dhcp/dhclient.eth0.leases" {
		t.Errorf("lease = %+v", *l)
	}
	if len(l.DNS) != 2 || l.LeaseTime != 240*time.Hour || l.Domain != "fritz.box" || l.Server != netip.MustParseAddr("192.168.178.1") {
		t.Errorf("lease options = %+v", *l)
	}
	// Hosts: AVM, Sonos, Apple, a randomised phone, Sagemcom, MikroTik,
	// Raspberry Pi; the incomplete and failed entries are not hosts, and
	// the AVM and Sonos boxes count once for their two addresses.
	// Routers: the gateway, the Sagemcom and the MikroTik.
	if rep.Hosts != 7 || rep.Routers != 3 {
		t.Errorf("census = %d hosts, %d routers; want 7 and 3", rep.Hosts, rep.Routers)
	}
	byAddr := map[string]Neighbour{}
	for _, n := range rep.Neighbours {
		byAddr[n.Addr.String()] = n
	}
	if n := byAddr["192.168.178.30"]; n.Vendor != "Sonos" || n.State != "stale" || n.Router {
		t.Errorf("sonos = %+v", n)
	}
	if n := byAddr["192.168.178.32"]; n.VendorKind != KindLocal {
		t.Errorf("randomised MAC = %+v, want kind local", n)
	}
	if n := byAddr["192.168.178.33"]; n.State != "incomplete" || n.MAC != "" {
		t.Errorf("incomplete = %+v", n)
	}
	if n := byAddr["192.168.1.1"]; n.State != "permanent" || !n.Router || n.Vendor != "MikroTik" {
		t.Errorf("mikrotik = %+v", n)
	}
	eth := rep.Interfaces[1]
	if eth.Name != "eth0" || eth.Kind != "ethernet" || eth.OperState != "up" || eth.SpeedMbps != 1000 {
		t.Errorf("eth0 = %+v", eth)
	}
	if w := rep.Interfaces[2]; w.Kind != "wlan" || w.OperState != "dormant" || w.SpeedMbps != 0 {
		t.Errorf("wlan0 = %+v", w)
	}
	if rep.SSDP != nil || rep.MDNS != nil || len(rep.Probes) != 0 {
		t.Errorf("discovery or probes ran without a target: %v %v %v", rep.SSDP, rep.MDNS, rep.Probes)
	}
}

func TestCollectNetworkdLease(t *testing.T) {
	rep, err := Collect(context.Background(), fixtureOptions("testdata/networkd"))
	if err != nil {
		t.Fatal(err)
	}
	l := rep.DHCP
	// Lease 2 is eth0's (index 2); lease 3 belongs to another interface.
	if l == nil || l.Client != "systemd-networkd" || l.Address != netip.MustParsePrefix("192.168.178.24/24") ||
		l.Source != "/run/systemd/netif/leases/2" || len(l.DNS) != 2 || l.Expire.IsZero() {
		t.Errorf("lease = %+v, note %q", l, rep.DHCPNote)
	}
}

func TestCollectSaysWhyDHCPIsUnknown(t *testing.T) {
	rep, err := Collect(context.Background(), fixtureOptions("testdata/dhcpcd"))
	if err != nil {
		t.Fatal(err)
	}
	if rep.DHCP != nil || !strings.Contains(rep.DHCPNote, "unknown") || !strings.Contains(rep.DHCPNote, "/var/lib/dhcpcd/eth0.lease") {
		t.Errorf("dhcp = %v, note %q; want unknown naming the dhcpcd file", rep.DHCP, rep.DHCPNote)
	}

	rep, err = Collect(context.Background(), fixtureOptions("testdata/bare"))
	if err != nil {
		t.Fatal(err)
	}
	if rep.DHCP != nil || !strings.Contains(rep.DHCPNote, "udhcpc") {
		t.Errorf("bare note %q, want it to name udhcpc", rep.DHCPNote)
	}
	if rep.Gateway != nil || rep.Gateway6 != nil {
		t.Errorf("gateway on a table without default routes: %v %v", rep.Gateway, rep.Gateway6)
	}
	// Missing files are recorded, not fatal; a missing ipv6_route (IPv6
	// disabled) is not an error.
	joined := strings.Join(rep.Errors, "\n")
	for _, want := range []string{"dns:", "arp:"} {
		if !strings.Contains(joined, want) {
			t.Errorf("errors %q lack %q", joined, want)
		}
	}
	if strings.Contains(joined, "ipv6") {
		t.Errorf("missing ipv6_route reported as an error: %q", joined)
	}
}

func TestCollectRecordsKernelFailure(t *testing.T) {
	o := fixtureOptions("testdata/home")
	o.Kernel = fakeKernel{err: errFake}
	rep, err := Collect(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	joined := strings.Join(rep.Errors, "\n")
	if !strings.Contains(joined, "interfaces: fake kernel failure") || !strings.Contains(joined, "neighbours: fake kernel failure") {
		t.Errorf("errors = %q", joined)
	}
	// The ARP file still gives the gateway's maker.
	if rep.Gateway == nil || rep.Gateway.Vendor != "AVM" {
		t.Errorf("gateway = %+v", rep.Gateway)
	}
}

type fakeErr string

func (e fakeErr) Error() string { return string(e) }

const errFake = fakeErr("fake kernel failure")

func TestCollectRejectsNegativeWait(t *testing.T) {
	o := fixtureOptions("testdata/home")
	o.Wait = -time.Second
	if _, err := Collect(context.Background(), o); err == nil {
		t.Fatal("negative Wait accepted")
	}
}

func TestDeviceOptionsTargetTheRealGroups(t *testing.T) {
	o := DeviceOptions()
	if o.SSDPAddr.String() != "239.255.255.250:1900" || o.MDNSAddr.String() != "224.0.0.251:5353" || !o.ProbeGateway {
		t.Errorf("device options = %+v", o)
	}
	// Worst case for a probe series must leave the bundle inside 5 s.
	p := o.Probe
	if worst := 2*p.Timeout + time.Duration(p.Count-1)*max(p.Interval, p.Timeout); worst > 5*time.Second {
		t.Errorf("probe series may take %v", worst)
	}
}

// CurrentLease finds the same lease, and says the same when there is none,
// as the full collection does.
func TestCurrentLeaseIsCollectsLease(t *testing.T) {
	for _, dir := range []string{"testdata/home", "testdata/networkd", "testdata/dhcpcd", "testdata/bare"} {
		rep, err := Collect(context.Background(), fixtureOptions(dir))
		if err != nil {
			t.Fatal(err)
		}
		l, note := CurrentLease(fixtureOptions(dir))
		if !reflect.DeepEqual(l, rep.DHCP) || note != rep.DHCPNote {
			t.Errorf("%s: CurrentLease = %+v, %q; Collect found %+v, %q", dir, l, note, rep.DHCP, rep.DHCPNote)
		}
	}
}
