package nat

import (
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/pion/stun/v3"
)

// serverConfig says how the test STUN server behaves. Loopback has no NAT,
// so the server plays the NAT's part too: it reports mapped addresses the
// way a NAT with the chosen mapping behaviour would produce them, and it
// drops the answers that a NAT with the chosen filtering behaviour would
// drop.
type serverConfig struct {
	// twoAddrs: listen on two addresses, two ports each, send
	// OTHER-ADDRESS and honour CHANGE-REQUEST.
	twoAddrs bool
	// addrs are the server's addresses: the first alone without twoAddrs.
	// Default 127.0.0.1 and 127.0.0.2; the namespace tests use addresses
	// of the test's own "Internet".
	addrs [2]netip.Addr
	// mapping: "" reports the client's real address (no NAT); otherwise one
	// of the behaviour constants, or "cgnat" for an endpoint-independent
	// NAT with an address in 100.64.0.0/10.
	mapping string
	// filtering: EndpointIndependent (or ""), AddressDependent or
	// AddressAndPortDependent.
	filtering string
	// ignoreChange answers CHANGE-REQUESTs from the address asked, like
	// servers that advertise OTHER-ADDRESS but do not implement RFC 5780.
	ignoreChange bool
	// responsePort honours RESPONSE-PORT; otherwise such requests get
	// 420 Unknown Attribute, as RFC 5389 requires.
	responsePort bool
	// natLifetime drops RESPONSE-PORT answers to a client port that has
	// been idle longer than this, as an expired NAT binding would.
	natLifetime time.Duration
	// silent never answers.
	silent bool
}

type stunServer struct {
	cfg   serverConfig
	conns [2][2]*net.UDPConn // [address][port]
	wg    sync.WaitGroup

	mu       sync.Mutex
	lastSeen map[netip.AddrPort]time.Time
	requests int
}

func newSTUNServer(t testing.TB, cfg serverConfig) *stunServer {
	t.Helper()
	if !cfg.addrs[0].IsValid() {
		cfg.addrs = [2]netip.Addr{netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("127.0.0.2")}
	}
	s := &stunServer{cfg: cfg, lastSeen: map[netip.AddrPort]time.Time{}}
	if cfg.twoAddrs {
		for port := range 2 {
			a, b := pairOnSamePort(t, cfg.addrs)
			s.conns[0][port], s.conns[1][port] = a, b
		}
	} else {
		c, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(cfg.addrs[0], 0)))
		if err != nil {
			t.Fatal(err)
		}
		s.conns[0][0] = c
	}
	for ip := range 2 {
		for port := range 2 {
			if c := s.conns[ip][port]; c != nil {
				s.wg.Go(func() { s.serve(c, ip, port) })
			}
		}
	}
	t.Cleanup(func() {
		for _, row := range s.conns {
			for _, c := range row {
				if c != nil {
					c.Close()
				}
			}
		}
		s.wg.Wait()
	})
	return s
}

// pairOnSamePort binds both addresses on one port number: RFC 5780's
// test II sends to the other address on the primary port.
func pairOnSamePort(t testing.TB, addrs [2]netip.Addr) (*net.UDPConn, *net.UDPConn) {
	t.Helper()
	for range 50 {
		a, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(addrs[0], 0)))
		if err != nil {
			t.Fatal(err)
		}
		port := a.LocalAddr().(*net.UDPAddr).AddrPort().Port()
		b, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(addrs[1], port)))
		if err == nil {
			return a, b
		}
		a.Close()
	}
	t.Fatalf("no port free on both %v and %v", addrs[0], addrs[1])
	return nil, nil
}

func (s *stunServer) addr() string { return s.conns[0][0].LocalAddr().String() }

func (s *stunServer) addrPort(ip, port int) netip.AddrPort {
	return s.conns[ip][port].LocalAddr().(*net.UDPAddr).AddrPort()
}

func (s *stunServer) requestCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests
}

