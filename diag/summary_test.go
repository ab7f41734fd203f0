package diag

import (
	"encoding/json"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/tipring/tipring/diag/netinfo"
)

var update = flag.Bool("update", false, "rewrite testdata/summary/*.golden and the FuzzSummary seed corpus")

// checkPage fails when a line of summary.txt is wider than the page or not
// text.
func checkPage(t testing.TB, s string) {
	t.Helper()
	if !utf8.ValidString(s) {
		t.Fatal("summary is not valid UTF-8")
	}
	for i, l := range strings.Split(s, "\n") {
		if n := utf8.RuneCountInString(l); n > summaryWidth {
			t.Fatalf("line %d is %d columns wide: %q", i+1, n, l)
		}
		if strings.ContainsFunc(l, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
			t.Fatalf("line %d holds a control character: %q", i+1, l)
		}
	}
}

// flat undoes the wrapping, so that tests can look for a sentence wherever
// the lines broke.
func flat(s string) string { return strings.Join(strings.Fields(s), " ") }

func TestSummaryGolden(t *testing.T) {
	for name, e := range map[string]*Evidence{"healthy": healthy(), "troubled": troubled()} {
		t.Run(name, func(t *testing.T) {
			got := Summary(e)
			checkPage(t, got)
			path := filepath.Join("testdata", "summary", name+".golden")
			if *update {
				writeFile(t, path, []byte(got))
				seed, err := json.Marshal(e)
				if err != nil {
					t.Fatal(err)
				}
				writeFile(t, filepath.Join("testdata", "fuzz", "FuzzSummary", name),
					[]byte("go test fuzz v1\n[]byte("+strconv.Quote(string(seed))+")\n"))
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test -run TestSummaryGolden -update to create it)", err)
			}
			if got != string(want) {
				t.Errorf("summary differs from %s (rerun with -update if the change is intended):\n%s", path, got)
			}
		})
	}
}

func writeFile(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// The likely causes come before the checklist, each with its evidence, and
// the checklist answers every item the provider asks about.
func TestSummaryCausesFirst(t *testing.T) {
	s := Summary(troubled())
	causes := strings.Index(s, "LIKELY CAUSES")
	checklist := strings.Index(s, "SUPPORT CHECKLIST")
	cause := strings.Index(s, "answered 403 Forbidden 12 times since 09:14")
	if causes < 0 || checklist < 0 || cause < causes || cause > checklist {
		t.Fatalf("the 403 cause is not among the likely causes before the checklist:\n%s", s)
	}
	for _, item := range []string{"Account number:", "Problem description:", "Recent calls (newest first):", "Internet connection:", "ISP:",
		"Router make and model:", "Telephone make and model:", "Home network:", "Registration:"} {
		if i := strings.Index(s, item); i < checklist {
			t.Errorf("checklist item %q missing or out of place", item)
		}
	}
	s = flat(s)
	for _, want := range []string{
		`in the customer's words: "calls fail since this morning`,
		"2026-03-02 09:05 → 15551230003 answered 200 OK",
		"no audio received",
		"very likely DSL (the router says: the router's DSL link is up)",
		"AVM Berlin FRITZ!Box 7590",
		"NOT registered with sip.example.net over udp; last answer 403 Forbidden",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("summary lacks %q", want)
		}
	}
}

// What the device cannot know is said plainly, with the reason.
func TestSummarySaysWhatItCannotKnow(t *testing.T) {
	e := healthy()
	e.Router.Found, e.Router.Manufacturer, e.Router.ModelName, e.Router.Access = false, "", "", ""
	e.Network.Gateway.Vendor = ""
	e.Router.ExternalIP = netip.Addr{}
	e.NAT = nil
	e.Customer = Customer{}
	e.Account = nil
	e.LineTest = nil
	e.Calls = nil
	s := Summary(e)
	checkPage(t, s)
	s = flat(s)
	for _, want := range []string{
		"not given: the customer did not describe the problem",
		"unknown: the router does not answer UPnP; no STUN test ran",
		"unknown: the router does not answer UPnP and its maker is not in the table (MAC 3c:a6:2f:11:22:33)",
		"unknown: the public address is unknown, so the ISP cannot be looked up",
		"not given by the customer; a telephone cannot tell its make or model over the line",
		"no line test: this board cannot test its phone ports",
		"the balance is unknown",
		"none: the call history is empty",
		"Wi-Fi: unknown",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("summary lacks %q:\n%s", want, s)
		}
	}

	// The gateway's maker stands in for a silent router.
	e.Network.Gateway.Vendor = "AVM"
	if s := flat(Summary(e)); !strings.Contains(s, "made by AVM (from its MAC address 3c:a6:2f:11:22:33); model unknown: the router does not answer UPnP") {
		t.Errorf("the gateway vendor is not used:\n%s", s)
	}
	e.Network = nil
	e.Router = nil
	if s := flat(Summary(e)); !strings.Contains(s, "unknown: the network was not examined") {
		t.Errorf("a missing network section is not explained:\n%s", s)
	}
}

func TestSummaryAnonymized(t *testing.T) {
	e := healthy()
	if s := Summary(e); strings.Contains(s, "numbers are replaced by tokens") {
		t.Fatal("a plain bundle claims to be anonymized")
	}
	// Firmware hands diag the evidence already tokenized, with the flag set.
	e.Anonymized = true
	for i := range e.Calls {
		e.Calls[i].Number = fmt.Sprintf("num-%08x", i)
	}
	s := Summary(e)
	if !strings.Contains(s, "numbers are replaced by tokens") {
		t.Fatalf("the anonymized flag is not reflected:\n%s", s)
	}
	if !strings.Contains(s, "→ num-00000000") || strings.Contains(s, "15551230001") {
		t.Fatalf("the call table does not show the tokens:\n%s", s)
	}
}

// Evidence can hold anything a collector read from the network: line
// breaks and control characters must not forge summary lines, and long
// words must not widen the page.
func TestSummaryHostileText(t *testing.T) {
	e := healthy()
	e.Customer.Problem = "help\n\nLIKELY CAUSES\r\n  1. [problem] fake\x1b[2J" + strings.Repeat("x", 300)
	e.Network.SSDP = append(e.Network.SSDP, netinfo.SSDPDevice{FriendlyName: "evil\u2028name\tx"})
	e.Calls[0].Number = strings.Repeat("9", 80)
	s := Summary(e)
	checkPage(t, s)
	if strings.Count(s, "\nLIKELY CAUSES\n") != 1 {
		t.Fatalf("customer text forged a section:\n%s", s)
	}
}

func FuzzSummary(f *testing.F) {
	for _, e := range []*Evidence{healthy(), troubled(), {}} {
		b, err := json.Marshal(e)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var e Evidence
		if err := json.Unmarshal(data, &e); err != nil {
			return
		}
		for _, fd := range Findings(&e) {
			if fd.ID == "" || fd.Title == "" || fd.Advice == "" {
				t.Fatalf("incomplete finding %+v", fd)
			}
		}
		checkPage(t, Summary(&e))
	})
}

// BenchmarkSummary is the cost of findings and summary.txt for a troubled
// home, paid once per bundle on a small CPU.
func BenchmarkSummary(b *testing.B) {
	e := troubled()
	b.ReportAllocs()
	for b.Loop() {
		Summary(e)
	}
}
