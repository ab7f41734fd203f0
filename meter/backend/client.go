// Package backend is the meter's client for the provider's billing back end
// (DESIGN.md, "Billing back end"): the account, the rate table, usage and
// recharges over HTTP and JSON. Every answer is checked whole before any of
// it is returned, so a bad answer is an error that names the problem and can
// never half-update the meter's cache.
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
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/tipring/tipring/meter"
)

const (
	// MaxAnswerBytes bounds the account, usage and recharge answers. They
	// are a few hundred bytes; anything far larger is not one of them, and
	// reading it whole would waste a small device's memory.
	MaxAnswerBytes = 64 << 10
	// MaxRatesBytes bounds the rates answer: a table of 100,000 prefixes at
	// about 200 bytes a row is 20 MiB.
	MaxRatesBytes = 32 << 20
	// maxErrorBytes is how much of an error answer is read for its message.
	maxErrorBytes = 4 << 10
	// defaultTimeout guards requests whose context has no deadline; a
	// rates download on a slow uplink needs the long end of it.
	defaultTimeout = 60 * time.Second
)

// ErrInvalidAnswer is wrapped by every *Error about an answer that came
// back but failed validation (as opposed to no answer or an HTTP error).
var ErrInvalidAnswer = errors.New("invalid answer")

// Options are the client's settings; the zero value works.
type Options struct {
	// HTTP sends the requests; default a client with a 60 s timeout. Its
	// redirect policy is replaced: the client follows no redirects, so the
	// token is never sent anywhere but the configured back end.
	HTTP *http.Client
	// Logger receives one debug line per exchange and a warning per
	// rejected answer; default discards.
	Logger *slog.Logger
	// Currency is the account's expected currency (ISO 4217). Empty: the
	// first valid answer that names a currency sets it, and later answers
	// must agree.
	Currency string
}

// Client talks to one account at one billing back end. It is safe for
// concurrent use.
type Client struct {
	base    *url.URL
	account string
	token   string
	http    *http.Client
	log     *slog.Logger

	mu       sync.Mutex
	currency string // expected or learned; "" until known
}