// mapped is the address a NAT with the configured mapping would give the
// client towards server socket (ip, port).
func (s *stunServer) mapped(client netip.AddrPort, ip, port int) netip.AddrPort {
	base := 20000 + client.Port()%10000
	public := netip.MustParseAddr("203.0.113.7")
	switch s.cfg.mapping {
	case EndpointIndependent:
		return netip.AddrPortFrom(public, base)
	case "cgnat":
		return netip.AddrPortFrom(netip.MustParseAddr("100.64.12.34"), base)
	case AddressDependent:
		return netip.AddrPortFrom(public, base+10000*uint16(ip))
	case AddressAndPortDependent:
		return netip.AddrPortFrom(public, base+10000*uint16(ip)+20000*uint16(port))
	}
	return client
}

func (s *stunServer) serve(c *net.UDPConn, ip, port int) {
	buf := make([]byte, 1500)
	for {
		n, from, err := c.ReadFromUDPAddrPort(buf)
		if err != nil {
			return
		}
		req := &stun.Message{Raw: append([]byte(nil), buf[:n]...)}
		if req.Decode() != nil || req.Type != stun.BindingRequest {
			continue
		}
		s.mu.Lock()
		s.requests++
		s.lastSeen[from] = time.Now()
		s.mu.Unlock()
		if s.cfg.silent {
			continue
		}

		var rp ResponsePort
		if req.Contains(stun.AttrResponsePort) {
			if !s.cfg.responsePort {
				s.send(c, from, req, stun.BindingError, stun.ErrorCodeAttribute{Code: stun.CodeUnknownAttribute, Reason: []byte("Unknown Attribute")})
				continue
			}
			if rp.GetFrom(req) != nil {
				continue
			}
			target := netip.AddrPortFrom(from.Addr(), uint16(rp))
			s.mu.Lock()
			last, seen := s.lastSeen[target]
			s.mu.Unlock()
			if !seen || (s.cfg.natLifetime > 0 && time.Since(last) > s.cfg.natLifetime) {
				continue // the NAT has forgotten the binding
			}
			s.respond(c, target, req, s.mapped(from, ip, port))
			continue
		}

		outIP, outPort := ip, port
		var cr ChangeRequest
		if req.Contains(stun.AttrChangeRequest) && cr.GetFrom(req) == nil && s.cfg.twoAddrs && !s.cfg.ignoreChange {
			if cr.ChangeIP {
				outIP ^= 1
			}
			if cr.ChangePort {
				outPort ^= 1
			}
			switch s.cfg.filtering {
			case AddressDependent:
				if cr.ChangeIP {
					continue
				}
			case AddressAndPortDependent:
				if cr.ChangeIP || cr.ChangePort {
					continue
				}
			}
		}
		s.respond(s.conns[outIP][outPort], from, req, s.mapped(from, ip, port))
	}
}

func (s *stunServer) respond(c *net.UDPConn, to netip.AddrPort, req *stun.Message, mapped netip.AddrPort) {
	origin := c.LocalAddr().(*net.UDPAddr)
	setters := []stun.Setter{
		&stun.XORMappedAddress{IP: mapped.Addr().AsSlice(), Port: int(mapped.Port())},
		&stun.ResponseOrigin{IP: origin.IP, Port: origin.Port},
	}
	if s.cfg.twoAddrs {
		other := s.addrPort(1, 1)
		setters = append(setters, &stun.OtherAddress{IP: other.Addr().AsSlice(), Port: int(other.Port())})
	}
	s.send(c, to, req, stun.BindingSuccess, setters...)
}

func (s *stunServer) send(c *net.UDPConn, to netip.AddrPort, req *stun.Message, typ stun.MessageType, setters ...stun.Setter) {
	all := append([]stun.Setter{stun.NewTransactionIDSetter(req.TransactionID), typ}, setters...)
	all = append(all, stun.NewSoftware("tipring-test"), stun.Fingerprint)
	m, err := stun.Build(all...)
	if err != nil {
		return
	}
	c.WriteToUDPAddrPort(m.Raw, to)
}
