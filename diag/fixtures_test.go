package diag

import (
	"net/netip"
	"time"

	"github.com/tipring/tipring/diag/nat"
	"github.com/tipring/tipring/diag/netinfo"
	"github.com/tipring/tipring/diag/quality"
	"github.com/tipring/tipring/diag/router"
)

// The fixtures are evidence as the collectors would report it for two
// homes: one where everything works, one with several things wrong. Rule
// tests start from the healthy one and break one thing at a time.

var cet = time.FixedZone("", 3600)

func at(hh, mm int) time.Time { return time.Date(2026, 3, 2, hh, mm, 0, 0, cet) }

func addr(s string) netip.Addr         { return netip.MustParseAddr(s) }
func addrPort(s string) netip.AddrPort { return netip.MustParseAddrPort(s) }
func msD(n int) time.Duration          { return time.Duration(n) * time.Millisecond }

// goodCall is an answered call with clean media, rated by the real model.
func goodCall(id string, start time.Time, number string, talk time.Duration) Call {
	q := quality.Assess(quality.Call{Answered: true, PLC: true, AudioSentMs: talk.Milliseconds(),
		AudioReceivedMs: talk.Milliseconds(), JitterMs: 2, RTTms: 40})
	pk := uint64(talk / (20 * time.Millisecond))
	return Call{ID: id, Start: start, Port: 1, Direction: "outgoing", Number: number, Disposition: "answered",
		SIPCode: 200, Reason: "OK", HungUpBy: "local", RingMS: 4000, TalkMS: talk.Milliseconds(), Cost: "0.0210",
		RTPSent: pk, RTPReceived: pk, AudioSentMS: talk.Milliseconds(), AudioReceivedMS: talk.Milliseconds(),
		JitterMS: 2, RTTms: 40, Quality: q}
}

// oneWayCall is an answered call where no audio came back.
func oneWayCall(id string, start time.Time, number string, talk time.Duration) Call {
	c := goodCall(id, start, number, talk)
	c.RTPReceived, c.AudioReceivedMS, c.JitterMS, c.RTTms = 0, 0, 0, 0
	c.Quality = quality.Assess(quality.Call{Answered: true, PLC: true, AudioSentMs: talk.Milliseconds()})
	return c
}

// poorCall is an answered call with loss and delay.
func poorCall(id string, start time.Time, number string, talk time.Duration) Call {
	c := goodCall(id, start, number, talk)
	c.LossPercent, c.JitterMS, c.RTTms = 8, 40, 120
	c.Quality = quality.Assess(quality.Call{Answered: true, PLC: true, AudioSentMs: talk.Milliseconds(),
		AudioReceivedMs: talk.Milliseconds(), JitterMs: 40, RTTms: 120, LossFraction: 0.08})
	return c
}

func passingVerdicts() []Verdict {
	return []Verdict{
		{Check: CheckHazardousVoltage, Pass: true, Value: "0.0 V DC, 0.0 V AC rms", Limit: "at most 135 V DC and 50 V AC rms", Meaning: "no dangerous voltage on the line"},
		{Check: CheckForeignVoltage, Pass: true, Value: "0.0 V DC, 0.0 V AC rms", Limit: "at most 6 V DC and 10 V AC rms", Meaning: "no voltage on the line from outside"},
		{Check: CheckResistiveFault, Pass: true, Value: "no leakage measurable", Limit: "at least 150 kΩ to ground", Meaning: "the line's wiring is well insulated"},
		{Check: CheckReceiverOffHook, Pass: true, Value: "0.0 mA, hook on", Limit: "at most 5 mA while on-hook", Meaning: "every telephone on the line is on the hook"},
		{Check: CheckRingerLoad, Pass: true, Value: "REN 1.00", Limit: "REN 0.175 to 5", Meaning: "a telephone is connected"},
	}
}

// setVerdict replaces one check's verdict in the first line test.
func setVerdict(e *Evidence, v Verdict) {
	for i := range e.LineTest[0].Verdicts {
		if e.LineTest[0].Verdicts[i].Check == v.Check {
			e.LineTest[0].Verdicts[i] = v
		}
	}
}

func probeRep(name, target string, sent, recv int, minMS, maxMS, jitterMS int) netinfo.ProbeReport {
	loss := 0.0
	if sent > 0 {
		loss = float64(sent-recv) * 100 / float64(sent)
	}
	return netinfo.ProbeReport{Name: name, ProbeResult: netinfo.ProbeResult{
		Target: addrPort(target), Method: "udp", Sent: sent, Received: recv, LossPct: loss,
		Min: msD(minMS), Avg: msD((minMS + maxMS) / 2), Max: msD(maxMS), Jitter: msD(jitterMS)}}
}