// Error is a failed exchange with the back end.
type Error struct {
	Op         string // "account", "rates", "usage" or "recharge"
	StatusCode int    // the HTTP status; 0 when no answer came
	Message    string // what went wrong, in words; never contains the token
	// Temporary says a later retry may succeed: no answer (network error,
	// timeout), 5xx, 408, 429, or an answer that failed validation (usage
	// and recharges carry an idempotency key, so repeating them is safe).
	// A 4xx says the request itself is refused and repeating it will not
	// help.
	Temporary bool
	// Err is the cause when there is one: a network or context error, or
	// ErrInvalidAnswer.
	Err error
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("backend: ")
	b.WriteString(e.Op)
	if e.StatusCode != 0 {
		fmt.Fprintf(&b, ": HTTP %d", e.StatusCode)
	}
	if e.Message != "" {
		b.WriteString(": ")
		b.WriteString(e.Message)
	}
	if e.Err != nil && !errors.Is(e.Err, ErrInvalidAnswer) {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// New prepares a client for baseURL (http or https, e.g.
// "https://billing.example.net/"), the account id and the device token.
func New(baseURL, account, token string, opts Options) (*Client, error) {
	u, err := url.Parse(baseURL)
	if err != nil {
		// url.Error repeats the URL, which may hold credentials; say less.
		return nil, errors.New("backend: base URL does not parse as a URL")
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("backend: base URL %q: want http:// or https://", u.Redacted())
	}
	if u.Host == "" {
		return nil, fmt.Errorf("backend: base URL %q has no host", u.Redacted())
	}
	if u.User != nil {
		return nil, fmt.Errorf("backend: base URL %q carries credentials: the device authenticates with its token", u.Redacted())
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("backend: base URL %q: no query or fragment allowed", u.Redacted())
	}
	if account == "" {
		return nil, errors.New("backend: empty account")
	}
	if token == "" {
		return nil, errors.New("backend: empty token")
	}
	for i := range len(token) {
		if token[i] < 0x21 || token[i] > 0x7e {
			// Do not quote the token: it is a secret even when malformed.
			return nil, fmt.Errorf("backend: the token has a character other than printable ASCII at byte %d", i)
		}
	}
	if opts.Currency != "" && !meter.ValidCurrency(opts.Currency) {
		return nil, fmt.Errorf("backend: expected currency %q: want three upper-case letters (ISO 4217)", opts.Currency)
	}
	hc := &http.Client{Timeout: defaultTimeout}
	if opts.HTTP != nil {
		copied := *opts.HTTP
		hc = &copied
	}
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Client{base: u, account: account, token: token, http: hc, log: log, currency: opts.Currency}, nil
}

// Currency is the account's currency as far as the client knows it: the
// expected one, or the one the first answer named; "" before that.
func (c *Client) Currency() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.currency
}

// Account fetches the account's status, balance, currency, automatic
// recharge and rates version.
func (c *Client) Account(ctx context.Context) (meter.Account, error) {
	const op = "account"
	body, err := c.do(ctx, op, http.MethodGet, c.accountPath(), nil, MaxAnswerBytes)
	if err != nil {
		return meter.Account{}, err
	}
	a, err := decodeAccount(body, c.account, c.Currency())
	if err == nil {
		err = c.learnCurrency(a.Currency)
	}
	if err != nil {
		return meter.Account{}, c.invalid(op, err)
	}
	return a, nil
}

// Rates fetches the rate table and returns the answer's body for
// meter.ParseRates, which owns the validation of the rows. The client
// checks what is its own: the size, the HTTP status, that the body is one
// JSON object, and its currency.
func (c *Client) Rates(ctx context.Context) ([]byte, error) {
	const op = "rates"
	body, err := c.do(ctx, op, http.MethodGet, "v1/rates", nil, MaxRatesBytes)
	if err != nil {
		return nil, err
	}
	cur, err := ratesCurrency(body, c.Currency())
	if err == nil {
		err = c.learnCurrency(cur)
	}
	if err != nil {
		return nil, c.invalid(op, err)
	}
	return body, nil
}

// PostUsage delivers one call record (its ID is the idempotency key) and
// returns the balance and status the back end answers.
func (c *Client) PostUsage(ctx context.Context, r meter.Record) (meter.Money, meter.Status, error) {
	const op = "usage"
	if r.ID == "" {
		return 0, "", &Error{Op: op, Message: "the record has no id (the idempotency key)"}
	}
	if r.Cost < 0 {
		return 0, "", &Error{Op: op, Message: fmt.Sprintf("record %q has a negative cost %s", r.ID, r.Cost)}
	}
	body, err := c.do(ctx, op, http.MethodPost, c.accountPath()+"/usage", r, MaxAnswerBytes)
	if err != nil {
		return 0, "", err
	}
	bal, st, err := decodeUsage(body)
	if err != nil {
		return 0, "", c.invalid(op, err)
	}
	return bal, st, nil
}

// RechargeResult is the back end's verdict on a recharge.
type RechargeResult struct {
	Approved bool
	Message  string // the back end's words, for the history ("card declined")
	Balance  meter.Money
}

// Recharge asks for amount to be added to the balance. id is the
// idempotency key; reason is "auto" or "manual".
func (c *Client) Recharge(ctx context.Context, id string, amount meter.Money, reason string) (RechargeResult, error) {
	const op = "recharge"
	switch {
	case id == "":
		return RechargeResult{}, &Error{Op: op, Message: "empty id (the idempotency key)"}
	case amount <= 0 || amount > MaxBalance:
		return RechargeResult{}, &Error{Op: op, Message: fmt.Sprintf("amount %s: want more than zero and at most %s", amount, MaxBalance)}
	case reason == "":
		return RechargeResult{}, &Error{Op: op, Message: "empty reason"}
	}
	req := struct {
		ID     string      `json:"id"`
		Amount meter.Money `json:"amount"`
		Reason string      `json:"reason"`
	}{id, amount, reason}
	body, err := c.do(ctx, op, http.MethodPost, c.accountPath()+"/recharge", req, MaxAnswerBytes)
	if err != nil {
		return RechargeResult{}, err
	}
	res, err := decodeRecharge(body)
	if err != nil {
		return RechargeResult{}, c.invalid(op, err)
	}
	return res, nil
}

func (c *Client) accountPath() string { return "v1/accounts/" + url.PathEscape(c.account) }

// learnCurrency checks cur against the known currency, or makes it the
// known one. Check and set happen under one lock, so two first answers
// racing with different currencies cannot both be accepted.
func (c *Client) learnCurrency(cur string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.currency == "" {
		c.currency = cur
		return nil
	}
	if cur != c.currency {
		return fmt.Errorf("currency %q differs from the account's %q", cur, c.currency)
	}
	return nil
}

// invalid reports an answer that failed validation. Validation errors quote
// the offending value, and a server that echoes the request could put the
// token there: it is blanked before the message is logged or returned.
func (c *Client) invalid(op string, err error) error {
	msg := c.redact(err.Error())
	c.log.Warn("backend: answer rejected", "op", op, "err", msg)
	return &Error{Op: op, StatusCode: http.StatusOK, Message: msg, Temporary: true, Err: ErrInvalidAnswer}
}

// redact blanks the token in s, as written and as %q escapes it.
func (c *Client) redact(s string) string {
	s = strings.ReplaceAll(s, c.token, "[token]")
	q := strconv.Quote(c.token)
	return strings.ReplaceAll(s, q[1:len(q)-1], "[token]")
}

// do sends one request and returns the body of a 2xx answer, at most limit
// bytes.
func (c *Client) do(ctx context.Context, op, method, path string, in any, limit int64) ([]byte, error) {
	var reqBody io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return nil, &Error{Op: op, Message: "encoding the request", Err: err}
		}
		reqBody = bytes.NewReader(b)
	}
	u := c.base.JoinPath(path)
	req, err := http.NewRequestWithContext(ctx, method, u.String(), reqBody)
	if err != nil {
		return nil, &Error{Op: op, Message: "building the request", Err: err}
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "tipring-meter")
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	start := time.Now()
	resp, err := c.http.Do(req)
	if err != nil {
		c.log.Debug("backend: no answer", "op", op, "err", err)
		return nil, &Error{Op: op, Message: "no answer", Temporary: true, Err: err}
	}
	defer resp.Body.Close()
	code := resp.StatusCode
	c.log.Debug("backend: answer", "op", op, "status", code, "elapsed", time.Since(start))
	if code < 200 || code > 299 {
		msg := c.errorMessage(resp)
		if code >= 300 && code < 400 {
			msg = "redirects are not followed"
		}
		return nil, &Error{Op: op, StatusCode: code, Message: msg, Temporary: temporaryStatus(code)}
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return nil, &Error{Op: op, StatusCode: code, Message: "reading the answer", Temporary: true, Err: err}
	}
	if int64(len(body)) > limit {
		return nil, c.invalid(op, fmt.Errorf("answer larger than %d bytes", limit))
	}
	return body, nil
}

func temporaryStatus(code int) bool {
	return code >= 500 || code == http.StatusTooManyRequests || code == http.StatusRequestTimeout
}

// errorMessage reads the start of an error answer: the "error" or
// "message" of a JSON body, else its text, made printable and stripped of
// the token in case the server echoes the request.
func (c *Client) errorMessage(resp *http.Response) string {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBytes))
	msg := strings.TrimSpace(string(b))
	var j struct {
		Error   string `json:"error"`
		Message string `json:"message"`
	}
	if json.Unmarshal(b, &j) == nil {
		switch {
		case j.Error != "":
			msg = j.Error
		case j.Message != "":
			msg = j.Message
		}
	}
	msg = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || r == '\uFFFD' {
			return ' '
		}
		return r
	}, msg)
	msg = c.redact(msg)
	if len(msg) > 200 {
		msg = strings.ToValidUTF8(msg[:200], "") + "…"
	}
	if msg == "" {
		msg = http.StatusText(resp.StatusCode)
	}
	return msg
}
