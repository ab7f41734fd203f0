package api

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/tipring/tipring/meter"
)

// Client talks to a running device's management API.
type Client struct {
	base     string
	password string
	hc       *http.Client
}

// NewClient returns a client for base ("http://127.0.0.1:8080").
func NewClient(base, password string, hc *http.Client) *Client {
	if hc == nil {
		hc = http.DefaultClient
	}
	return &Client{base: strings.TrimRight(base, "/"), password: password, hc: hc}
}

// Status fetches /api/v1/status.
func (c *Client) Status(ctx context.Context) (Status, error) {
	var s Status
	err := c.get(ctx, "/api/v1/status", &s)
	return s, err
}

// Balance fetches /api/v1/balance.
func (c *Client) Balance(ctx context.Context) (meter.BalanceInfo, error) {
	var b meter.BalanceInfo
	err := c.get(ctx, "/api/v1/balance", &b)
	return b, err
}

// Calls fetches the newest limit records of /api/v1/calls.
func (c *Client) Calls(ctx context.Context, limit int) ([]meter.Record, error) {
	var cs Calls
	err := c.get(ctx, "/api/v1/calls?limit="+strconv.Itoa(limit), &cs)
	return cs.Calls, err
}

// Statement fetches the statement of month ("2026-11").
func (c *Client) Statement(ctx context.Context, month string) (meter.Statement, error) {
	var s meter.Statement
	err := c.get(ctx, "/api/v1/statement?month="+url.QueryEscape(month), &s)
	return s, err
}

// Bundle fetches a diagnostics bundle (tar.gz).
func (c *Client) Bundle(ctx context.Context, opts BundleOptions) ([]byte, error) {
	q := url.Values{}
	if opts.Anonymize {
		q.Set("anonymize", "1")
	}
	if opts.Phone != "" {
		q.Set("phone", opts.Phone)
	}
	if opts.Problem != "" {
		q.Set("problem", opts.Problem)
	}
	return c.getRaw(ctx, "/api/v1/diag/bundle?"+q.Encode())
}

// notRunning is the hint for a device that does not answer at all.
const notRunning = "is tipring running?"

func (c *Client) get(ctx context.Context, path string, v any) error {
	return c.call(ctx, http.MethodGet, path, nil, notRunning, v)
}

// call sends a request and decodes the JSON of a 200 answer into v.
func (c *Client) call(ctx context.Context, method, path string, body io.Reader, down string, v any) error {
	b, err := c.do(ctx, method, path, body, down)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("management API %s: bad answer: %w", path, err)
	}
	return nil
}

// getRaw fetches path and returns the body of a 200 answer.
func (c *Client) getRaw(ctx context.Context, path string) ([]byte, error) {
	return c.do(ctx, http.MethodGet, path, nil, notRunning)
}

// do sends a request (a body goes as application/octet-stream) and returns
// the body of a 200 answer; any other answer is an error carrying the
// API's own message. down is the hint when the device does not answer.
func (c *Client) do(ctx context.Context, method, path string, body io.Reader, down string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return nil, fmt.Errorf("management API: %w", err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/octet-stream")
	}
	req.SetBasicAuth("admin", c.password)
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("management API (%s): %w", down, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return nil, fmt.Errorf("management API %s: %w", path, err)
	}
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Error string `json:"error"`
		}
		if json.Unmarshal(b, &e) == nil && e.Error != "" {
			return nil, fmt.Errorf("management API %s: %s: %s", path, resp.Status, e.Error)
		}
		return nil, fmt.Errorf("management API %s: %s", path, resp.Status)
	}
	return b, nil
}