func healthy() *Evidence {
	return &Evidence{
		Schema:  SchemaVersion,
		Created: at(10, 0),
		Device: Device{Model: "TR-1", Board: "sim", Firmware: "0.4.0", Build: "a1b2c3d", UptimeSeconds: 7300,
			MAC: "02:00:5e:10:00:01", Serial: "TR1-000123", Account: "100200300", Region: "us",
			Config: "[device]\nboard = \"sim\"\n"},
		Customer: Customer{Phone: "Panasonic KX-TS500"},
		Lines: []Line{{
			Port: 1, User: "1001", Registered: true, Server: "sip.example.net", Transport: "udp",
			LastCode: 200, LastReason: "OK", PublicAddr: "203.0.113.7:5060",
			Timeline: []RegEvent{
				{At: at(7, 59), Server: "sip.example.net", Transport: "udp", Code: 401, Reason: "Unauthorized"},
				{At: at(7, 59), Server: "sip.example.net", Transport: "udp", Code: 200, Reason: "OK"},
				{At: at(9, 0), Server: "sip.example.net", Transport: "udp", Code: 200, Reason: "OK"},
			},
			KeepAlivesSent: 48,
		}},
		Calls: []Call{
			goodCall("c1", at(8, 30), "15551230001", 185*time.Second),
			{ID: "c2", Start: at(8, 45), Port: 1, Direction: "outgoing", Number: "15551230002", Disposition: "busy",
				SIPCode: 486, Reason: "Busy Here", RingMS: 0},
			goodCall("c3", at(9, 10), "442071234567", 62*time.Second),
			{ID: "c4", Start: at(9, 20), Port: 1, Direction: "incoming", Number: "15551239999", Disposition: "no_answer",
				SIPCode: 487, Reason: "Request Terminated", RingMS: 30000},
			goodCall("c5", at(9, 40), "15551230001", 20*time.Minute+3*time.Second),
		},
		Account: &Account{Status: "active", Balance: "12.3400", Currency: "USD", LastSync: at(9, 55), Minutes: 587},
		LineTest: []LineTest{{
			Port: 1, At: at(9, 59), Hook: "on", RingerREN: 1.0, LeakageKOhm: 10000, Verdicts: passingVerdicts(),
			DialMode: "dtmf", FlashesMS: []int64{600},
			Digits: []Digit{{Digit: "5", LowDBm0: -9, HighDBm0: -7, TwistDB: 2, DurationMS: 90}, {Digit: "1", LowDBm0: -9, HighDBm0: -7, TwistDB: 2, DurationMS: 80}},
		}},
		Network: &netinfo.Report{
			Interfaces: []netinfo.Interface{
				{Name: "lo", Index: 1, MTU: 65536, Flags: []string{"up", "loopback"}, Kind: "loopback"},
				{Name: "eth0", Index: 2, MAC: "02:00:5e:10:00:01", MTU: 1500, Flags: []string{"up", "broadcast", "multicast", "running"},
					Addrs: []netip.Prefix{netip.MustParsePrefix("192.168.178.23/24")}, Kind: "ethernet", OperState: "up", SpeedMbps: 100},
			},
			Gateway: &netinfo.Gateway{Addr: addr("192.168.178.1"), Interface: "eth0", MAC: "3c:a6:2f:11:22:33", Vendor: "AVM", VendorKind: netinfo.KindRouter},
			DNS:     []netip.Addr{addr("192.168.178.1")},
			DHCP: &netinfo.Lease{Source: "/var/lib/dhcp/dhclient.eth0.leases", Client: "dhclient", Interface: "eth0",
				Address: netip.MustParsePrefix("192.168.178.23/24"), Routers: []netip.Addr{addr("192.168.178.1")},
				Server: addr("192.168.178.1"), Expire: at(20, 0)},
			Neighbours: []netinfo.Neighbour{
				{Addr: addr("192.168.178.1"), MAC: "3c:a6:2f:11:22:33", Interface: "eth0", State: "reachable", Vendor: "AVM", VendorKind: netinfo.KindRouter, Router: true},
				{Addr: addr("192.168.178.20"), MAC: "a4:83:e7:00:00:01", Interface: "eth0", State: "stale", Vendor: "Apple", VendorKind: netinfo.KindDevice},
				{Addr: addr("192.168.178.21"), MAC: "a4:83:e7:00:00:02", Interface: "eth0", State: "stale", Vendor: "Apple", VendorKind: netinfo.KindDevice},
				{Addr: addr("192.168.178.30"), MAC: "b8:27:eb:00:00:03", Interface: "eth0", State: "reachable"},
			},
			Hosts: 4, Routers: 1,
			SSDP: []netinfo.SSDPDevice{{UUID: "uuid:1", From: addr("192.168.178.1"), Types: []string{"upnp:rootdevice"},
				FriendlyName: "FRITZ!Box 7590", Manufacturer: "AVM Berlin", ModelName: "FRITZ!Box 7590"}},
			MDNS: []netinfo.MDNSService{{Instance: "Office Printer", Type: "_ipp._tcp", From: addr("192.168.178.40")}},
			Probes: []netinfo.ProbeReport{
				probeRep("gateway", "192.168.178.1:33434", 5, 5, 1, 2, 0),
				probeRep("dns", "192.168.178.1:53", 5, 5, 2, 4, 1),
				probeRep("sip", "198.51.100.10:5060", 5, 5, 24, 31, 2),
			},
			DHCPNote: "lease read from /var/lib/dhcp/dhclient.eth0.leases",
		},
		Router: &router.Report{
			Found: true, Location: "http://192.168.178.1:49000/igddesc.xml", Server: "FRITZ!Box 7590 UPnP/1.0 AVM FRITZ!Box 7590 154.07.57",
			IGDs: 1, DeviceType: "urn:schemas-upnp-org:device:InternetGatewayDevice:2",
			Manufacturer: "AVM Berlin", ModelName: "FRITZ!Box 7590", ModelNumber: "avm", FriendlyName: "FRITZ!Box 7590",
			Firmware: "154.07.57", FirmwareSource: "SSDP SERVER header",
			WANAccessType: "DSL", PhysicalLinkStatus: "Up", UpstreamKbps: 40000, DownstreamKbps: 100000,
			LinkConfig: "dsl", DSLLinkStatus: "Up", Connection: "WANPPPConnection:1", ExternalIP: addr("203.0.113.7"),
			ConnectionType: "IP_Routed", ConnectionStatus: "Connected", Uptime: 36 * time.Hour,
			Access: "dsl", AccessConfidence: 0.95,
			AccessEvidence: []router.Evidence{
				{Access: "dsl", Source: "WANAccessType", Confidence: 0.5, Why: "WANAccessType DSL is set by the router's vendor and is often wrong"},
				{Access: "dsl", Source: "WANDSLLinkConfig", Confidence: 0.9, Why: "the router's DSL link is up"},
			},
		},
		NAT: &nat.Report{
			Server: "stun.example.net:3478", ServerAddr: addrPort("198.51.100.20:3478"), Local: addrPort("192.168.178.23:40000"),
			Mapped:    addrPort("203.0.113.7:40000"),
			Behaviour: &nat.Behaviour{Mapping: nat.EndpointIndependent, Filtering: nat.AddressAndPortDependent},
			RTTs:      []time.Duration{msD(22), msD(23), msD(25)},
			Evidence:  []string{"the STUN server stun.example.net:3478 sees us as 203.0.113.7:40000"},
		},
		Sections: []Section{{Name: "device", TookMS: 1}, {Name: "network", TookMS: 1600}, {Name: "router", TookMS: 1300}, {Name: "nat", TookMS: 900}},
	}
}

