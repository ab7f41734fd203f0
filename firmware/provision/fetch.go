package provision

import (
	"context"
	"crypto/ed25519"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/tipring/tipring/firmware/config"
	"github.com/tipring/tipring/internal/durable"
)

// Limits on what a provisioning server may send.
const (
	maxConfigFile    = 1 << 20
	maxSignatureFile = 1 << 10
	requestTimeout   = 30 * time.Second
)

// ErrNotFound says the server has neither the device's own file nor the
// default one. The device keeps asking: the installer may not have
// uploaded it yet.
var ErrNotFound = errors.New("no configuration for this device on the provisioning server")

// ErrSignature says a file was refused for its signature.
var ErrSignature = errors.New("signature check failed")

// Fetcher fetches configuration files from a provisioning server.
type Fetcher struct {
	// Client makes the requests; nil means one with the system's roots
	// and a 30 s timeout.
	Client *http.Client
	// PublicKey, when set, makes a signature required: a file is accepted
	// only with a detached ed25519 signature, <file>.sig in base64, that
	// this key verifies.
	PublicKey ed25519.PublicKey
	// AllowHTTP accepts plain http:// URLs to hosts other than loopback.
	// Without it a device refuses them: its SIP passwords would cross
	// the network in the clear.
	AllowHTTP bool
	Logger    *slog.Logger
}

// Fetched is a configuration the server gave and that validated.
type Fetched struct {
	URL    string // the file it came from
	Data   []byte // the file as served
	Config *config.Config
}

// FileNames are the files asked for, in order: the device's own
// (cfg<mac>.toml, the MAC in lower-case hex without separators, as
// Grandstream and Polycom name theirs), then the default.
func FileNames(mac string) []string {
	if mac == "" {
		return []string{"cfg.toml"}
	}
	return []string{"cfg" + mac + ".toml", "cfg.toml"}
}

// Fetch asks base for the device's file, then for the default file, and
// returns the first one there is, once its signature (if a key is set)
// and its content check out. A 404 moves on to the next file; any other
// failure stops, so that a server error never gives a device the default
// file instead of its own.
func (f *Fetcher) Fetch(ctx context.Context, base, mac string) (Fetched, error) {
	log := f.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	base, err := NormalizeURL(base)
	if err != nil {
		return Fetched{}, err
	}
	if err := CheckURL(base, f.AllowHTTP); err != nil {
		return Fetched{}, err
	}
	names := FileNames(mac)
	var tried []string
	for i, name := range names {
		u := strings.TrimRight(base, "/") + "/" + name
		tried = append(tried, u)
		data, status, err := f.get(ctx, u, maxConfigFile)
		if err != nil {
			return Fetched{}, err
		}
		if status == http.StatusNotFound || status == http.StatusGone {
			if i+1 < len(names) {
				log.Info(fmt.Sprintf("provisioning: %s: %d; trying %s", u, status, names[i+1]))
			} else {
				log.Info(fmt.Sprintf("provisioning: %s: %d", u, status))
			}
			continue
		}
		if status != http.StatusOK {
			return Fetched{}, fmt.Errorf("provisioning: %s: HTTP %d", u, status)
		}
		if err := f.verify(ctx, u, data); err != nil {
			return Fetched{}, err
		}
		cfg, err := config.Parse(u, data)
		if err != nil {
			return Fetched{}, fmt.Errorf("provisioning: %s is not a valid configuration: %w", u, err)
		}
		log.Info("provisioning: configuration fetched", "url", u, "bytes", len(data))
		return Fetched{URL: u, Data: data, Config: cfg}, nil
	}
	return Fetched{}, fmt.Errorf("provisioning: %w (asked for %s)", ErrNotFound, strings.Join(tried, " and "))
}

