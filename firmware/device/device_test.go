package device

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/tipring/tipring/firmware/config"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func testConfig(t *testing.T, extra string) *config.Config {
	t.Helper()
	doc := `
[device]
board = "sim"
` + extra + `
[sip]
listen = "127.0.0.1:0"
rtp_ports = "40000-40019"

[[line]]
port = 1
user = "1001"
password = "x"
registrar = "127.0.0.1:9"

[[line]]
port = 2
user = "1002"
password = "x"
registrar = "127.0.0.1:9"

[admin]
listen = "127.0.0.1:0"
password = "p"

[sim]
control = "127.0.0.1:0"
`
	cfg, err := config.Parse("test.toml", []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	cfg.Device.DataDir = t.TempDir()
	cfg.Device.Prompts = "../prompts/data"
	// Nothing may leave the machine: no LAN discovery, no probes.
	cfg.Diag.Discovery, cfg.Diag.Probes = false, false
	return cfg
}

// The device comes up with nothing to register with, reports it, and
// stops cleanly.
func TestRunsAndStops(t *testing.T) {
	d, err := New(testConfig(t, ""), Options{Version: "test"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	select {
	case <-d.Ready():
	case err := <-done:
		t.Fatalf("Run: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("not ready")
	}
	st := d.Status()
	if st.Version != "test" || st.Board != "sim" || len(st.Lines) != 2 {
		t.Fatalf("status %+v", st)
	}
	for _, l := range st.Lines {
		if l.Registered || l.CallState != "idle" || l.Hook != "on" {
			t.Fatalf("line %+v: want idle, on-hook, not registered", l)
		}
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run after cancel: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
}

func TestFailsClearly(t *testing.T) {
	busy, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	for _, tc := range []struct {
		name string
		mut  func(*config.Config)
		want string
	}{
		{"unknown board", func(c *config.Config) { c.Device.Board = "nope" }, `unknown board "nope"`},
		{"SIP port taken", func(c *config.Config) { c.SIP.Listen = busy.LocalAddr().String() }, "sip"},
		{"a line on a port the board lacks", func(c *config.Config) { c.Lines[1].Port = 3 }, "no such port"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig(t, "")
			tc.mut(cfg)
			d, err := New(cfg, Options{})
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			err = d.Run(ctx)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error containing %q", err, tc.want)
			}
			if ctx.Err() != nil {
				t.Fatal("Run waited for the deadline instead of failing")
			}
		})
	}
}

// runDevice runs a device on cfg until the test ends, when it must stop
// cleanly.
func runDevice(t *testing.T, cfg *config.Config, opts Options) *Device {
	t.Helper()
	d, err := New(cfg, opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	select {
	case <-d.Ready():
	case err := <-done:
		t.Fatalf("Run: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("not ready")
	}
	return d
}