// troubled is a home where the SIP password is wrong after a
// reprovisioning, the adapter sits behind a second router on Wi-Fi, calls
// went one-way, the handset was left off the hook and a line-test
// collector timed out.
func troubled() *Evidence {
	e := healthy()
	e.Customer = Customer{Problem: "calls fail since this morning, and earlier people could not hear me"}
	l := &e.Lines[0]
	l.Registered, l.LastCode, l.LastReason, l.Failures = false, 403, "Forbidden", 12
	l.Timeline = nil
	for i := range 12 {
		l.Timeline = append(l.Timeline, RegEvent{At: at(9, 14).Add(time.Duration(i) * 4 * time.Minute), Server: "sip.example.net", Transport: "udp", Code: 403, Reason: "Forbidden"})
	}
	l.KeepAlivesFailed = 3
	e.Calls = []Call{
		goodCall("c1", at(8, 30), "15551230001", 185*time.Second),
		oneWayCall("c2", at(8, 35), "15551230002", 40*time.Second),
		oneWayCall("c3", at(8, 38), "15551230002", 25*time.Second),
		poorCall("c4", at(8, 50), "442071234567", 300*time.Second),
		oneWayCall("c5", at(9, 5), "15551230003", 12*time.Second),
	}
	e.LineTest[0].Hook = "off"
	e.LineTest[0].LoopCurrentMA = 24
	setVerdict(e, Verdict{Check: CheckReceiverOffHook, Pass: true, Value: "24.0 mA, hook off", Limit: "at most 5 mA while on-hook",
		Meaning: "the telephone is off the hook (in use, or the handset left off the hook if no call is going on)"})
	e.Network.Interfaces[1].Name, e.Network.Interfaces[1].Kind = "wlan0", "wlan"
	e.Network.Gateway.Interface = "wlan0"
	e.Network.Probes[0] = probeRep("gateway", "192.168.178.1:33434", 5, 3, 2, 48, 19)
	e.Router.ExternalIP = addr("192.168.1.2")
	e.NAT.DoubleNAT = true
	e.Sections = append(e.Sections, Section{Name: "line-test-2", TookMS: 4000, Error: "did not finish within 4s: context deadline exceeded"})
	return e
}
