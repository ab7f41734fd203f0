package billing_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/tipring/tipring/meter"
	"github.com/tipring/tipring/meter/backend"
	"github.com/tipring/tipring/scripts/devbilling/billing"
)

// The contract end to end: the meter's client against the development back
// end, over HTTP on 127.0.0.1.

const (
	account = "100200300"
	token   = "dev-token"
)

type pair struct {
	srv    *billing.Server
	http   *httptest.Server
	client *backend.Client
}

func newPair(t *testing.T, balance meter.Money) *pair {
	t.Helper()
	srv, err := billing.New(billing.Config{Account: account, Token: token, Balance: balance})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(hs.Close)
	return &pair{srv: srv, http: hs, client: newClient(t, hs, account, token)}
}

func newClient(t *testing.T, hs *httptest.Server, acct, tok string) *backend.Client {
	t.Helper()
	c, err := backend.New(hs.URL+"/", acct, tok, backend.Options{HTTP: hs.Client()})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// dev calls a switch and returns the answer's body.
func (p *pair) dev(t *testing.T, method, path, body string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, p.http.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := p.http.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func (p *pair) set(t *testing.T, change string) {
	t.Helper()
	if code, b := p.dev(t, "POST", "/dev/state", change); code != 200 {
		t.Fatalf("POST /dev/state %s: HTTP %d %s", change, code, b)
	}
}

func money(t *testing.T, s string) meter.Money {
	t.Helper()
	m, err := meter.ParseMoney(s)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func call(id, cost string) meter.Record {
	c, err := meter.ParseMoney(cost)
	if err != nil {
		panic(err)
	}
	return meter.Record{ID: id, Number: "442071234567", Disposition: meter.Answered, Metered: true, Cost: c}
}

func TestAccountAndRates(t *testing.T) {
	p := newPair(t, money(t, "5.00"))
	ctx := context.Background()
	a, err := p.client.Account(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := meter.Account{Account: account, Status: meter.Active, Currency: "USD", Balance: 5 * meter.Unit, RatesVersion: "dev-1"}
	if a != want {
		t.Errorf("account %+v, want %+v", a, want)
	}
	body, err := p.client.Rates(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var rates struct {
		Version  string       `json:"version"`
		Currency string       `json:"currency"`
		Rates    []meter.Rate `json:"rates"`
	}
	if err := json.Unmarshal(body, &rates); err != nil {
		t.Fatal(err)
	}
	if rates.Version != "dev-1" || rates.Currency != "USD" || len(rates.Rates) != len(billing.DefaultRates()) {
		t.Errorf("rates %s %s with %d rows", rates.Version, rates.Currency, len(rates.Rates))
	}
	for i, r := range billing.DefaultRates() {
		if rates.Rates[i] != r {
			t.Errorf("row %d: %+v, want %+v", i, rates.Rates[i], r)
		}
	}
	// The meter accepts the default table and rates by it.
	tbl, err := meter.ParseRates(body)
	if err != nil {
		t.Fatalf("meter.ParseRates refuses the default table: %v", err)
	}
	if tbl.Version() != "dev-1" || tbl.Currency() != "USD" {
		t.Errorf("table %s %s", tbl.Version(), tbl.Currency())
	}
	for number, prefix := range map[string]string{
		"12125551234": "1", "19005551234": "1900", "442071234567": "44", "447700900123": "447",
		"4915112345678": "4915", "525512345678": "52", "600": "600", "604": "604",
	} {
		if r, ok := tbl.Lookup(number); !ok || r.Prefix != prefix {
			t.Errorf("%s rated by %q, want %q", number, r.Prefix, prefix)
		}
	}

	// Auto recharge as a switch sets it.
	p.set(t, `{"auto_recharge":{"enabled":true,"threshold":"1.00","amount":"20.00"},"rates_version":"dev-7"}`)
	if a, err = p.client.Account(ctx); err != nil {
		t.Fatal(err)
	}
	if a.AutoRecharge != (meter.AutoRecharge{Enabled: true, Threshold: meter.Unit, Amount: 20 * meter.Unit}) || a.RatesVersion != "dev-7" {
		t.Errorf("account after the switch: %+v", a)
	}
}

// The same usage id twice is applied once and answered the same.
func TestUsageIdempotent(t *testing.T) {
	p := newPair(t, money(t, "5.00"))
	ctx := context.Background()
	post := func(r meter.Record, wantBal string) {
		t.Helper()
		bal, st, err := p.client.PostUsage(ctx, r)
		if err != nil {
			t.Fatal(err)
		}
		if bal != money(t, wantBal) || st != meter.Active {
			t.Errorf("post %s: %s %s, want %s active", r.ID, bal, st, wantBal)
		}
	}
	post(call("a", "1.25"), "3.75")
	post(call("a", "1.25"), "3.75")
	post(call("b", "0.50"), "3.25")
	post(call("a", "1.25"), "3.75") // the first answer, replayed
	post(call("c", "0"), "3.25")    // an unanswered call: a record, no charge
	if st := p.srv.State(); st.Balance != money(t, "3.25") || st.Overdraft != 0 {
		t.Errorf("state balance %s overdraft %s, want 3.25 and 0", st.Balance, st.Overdraft)
	}
	code, b := p.dev(t, "GET", "/dev/usage", "")
	want := `[{"id":"a","cost":"1.2500","posts":3},{"id":"b","cost":"0.5000","posts":1},{"id":"c","cost":"0.0000","posts":1}]`
	if code != 200 || string(b) != want {
		t.Errorf("/dev/usage: HTTP %d %s\nwant %s", code, b, want)
	}
}

// A repeat with another cost changes nothing but is counted, so a test can
// catch a device that rewrites delivered records.
func TestUsageConflict(t *testing.T) {
	p := newPair(t, money(t, "5.00"))
	ctx := context.Background()
	if _, _, err := p.client.PostUsage(ctx, call("a", "1.00")); err != nil {
		t.Fatal(err)
	}
	bal, _, err := p.client.PostUsage(ctx, call("a", "2.00"))
	if err != nil || bal != money(t, "4.00") {
		t.Errorf("conflicting repeat: %s, %v; want the first answer 4.0000", bal, err)
	}
	if u := p.srv.Usage(); len(u) != 1 || u[0].Posts != 2 || u[0].Conflicts != 1 || u[0].Cost != meter.Unit {
		t.Errorf("usage %+v", u)
	}
}

// Usage beyond the balance leaves it at zero and shows as the overdraft.
func TestUsageOverdraft(t *testing.T) {
	p := newPair(t, money(t, "1.00"))
	bal, _, err := p.client.PostUsage(context.Background(), call("a", "1.30"))
	if err != nil || bal != 0 {
		t.Fatalf("answer %s, %v; want 0", bal, err)
	}
	if st := p.srv.State(); st.Overdraft != money(t, "0.30") {
		t.Errorf("overdraft %s, want 0.3000", st.Overdraft)
	}
}

func TestUsageRejectsBadRecords(t *testing.T) {
	p := newPair(t, money(t, "5.00"))
	for body, want := range map[string]string{
		`{"id":"a","cost":"-1.00"}`:           "negative cost",
		`{"cost":"1.00"}`:                     "no id",
		`{"id":"a","cost":1}`:                 "bad JSON",
		`{"id":"a","cost":"1.00"} {"id":"b"}`: "more than one value",
	} {
		req, _ := http.NewRequest("POST", p.http.URL+"/v1/accounts/"+account+"/usage", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := p.http.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 400 || !strings.Contains(string(b), want) {
			t.Errorf("%s: HTTP %d %s, want 400 with %q", body, resp.StatusCode, b, want)
		}
	}
	if st := p.srv.State(); st.Balance != 5*meter.Unit || len(p.srv.Usage()) != 0 {
		t.Errorf("a refused record was applied: balance %s, usage %+v", st.Balance, p.srv.Usage())
	}
}

func TestRecharge(t *testing.T) {
	p := newPair(t, money(t, "0.50"))
	ctx := context.Background()
	res, err := p.client.Recharge(ctx, "rc-1", 20*meter.Unit, "auto")
	if err != nil || !res.Approved || res.Balance != money(t, "20.50") || res.Message != "recharged 20.0000" {
		t.Fatalf("approve: %+v, %v", res, err)
	}
	again, err := p.client.Recharge(ctx, "rc-1", 20*meter.Unit, "auto")
	if err != nil || again != res {
		t.Errorf("repeat: %+v, %v; want %+v", again, err, res)
	}
	if b := p.srv.State().Balance; b != money(t, "20.50") {
		t.Errorf("balance %s after a repeated recharge, want 20.5000", b)
	}

	p.set(t, `{"recharge":"decline","decline_message":"card expired"}`)
	res, err = p.client.Recharge(ctx, "rc-2", 20*meter.Unit, "auto")
	if err != nil || res.Approved || res.Message != "card expired" || res.Balance != money(t, "20.50") {
		t.Errorf("decline: %+v, %v", res, err)
	}

	p.set(t, `{"recharge":"approve","status":"suspended"}`)
	res, err = p.client.Recharge(ctx, "rc-3", 20*meter.Unit, "manual")
	if err != nil || res.Approved || !strings.Contains(res.Message, "suspended") {
		t.Errorf("suspended: %+v, %v", res, err)
	}

	p.set(t, `{"status":"active","balance":"999990.00"}`)
	res, err = p.client.Recharge(ctx, "rc-4", 20*meter.Unit, "manual")
	if err != nil || res.Approved || !strings.Contains(res.Message, "may not exceed") {
		t.Errorf("above the bound: %+v, %v", res, err)
	}

	rc := p.srv.State().Recharges
	got := []string{}
	for _, r := range rc {
		got = append(got, r.ID+":"+r.Result+":"+string(rune('0'+r.Posts)))
	}
	if strings.Join(got, " ") != "rc-1:approved:2 rc-2:declined:1 rc-3:declined:1 rc-4:declined:1" {
		t.Errorf("recharges in the state: %v", got)
	}
}

func TestSuspension(t *testing.T) {
	p := newPair(t, money(t, "5.00"))
	ctx := context.Background()
	p.set(t, `{"status":"suspended"}`)
	a, err := p.client.Account(ctx)
	if err != nil || a.Status != meter.Suspended {
		t.Fatalf("account %+v, %v; want suspended", a, err)
	}
	// Calls made before the suspension are still delivered, and charged.
	bal, st, err := p.client.PostUsage(ctx, call("a", "1.00"))
	if err != nil || st != meter.Suspended || bal != 4*meter.Unit {
		t.Errorf("usage while suspended: %s %s %v", bal, st, err)
	}
	p.set(t, `{"status":"active"}`)
	if a, err = p.client.Account(ctx); err != nil || a.Status != meter.Active {
		t.Errorf("account %+v, %v; want active again", a, err)
	}
}

func TestOutageDown(t *testing.T) {
	p := newPair(t, money(t, "5.00"))
	ctx := context.Background()
	p.set(t, `{"outage":true}`)
	_, _, err := p.client.PostUsage(ctx, call("a", "1.00"))
	var be *backend.Error
	if !errors.As(err, &be) || be.StatusCode != 503 || !be.Temporary {
		t.Fatalf("during the outage: %v; want a temporary 503", err)
	}
	if _, err := p.client.Rates(ctx); err == nil {
		t.Error("rates answered during the outage")
	}
	// The switches still answer, and say so.
	if code, b := p.dev(t, "GET", "/dev/state", ""); code != 200 || !bytes.Contains(b, []byte(`"outage":true`)) {
		t.Errorf("/dev/state during the outage: %d %s", code, b)
	}
	p.set(t, `{"outage":false}`)
	// The retry after the outage is applied once.
	bal, _, err := p.client.PostUsage(ctx, call("a", "1.00"))
	if err != nil || bal != 4*meter.Unit {
		t.Errorf("after the outage: %s, %v", bal, err)
	}
	if u := p.srv.Usage(); len(u) != 1 || u[0].Posts != 1 {
		t.Errorf("usage %+v: the post refused by the outage must not count", u)
	}
}

func TestOutageHang(t *testing.T) {
	p := newPair(t, money(t, "5.00"))
	p.set(t, `{"outage":"hang"}`)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	_, _, err := p.client.PostUsage(ctx, call("a", "1.00"))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err %v, want the caller's deadline", err)
	}
	var be *backend.Error
	if !errors.As(err, &be) || !be.Temporary || be.StatusCode != 0 {
		t.Errorf("err %#v: want a temporary error without status", err)
	}
	p.set(t, `{"outage":false}`)
	if _, err := p.client.Account(context.Background()); err != nil {
		t.Errorf("after the hang: %v", err)
	}
	if len(p.srv.Usage()) != 0 {
		t.Error("a request held by the hang was applied")
	}
}

func TestBadTokenAndAccount(t *testing.T) {
	p := newPair(t, money(t, "5.00"))
	ctx := context.Background()
	for name, c := range map[string]*backend.Client{
		"wrong token":   newClient(t, p.http, account, "not-the-token"),
		"wrong account": newClient(t, p.http, "999", token),
	} {
		_, err := c.Account(ctx)
		var be *backend.Error
		want := map[string]int{"wrong token": 401, "wrong account": 404}[name]
		if !errors.As(err, &be) || be.StatusCode != want || be.Temporary {
			t.Errorf("%s: %v; want a permanent %d", name, err, want)
		}
		if _, _, err := c.PostUsage(ctx, call("x", "1.00")); err == nil {
			t.Errorf("%s: usage accepted", name)
		}
	}
	if st := p.srv.State(); st.Balance != 5*meter.Unit {
		t.Errorf("balance %s: a refused request was applied", st.Balance)
	}
	// No token at all: 401 and a challenge.
	resp, err := p.http.Client().Get(p.http.URL + "/v1/rates")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 || !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer") {
		t.Errorf("no token: HTTP %d, WWW-Authenticate %q", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
	}
}

// Answers the switches break are rejected by the client; usage applied
// behind a broken answer is not applied again on the retry.
func TestBrokenAnswersRejected(t *testing.T) {
	p := newPair(t, money(t, "5.00"))
	ctx := context.Background()
	if _, err := p.client.Account(ctx); err != nil { // learns USD
		t.Fatal(err)
	}
	p.set(t, `{"malformed":true}`)
	if _, err := p.client.Account(ctx); !errors.Is(err, backend.ErrInvalidAnswer) || !strings.Contains(err.Error(), "malformed JSON") {
		t.Errorf("malformed account: %v", err)
	}
	if _, err := p.client.Rates(ctx); !errors.Is(err, backend.ErrInvalidAnswer) {
		t.Errorf("malformed rates: %v", err)
	}
	if _, _, err := p.client.PostUsage(ctx, call("a", "1.00")); !errors.Is(err, backend.ErrInvalidAnswer) {
		t.Errorf("malformed usage answer: %v", err)
	}
	p.set(t, `{"malformed":false}`)
	if bal, _, err := p.client.PostUsage(ctx, call("a", "1.00")); err != nil || bal != 4*meter.Unit {
		t.Errorf("retry: %s, %v; want 4.0000, charged once", bal, err)
	}

	// Each switch sets both fields, so that none leaks into the next case.
	for _, tc := range []struct{ change, want string }{
		{`{"balance":"-1.00","currency":"USD"}`, "is negative"},
		{`{"balance":"2000000","currency":"USD"}`, "above the sanity limit"},
		{`{"balance":"1.00","currency":"EUR"}`, `currency "EUR" differs from the account's "USD"`},
		{`{"balance":"1.00","currency":"usd"}`, "three upper-case letters"},
	} {
		p.set(t, tc.change)
		if _, err := p.client.Account(ctx); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("after %s: %v; want %q", tc.change, err, tc.want)
		}
	}
	p.set(t, `{"balance":"1.00","currency":"USD"}`)
	if _, err := p.client.Account(ctx); err != nil {
		t.Errorf("a good answer after the bad ones: %v", err)
	}
}

func TestRatesSwitches(t *testing.T) {
	p := newPair(t, money(t, "5.00"))
	ctx := context.Background()
	code, b := p.dev(t, "POST", "/dev/rates", `{"rates":[{"prefix":"44","destination":"UK","per_minute":"0.0300","first_increment":60,"next_increment":60}]}`)
	if code != 200 {
		t.Fatalf("POST /dev/rates: %d %s", code, b)
	}
	body, err := p.client.Rates(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(body, []byte(`"version":"dev-upload-1"`)) || !bytes.Contains(body, []byte(`"destination":"UK"`)) {
		t.Errorf("rates after the upload: %s", body)
	}
	if a, _ := p.client.Account(ctx); a.RatesVersion != "dev-upload-1" {
		t.Errorf("account rates_version %q, want the new table's", a.RatesVersion)
	}
	// A raw answer is served as is: valid JSON reaches the caller (the rows
	// are meter.ParseRates' to judge), broken JSON does not.
	raw := `{"version":"x","currency":"USD","rates":[{"prefix":"44","per_minute":"abc"}]}`
	p.dev(t, "POST", "/dev/rates?raw=1", raw)
	if body, err = p.client.Rates(ctx); err != nil || string(body) != raw {
		t.Errorf("raw rates: %s, %v", body, err)
	}
	p.dev(t, "POST", "/dev/rates?raw=1", `{"version":"x","rates":[`)
	if _, err = p.client.Rates(ctx); !errors.Is(err, backend.ErrInvalidAnswer) {
		t.Errorf("broken raw rates: %v", err)
	}
	if code, _ := p.dev(t, "POST", "/dev/rates", `{"version":"v"}`); code != 400 {
		t.Errorf("an upload without rates: HTTP %d, want 400", code)
	}
}

// A bad switch changes nothing at all.
func TestStateSwitchValidation(t *testing.T) {
	p := newPair(t, money(t, "5.00"))
	for _, body := range []string{
		`{"status":"closed","balance":"1.00"}`,
		`{"balance":"1.00","recharge":"maybe"}`,
		`{"balance":"1.00","outage":"sometimes"}`,
		`{"balance":"1.00","ballance":"2.00"}`,
		`{"balance":1}`,
		`{"currency":""}`,
	} {
		if code, b := p.dev(t, "POST", "/dev/state", body); code != 400 {
			t.Errorf("%s: HTTP %d %s, want 400", body, code, b)
		}
	}
	st := p.srv.State()
	if st.Balance != 5*meter.Unit || st.Status != meter.Active || st.Recharge != "approve" || st.Outage != billing.NoOutage {
		t.Errorf("state changed by refused switches: %+v", st)
	}
	_, b := p.dev(t, "GET", "/dev/state", "")
	var got map[string]any
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"balance", "status", "auto_recharge", "recharge", "decline_message", "outage", "malformed", "rates_version", "overdraft", "recharges"} {
		if _, ok := got[k]; !ok {
			t.Errorf("GET /dev/state has no %q: %s", k, b)
		}
	}
}

// The client's side of a rates download: a 100,000-row table over loopback
// HTTP, size-checked and currency-checked (the rows are ParseRates' work).
func BenchmarkRatesDownload100k(b *testing.B) {
	rates := make([]meter.Rate, 100_000)
	for i := range rates {
		rates[i] = meter.Rate{Prefix: fmt.Sprintf("%d", 100_000+i), Destination: "Somewhere mobile", PerMinute: 21_000, FirstIncrement: 60, NextIncrement: 6}
	}
	srv, err := billing.New(billing.Config{Account: account, Token: token, Rates: rates})
	if err != nil {
		b.Fatal(err)
	}
	hs := httptest.NewServer(srv.Handler())
	defer hs.Close()
	c, err := backend.New(hs.URL, account, token, backend.Options{HTTP: hs.Client()})
	if err != nil {
		b.Fatal(err)
	}
	var n int
	for b.Loop() {
		body, err := c.Rates(context.Background())
		if err != nil {
			b.Fatal(err)
		}
		n = len(body)
	}
	b.SetBytes(int64(n))
	b.ReportMetric(float64(n), "answer-bytes")
}
