package peers

import (
	"net"
	"strconv"
	"testing"
)

func TestFreePortIsBindable(t *testing.T) {
	for _, network := range []string{"udp", "tcp", "sip"} {
		p := FreePort(t, network)
		if p < portMin || p >= portMax {
			t.Fatalf("%s port %d outside %d-%d", network, p, portMin, portMax)
		}
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(p))
		if network != "tcp" {
			c, err := net.ListenPacket("udp4", addr)
			if err != nil {
				t.Fatalf("%s port %d: %v", network, p, err)
			}
			c.Close()
		}
		if network != "udp" {
			l, err := net.Listen("tcp4", addr)
			if err != nil {
				t.Fatalf("%s port %d: %v", network, p, err)
			}
			l.Close()
		}
	}
}

func TestFreePortAvoidsTakenPorts(t *testing.T) {
	// A port in use must never be handed out.
	p := FreePort(t, "udp")
	c, err := net.ListenPacket("udp4", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if portFree(p, true, false) {
		t.Fatalf("port %d reported free while bound", p)
	}
}
