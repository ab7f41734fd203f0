package billing

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/tipring/tipring/meter"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func TestNewRejects(t *testing.T) {
	cases := []struct {
		cfg  Config
		want string
	}{
		{Config{Token: "t"}, "empty account"},
		{Config{Account: "1"}, "empty token"},
		{Config{Account: "1", Token: "a b"}, "printable ASCII"},
		{Config{Account: "1", Token: "t", Currency: "usd"}, `currency "usd"`},
		{Config{Account: "1", Token: "t", Balance: -1}, "balance"},
		{Config{Account: "1", Token: "t", Balance: 2_000_000 * meter.Unit}, "balance"},
	}
	for _, tc := range cases {
		if _, err := New(tc.cfg); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("New(%+v): err %v, want one containing %q", tc.cfg, err, tc.want)
		}
	}
}

// The switches answer loopback callers only, whatever the listen address.
func TestDevSwitchesLoopbackOnly(t *testing.T) {
	s, err := New(Config{Account: "1", Token: "t"})
	if err != nil {
		t.Fatal(err)
	}
	for _, remote := range []string{"192.0.2.1:1234", "[2001:db8::1]:80", "garbage"} {
		req := httptest.NewRequest("POST", "/dev/state", strings.NewReader(`{"status":"suspended"}`))
		req.RemoteAddr = remote
		rec := httptest.NewRecorder()
		s.Handler().ServeHTTP(rec, req)
		if rec.Code != http.StatusForbidden {
			t.Errorf("from %s: HTTP %d, want 403", remote, rec.Code)
		}
	}
	if st := s.State().Status; st != meter.Active {
		t.Errorf("a refused switch changed the status to %q", st)
	}
	for _, remote := range []string{"127.0.0.1:5000", "[::1]:5000", "[::ffff:127.0.0.1]:5000"} {
		req := httptest.NewRequest("GET", "/dev/state", nil)
		req.RemoteAddr = remote
		rec := httptest.NewRecorder()
		s.Handler().ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			t.Errorf("from %s: HTTP %d, want 200", remote, rec.Code)
		}
	}
}

func TestOutageJSON(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Outage
		out  string
	}{{"true", OutageDown, "true"}, {`"down"`, OutageDown, "true"}, {"false", NoOutage, "false"}, {`"hang"`, OutageHang, `"hang"`}} {
		var o Outage
		if err := json.Unmarshal([]byte(tc.in), &o); err != nil || o != tc.want {
			t.Errorf("%s: %q, %v", tc.in, o, err)
		}
		if b, _ := json.Marshal(o); string(b) != tc.out {
			t.Errorf("%q marshals as %s, want %s", o, b, tc.out)
		}
	}
	var o Outage
	if err := json.Unmarshal([]byte(`"sometimes"`), &o); err == nil {
		t.Error(`outage "sometimes" accepted`)
	}
}

func TestDefaultRates(t *testing.T) {
	rates := DefaultRates()
	if len(rates) < 30 {
		t.Errorf("%d default rates; want a few dozen", len(rates))
	}
	byPrefix := map[string]meter.Rate{}
	for _, r := range rates {
		if _, dup := byPrefix[r.Prefix]; dup {
			t.Errorf("prefix %s appears twice", r.Prefix)
		}
		byPrefix[r.Prefix] = r
		if r.Prefix == "" || strings.Trim(r.Prefix, "0123456789") != "" {
			t.Errorf("prefix %q is not digits", r.Prefix)
		}
		if r.Destination == "" || r.PerMinute <= 0 || r.FirstIncrement <= 0 || r.NextIncrement <= 0 {
			t.Errorf("row %+v: want a destination, a rate and increments", r)
		}
		if (r.AccessFee != 0) != (r.AccessFeeLabel != "") {
			t.Errorf("row %s: an access fee goes with its label", r.Prefix)
		}
	}
	// Emergency numbers are never rated.
	for _, n := range []string{"911", "112", "999", "000", "110"} {
		if _, ok := byPrefix[n]; ok {
			t.Errorf("emergency number %s has a rate", n)
		}
	}
	// The development provider's test numbers are cheap and billed to the second.
	for _, n := range []string{"600", "601", "602", "603", "604"} {
		r, ok := byPrefix[n]
		if !ok || r.PerMinute != TestNumberRate || r.FirstIncrement != 1 || r.NextIncrement != 1 ||
			!strings.HasPrefix(r.Destination, "tipring test number") {
			t.Errorf("test number %s: %+v", n, r)
		}
	}
	// The plans the brief of the table promises.
	want := map[string]func(meter.Rate) bool{
		"1":    func(r meter.Rate) bool { return r.FirstIncrement == 1 && r.NextIncrement == 1 },
		"44":   func(r meter.Rate) bool { return r.FirstIncrement == 60 && r.NextIncrement == 6 },
		"447":  func(r meter.Rate) bool { return r.AccessFee > 0 && r.AccessFeeLabel == "mobile access fee" },
		"49":   func(r meter.Rate) bool { return r.FirstIncrement == 30 && r.NextIncrement == 6 },
		"52":   func(r meter.Rate) bool { return r.ConnectFee > 0 },
		"1900": func(r meter.Rate) bool { return r.MinDuration == 60 && r.PerMinute >= meter.Unit },
		"86":   func(r meter.Rate) bool { return r.Grace > 0 },
		"91":   func(r meter.Rate) bool { return r.Destination == "India" },
	}
	for p, ok := range want {
		if r, found := byPrefix[p]; !found || !ok(r) {
			t.Errorf("prefix %s: %+v", p, r)
		}
	}
	// A fresh table each time: a caller may change its copy.
	a, b := DefaultRates(), DefaultRates()
	a[0].Destination = "changed"
	if b[0].Destination == "changed" {
		t.Error("DefaultRates returns shared rows")
	}
}

// docRow is how docs/devbilling.md lists one rate.
func docRow(r meter.Rate) string {
	fee := func(m meter.Money) string {
		if m == 0 {
			return "-"
		}
		return m.String()
	}
	secs := func(n int) string {
		if n == 0 {
			return "-"
		}
		return fmt.Sprintf("%d s", n)
	}
	access := fee(r.AccessFee)
	if r.AccessFeeLabel != "" {
		access += " (" + r.AccessFeeLabel + ")"
	}
	return fmt.Sprintf("| `%s` | %s | %s | %d/%d | %s | %s | %s | %s |", r.Prefix, r.Destination, r.PerMinute,
		r.FirstIncrement, r.NextIncrement, fee(r.ConnectFee), access, secs(r.MinDuration), secs(r.Grace))
}

// The documented table is the default table, row for row.
func TestDocListsDefaultRates(t *testing.T) {
	doc, err := os.ReadFile("../../../docs/devbilling.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(doc), "\n## Default rates\n")
	if !ok {
		t.Fatal(`docs/devbilling.md has no "## Default rates" section`)
	}
	section, _, _ = strings.Cut(section, "\n## ")
	var documented []string
	for line := range strings.Lines(section) {
		if line = strings.TrimSpace(line); strings.HasPrefix(line, "| `") {
			documented = append(documented, line)
		}
	}
	var want []string
	for _, r := range DefaultRates() {
		want = append(want, docRow(r))
	}
	if !slices.Equal(documented, want) {
		t.Errorf("docs/devbilling.md's rate table differs from DefaultRates; it should read:\n%s", strings.Join(want, "\n"))
	}
}
