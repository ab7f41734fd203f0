package sim

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// WaitForInterval is how often Client.WaitFor polls.
const WaitForInterval = 50 * time.Millisecond

// maxAnswer bounds what the client reads from the control API: a heard
// recording of 10 s is 160 KB.
const maxAnswer = 4 << 20

// APIError is an error answer from the control API.
type APIError struct {
	Status  int    // HTTP status code
	Message string // the "error" of the JSON answer
}

func (e *APIError) Error() string {
	return fmt.Sprintf("sim control API: %d %s: %s", e.Status, http.StatusText(e.Status), e.Message)
}

// Client talks to a sim board's control API: the virtual phones. It is
// what `tipring phone` and tests use.
type Client struct {
	base string
	hc   *http.Client
}

// NewClient returns a client for the control API at baseURL (such as
// "http://127.0.0.1:7070"; a bare host:port is taken as http). A nil hc
// uses http.DefaultClient.
func NewClient(baseURL string, hc *http.Client) *Client {
	if !strings.Contains(baseURL, "://") {
		baseURL = "http://" + baseURL
	}
	if hc == nil {
		hc = http.DefaultClient
	}
	return &Client{base: strings.TrimRight(baseURL, "/"), hc: hc}
}

// Phones returns every phone's state, in port order.
func (c *Client) Phones(ctx context.Context) ([]PhoneState, error) {
	var out []PhoneState
	if err := c.do(ctx, http.MethodGet, "/v1/phones", "", nil, &out); err != nil {
		return nil, err
	}
	return out, nil
}

// Phone returns the state of the phone on port.
func (c *Client) Phone(ctx context.Context, port int) (PhoneState, error) {
	var st PhoneState
	err := c.do(ctx, http.MethodGet, phonePath(port, ""), "", nil, &st)
	return st, err
}

// Hook lifts (off true) or replaces the handset.
func (c *Client) Hook(ctx context.Context, port int, off bool) error {
	req := HookRequest{State: "on"}
	if off {
		req.State = "off"
	}
	return c.post(ctx, port, "hook", req)
}

// Flash puts the phone on-hook for ms (0: the default 500 ms) and lifts it
// again; it returns when done.
func (c *Client) Flash(ctx context.Context, port, ms int) error {
	return c.post(ctx, port, "flash", FlashRequest{Ms: ms})
}

// Dial dials digits in mode "dtmf" or "pulse"; it returns when they are
// sent.
func (c *Client) Dial(ctx context.Context, port int, digits, mode string) error {
	return c.DialWith(ctx, port, DialRequest{Digits: digits, Mode: mode})
}

// DialWith dials with explicit timing and level.
func (c *Client) DialWith(ctx context.Context, port int, req DialRequest) error {
	return c.post(ctx, port, "dial", req)
}

// SendTone has the phone speak a tone into the line; it returns at once.
func (c *Client) SendTone(ctx context.Context, port int, hz float64, ms int, levelDBm0 float64) error {
	return c.Send(ctx, port, SendRequest{ToneHz: hz, Ms: ms, LevelDBm0: &levelDBm0})
}

// Send has the phone speak a tone into the line, waiting for the end when
// req.Wait is set.
func (c *Client) Send(ctx context.Context, port int, req SendRequest) error {
	return c.post(ctx, port, "send", req)
}

// SendWAV has the phone speak a WAV file (8 kHz, 16-bit, mono) into the
// line; it returns at once.
func (c *Client) SendWAV(ctx context.Context, port int, wav []byte) error {
	return c.do(ctx, http.MethodPost, phonePath(port, "send"), "audio/wav", bytes.NewReader(wav), nil)
}

// Heard returns the last ms of audio the phone received, as a WAV file.
func (c *Client) Heard(ctx context.Context, port, ms int) ([]byte, error) {
	var out []byte
	path := phonePath(port, "heard") + "?ms=" + strconv.Itoa(ms)
	if err := c.do(ctx, http.MethodGet, path, "", nil, &out); err != nil {
		return nil, err
	}
	return out, nil
}

// SetDevice says what hangs on the line.
func (c *Client) SetDevice(ctx context.Context, port int, d Device) error {
	return c.post(ctx, port, "device", d)
}

// WaitFor polls the phone's state until cond holds or ctx ends, and
// returns the last state seen.
func (c *Client) WaitFor(ctx context.Context, port int, cond func(PhoneState) bool) (PhoneState, error) {
	t := time.NewTicker(WaitForInterval)
	defer t.Stop()
	for {
		st, err := c.Phone(ctx, port)
		if err == nil && cond(st) {
			return st, nil
		}
		var ae *APIError
		if errors.As(err, &ae) {
			return st, err
		}
		select {
		case <-ctx.Done():
			if err == nil {
				err = ctx.Err()
			}
			return st, fmt.Errorf("wait for phone %d: %w", port, err)
		case <-t.C:
		}
	}
}

func phonePath(port int, action string) string {
	p := "/v1/phones/" + url.PathEscape(strconv.Itoa(port))
	if action != "" {
		p += "/" + action
	}
	return p
}

func (c *Client) post(ctx context.Context, port int, action string, body any) error {
	data, err := json.Marshal(body)
	if err != nil {
		return fmt.Errorf("encode %s request: %w", action, err)
	}
	return c.do(ctx, http.MethodPost, phonePath(port, action), "application/json", bytes.NewReader(data), nil)
}

// do sends a request and decodes the answer into out: JSON, or the raw
// bytes when out is a *[]byte.
func (c *Client) do(ctx context.Context, method, path, contentType string, body io.Reader, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return fmt.Errorf("sim control API %s %s: %w", method, path, err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return fmt.Errorf("sim control API %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if err != nil {
		return fmt.Errorf("sim control API %s %s: read answer: %w", method, path, err)
	}
	if resp.StatusCode/100 != 2 {
		var e struct {
			Error string `json:"error"`
		}
		if json.Unmarshal(data, &e) != nil || e.Error == "" {
			e.Error = strings.TrimSpace(string(data))
		}
		return &APIError{Status: resp.StatusCode, Message: e.Error}
	}
	switch o := out.(type) {
	case nil:
	case *[]byte:
		*o = data
	default:
		if err := json.Unmarshal(data, out); err != nil {
			return fmt.Errorf("sim control API %s %s: decode answer: %w", method, path, err)
		}
	}
	return nil
}
