package netinfo

import (
	"encoding/binary"
	"errors"
	"net/netip"
	"os"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestParseRouteByteOrder(t *testing.T) {
	// The same table as a little-endian and a big-endian kernel print it.
	le := "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n" +
		"eth0\t00000000\t01B2A8C0\t0003\t0\t0\t0\t00000000\t0\t0\t0\n" +
		"eth0\t00B2A8C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n"
	be := "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n" +
		"eth0\t00000000\tC0A8B201\t0003\t0\t0\t0\t00000000\t0\t0\t0\n" +
		"eth0\tC0A8B200\t00000000\t0001\t0\t0\t0\tFFFFFF00\t0\t0\t0\n"
	a, err := ParseRoute(strings.NewReader(le), binary.LittleEndian)
	if err != nil {
		t.Fatal(err)
	}
	b, err := ParseRoute(strings.NewReader(be), binary.BigEndian)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(a, b) {
		t.Fatalf("LE %v != BE %v", a, b)
	}
	if a[1].Dest != netip.MustParsePrefix("192.168.178.0/24") || a[1].Gateway.IsValid() {
		t.Errorf("on-link route = %+v", a[1])
	}
	r, ok := DefaultRoute(a)
	if !ok || r.Gateway != netip.MustParseAddr("192.168.178.1") {
		t.Errorf("default = %+v %v", r, ok)
	}
}

func TestParseRouteErrors(t *testing.T) {
	for name, in := range map[string]string{
		"short line":      "eth0\t00000000\t01B2A8C0\n",
		"bad hex":         "eth0\t0000000G\t01B2A8C0\t0003\t0\t0\t0\t00000000\n",
		"short address":   "eth0\t000\t01B2A8C0\t0003\t0\t0\t0\t00000000\n",
		"holey mask":      "eth0\t00000000\t01B2A8C0\t0003\t0\t0\t0\t00FF00FF\n",
		"negative metric": "eth0\t00000000\t01B2A8C0\t0003\t0\t0\t-1\t00000000\n",
	} {
		if _, err := ParseRoute(strings.NewReader(in), binary.LittleEndian); err == nil {
			t.Errorf("%s: accepted", name)
		} else if !strings.Contains(err.Error(), "line 1") {
			t.Errorf("%s: error %q does not name the line", name, err)
		}
	}
}

func TestDefaultRouteSkipsUnusable(t *testing.T) {
	gw := netip.MustParseAddr("192.0.2.1")
	routes := []Route{
		{Interface: "a", Dest: netip.MustParsePrefix("0.0.0.0/0"), Gateway: gw, Flags: rtfUp | rtfGateway | rtfReject, Metric: 0},
		{Interface: "b", Dest: netip.MustParsePrefix("0.0.0.0/0"), Gateway: gw, Flags: rtfGateway, Metric: 0},
		{Interface: "c", Dest: netip.MustParsePrefix("0.0.0.0/0"), Flags: rtfUp, Metric: 0},
		{Interface: "d", Dest: netip.MustParsePrefix("0.0.0.0/0"), Gateway: gw, Flags: rtfUp | rtfGateway, Metric: 50},
		{Interface: "e", Dest: netip.MustParsePrefix("0.0.0.0/0"), Gateway: gw, Flags: rtfUp | rtfGateway, Metric: 10},
	}
	if r, ok := DefaultRoute(routes); !ok || r.Interface != "e" {
		t.Errorf("default = %+v %v, want e (usable, lowest metric)", r, ok)
	}
	if _, ok := DefaultRoute(routes[:3]); ok {
		t.Error("found a default among rejected, down and gateway-less routes")
	}
}

func TestParseIPv6Route(t *testing.T) {
	f, err := os.Open("testdata/home/proc/net/ipv6_route")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rs, err := ParseIPv6Route(f)
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 5 || rs[0].Dest != netip.MustParsePrefix("fd00:1234:5678:a::/64") {
		t.Fatalf("routes = %v", rs)
	}
	// The kernel's unreachable default on lo must not win.
	r, ok := DefaultRoute(rs)
	if !ok || r.Gateway != netip.MustParseAddr("fe80::1") || r.Interface != "eth0" || r.Metric != 0x400 {
		t.Errorf("default = %+v", r)
	}
	if _, err := ParseIPv6Route(strings.NewReader("00 00 00 00 00 00 00 00 00 lo\n")); err == nil {
		t.Error("short addresses accepted")
	}
	if _, err := ParseIPv6Route(strings.NewReader(strings.Replace(
		"00000000000000000000000000000000 81 00000000000000000000000000000000 00 00000000000000000000000000000000 00000000 00000004 00000000 80200001 lo", " ", " ", 1))); err == nil {
		t.Error("prefix length 0x81 accepted")
	}
}

func TestParseResolvConf(t *testing.T) {
	in := "# comment\n; also a comment\nnameserver 192.0.2.53 # inline\nnameserver fe80::1%eth0\n" +
		"domain first.example\nsearch home.example corp.example\noptions ndots:2\n"
	r, err := ParseResolvConf(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	want := []netip.Addr{netip.MustParseAddr("192.0.2.53"), netip.MustParseAddr("fe80::1%eth0")}
	if !slices.Equal(r.Servers, want) || !slices.Equal(r.Search, []string{"home.example", "corp.example"}) {
		t.Errorf("resolver = %+v", r)
	}
	if r.stubOnly() {
		t.Error("real servers taken for a stub")
	}
	for _, bad := range []string{"nameserver\n", "nameserver dns.example\n"} {
		if _, err := ParseResolvConf(strings.NewReader(bad)); err == nil || !strings.Contains(err.Error(), "line 1") {
			t.Errorf("%q: err = %v", bad, err)
		}
	}
}

func TestParseDhclientLeases(t *testing.T) {
	in := `lease {
  interface "eth0";
  fixed-address 198.51.100.7;
  option subnet-mask 255.255.255.128;
  option routers 198.51.100.1, 198.51.100.2;
  option domain-name "odd;name {x}";
  renew never;
  expire epoch 1700000000; # Tue Nov 14 22:13:20 2023
}
lease6 { interface "eth0"; ia-na 1 { iaaddr 2001:db8::1 { } } }
`
	ls, err := ParseDhclientLeases(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	if len(ls) != 1 {
		t.Fatalf("leases = %v", ls)
	}
	l := ls[0]
	if l.Address != netip.MustParsePrefix("198.51.100.7/25") || len(l.Routers) != 2 || l.Domain != "odd;name {x}" ||
		!l.Renew.IsZero() || !l.Expire.Equal(time.Unix(1700000000, 0)) {
		t.Errorf("lease = %+v", l)
	}
	for name, bad := range map[string]string{
		"unterminated string": `lease { option domain-name "x`,
		"unclosed block":      `lease { interface "eth0";`,
		"bad address":         `lease { fixed-address 300.1.1.1; }`,
		"bad time":            `lease { expire 1 yesterday; }`,
		"no semicolon":        `lease { interface "eth0" }`,
		"stray brace":         `}`,
	} {
		if _, err := ParseDhclientLeases(strings.NewReader(bad)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestParseNetworkdLease(t *testing.T) {
	mtime := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	l, err := ParseNetworkdLease(strings.NewReader("ADDRESS=203.0.113.9\nNETMASK=255.255.252.0\nLIFETIME=3600\nNEW_KEY=x\n"), mtime)
	if err != nil {
		t.Fatal(err)
	}
	if l.Address != netip.MustParsePrefix("203.0.113.9/22") || !l.Expire.Equal(mtime.Add(time.Hour)) {
		t.Errorf("lease = %+v", l)
	}
	for _, bad := range []string{"NETMASK=255.255.255.0\n", "ADDRESS=1.2.3.4\nthis line has no equals\n", "ADDRESS=1.2.3.4\nLIFETIME=forever\n"} {
		if _, err := ParseNetworkdLease(strings.NewReader(bad), mtime); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestParseARP(t *testing.T) {
	f, err := os.Open("testdata/home/proc/net/arp")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ns, err := ParseARP(f)
	if err != nil {
		t.Fatal(err)
	}
	if len(ns) != 7 || ns[0].MAC != "3c:a6:2f:10:20:30" || ns[0].State != "reachable" || ns[4].State != "incomplete" || ns[4].MAC != "" {
		t.Errorf("neighbours = %+v", ns)
	}
	for _, bad := range []string{
		"192.0.2.1 0x1 0x2 3c:a6:2f:10:20:30 *\n",
		"fe80::1 0x1 0x2 3c:a6:2f:10:20:30 * eth0\n",
		"192.0.2.1 0x1 0xZ 3c:a6:2f:10:20:30 * eth0\n",
		"192.0.2.1 0x1 0x2 not-a-mac * eth0\n",
	} {
		if _, err := ParseARP(strings.NewReader(bad)); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// ndmsg builds an RTM_NEWNEIGH payload as the kernel would.
func ndmsg(order binary.ByteOrder, index int32, state uint16, flags byte, attrs ...[]byte) []byte {
	b := make([]byte, ndmsgLen)
	b[0] = 10 // AF_INET6
	order.PutUint32(b[4:], uint32(index))
	order.PutUint16(b[8:], state)
	b[10] = flags
	for _, a := range attrs {
		b = append(b, a...)
	}
	return b
}

func rta(order binary.ByteOrder, typ uint16, val []byte) []byte {
	b := make([]byte, 4, 4+len(val)+3)
	order.PutUint16(b, uint16(4+len(val)))
	order.PutUint16(b[2:], typ)
	b = append(b, val...)
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	return b
}

func TestParseNeighMsg(t *testing.T) {
	for _, order := range []binary.ByteOrder{binary.LittleEndian, binary.BigEndian} {
		dst := netip.MustParseAddr("fe80::1").AsSlice()
		msg := ndmsg(order, 2, 0x02, ntfRouter, rta(order, ndaDst, dst), rta(order, 9, []byte{1, 2, 3, 4, 5}), rta(order, ndaLLAddr, []byte{0x3c, 0xa6, 0x2f, 1, 2, 3}))
		n, err := parseNeighMsg(msg, order)
		if err != nil {
			t.Fatal(err)
		}
		if n.Index != 2 || n.Addr.String() != "fe80::1" || n.MAC != "3c:a6:2f:01:02:03" || n.State != "reachable" || !n.IsRouter6 {
			t.Errorf("%v: neighbour = %+v", order, n)
		}
	}
	le := binary.LittleEndian
	for name, bad := range map[string][]byte{
		"short header":    {1, 2, 3},
		"no destination":  ndmsg(le, 2, 2, 0),
		"overlong attr":   append(ndmsg(le, 2, 2, 0), 0xff, 0, 1, 0),
		"odd destination": ndmsg(le, 2, 2, 0, rta(le, ndaDst, []byte{1, 2, 3})),
	} {
		if _, err := parseNeighMsg(bad, le); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestSystemKernel(t *testing.T) {
	// Reading this machine's own tables sends nothing on the network.
	ifs, err := SystemKernel{}.Interfaces()
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, it := range ifs {
		if slices.Contains(it.Flags, "loopback") && slices.Contains(it.Addrs, netip.MustParsePrefix("127.0.0.1/8")) {
			found = true
		}
	}
	if !found {
		t.Errorf("no loopback with 127.0.0.1/8 in %+v", ifs)
	}
	_, err = SystemKernel{}.Neighbours()
	if errors.Is(err, syscall.EOPNOTSUPP) {
		// qemu-user, for one, does not carry RTM_GETNEIGH to the kernel.
		t.Skipf("this kernel does not answer a neighbour dump: %v", err)
	}
	if err != nil {
		t.Errorf("neighbour dump: %v", err)
	}
}

func TestCensusCountsDevicesOnce(t *testing.T) {
	ns := []Neighbour{
		{Addr: netip.MustParseAddr("192.0.2.1"), MAC: "aa:00:00:00:00:01", State: "reachable", Router: true},
		{Addr: netip.MustParseAddr("fe80::1"), MAC: "aa:00:00:00:00:01", State: "stale"},
		{Addr: netip.MustParseAddr("192.0.2.2"), MAC: "aa:00:00:00:00:02", State: "reachable"},
		{Addr: netip.MustParseAddr("192.0.2.3"), State: "incomplete"},
		{Addr: netip.MustParseAddr("192.0.2.4"), MAC: "aa:00:00:00:00:04", State: "failed", Router: true},
	}
	if h, r := Census(ns); h != 2 || r != 1 {
		t.Errorf("census = %d hosts %d routers, want 2 and 1", h, r)
	}
}
