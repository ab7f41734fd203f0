package peers

import (
	"fmt"
	"math/rand/v2"
	"net"
	"strconv"
	"testing"
)

// Ports are drawn from below the kernel's ephemeral range (32768-60999 on
// Linux): a port picked there could be taken by any process's outgoing
// socket between the check and the peer's bind.
const (
	portMin = 20000
	portMax = 32000
)

// FreePort returns a port on 127.0.0.1 that is free for network: "udp",
// "tcp", or "sip" (free for both UDP and TCP, as a SIP listener needs). It
// fails the test when it cannot find one.
func FreePort(t testing.TB, network string) int {
	t.Helper()
	var udp, tcp bool
	switch network {
	case "udp":
		udp = true
	case "tcp":
		tcp = true
	case "sip":
		udp, tcp = true, true
	default:
		t.Fatalf("peers.FreePort: network %q: want udp, tcp or sip", network)
	}
	p, err := freePortRun(1, udp, tcp)
	if err != nil {
		t.Fatalf("peers.FreePort(%s): %v", network, err)
	}
	return p
}

// freePortRun finds n consecutive free ports (baresip binds its SIP port
// and the next one for TLS; SIPp's media uses the port and port+2).
func freePortRun(n int, udp, tcp bool) (int, error) {
	for range 200 {
		first := portMin + rand.IntN(portMax-portMin-n)
		ok := true
		for p := first; p < first+n && ok; p++ {
			ok = portFree(p, udp, tcp)
		}
		if ok {
			return first, nil
		}
	}
	return 0, fmt.Errorf("no run of %d free ports on 127.0.0.1 in %d-%d after 200 tries", n, portMin, portMax)
}

func portFree(port int, udp, tcp bool) bool {
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	if udp {
		c, err := net.ListenPacket("udp4", addr)
		if err != nil {
			return false
		}
		defer c.Close()
	}
	if tcp {
		l, err := net.Listen("tcp4", addr)
		if err != nil {
			return false
		}
		defer l.Close()
	}
	return true
}