// verify checks u's detached signature when a key is set.
func (f *Fetcher) verify(ctx context.Context, u string, data []byte) error {
	if f.PublicKey == nil {
		return nil
	}
	raw, status, err := f.get(ctx, u+".sig", maxSignatureFile)
	if err != nil {
		return err
	}
	if status != http.StatusOK {
		return fmt.Errorf("provisioning: %s: %w: no signature (%s.sig: HTTP %d), and this device requires one", u, ErrSignature, u, status)
	}
	sig, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(raw)))
	if err != nil || len(sig) != ed25519.SignatureSize {
		return fmt.Errorf("provisioning: %s.sig: %w: want a base64 ed25519 signature", u, ErrSignature)
	}
	if !ed25519.Verify(f.PublicKey, data, sig) {
		return fmt.Errorf("provisioning: %s: %w: the signature does not match the file and the device's key", u, ErrSignature)
	}
	return nil
}

// get fetches u and returns the body of a 200 answer (at most limit
// bytes) and the status.
func (f *Fetcher) get(ctx context.Context, u string, limit int64) ([]byte, int, error) {
	hc := f.Client
	if hc == nil {
		hc = &http.Client{Timeout: requestTimeout}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, 0, fmt.Errorf("provisioning: %w", err)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, 0, fmt.Errorf("provisioning: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
		return nil, resp.StatusCode, nil
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return nil, 0, fmt.Errorf("provisioning: %s: %w", u, err)
	}
	if int64(len(data)) > limit {
		return nil, 0, fmt.Errorf("provisioning: %s: larger than %d bytes", u, limit)
	}
	return data, http.StatusOK, nil
}

// NormalizeURL accepts a provisioning URL as configured or as a DHCP
// option gives it: a bare host (option 66 often holds only a name or an
// address) becomes https://host.
func NormalizeURL(s string) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", errors.New("empty provisioning URL")
	}
	if !strings.Contains(s, "://") {
		s = "https://" + s
	}
	u, err := url.Parse(s)
	if err != nil {
		return "", fmt.Errorf("provisioning URL %q: %w", s, err)
	}
	if u.Scheme != "https" && u.Scheme != "http" {
		return "", fmt.Errorf("provisioning URL %q: scheme %q, want https (tftp and ftp are not supported)", s, u.Scheme)
	}
	if u.Host == "" {
		return "", fmt.Errorf("provisioning URL %q: no host", s)
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return "", fmt.Errorf("provisioning URL %q: a query or fragment cannot be the base for file names", s)
	}
	return u.String(), nil
}

// CheckURL refuses plain http unless the host is loopback (a test) or
// allowHTTP is set.
func CheckURL(s string, allowHTTP bool) error {
	u, err := url.Parse(s)
	if err != nil {
		return fmt.Errorf("provisioning URL %q: %w", s, err)
	}
	if u.Scheme == "https" || allowHTTP {
		return nil
	}
	host := u.Hostname()
	if a, err := netip.ParseAddr(host); (err == nil && a.IsLoopback()) || host == "localhost" {
		return nil
	}
	return fmt.Errorf("provisioning URL %s: plain http would send the SIP passwords in the clear; use https, or allow http explicitly ([provision] allow_http, tipring run --provision-insecure)", s)
}

// Client returns an HTTP client for provisioning that also trusts the
// certificates in the PEM file caFile (a private CA); "" means the
// system's roots only.
func Client(caFile string) (*http.Client, error) {
	hc := &http.Client{Timeout: requestTimeout}
	if caFile == "" {
		return hc, nil
	}
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("provisioning CA: %w", err)
	}
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("provisioning CA %s: no PEM certificate in it", caFile)
	}
	hc.Transport = &http.Transport{
		Proxy:               http.ProxyFromEnvironment,
		DialContext:         (&net.Dialer{Timeout: 10 * time.Second}).DialContext,
		TLSClientConfig:     &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12},
		TLSHandshakeTimeout: 10 * time.Second,
	}
	return hc, nil
}

// WriteConfig replaces the file at path with data so that a power cut
// leaves either the old file or the new one (see durable.WriteFile). The
// file is 0600: it holds the SIP passwords.
func WriteConfig(path string, data []byte) error {
	if err := durable.WriteFile(path, data, 0o600); err != nil {
		return fmt.Errorf("write configuration %s: %w", path, err)
	}
	return nil
}
