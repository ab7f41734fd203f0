package backend

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/tipring/tipring/meter"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

const (
	testAccount = "100200300"
	testToken   = "s3cret-device-token"
)

const goodAccount = `{"account":"100200300","status":"active","currency":"USD","balance":"12.3400",
	"auto_recharge":{"enabled":true,"threshold":"5.00","amount":"20.00"},"rates_version":"v7"}`

// stub is a back end that answers every request with one canned answer and
// remembers what it was asked.
type stub struct {
	mu     sync.Mutex
	code   int
	body   string
	header http.Header
	reqs   []seen
}

type seen struct {
	method, path, auth, contentType string
	body                            []byte
}

func (s *stub) set(code int, body string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.code, s.body = code, body
}

func (s *stub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	s.mu.Lock()
	s.reqs = append(s.reqs, seen{r.Method, r.URL.EscapedPath(), r.Header.Get("Authorization"), r.Header.Get("Content-Type"), b})
	code, body := s.code, s.body
	for k, v := range s.header {
		w.Header()[k] = v
	}
	s.mu.Unlock()
	w.WriteHeader(code)
	io.WriteString(w, body)
}

func (s *stub) last(t *testing.T) seen {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.reqs) == 0 {
		t.Fatal("the back end received no request")
	}
	return s.reqs[len(s.reqs)-1]
}

// start serves a stub on 127.0.0.1 and returns a client for it.
func start(t *testing.T, code int, body string, opts Options) (*Client, *stub, *httptest.Server) {
	t.Helper()
	st := &stub{code: code, body: body}
	srv := httptest.NewServer(st)
	t.Cleanup(srv.Close)
	opts.HTTP = srv.Client()
	c, err := New(srv.URL+"/billing/", testAccount, testToken, opts)
	if err != nil {
		t.Fatal(err)
	}
	return c, st, srv
}

