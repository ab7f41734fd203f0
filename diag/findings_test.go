package diag

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tipring/tipring/diag/nat"
	"github.com/tipring/tipring/diag/netinfo"
)

func find(fs []Finding, id string) *Finding {
	for i := range fs {
		if fs[i].ID == id {
			return &fs[i]
		}
	}
	return nil
}

func ids(fs []Finding) []string {
	var out []string
	for _, f := range fs {
		out = append(out, f.ID+"/"+string(f.Severity))
	}
	return out
}

func TestHealthyHasNoFindings(t *testing.T) {
	if fs := Findings(healthy()); len(fs) != 0 {
		t.Fatalf("a healthy home got findings %v: %+v", ids(fs), fs)
	}
	if fs := Findings(&Evidence{}); len(fs) != 0 {
		t.Fatalf("empty evidence got findings %v", ids(fs))
	}
	if fs := Findings(nil); fs != nil {
		t.Fatalf("nil evidence got findings %v", ids(fs))
	}
}

// Each rule has a case that fires it, with the concrete evidence support
// reads, and near-misses that must not fire it.
func TestRules(t *testing.T) {
	tests := []struct {
		name   string
		id     string
		mutate func(e *Evidence)
		fire   bool
		sev    Severity
		// want are substrings of the finding's title or evidence.
		want []string
	}{
		{"hazardous voltage", FindingLineFault, func(e *Evidence) {
			setVerdict(e, Verdict{Check: CheckHazardousVoltage, Value: "150.0 V DC, 60.0 V AC rms", Limit: "at most 135 V DC and 50 V AC rms"})
			setVerdict(e, Verdict{Check: CheckForeignVoltage, Value: "150.0 V DC, 60.0 V AC rms", Limit: "at most 6 V DC and 10 V AC rms"})
		}, true, Problem, []string{"Dangerous voltage", "port 1: 150.0 V DC, 60.0 V AC rms"}},
		{"resistive fault", FindingLineFault, func(e *Evidence) {
			setVerdict(e, Verdict{Check: CheckResistiveFault, Value: "40 kΩ", Limit: "at least 150 kΩ to ground"})
		}, true, Problem, []string{"Fault on the phone line", "40 kΩ"}},
		{"voltage not measured is no fault", FindingLineFault, func(e *Evidence) {
			setVerdict(e, Verdict{Check: CheckForeignVoltage, Value: "not measured"})
		}, false, "", nil},

		{"receiver off hook while on-hook", FindingHandsetOffHook, func(e *Evidence) {
			e.LineTest[0].LoopCurrentMA = 25
			setVerdict(e, Verdict{Check: CheckReceiverOffHook, Value: "25.0 mA, hook on"})
		}, true, Problem, []string{"loop current 25.0 mA while the hook detector says on-hook"}},
		{"off hook without a call", FindingHandsetOffHook, func(e *Evidence) {
			e.LineTest[0].Hook = "off"
		}, true, Problem, []string{"port 1: the telephone was off the hook with no call going on at 09:59"}},
		{"off hook in a call", FindingHandsetOffHook, func(e *Evidence) {
			e.LineTest[0].Hook, e.LineTest[0].InCall = "off", true
		}, false, "", nil},
		{"hook state unknown", FindingHandsetOffHook, func(e *Evidence) {
			e.LineTest[0].Hook = "?"
			setVerdict(e, Verdict{Check: CheckReceiverOffHook, Value: `3.0 mA, hook state "?" unknown`})
		}, false, "", nil},

		{"no ringer", FindingNoPhone, func(e *Evidence) {
			e.LineTest[0].RingerREN = 0
			setVerdict(e, Verdict{Check: CheckRingerLoad, Value: "REN 0.00", Limit: "REN 0.175 to 5"})
		}, true, Problem, []string{"port 1: ringer load REN 0.00"}},
		{"too many ringers is not no phone", FindingNoPhone, func(e *Evidence) {
			e.LineTest[0].RingerREN = 6
			setVerdict(e, Verdict{Check: CheckRingerLoad, Value: "REN 6.00", Limit: "REN 0.175 to 5"})
		}, false, "", nil},
		{"too many ringers", FindingRingerOverload, func(e *Evidence) {
			e.LineTest[0].RingerREN = 6
			setVerdict(e, Verdict{Check: CheckRingerLoad, Value: "REN 6.00", Limit: "REN 0.175 to 5"})
		}, true, Warning, []string{"REN 6.00"}},

		{"suspended", FindingAccountSuspended, func(e *Evidence) { e.Account.Status = "suspended" },
			true, Problem, []string{"account 100200300 is suspended (as of 2026-03-02 09:55)"}},
		{"active", FindingAccountSuspended, func(e *Evidence) { e.Account.Status = "active" }, false, "", nil},
		{"no account known", FindingAccountSuspended, func(e *Evidence) { e.Account = nil }, false, "", nil},

		{"zero balance", FindingNoBalance, func(e *Evidence) { e.Account.Balance, e.Account.Low = "0.0000", true },
			true, Problem, []string{"the balance is 0.0000 USD"}},
		{"negative balance", FindingNoBalance, func(e *Evidence) { e.Account.Balance = "-1.20" }, true, Problem, []string{"-1.20 USD"}},
		{"a cent left", FindingNoBalance, func(e *Evidence) { e.Account.Balance, e.Account.Low = "0.01", true }, false, "", nil},
		{"balance not a number", FindingNoBalance, func(e *Evidence) { e.Account.Balance = "" }, false, "", nil},
		{"low balance", FindingLowBalance, func(e *Evidence) { e.Account.Balance, e.Account.Low, e.Account.Minutes = "0.85", true, 3 },
			true, Warning, []string{"the balance is 0.85 USD, about 3 minutes at the last call's rate"}},
		{"no balance is not low balance", FindingLowBalance, func(e *Evidence) { e.Account.Balance, e.Account.Low = "0.00", true }, false, "", nil},
		{"ample balance", FindingLowBalance, func(e *Evidence) { e.Account.Low = false }, false, "", nil},

		{"403 with an active account", FindingRegistrationRejected, func(e *Evidence) { reject(e, 403, "Forbidden", 12) },
			true, Problem, []string{"wrong SIP user name or password", "line 1 (1001): REGISTER to sip.example.net answered 403 Forbidden 12 times since 09:14"}},
		{"403 with a suspended account", FindingRegistrationRejected, func(e *Evidence) {
			reject(e, 403, "Forbidden", 2)
			e.Account.Status = "suspended"
		}, true, Problem, []string{"the account is suspended", "answered 403 Forbidden 2 times"}},
		{"403 with the account unknown", FindingRegistrationRejected, func(e *Evidence) {
			reject(e, 403, "Forbidden", 1)
			e.Account = nil
		}, true, Problem, []string{"wrong SIP password, or a suspended account", "answered 403 Forbidden since 09:14"}},
		{"challenge refused", FindingRegistrationRejected, func(e *Evidence) {
			l := &e.Lines[0]
			l.Registered, l.LastCode, l.LastReason = false, 401, "Unauthorized"
		}, true, Problem, []string{"ended with 401 Unauthorized: the password was not accepted"}},
		{"403 long ago, registered now", FindingRegistrationRejected, func(e *Evidence) {
			reject(e, 403, "Forbidden", 3)
			e.Lines[0].Registered, e.Lines[0].LastCode = true, 200
		}, false, "", nil},

		{"no default route", FindingNoGateway, func(e *Evidence) { e.Network.Gateway = nil }, true, Problem, []string{"no default gateway"}},
		{"routes unreadable", FindingNoGateway, func(e *Evidence) {
			e.Network.Gateway = nil
			e.Network.Errors = []string{"ipv4 routes: open /proc/net/route: permission denied"}
		}, false, "", nil},

		{"lookup failed", FindingDNSFailure, func(e *Evidence) {
			l := &e.Lines[0]
			l.Registered, l.LastError = false, "lookup sip.example.net: no such host"
		}, true, Problem, []string{"line 1 (1001): looking up sip.example.net failed: lookup sip.example.net: no such host"}},
		{"no DNS servers", FindingDNSFailure, func(e *Evidence) {
			e.Network.DNS = nil
			e.Lines[0].Registered = false
		}, true, Problem, []string{"no DNS server configured"}},
		{"no DNS servers, lines still up", FindingDNSFailure, func(e *Evidence) { e.Network.DNS = nil },
			true, Warning, []string{"every line is registered"}},
		{"resolv.conf unreadable", FindingDNSFailure, func(e *Evidence) {
			e.Network.DNS = nil
			e.Network.Errors = []string{"dns: open /etc/resolv.conf: no such file or directory"}
		}, false, "", nil},

		{"timeouts", FindingRegistrarUnreachable, func(e *Evidence) {
			reject(e, 0, "", 7)
			e.Lines[0].LastError = "transaction timed out"
		}, true, Problem, []string{"REGISTER to sip.example.net got no answer 7 times since 09:14", "the last attempt failed: transaction timed out"}},
		{"503", FindingRegistrarUnreachable, func(e *Evidence) { reject(e, 503, "Service Unavailable", 2) },
			true, Problem, []string{"answered 503 Service Unavailable 2 times"}},
		{"timeouts, then registered", FindingRegistrarUnreachable, func(e *Evidence) {
			reject(e, 0, "", 7)
			e.Lines[0].Registered = true
		}, false, "", nil},
		{"a DNS error is not unreachability", FindingRegistrarUnreachable, func(e *Evidence) {
			reject(e, 0, "", 3)
			e.Lines[0].LastError = "lookup sip.example.net on 192.168.178.1:53: server misbehaving"
		}, false, "", nil},

		{"ALG", FindingSIPALG, func(e *Evidence) {
			e.Lines[0].ALGSuspect, e.Lines[0].ALGWhy = true, "Contact 192.168.178.23:5060 arrived as 203.0.113.7:1024"
		}, true, Problem, []string{"line 1 (1001): Contact 192.168.178.23:5060 arrived as 203.0.113.7:1024"}},
		{"no ALG", FindingSIPALG, func(e *Evidence) { e.Lines[0].ALGWhy = "stale text" }, false, "", nil},

		{"one-way behind NAT", FindingOneWayAudioNAT, threeOneWay, true, Problem,
			[]string{"calls 3 of the last 5 received no audio", "the STUN server sees the adapter as 203.0.113.7:40000"}},
		{"one-way without NAT is not NAT's", FindingOneWayAudioNAT, func(e *Evidence) { threeOneWay(e); noNAT(e) }, false, "", nil},
		{"one-way without NAT", FindingOneWayAudio, func(e *Evidence) { threeOneWay(e); noNAT(e) }, true, Problem,
			[]string{"calls 3 of the last 5 received no audio", "no NAT was seen"}},
		{"one-way on a public address", FindingOneWayAudio, func(e *Evidence) {
			threeOneWay(e)
			e.Router.Found, e.NAT.Behaviour = false, nil
			e.NAT.Local = e.NAT.Mapped // the server cannot test behaviour, but sees our own address
		}, true, Problem, []string{"no NAT was seen"}},
		{"two-way audio", FindingOneWayAudio, func(e *Evidence) { noNAT(e) }, false, "", nil},

		{"router WAN address private", FindingDoubleNAT, func(e *Evidence) { e.Router.ExternalIP = addr("192.168.1.2") },
			true, Warning, []string{"router WAN address 192.168.1.2 is private → a second router"}},
		{"double NAT with symptoms", FindingDoubleNAT, func(e *Evidence) {
			e.Router.ExternalIP = addr("192.168.1.2")
			e.Lines[0].KeepAlivesFailed = 4
		}, true, Problem, []string{"192.168.1.2"}},
		{"two gateways answer", FindingDoubleNAT, func(e *Evidence) { e.Router.IGDs = 2 }, true, Warning, []string{"2 Internet gateways answer"}},
		{"router in shared space is CGNAT, not double NAT", FindingDoubleNAT, func(e *Evidence) {
			e.Router.ExternalIP = addr("100.64.12.34")
			e.NAT.CGNAT, e.NAT.DoubleNAT = true, true // as nat.judge reports it
		}, false, "", nil},

		{"STUN address in shared space", FindingCGNAT, func(e *Evidence) {
			e.NAT.Mapped, e.NAT.CGNAT = addrPort("100.72.1.5:40000"), true
		}, true, Warning, []string{"sees the adapter as 100.72.1.5, in the carriers' shared space"}},
		{"router in shared space", FindingCGNAT, func(e *Evidence) {
			e.Router.ExternalIP = addr("100.64.12.34")
			e.NAT.CGNAT, e.NAT.DoubleNAT = true, true
		}, true, Warning, []string{"router WAN address 100.64.12.34"}},
		{"public address", FindingCGNAT, func(e *Evidence) {}, false, "", nil},

		{"loss at the gateway", FindingLANLoss, func(e *Evidence) {
			e.Network.Probes[0] = probeRep("gateway", "192.168.178.1:33434", 5, 3, 1, 3, 1)
		}, true, Warning, []string{"to the router 192.168.178.1: 2 of 5 probes lost (40%)"}},
		{"Wi-Fi jitter with poor calls", FindingLANLoss, func(e *Evidence) {
			e.Network.Interfaces[1].Name, e.Network.Interfaces[1].Kind, e.Network.Gateway.Interface = "wlan0", "wlan", "wlan0"
			e.Network.Probes[0] = probeRep("gateway", "192.168.178.1:33434", 5, 5, 2, 60, 22)
			e.Calls = append(e.Calls, poorCall("p", at(9, 50), "15551230001", time.Minute))
		}, true, Problem, []string{"jitter 22 ms", "over Wi-Fi (wlan0)", "a recent call sounded poor"}},
		{"gateway ignores probes", FindingLANLoss, func(e *Evidence) {
			e.Network.Probes[0] = probeRep("gateway", "192.168.178.1:33434", 5, 0, 0, 0, 0)
		}, false, "", nil},
		{"a little LAN jitter", FindingLANLoss, func(e *Evidence) {
			e.Network.Probes[0] = probeRep("gateway", "192.168.178.1:33434", 5, 5, 1, 9, 5)
		}, false, "", nil},

		{"loss beyond the router", FindingISPLoss, func(e *Evidence) {
			e.Network.Probes[2] = probeRep("sip", "198.51.100.10:5060", 5, 3, 24, 40, 5)
		}, true, Warning, []string{"to the SIP server 198.51.100.10: 2 of 5 probes lost (40%)", "the home network is clean"}},
		{"jitter beyond, router unmeasured", FindingISPLoss, func(e *Evidence) {
			e.Network.Probes = []netinfo.ProbeReport{probeRep("dns", "9.9.9.9:53", 5, 5, 10, 90, 35)}
		}, true, Warning, []string{"jitter 35 ms", "the router was not measured"}},
		{"loss at home shows beyond", FindingISPLoss, func(e *Evidence) {
			e.Network.Probes[0] = probeRep("gateway", "192.168.178.1:33434", 5, 3, 1, 3, 1)
			e.Network.Probes[2] = probeRep("sip", "198.51.100.10:5060", 5, 3, 24, 40, 5)
		}, false, "", nil},

		{"queue under load", FindingBufferbloat, func(e *Evidence) {
			e.Network.Probes[2] = probeRep("sip", "198.51.100.10:5060", 5, 5, 20, 400, 12)
		}, true, Warning, []string{"round trips to the sip 198.51.100.10 ranged from 20 ms to 400 ms"}},
		{"STUN queue under load", FindingBufferbloat, func(e *Evidence) {
			e.NAT.RTTs = []time.Duration{msD(30), msD(250), msD(31)}
		}, true, Warning, []string{"STUN server ranged from 30 ms to 250 ms"}},
		{"satellite is slow, not bloated", FindingBufferbloat, func(e *Evidence) {
			e.Network.Probes[2] = probeRep("sip", "198.51.100.10:5060", 5, 5, 550, 700, 20)
		}, false, "", nil},

		{"poor calls", FindingPoorQuality, func(e *Evidence) {
			e.Calls = append(e.Calls, poorCall("p", at(9, 50), "15551230077", time.Minute))
		}, true, Warning, []string{"1 of the last 4 answered calls rated below MOS 3.6", "2026-03-02 09:50 to 15551230077: MOS 3.4"}},
		{"one-way calls are not poor quality", FindingPoorQuality, threeOneWay, false, "", nil},

		{"collector failed", FindingCollectorFailed, func(e *Evidence) {
			e.Sections = append(e.Sections, Section{Name: "router", Error: "did not finish within 4s: context deadline exceeded"})
		}, true, Info, []string{"router: did not finish within 4s"}},
	}
	seen := map[string]bool{}
	for _, tt := range tests {
		t.Run(tt.id+"/"+tt.name, func(t *testing.T) {
			e := healthy()
			tt.mutate(e)
			fs := Findings(e)
			f := find(fs, tt.id)
			if !tt.fire {
				if f != nil {
					t.Fatalf("fired on a near-miss: %+v", *f)
				}
				return
			}
			if f == nil {
				t.Fatalf("did not fire; got %v", ids(fs))
			}
			if f.Severity != tt.sev {
				t.Errorf("severity %s, want %s", f.Severity, tt.sev)
			}
			if f.Title == "" || f.Advice == "" || len(f.Evidence) == 0 {
				t.Errorf("incomplete finding %+v", *f)
			}
			text := f.Title + "\n" + strings.Join(f.Evidence, "\n")
			for _, w := range tt.want {
				if !strings.Contains(text, w) {
					t.Errorf("finding lacks %q:\n%s", w, text)
				}
			}
		})
		if tt.fire {
			seen[tt.id] = true
		}
	}
	for _, r := range rules() {
		if !seen[r.id] {
			t.Errorf("rule %s has no firing case", r.id)
		}
	}
}

