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

func (c *Client) get(ctx context.Context, path string, v any) error {
	body, err := c.getRaw(ctx, path)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("management API %s: bad answer: %w", path, err)
	}
	return nil
}

// getRaw fetches path and returns the body of a 200 answer.
func (c *Client) getRaw(ctx context.Context, path string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+path, nil)
	if err != nil {
		return nil, fmt.Errorf("management API: %w", err)
	}
	req.SetBasicAuth("admin", c.password)
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("management API (is tipring running?): %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return nil, fmt.Errorf("management API %s: %w", path, err)
	}
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Error string `json:"error"`
		}
		if json.Unmarshal(body, &e) == nil && e.Error != "" {
			return nil, fmt.Errorf("management API %s: %s: %s", path, resp.Status, e.Error)
		}
		return nil, fmt.Errorf("management API %s: %s", path, resp.Status)
	}
	return body, nil
}