func TestAccount(t *testing.T) {
	c, st, _ := start(t, 200, goodAccount, Options{})
	a, err := c.Account(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := meter.Account{
		Account: testAccount, Status: meter.Active, Currency: "USD", Balance: 12_340_000,
		AutoRecharge: meter.AutoRecharge{Enabled: true, Threshold: 5 * meter.Unit, Amount: 20 * meter.Unit},
		RatesVersion: "v7",
	}
	if a != want {
		t.Errorf("account %+v\nwant %+v", a, want)
	}
	r := st.last(t)
	if r.method != "GET" || r.path != "/billing/v1/accounts/100200300" {
		t.Errorf("request %s %s, want GET /billing/v1/accounts/100200300", r.method, r.path)
	}
	if r.auth != "Bearer "+testToken {
		t.Errorf("Authorization %q", r.auth)
	}
	if c.Currency() != "USD" {
		t.Errorf("learned currency %q, want USD", c.Currency())
	}
}

func TestAccountPathEscapes(t *testing.T) {
	st := &stub{code: 200, body: strings.Replace(goodAccount, "100200300", "a/b c", 1)}
	srv := httptest.NewServer(st)
	defer srv.Close()
	c, err := New(srv.URL, "a/b c", testToken, Options{HTTP: srv.Client()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Account(context.Background()); err != nil {
		t.Fatal(err)
	}
	if p := st.last(t).path; p != "/v1/accounts/a%2Fb%20c" {
		t.Errorf("path %q: the account must stay one path segment", p)
	}
}

// Every rejection of an account answer names the problem, and nothing of a
// rejected answer is returned.
func TestAccountRejects(t *testing.T) {
	cases := []struct {
		name, body, want string
	}{
		{"bad JSON", `{"account":`, "malformed JSON"},
		{"empty body", ``, "empty answer"},
		{"not an object", `[1,2]`, "malformed JSON"},
		{"trailing garbage", goodAccount + `x`, "malformed JSON"},
		{"missing account", `{"status":"active","currency":"USD","balance":"1.00","auto_recharge":{"enabled":false},"rates_version":""}`, `missing field "account"`},
		{"other account", strings.Replace(goodAccount, `"100200300"`, `"999"`, 1), `account "999" is not ours`},
		{"missing status", strings.Replace(goodAccount, `"status":"active",`, ``, 1), `missing field "status"`},
		{"null status", strings.Replace(goodAccount, `"active"`, `null`, 1), `missing field "status"`},
		{"closed status", strings.Replace(goodAccount, `"active"`, `"closed"`, 1), `status "closed"`},
		{"missing currency", strings.Replace(goodAccount, `"currency":"USD",`, ``, 1), `missing field "currency"`},
		{"lower-case currency", strings.Replace(goodAccount, `"USD"`, `"usd"`, 1), `currency "usd": want three upper-case letters`},
		{"long currency", strings.Replace(goodAccount, `"USD"`, `"USDT"`, 1), `want three upper-case letters`},
		{"missing balance", strings.Replace(goodAccount, `"balance":"12.3400",`, ``, 1), `missing field "balance"`},
		{"number balance", strings.Replace(goodAccount, `"12.3400"`, `12.34`, 1), `balance`},
		{"negative balance", strings.Replace(goodAccount, `"12.3400"`, `"-0.01"`, 1), `balance -0.0100 is negative`},
		{"huge balance", strings.Replace(goodAccount, `"12.3400"`, `"1000000.000001"`, 1), `above the sanity limit of 1000000.0000`},
		{"absurd balance", strings.Replace(goodAccount, `"12.3400"`, `"99999999999"`, 1), `too large`},
		{"bad balance", strings.Replace(goodAccount, `"12.3400"`, `"12,34"`, 1), `balance: meter: amount "12,34"`},
		{"missing auto_recharge", `{"account":"100200300","status":"active","currency":"USD","balance":"1.00","rates_version":"v"}`, `missing field "auto_recharge"`},
		{"missing enabled", strings.Replace(goodAccount, `"enabled":true,`, ``, 1), `missing field "auto_recharge.enabled"`},
		{"enabled without amount", strings.Replace(goodAccount, `,"amount":"20.00"`, ``, 1), `missing field "auto_recharge.amount"`},
		{"enabled with zero amount", strings.Replace(goodAccount, `"20.00"`, `"0"`, 1), `auto_recharge.amount is zero`},
		{"negative threshold", strings.Replace(goodAccount, `"5.00"`, `"-5.00"`, 1), `auto_recharge.threshold -5.0000 is negative`},
		{"missing rates_version", strings.Replace(goodAccount, `,"rates_version":"v7"`, ``, 1), `missing field "rates_version"`},
		{"huge rates_version", strings.Replace(goodAccount, `"v7"`, `"`+strings.Repeat("v", 300)+`"`, 1), `rates_version of 300 bytes`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, _, _ := start(t, 200, tc.body, Options{})
			a, err := c.Account(context.Background())
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want one containing %q", err, tc.want)
			}
			if a != (meter.Account{}) {
				t.Errorf("a rejected answer was partly returned: %+v", a)
			}
			var be *Error
			if !errors.As(err, &be) || be.Op != "account" || be.StatusCode != 200 || !be.Temporary || !errors.Is(err, ErrInvalidAnswer) {
				t.Errorf("error %#v: want a temporary *Error for op account, status 200, wrapping ErrInvalidAnswer", err)
			}
			if c.Currency() != "" {
				t.Errorf("a rejected answer taught the currency %q", c.Currency())
			}
		})
	}
}

func TestDisabledAutoRechargeMayOmitFigures(t *testing.T) {
	body := `{"account":"100200300","status":"suspended","currency":"GBP","balance":"0","auto_recharge":{"enabled":false},"rates_version":""}`
	c, _, _ := start(t, 200, body, Options{})
	a, err := c.Account(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if a.Status != meter.Suspended || a.AutoRecharge.Enabled || a.Currency != "GBP" {
		t.Errorf("account %+v", a)
	}
}

func TestCurrencyExpectedAndLearned(t *testing.T) {
	// Expected currency: an answer in another one is rejected.
	c, st, _ := start(t, 200, goodAccount, Options{Currency: "EUR"})
	if _, err := c.Account(context.Background()); err == nil || !strings.Contains(err.Error(), `currency "USD" differs from the account's "EUR"`) {
		t.Errorf("err %v, want a currency mismatch", err)
	}
	// Learned currency: the first answer sets it, a later change is refused.
	c, st, _ = start(t, 200, goodAccount, Options{})
	if _, err := c.Account(context.Background()); err != nil {
		t.Fatal(err)
	}
	st.set(200, strings.Replace(goodAccount, "USD", "EUR", 1))
	if _, err := c.Account(context.Background()); err == nil || !strings.Contains(err.Error(), "differs") {
		t.Errorf("err %v, want a currency mismatch after learning USD", err)
	}
	st.set(200, `{"version":"v7","currency":"EUR","rates":[]}`)
	if _, err := c.Rates(context.Background()); err == nil || !strings.Contains(err.Error(), "differs") {
		t.Errorf("rates err %v, want a currency mismatch after learning USD", err)
	}
}

func TestRates(t *testing.T) {
	body := `{"version":"v7","currency":"USD","rates":[{"prefix":"44","destination":"United Kingdom","per_minute":"0.0210","first_increment":60,"next_increment":6}]}`
	c, st, _ := start(t, 200, body, Options{})
	got, err := c.Rates(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != body {
		t.Errorf("rates body %q, want the answer as sent", got)
	}
	if r := st.last(t); r.path != "/billing/v1/rates" || r.method != "GET" {
		t.Errorf("request %s %s", r.method, r.path)
	}
	if c.Currency() != "USD" {
		t.Errorf("currency %q not learned from the rates", c.Currency())
	}
}

func TestRatesRejects(t *testing.T) {
	cases := map[string]struct{ body, want string }{
		"bad JSON":         {`{"version":"v","currency":"USD","rates":[`, "malformed JSON"},
		"missing currency": {`{"version":"v","rates":[]}`, `missing field "currency"`},
		"bad currency":     {`{"version":"v","currency":"$","rates":[]}`, `currency "$"`},
		"too large":        {`{"version":"v","currency":"USD","rates":[` + strings.Repeat(" ", MaxRatesBytes) + `]}`, "answer larger than 33554432 bytes"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			c, _, _ := start(t, 200, tc.body, Options{})
			b, err := c.Rates(context.Background())
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want one containing %q", err, tc.want)
			}
			if b != nil {
				t.Error("a rejected rates body was returned")
			}
		})
	}
}

func TestPostUsage(t *testing.T) {
	c, st, _ := start(t, 200, `{"balance":"11.0000","status":"active"}`, Options{})
	rec := meter.Record{ID: "call-1", Number: "442071234567", Metered: true, Cost: 1_340_000, Disposition: meter.Answered}
	bal, status, err := c.PostUsage(context.Background(), rec)
	if err != nil {
		t.Fatal(err)
	}
	if bal != 11*meter.Unit || status != meter.Active {
		t.Errorf("answer %s %s", bal, status)
	}
	r := st.last(t)
	if r.method != "POST" || r.path != "/billing/v1/accounts/100200300/usage" || r.contentType != "application/json" {
		t.Errorf("request %s %s (%s)", r.method, r.path, r.contentType)
	}
	var sent meter.Record
	if err := json.Unmarshal(r.body, &sent); err != nil || sent.ID != "call-1" || sent.Cost != 1_340_000 {
		t.Errorf("posted %s (%v)", r.body, err)
	}
}

func TestPostUsageRejects(t *testing.T) {
	rec := meter.Record{ID: "call-1"}
	cases := map[string]struct{ body, want string }{
		"bad JSON":         {`{"balance":"1.00","status":`, "malformed JSON"},
		"missing balance":  {`{"status":"active"}`, `missing field "balance"`},
		"missing status":   {`{"balance":"1.00"}`, `missing field "status"`},
		"unknown status":   {`{"balance":"1.00","status":"frozen"}`, `status "frozen"`},
		"negative balance": {`{"balance":"-3","status":"active"}`, "is negative"},
		"huge balance":     {`{"balance":"2000000","status":"active"}`, "above the sanity limit"},
		"too large":        {`{"balance":"1.00","status":"active","pad":"` + strings.Repeat("x", MaxAnswerBytes) + `"}`, "answer larger than 65536 bytes"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			c, _, _ := start(t, 200, tc.body, Options{})
			bal, st, err := c.PostUsage(context.Background(), rec)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want one containing %q", err, tc.want)
			}
			if bal != 0 || st != "" {
				t.Errorf("rejected answer partly returned: %s %q", bal, st)
			}
		})
	}
}

