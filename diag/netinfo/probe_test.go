package netinfo

import (
	"context"
	"net"
	"net/netip"
	"testing"
	"time"
)

// closedUDPPort finds a loopback UDP port with nothing on it; the kernel
// answers a datagram there with a port-unreachable.
func closedUDPPort(t testing.TB) netip.AddrPort {
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	a := c.LocalAddr().(*net.UDPAddr).AddrPort()
	c.Close()
	return a
}

func TestProbeUDPClosedPort(t *testing.T) {
	r, err := Probe(context.Background(), closedUDPPort(t), 4, 20*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if r.Method != MethodUDP || r.Sent != 4 || r.Received != 4 || r.LossPct != 0 || len(r.RTTs) != 4 {
		t.Errorf("result = %+v", r)
	}
	if r.Min <= 0 || r.Min > r.Avg || r.Avg > r.Max || r.Max > time.Second {
		t.Errorf("rtts min %v avg %v max %v", r.Min, r.Avg, r.Max)
	}
}

func TestProbeTCP(t *testing.T) {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	target := ln.Addr().(*net.TCPAddr).AddrPort()
	r, err := ProbeWith(context.Background(), target, ProbeOptions{Count: 3, Interval: 10 * time.Millisecond, Method: MethodTCP})
	if err != nil {
		t.Fatal(err)
	}
	if r.Method != MethodTCP || r.Received != 3 || r.LossPct != 0 {
		t.Errorf("open port: %+v", r)
	}
	// A closed port answers with a RST: also one round trip.
	ln.Close()
	r, err = ProbeWith(context.Background(), target, ProbeOptions{Count: 2, Interval: 10 * time.Millisecond, Method: MethodTCP})
	if err != nil || r.Received != 2 {
		t.Errorf("closed port: %+v %v", r, err)
	}
}

// silentUDPWithTCP binds a UDP socket that never answers and a TCP
// listener on the same port number.
func silentUDPWithTCP(t *testing.T) (netip.AddrPort, net.Listener) {
	for range 20 {
		ln, err := net.Listen("tcp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		a := ln.Addr().(*net.TCPAddr).AddrPort()
		u, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(a))
		if err != nil {
			ln.Close()
			continue
		}
		t.Cleanup(func() { u.Close(); ln.Close() })
		return a, ln
	}
	t.Skip("no port free for both UDP and TCP")
	return netip.AddrPort{}, nil
}

func TestProbeFallsBackToTCP(t *testing.T) {
	target, _ := silentUDPWithTCP(t)
	r, err := ProbeWith(context.Background(), target, ProbeOptions{Count: 3, Interval: 10 * time.Millisecond, Timeout: 150 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if r.Method != MethodTCP || r.Sent != 3 || r.Received != 3 {
		t.Errorf("result = %+v, want 3 of 3 over tcp", r)
	}
}

func TestProbeCountsLoss(t *testing.T) {
	target, _ := silentUDPWithTCP(t)
	r, err := ProbeWith(context.Background(), target, ProbeOptions{Count: 2, Interval: 10 * time.Millisecond, Timeout: 80 * time.Millisecond, Method: MethodUDP})
	if err != nil {
		t.Fatal(err)
	}
	if r.Sent != 2 || r.Received != 0 || r.LossPct != 100 || r.Avg != 0 {
		t.Errorf("result = %+v, want all lost", r)
	}
}

func TestProbeStopsWithContext(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Millisecond)
	defer cancel()
	start := time.Now()
	r, err := Probe(ctx, closedUDPPort(t), 100, 50*time.Millisecond)
	if err == nil {
		t.Error("no error when cut short")
	}
	if time.Since(start) > 2*time.Second || r.Sent == 0 || r.Sent >= 100 || r.Received != r.Sent {
		t.Errorf("cut-short result = %+v after %v", r, time.Since(start))
	}
}

func TestProbeRejectsBadInput(t *testing.T) {
	ctx := context.Background()
	if _, err := Probe(ctx, netip.AddrPort{}, 1, 0); err == nil {
		t.Error("zero target accepted")
	}
	if _, err := Probe(ctx, netip.MustParseAddrPort("127.0.0.1:0"), 1, 0); err == nil {
		t.Error("port 0 accepted")
	}
	if _, err := Probe(ctx, netip.MustParseAddrPort("127.0.0.1:9"), -1, 0); err == nil {
		t.Error("negative count accepted")
	}
	if _, err := ProbeWith(ctx, netip.MustParseAddrPort("127.0.0.1:9"), ProbeOptions{Method: "icmp"}); err == nil {
		t.Error("unknown method accepted")
	}
}

func TestProbeSummary(t *testing.T) {
	ms := time.Millisecond
	r := ProbeResult{Sent: 5, RTTs: []time.Duration{10 * ms, 20 * ms, 10 * ms, 40 * ms}}.summarise()
	if r.Received != 4 || r.LossPct != 20 || r.Min != 10*ms || r.Max != 40*ms || r.Avg != 20*ms {
		t.Errorf("summary = %+v", r)
	}
	// |20-10| + |10-20| + |40-10| = 50 over 3 differences.
	if want := 50 * ms / 3; r.Jitter != want {
		t.Errorf("jitter = %v, want %v", r.Jitter, want)
	}
	if one := (ProbeResult{Sent: 1, RTTs: []time.Duration{ms}}).summarise(); one.Jitter != 0 || one.Avg != ms {
		t.Errorf("single = %+v", one)
	}
}

func TestCollectProbesNamedTargets(t *testing.T) {
	o := fixtureOptions("testdata/home")
	o.ProbeTargets = []ProbeTarget{{Name: "sip", Addr: closedUDPPort(t)}}
	o.Probe = ProbeOptions{Count: 2, Interval: 10 * time.Millisecond}
	rep, err := Collect(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Probes) != 1 || rep.Probes[0].Name != "sip" || rep.Probes[0].Received != 2 || rep.Probes[0].Error != "" {
		t.Errorf("probes = %+v", rep.Probes)
	}
}

func TestDefaultTargets(t *testing.T) {
	// Only inspects the targets; nothing is sent to the fixture's addresses.
	c := &collector{}
	c.rep.Gateway = &Gateway{Addr: netip.MustParseAddr("192.0.2.1")}
	c.rep.DNS = []netip.Addr{netip.MustParseAddr("192.0.2.53")}
	ts := c.defaultTargets()
	if len(ts) != 2 || ts[0].Addr.String() != "192.0.2.1:33434" || ts[0].TCPPort != 80 || ts[1].Addr.String() != "192.0.2.53:53" {
		t.Fatalf("targets = %+v", ts)
	}
	q, err := parseDNS(ts[1].Payload)
	if err != nil || len(q.Questions) != 1 || q.Questions[0].Name != "." {
		t.Errorf("dns probe payload: %+v %v", q, err)
	}
	c.rep.DNS = []netip.Addr{netip.MustParseAddr("127.0.0.53")}
	if ts := c.defaultTargets(); len(ts) != 1 {
		t.Errorf("a local stub resolver was probed: %+v", ts)
	}
}