// reject makes line 1 unregistered after n answers with code.
func reject(e *Evidence, code int, reason string, n int) {
	l := &e.Lines[0]
	l.Registered, l.LastCode, l.LastReason, l.Failures = false, code, reason, n
	l.Timeline = nil
	for i := range n {
		l.Timeline = append(l.Timeline, RegEvent{At: at(9, 14).Add(time.Duration(i) * time.Minute), Server: "sip.example.net", Transport: "udp", Code: code, Reason: reason})
	}
}

func threeOneWay(e *Evidence) {
	for _, i := range []int{0, 2, 4} {
		c := e.Calls[i]
		e.Calls[i] = oneWayCall(c.ID, c.Start, c.Number, time.Duration(c.TalkMS)*time.Millisecond)
	}
}

func noNAT(e *Evidence) {
	e.Router.Found = false
	e.NAT.Behaviour = &nat.Behaviour{Mapping: nat.EndpointIndependent, Filtering: nat.EndpointIndependent, NoNAT: true}
}

// Problems come before warnings, warnings before information, and within a
// severity the more specific cause first: the off-hook handset explains a
// silent line before anything about the network does.
func TestFindingsOrder(t *testing.T) {
	fs := Findings(troubled())
	got := ids(fs)
	want := []string{
		"handset-off-hook/problem",
		"registration-rejected/problem",
		"one-way-audio-nat/problem",
		"double-nat/problem",
		"lan-loss/problem",
		"poor-quality/warning",
		"collector-failed/info",
	}
	if !slices.Equal(got, want) {
		t.Fatalf("findings\n got %v\nwant %v", got, want)
	}
	// Swapping the input order of the evidence changes nothing.
	e := troubled()
	slices.Reverse(e.Calls)
	slices.Reverse(e.Sections)
	if again := ids(Findings(e)); !slices.Equal(again, want) {
		t.Fatalf("order depends on input order: %v", again)
	}
}

// Findings never writes into the evidence it reads (the bundle renders
// diag.json from the same value).
func TestFindingsLeaveEvidenceAlone(t *testing.T) {
	e := troubled()
	before := Summary(e)
	Findings(e)
	if e.Calls[0].ID != "c1" || e.Lines[0].Timeline[0].Code != 403 {
		t.Fatal("Findings reordered or changed the evidence")
	}
	if Summary(e) != before {
		t.Fatal("Summary is not deterministic")
	}
}

func TestIsDNSError(t *testing.T) {
	for s, want := range map[string]bool{
		"lookup sip.example.net: no such host":                        true,
		"lookup sip.example.net on 127.0.0.53:53: server misbehaving": true,
		"DNS SRV _sip._udp.example.net: timeout":                      true,
		"transaction timed out":                                       false,
		"write udp: network is unreachable":                           false,
	} {
		if got := isDNSError(s); got != want {
			t.Errorf("isDNSError(%q) = %v", s, got)
		}
	}
}