// A record the back end must refuse is not sent at all.
func TestPostUsageRefusesBadRecords(t *testing.T) {
	c, st, _ := start(t, 200, `{"balance":"1.00","status":"active"}`, Options{})
	for _, rec := range []meter.Record{{}, {ID: "x", Cost: -1}} {
		_, _, err := c.PostUsage(context.Background(), rec)
		var be *Error
		if !errors.As(err, &be) || be.Temporary {
			t.Errorf("record %+v: err %v, want a permanent *Error", rec, err)
		}
	}
	if len(st.reqs) != 0 {
		t.Errorf("%d requests sent for invalid records", len(st.reqs))
	}
}

func TestRecharge(t *testing.T) {
	c, st, _ := start(t, 200, `{"result":"approved","message":"ok","balance":"25.0000"}`, Options{})
	res, err := c.Recharge(context.Background(), "rc-1", 20*meter.Unit, "auto")
	if err != nil {
		t.Fatal(err)
	}
	if res != (RechargeResult{Approved: true, Message: "ok", Balance: 25 * meter.Unit}) {
		t.Errorf("result %+v", res)
	}
	r := st.last(t)
	if r.path != "/billing/v1/accounts/100200300/recharge" || r.method != "POST" {
		t.Errorf("request %s %s", r.method, r.path)
	}
	if string(r.body) != `{"id":"rc-1","amount":"20.0000","reason":"auto"}` {
		t.Errorf("body %s", r.body)
	}

	st.set(200, `{"result":"declined","message":"card declined","balance":"5.0000"}`)
	res, err = c.Recharge(context.Background(), "rc-2", 20*meter.Unit, "auto")
	if err != nil || res.Approved || res.Message != "card declined" || res.Balance != 5*meter.Unit {
		t.Errorf("declined: %+v, %v", res, err)
	}
	// The message is optional.
	st.set(200, `{"result":"approved","balance":"5.0000"}`)
	if res, err = c.Recharge(context.Background(), "rc-3", meter.Unit, "manual"); err != nil || !res.Approved {
		t.Errorf("no message: %+v, %v", res, err)
	}
}

