package provision

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pelletier/go-toml/v2"

	"github.com/tipring/tipring/diag/netinfo"
	"github.com/tipring/tipring/firmware/config"
)

const mac = "001122aabbcc"

func cfgFor(user string) string {
	return "[[line]]\nport = 1\nuser = \"" + user + "\"\npassword = \"pw\"\nregistrar = \"sip.example.net\"\n"
}

// server is a provisioning server on 127.0.0.1 over TLS, serving files.
type server struct {
	*httptest.Server
	mu    sync.Mutex
	files map[string]string
	log   []string
}

func newServer(t *testing.T, files map[string]string) *server {
	t.Helper()
	s := &server{files: files}
	s.Server = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.log = append(s.log, r.URL.Path)
		body, ok := s.files[r.URL.Path]
		switch {
		case !ok:
			http.NotFound(w, r)
		case body == "500":
			http.Error(w, "boom", http.StatusInternalServerError)
		default:
			_, _ = w.Write([]byte(body))
		}
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *server) set(path, body string) {
	s.mu.Lock()
	s.files[path] = body
	s.mu.Unlock()
}

func (s *server) fetcher() *Fetcher { return &Fetcher{Client: s.Client()} }

func TestFetchPrefersTheDevicesOwnFile(t *testing.T) {
	s := newServer(t, map[string]string{"/t/cfg" + mac + ".toml": cfgFor("own"), "/t/cfg.toml": cfgFor("default")})
	got, err := s.fetcher().Fetch(context.Background(), s.URL+"/t/", mac)
	if err != nil {
		t.Fatal(err)
	}
	if got.Config.Lines[0].User != "own" || !strings.HasSuffix(got.URL, "/t/cfg001122aabbcc.toml") {
		t.Fatalf("fetched %s with user %q, want the per-MAC file", got.URL, got.Config.Lines[0].User)
	}
}

func TestFetchFallsBackToTheDefaultFileAndSaysSo(t *testing.T) {
	s := newServer(t, map[string]string{"/cfg.toml": cfgFor("default")})
	var logs bytes.Buffer
	f := s.fetcher()
	f.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	got, err := f.Fetch(context.Background(), s.URL, mac)
	if err != nil {
		t.Fatal(err)
	}
	if got.Config.Lines[0].User != "default" {
		t.Fatalf("user %q, want the default file's", got.Config.Lines[0].User)
	}
	if want := "/cfg001122aabbcc.toml: 404; trying cfg.toml"; !strings.Contains(logs.String(), want) {
		t.Errorf("log %q lacks %q", logs.String(), want)
	}
}

func TestFetchWithNeitherFile(t *testing.T) {
	s := newServer(t, map[string]string{})
	_, err := s.fetcher().Fetch(context.Background(), s.URL, mac)
	if !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "cfg.toml") {
		t.Fatalf("err %v, want ErrNotFound naming what was asked for", err)
	}
}

// A server error on the device's own file must not give it the default
// file: that would configure it as somebody else.
func TestFetchStopsOnAServerError(t *testing.T) {
	s := newServer(t, map[string]string{"/cfg" + mac + ".toml": "500", "/cfg.toml": cfgFor("default")})
	_, err := s.fetcher().Fetch(context.Background(), s.URL, mac)
	if err == nil || !strings.Contains(err.Error(), "HTTP 500") {
		t.Fatalf("err %v, want the 500", err)
	}
}

func TestFetchRefusesABadConfiguration(t *testing.T) {
	s := newServer(t, map[string]string{"/cfg.toml": cfgFor("x") + "\n[device]\ncolour = \"red\"\n"})
	_, err := s.fetcher().Fetch(context.Background(), s.URL, mac)
	if err == nil || !strings.Contains(err.Error(), "line 8: device.colour: unknown key") {
		t.Fatalf("err %v, want one naming the key and the line", err)
	}
}

func TestFetchChecksSignatures(t *testing.T) {
	pub, priv, err := ed25519.GenerateKey(bytes.NewReader(bytes.Repeat([]byte{1}, 64)))
	if err != nil {
		t.Fatal(err)
	}
	body := cfgFor("signed")
	sig := base64.StdEncoding.EncodeToString(ed25519.Sign(priv, []byte(body)))
	s := newServer(t, map[string]string{"/cfg.toml": body, "/cfg.toml.sig": sig + "\n"})
	f := s.fetcher()
	f.PublicKey = pub
	if _, err := f.Fetch(context.Background(), s.URL, mac); err != nil {
		t.Fatalf("a good signature: %v", err)
	}
	for name, files := range map[string]map[string]string{
		"altered file":  {"/cfg.toml": cfgFor("signet"), "/cfg.toml.sig": sig},
		"no signature":  {"/cfg.toml": body},
		"not base64":    {"/cfg.toml": body, "/cfg.toml.sig": "%%%"},
		"other key's":   {"/cfg.toml": body, "/cfg.toml.sig": base64.StdEncoding.EncodeToString(ed25519.Sign(ed25519.NewKeyFromSeed(make([]byte, 32)), []byte(body)))},
		"short garbage": {"/cfg.toml": body, "/cfg.toml.sig": "c2hvcnQ="},
	} {
		s.mu.Lock()
		s.files = files
		s.mu.Unlock()
		_, err := f.Fetch(context.Background(), s.URL, mac)
		if !errors.Is(err, ErrSignature) {
			t.Errorf("%s: err %v, want a refused signature", name, err)
		}
	}
}

