package media

import (
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"
)

func TestConfigValidation(t *testing.T) {
	cases := []struct {
		name string
		mod  func(*Config)
		want string
	}{
		{"no bind IP", func(c *Config) { c.BindIP = "" }, "BindIP is empty"},
		{"bad bind IP", func(c *Config) { c.BindIP = "localhost" }, `BindIP "localhost"`},
		{"unspecified without advertise", func(c *Config) { c.BindIP = "0.0.0.0" }, "cannot advertise 0.0.0.0"},
		{"bad advertise", func(c *Config) { c.AdvertiseIP = "1.2.3" }, `AdvertiseIP "1.2.3"`},
		{"multicast advertise", func(c *Config) { c.AdvertiseIP = "239.1.1.1" }, "cannot advertise 239.1.1.1"},
		{"unknown codec", func(c *Config) { c.Codecs = []string{"PCMU", "G729"} }, `unknown codec "G729"`},
		{"codec twice", func(c *Config) { c.Codecs = []string{"PCMU", "pcmu"} }, `codec "pcmu" listed twice`},
		{"static DTMF PT", func(c *Config) { c.DTMFPayloadType = 8 }, "DTMFPayloadType 8 is not a dynamic payload type"},
		{"ports reversed", func(c *Config) { c.PortMin, c.PortMax = 20000, 10000 }, "port range 20000-10000"},
		{"privileged ports", func(c *Config) { c.PortMin, c.PortMax = 100, 200 }, "port range 100-200"},
		{"single port", func(c *Config) { c.PortMin, c.PortMax = 20000, 20000 }, "even/odd pair"},
		{"jitter min above target", func(c *Config) { c.Jitter = JitterConfig{Target: 20 * time.Millisecond, Min: 40 * time.Millisecond} }, "Min <= Target"},
		{"jitter too large", func(c *Config) { c.Jitter = JitterConfig{Max: 5 * time.Second} }, "Max <= 2s"},
		{"negative timeout", func(c *Config) { c.RTPTimeout = -time.Second }, "RTPTimeout"},
		{"tiny RTCP interval", func(c *Config) { c.RTCPInterval = time.Millisecond }, "RTCPInterval"},
		{"session name injection", func(c *Config) { c.SessionName = "x\r\na=sendonly" }, "SessionName"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := NewEngine(testConfig(c.mod))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want it to mention %q", err, c.want)
			}
		})
	}
}

func TestConfigDefaults(t *testing.T) {
	set, err := Config{BindIP: "0.0.0.0", AdvertiseIP: "192.0.2.1"}.settings()
	if err != nil {
		t.Fatal(err)
	}
	if set.portMin != 16384 || set.portMax != 16482 || set.dtmfPT != 101 || set.rtpTimeout != 30*time.Second ||
		set.rtcpInterval != 5*time.Second || set.sessionName != "tipring" || len(set.codecs) != 2 || set.codecs[0] != pcmu ||
		set.jitter.Target != 40*time.Millisecond || set.jitter.Min != 20*time.Millisecond || set.jitter.Max != 200*time.Millisecond {
		t.Errorf("defaults: %+v", set)
	}
}

func TestPortPairsAndExhaustion(t *testing.T) {
	// A range of two pairs, in a corner nothing else in these tests uses.
	cfg := testConfig(func(c *Config) { c.PortMin, c.PortMax = 43101, 43105 }) // odd start: rounds up to 43102
	e, err := NewEngine(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var ss []*Session
	for range 2 {
		s, err := e.NewSession()
		if err != nil {
			t.Fatal(err)
		}
		ss = append(ss, s)
		p := s.LocalAddr().Port()
		if p%2 != 0 || p < 43102 || p+1 > 43105 {
			t.Errorf("RTP port %d: want even, with its RTCP port inside 43102-43105", p)
		}
		// The RTCP port is bound too.
		if _, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(s.LocalAddr().Addr(), p+1))); err == nil {
			t.Errorf("RTCP port %d is free", p+1)
		}
	}
	if _, err := e.NewSession(); err == nil || !strings.Contains(err.Error(), "no free RTP/RTCP port pair in 43102-43105") {
		t.Fatalf("third session: %v", err)
	}
	freed := ss[0].LocalAddr()
	ss[0].Close()
	s, err := e.NewSession()
	if err != nil {
		t.Fatalf("after a close: %v", err)
	}
	if s.LocalAddr() != freed {
		t.Errorf("got %v, want the freed pair %v", s.LocalAddr(), freed)
	}
	s.Close()
	ss[1].Close()
}

func TestPortInUseIsSkipped(t *testing.T) {
	busy, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 43111}) // an RTCP port
	if err != nil {
		t.Skip("port 43111 taken by someone else:", err)
	}
	defer busy.Close()
	e, err := NewEngine(testConfig(func(c *Config) { c.PortMin, c.PortMax = 43110, 43113 }))
	if err != nil {
		t.Fatal(err)
	}
	s, err := e.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.LocalAddr().Port() != 43112 {
		t.Errorf("got port %d, want 43112 (43110's RTCP port is busy)", s.LocalAddr().Port())
	}
}

func TestBindErrorIsReported(t *testing.T) {
	// 192.0.2.1 is not an address of this machine: binding fails at once
	// with the reason, not after trying every port.
	e, err := NewEngine(testConfig(func(c *Config) { c.BindIP = "192.0.2.1" }))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.NewSession(); err == nil || !strings.Contains(err.Error(), "bind RTP 192.0.2.1") {
		t.Fatalf("err = %v", err)
	}
}

func TestOfferUsesAdvertisedAddress(t *testing.T) {
	s := newTestSession(t, testConfig(func(c *Config) { c.AdvertiseIP = "198.51.100.9"; c.SessionName = "ata" }))
	offer, err := s.Offer()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"c=IN IP4 198.51.100.9\r\n", "s=ata\r\n", "o=tipring ", " IN IP4 198.51.100.9\r\n"} {
		if !strings.Contains(string(offer), want) {
			t.Errorf("offer lacks %q:\n%s", want, offer)
		}
	}
	if len(offer) >= 400 {
		t.Errorf("offer is %d bytes", len(offer))
	}
	again, _ := s.Offer()
	if string(again) != string(offer) {
		t.Errorf("unchanged offer changed:\n%s\n%s", offer, again)
	}
}