func TestRechargeRejects(t *testing.T) {
	cases := map[string]struct{ body, want string }{
		"bad JSON":         {`{"result":"approved"`, "malformed JSON"},
		"missing result":   {`{"message":"","balance":"1.00"}`, `missing field "result"`},
		"pending result":   {`{"result":"pending","balance":"1.00"}`, `result "pending": want "approved" or "declined"`},
		"missing balance":  {`{"result":"approved","message":""}`, `missing field "balance"`},
		"negative balance": {`{"result":"declined","balance":"-1"}`, "is negative"},
		"huge balance":     {`{"result":"approved","balance":"1000001"}`, "above the sanity limit"},
		"long message":     {`{"result":"declined","balance":"1","message":"` + strings.Repeat("m", 2000) + `"}`, "message of 2000 bytes"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			c, _, _ := start(t, 200, tc.body, Options{})
			res, err := c.Recharge(context.Background(), "rc", meter.Unit, "auto")
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want one containing %q", err, tc.want)
			}
			if res != (RechargeResult{}) {
				t.Errorf("rejected answer partly returned: %+v", res)
			}
		})
	}
}

func TestRechargeRefusesBadRequests(t *testing.T) {
	c, st, _ := start(t, 200, `{"result":"approved","balance":"1"}`, Options{})
	bad := []struct {
		id     string
		amount meter.Money
		reason string
	}{{"", meter.Unit, "auto"}, {"x", 0, "auto"}, {"x", -meter.Unit, "auto"}, {"x", MaxBalance + 1, "auto"}, {"x", meter.Unit, ""}}
	for _, b := range bad {
		if _, err := c.Recharge(context.Background(), b.id, b.amount, b.reason); err == nil {
			t.Errorf("Recharge(%q, %s, %q) accepted", b.id, b.amount, b.reason)
		}
	}
	if len(st.reqs) != 0 {
		t.Errorf("%d requests sent for invalid recharges", len(st.reqs))
	}
}