func TestPlainHTTPOnlyForLoopbackOrWhenAllowed(t *testing.T) {
	if err := CheckURL("http://prov.example.net/", false); err == nil || !strings.Contains(err.Error(), "in the clear") {
		t.Errorf("plain http to a remote host: %v, want a refusal", err)
	}
	for _, ok := range []struct {
		u     string
		allow bool
	}{{"http://127.0.0.1:8000/", false}, {"http://[::1]/", false}, {"http://prov.lan/", true}, {"https://prov.example.net/", false}} {
		if err := CheckURL(ok.u, ok.allow); err != nil {
			t.Errorf("%s (allow %v): %v", ok.u, ok.allow, err)
		}
	}
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte(cfgFor("plain"))) }))
	defer s.Close()
	if _, err := (&Fetcher{Client: s.Client()}).Fetch(context.Background(), s.URL, mac); err != nil {
		t.Errorf("http on 127.0.0.1: %v", err)
	}
}

func TestNormalizeURL(t *testing.T) {
	for in, want := range map[string]string{
		"prov.example.net":          "https://prov.example.net",
		" 10.0.0.5/tipring ":        "https://10.0.0.5/tipring",
		"https://p.example.net/a/b": "https://p.example.net/a/b",
	} {
		if got, err := NormalizeURL(in); err != nil || got != want {
			t.Errorf("NormalizeURL(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "tftp://10.0.0.5", "https://", "https://p/?x=1"} {
		if _, err := NormalizeURL(bad); err == nil {
			t.Errorf("NormalizeURL(%q) accepted", bad)
		}
	}
}

func TestDiscoverOrder(t *testing.T) {
	f := &Factory{ProvisionURL: "https://factory"}
	lease := &netinfo.Lease{ProvisionURL: "https://opt160", TFTPServer: "opt66"}
	for _, tc := range []struct {
		flag  string
		f     *Factory
		lease *netinfo.Lease
		want  string
	}{
		{"https://flag", f, lease, "flag"},
		{"", f, lease, "factory"},
		{"", &Factory{}, lease, "dhcp option 160"},
		{"", nil, &netinfo.Lease{TFTPServer: "opt66"}, "dhcp option 66"},
	} {
		c, ok := Discover(tc.flag, tc.f, tc.lease)
		if !ok || c.Source != tc.want {
			t.Errorf("Discover(%q, %+v, %+v) = %+v, want source %q", tc.flag, tc.f, tc.lease, c, tc.want)
		}
	}
	if c, ok := Discover("", nil, &netinfo.Lease{}); ok {
		t.Errorf("Discover with nothing = %+v", c)
	}
}

// A blank device keeps asking until the installer has put a valid file
// on the server, through a missing file and a broken one.
func TestLoopRetriesUntilAValidFileIsThere(t *testing.T) {
	s := newServer(t, map[string]string{})
	var attempts atomic.Int32
	l := &Loop{
		Fetcher:  s.fetcher(),
		MAC:      mac,
		RetryMin: time.Millisecond,
		RetryMax: 5 * time.Millisecond,
		Find: func(context.Context) (Candidate, bool) {
			switch attempts.Add(1) {
			case 1:
				return Candidate{}, false // no DHCP lease yet
			case 3:
				s.set("/cfg.toml", "[device]\ncolour = 1\n")
			case 5:
				s.set("/cfg.toml", cfgFor("at-last"))
			}
			return Candidate{URL: s.URL, Source: "test"}, true
		},
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	got, err := l.Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got.Config.Lines[0].User != "at-last" || attempts.Load() != 5 {
		t.Fatalf("user %q after %d attempts, want the valid file at the 5th", got.Config.Lines[0].User, attempts.Load())
	}
}

func TestLoopStopsWithItsContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	l := &Loop{Fetcher: &Fetcher{}, RetryMin: time.Millisecond, Find: func(context.Context) (Candidate, bool) {
		cancel()
		return Candidate{}, false
	}}
	if _, err := l.Run(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("err %v, want context.Canceled", err)
	}
}

// What `tipring provision` writes is a configuration `tipring run` loads,
// with only the keys given.
func TestBenchConfigurationParses(t *testing.T) {
	b := Bench{
		Board: "sim", Region: "uk", DataDir: "/tmp/x",
		Lines:        []BenchLine{{"1001", "pw \"quoted\"", "sip.example.net"}, {"1002", "pw2", "sip.example.net:5070"}},
		MeterBackend: "https://billing.example.net/", MeterAccount: "100200300", MeterToken: "tok",
		AdminListen: "127.0.0.1:8081",
	}
	data, err := b.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	c, err := config.Parse("bench.toml", data)
	if err != nil {
		t.Fatalf("%v\n%s", err, data)
	}
	if c.Device.Region != "uk" || len(c.Lines) != 2 || c.Lines[0].Password != `pw "quoted"` || c.Lines[1].Port != 2 ||
		c.Meter.Account != "100200300" || c.Admin.Listen != "127.0.0.1:8081" || c.Admin.Password != "" {
		t.Fatalf("parsed %+v from\n%s", c, data)
	}
	var raw map[string]any
	if err := toml.Unmarshal(data, &raw); err != nil {
		t.Fatal(err)
	}
	if _, ok := raw["sip"]; ok {
		t.Errorf("a [sip] table was written though no flag asked for one:\n%s", data)
	}

	b.Lines = nil
	if _, err := b.Marshal(); err == nil || !strings.Contains(err.Error(), "at least one line") {
		t.Errorf("no lines: %v", err)
	}
	b.Lines = []BenchLine{{"1001", "", "sip.example.net"}}
	if _, err := b.Marshal(); err == nil || !strings.Contains(err.Error(), "password: missing") {
		t.Errorf("no password: %v", err)
	}
}
