package netinfo

import (
	"encoding/binary"
	"net/netip"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// fakeKernel stands in for the running kernel with invented interfaces
// and IPv6 neighbours.
type fakeKernel struct {
	ifs []Interface
	ns  []Neighbour
	err error
}

func (k fakeKernel) Interfaces() ([]Interface, error) { return k.ifs, k.err }
func (k fakeKernel) Neighbours() ([]Neighbour, error) { return k.ns, k.err }

func homeKernel() fakeKernel {
	return fakeKernel{
		ifs: []Interface{
			{Name: "lo", Index: 1, MTU: 65536, Flags: []string{"up", "loopback", "running"}, Addrs: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/8")}},
			{Name: "eth0", Index: 2, MTU: 1500, MAC: "02:00:5e:10:00:01", Flags: []string{"up", "broadcast", "multicast", "running"},
				Addrs: []netip.Prefix{netip.MustParsePrefix("192.168.178.23/24"), netip.MustParsePrefix("fd00:1234:5678:a::23/64")}},
			{Name: "wlan0", Index: 3, MTU: 1500, MAC: "02:00:5e:10:00:02", Flags: []string{"up", "broadcast", "multicast"}},
		},
		ns: []Neighbour{
			// The FRITZ!Box again, by its IPv6 link-local address, as an IPv6 router.
			{Addr: netip.MustParseAddr("fe80::1"), MAC: "3c:a6:2f:10:20:30", Interface: "eth0", State: "reachable", IsRouter6: true},
			// The Sonos speaker's IPv6 address: the same host as its IPv4 entry.
			{Addr: netip.MustParseAddr("fe80::bae9:37ff:feaa:bb01"), MAC: "b8:e9:37:aa:bb:01", Interface: "eth0", State: "stale"},
			{Addr: netip.MustParseAddr("fd00:1234:5678:a::77"), MAC: "2c:cf:67:00:00:77", Interface: "eth0", State: "delay"},
			{Addr: netip.MustParseAddr("fd00:1234:5678:a::99"), Interface: "eth0", State: "failed"},
			// The kernel also knows an ARP entry the file shows; its state wins.
			{Addr: netip.MustParseAddr("192.168.178.30"), MAC: "b8:e9:37:aa:bb:01", Interface: "eth0", State: "stale"},
		},
	}
}

// fixtureOptions reads a testdata root written on a little-endian machine
// and sends nothing anywhere.
func fixtureOptions(root string) Options {
	return Options{Root: root, Kernel: homeKernel(), routeOrder: binary.LittleEndian}
}