// HTTP errors: 5xx, 408 and 429 may be retried; other 4xx may not.
func TestHTTPErrors(t *testing.T) {
	cases := []struct {
		code      int
		body      string
		temporary bool
		msg       string
	}{
		{500, `{"error":"database down"}`, true, "database down"},
		{503, ``, true, "Service Unavailable"},
		{429, `slow down`, true, "slow down"},
		{408, ``, true, "Request Timeout"},
		{400, `{"error":"negative cost"}`, false, "negative cost"},
		{401, `{"message":"bad token"}`, false, "bad token"},
		{404, "no such\x00account\n", false, "no such account"},
		{302, ``, false, "redirects are not followed"},
	}
	for _, tc := range cases {
		c, _, _ := start(t, tc.code, tc.body, Options{})
		_, err := c.Account(context.Background())
		var be *Error
		if !errors.As(err, &be) {
			t.Fatalf("HTTP %d: err %v, want *Error", tc.code, err)
		}
		if be.StatusCode != tc.code || be.Temporary != tc.temporary || be.Message != tc.msg || be.Op != "account" {
			t.Errorf("HTTP %d: %+v, want temporary %v, message %q", tc.code, *be, tc.temporary, tc.msg)
		}
		if errors.Is(err, ErrInvalidAnswer) {
			t.Errorf("HTTP %d counted as an invalid answer", tc.code)
		}
	}
}

// A redirect is not followed: the token would go to another host.
func TestNoRedirect(t *testing.T) {
	other := &stub{code: 200, body: goodAccount}
	otherSrv := httptest.NewServer(other)
	defer otherSrv.Close()
	c, st, _ := start(t, 307, "", Options{})
	st.mu.Lock()
	st.header = http.Header{"Location": {otherSrv.URL + "/v1/accounts/100200300"}}
	st.mu.Unlock()
	if _, err := c.Account(context.Background()); err == nil {
		t.Fatal("a redirect was followed")
	}
	if len(other.reqs) != 0 {
		t.Error("the redirect target received a request")
	}
}

