package router

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"github.com/tipring/tipring/diag/netinfo"
)

// maxBody bounds every response read from the router. Real descriptions and
// SCPDs are a few KiB; the bound keeps a broken or hostile LAN device from
// filling the ATA's memory.
const maxBody = 256 << 10

var errNotLocal = errors.New("not a local IP address (a gateway on the LAN answers from a private, loopback or link-local address)")

// checkHost accepts only IP literals on the local side of the network. The
// URLs we follow come from any device that answers SSDP, so without this a
// LAN device could make the ATA fetch from anywhere.
func checkHost(hostport string) error {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	ip, err := netip.ParseAddr(strings.Trim(host, "[]"))
	if err != nil {
		return fmt.Errorf("host %q: %w", host, errNotLocal)
	}
	if netinfo.IsLAN(ip.Unmap()) {
		return nil
	}
	return fmt.Errorf("host %q: %w", host, errNotLocal)
}

// guardTransport checks every request's host, including redirects and SOAP
// control URLs, and bounds every response body.
type guardTransport struct {
	next http.RoundTripper
}

func (g guardTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if err := checkHost(req.URL.Host); err != nil {
		return nil, err
	}
	resp, err := g.next.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	resp.Body = limitedBody{Reader: io.LimitReader(resp.Body, maxBody), c: resp.Body}
	return resp, nil
}

type limitedBody struct {
	io.Reader
	c io.Closer
}

func (l limitedBody) Close() error { return l.c.Close() }

type httpClient struct {
	*http.Client
	tr *http.Transport
}

func newHTTPClient(timeout time.Duration) httpClient {
	tr := &http.Transport{
		Proxy:               nil, // a LAN router is never reached through a proxy
		DialContext:         (&net.Dialer{Timeout: timeout}).DialContext,
		MaxIdleConnsPerHost: 2,
		DisableCompression:  true,
	}
	// No client-level timeouts: every request carries a context with the
	// call timeout, so that a timeout is recognisable as ctx.Err() (goupnp
	// flattens the errors it returns).
	return httpClient{
		Client: &http.Client{Transport: guardTransport{next: tr}},
		tr:     tr,
	}
}

func (h httpClient) CloseIdleConnections() { h.tr.CloseIdleConnections() }

// getXML fetches u and decodes it into v with defaultSpace as the default
// namespace, as UPnP documents rely on it.
func (h httpClient) getXML(ctx context.Context, u *url.URL, defaultSpace string, v any) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, fmt.Errorf("router: GET %s: %w", u, err)
	}
	resp, err := h.Do(req)
	if err != nil {
		return nil, fmt.Errorf("router: GET %s: %w", u, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("router: GET %s: HTTP %s", u, resp.Status)
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("router: GET %s: %w", u, err)
	}
	if err := decodeXML(body, defaultSpace, v); err != nil {
		return nil, fmt.Errorf("router: GET %s: %w", u, err)
	}
	return body, nil
}

func decodeXML(body []byte, defaultSpace string, v any) error {
	d := xml.NewDecoder(bytes.NewReader(body))
	d.DefaultSpace = defaultSpace
	d.CharsetReader = charsetReader
	return d.Decode(v)
}

// charsetReader handles the one non-UTF-8 charset routers are seen to
// declare, ISO-8859-1, without pulling in a charset library.
func charsetReader(charset string, input io.Reader) (io.Reader, error) {
	switch strings.ToLower(charset) {
	case "utf-8", "utf8", "us-ascii", "ascii":
		return input, nil
	case "iso-8859-1", "iso8859-1", "latin1", "latin-1":
		b, err := io.ReadAll(input)
		if err != nil {
			return nil, err
		}
		var sb strings.Builder
		for _, c := range b {
			sb.WriteRune(rune(c))
		}
		return strings.NewReader(sb.String()), nil
	}
	return nil, fmt.Errorf("unsupported XML charset %q", charset)
}