// The token appears in no error and no log line, even when the back end
// echoes it.
func TestTokenNeverShown(t *testing.T) {
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	echo := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v1/accounts/100200300" {
			w.WriteHeader(401)
			io.WriteString(w, `{"error":"token `+strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")+` is revoked"}`)
			return
		}
		w.WriteHeader(200)
		io.WriteString(w, `{"balance":"`+r.Header.Get("Authorization")+`","status":"active"}`)
	})
	srv := httptest.NewServer(echo)
	defer srv.Close()
	c, err := New(srv.URL, testAccount, testToken, Options{HTTP: srv.Client(), Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	_, err1 := c.Account(context.Background())
	_, _, err2 := c.PostUsage(context.Background(), meter.Record{ID: "x"})
	for _, err := range []error{err1, err2} {
		if err == nil {
			t.Fatal("no error")
		}
		if strings.Contains(err.Error(), testToken) {
			t.Errorf("error shows the token: %v", err)
		}
	}
	if !strings.Contains(err1.Error(), "token [token] is revoked") {
		t.Errorf("err %v: want the server's message with the token blanked", err1)
	}
	if strings.Contains(logs.String(), testToken) {
		t.Errorf("log shows the token:\n%s", logs.String())
	}
	if !strings.Contains(logs.String(), "answer rejected") {
		t.Errorf("no warning logged for the rejected answer:\n%s", logs.String())
	}
	// A malformed token is refused without being shown either.
	_, err = New(srv.URL, testAccount, "bad token\n"+testToken, Options{})
	if err == nil || strings.Contains(err.Error(), testToken) {
		t.Errorf("New with a bad token: %v", err)
	}
}

func TestNoAnswer(t *testing.T) {
	// A port nobody listens on: reserve one, then close it.
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close()
	c, err := New(url, testAccount, testToken, Options{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Account(context.Background())
	var be *Error
	if !errors.As(err, &be) || !be.Temporary || be.StatusCode != 0 {
		t.Fatalf("err %#v, want a temporary *Error without status", err)
	}
}

func TestContextEndsRequest(t *testing.T) {
	release := make(chan struct{})
	hang := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	})
	srv := httptest.NewServer(hang)
	defer srv.Close()
	defer close(release)
	c, err := New(srv.URL, testAccount, testToken, Options{HTTP: srv.Client()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err = c.Account(ctx)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err %v, want the context's deadline", err)
	}
	var be *Error
	if !errors.As(err, &be) || !be.Temporary {
		t.Errorf("err %#v: a timeout is temporary", err)
	}
	if time.Since(start) > 10*time.Second {
		t.Error("the request outlived its context by far")
	}
}

func TestNewRejects(t *testing.T) {
	cases := []struct{ base, account, token, currency, want string }{
		{"ftp://billing.example.net/", "1", "t", "", "want http:// or https://"},
		{"billing.example.net", "1", "t", "", "want http:// or https://"},
		{"https:///v1", "1", "t", "", "has no host"},
		{"https://user:pw@billing.example.net/", "1", "t", "", "carries credentials"},
		{"https://billing.example.net/?x=1", "1", "t", "", "no query"},
		{"https://billing.example.net/", "", "t", "", "empty account"},
		{"https://billing.example.net/", "1", "", "", "empty token"},
		{"https://billing.example.net/", "1", "t t", "", "printable ASCII"},
		{"https://billing.example.net/", "1", "t", "usd", `expected currency "usd"`},
		{"%zz", "1", "t", "", "does not parse"},
	}
	for _, tc := range cases {
		_, err := New(tc.base, tc.account, tc.token, Options{Currency: tc.currency})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("New(%q, %q, …, %q): err %v, want one containing %q", tc.base, tc.account, tc.currency, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), "pw") {
			t.Errorf("error shows the URL's password: %v", err)
		}
	}
}

// The caller's http.Client is not modified: the client works on a copy.
func TestOptionsHTTPNotModified(t *testing.T) {
	hc := &http.Client{}
	if _, err := New("http://127.0.0.1:1/", "1", "t", Options{HTTP: hc}); err != nil {
		t.Fatal(err)
	}
	if hc.CheckRedirect != nil {
		t.Error("New changed the caller's http.Client")
	}
}

// A token with characters that %q escapes is still blanked in quoted values.
func TestRedactQuoted(t *testing.T) {
	const tok = `ab"c\d`
	c, err := New("http://127.0.0.1:1/", "1", tok, Options{})
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = decodeUsage([]byte(`{"balance":"ab\"c\\d","status":"active"}`))
	if err == nil {
		t.Fatal("accepted")
	}
	msg := c.invalid("usage", err).Error()
	if strings.Contains(msg, `ab\"c\\d`) || strings.Contains(msg, tok) || !strings.Contains(msg, "[token]") {
		t.Errorf("message %q shows the token", msg)
	}
}

func BenchmarkDecodeAccount(b *testing.B) {
	body := []byte(goodAccount)
	for b.Loop() {
		if _, err := decodeAccount(body, testAccount, "USD"); err != nil {
			b.Fatal(err)
		}
	}
}

// The client's check of a 100,000-row rates answer (one scan of the JSON).
func BenchmarkRatesCheck100k(b *testing.B) {
	var sb strings.Builder
	sb.WriteString(`{"version":"v","currency":"USD","rates":[`)
	for i := range 100_000 {
		if i > 0 {
			sb.WriteByte(',')
		}
		fmt.Fprintf(&sb, `{"prefix":"%d","destination":"Somewhere mobile","per_minute":"0.0210","first_increment":60,"next_increment":6,"connect_fee":"0.0000","access_fee":"0.0000","access_fee_label":"","min_duration":0,"grace":0}`, 100_000+i)
	}
	sb.WriteString(`]}`)
	body := []byte(sb.String())
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if _, err := ratesCurrency(body, "USD"); err != nil {
			b.Fatal(err)
		}
	}
}

// A duplicate currency is judged as ParseRates reads it: the last one wins.
func TestRatesDuplicateCurrency(t *testing.T) {
	if _, err := ratesCurrency([]byte(`{"currency":"USD","rates":[],"currency":"EUR"}`), "USD"); err == nil {
		t.Error("a later currency EUR slipped past the check of USD")
	}
}
