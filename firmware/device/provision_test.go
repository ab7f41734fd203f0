package device

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/tipring/tipring/firmware/api"
	"github.com/tipring/tipring/firmware/config"
	"github.com/tipring/tipring/meter"
	"github.com/tipring/tipring/meter/ledger"
	"github.com/tipring/tipring/scripts/devbilling/billing"
)

// deviceDoc is a configuration file for a device on loopback with one line
// that never registers; extra is appended.
func deviceDoc(dataDir, extra string) string {
	return fmt.Sprintf(`[device]
board = "sim"
data_dir = %q
prompts = "../prompts/data"

[sip]
listen = "127.0.0.1:0"
rtp_ports = "40100-40119"

[[line]]
port = 1
user = "1001"
password = "x"
registrar = "127.0.0.1:9"

[admin]
listen = "127.0.0.1:0"
password = "p"

[sim]
control = "127.0.0.1:0"
%s`, dataDir, extra)
}

// started is a device running in the background.
type started struct {
	d    *Device
	done chan error
	stop context.CancelFunc
}

func startFromFile(t *testing.T, path string, po ProvisionOptions) *started {
	t.Helper()
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	po.ConfigPath = path
	d, err := New(cfg, Options{Version: "test", Provision: po})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &started{d: d, done: make(chan error, 1), stop: cancel}
	go func() { s.done <- d.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-s.done:
		case <-time.After(10 * time.Second):
			t.Error("device did not stop")
		}
	})
	select {
	case <-d.Ready():
	case err := <-s.done:
		s.done <- err
	case <-time.After(10 * time.Second):
		t.Fatal("device not ready")
	}
	return s
}

func (s *started) wait(t *testing.T) error {
	t.Helper()
	select {
	case err := <-s.done:
		s.done <- err // for the cleanup
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return")
		return nil
	}
}

// A refresh that brings a different file replaces the one on disk and
// restarts the device with it.
func TestResyncAppliesAChangedConfiguration(t *testing.T) {
	dir := t.TempDir()
	var served string
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/p/cfg001122aabbcc.toml" {
			http.NotFound(w, r)
			return
		}
		_, _ = w.Write([]byte(served))
	}))
	defer srv.Close()
	prov := fmt.Sprintf("\n[provision]\nurl = %q\ninterval = \"1h\"\n", srv.URL+"/p")
	path := filepath.Join(dir, "tipring.toml")
	old := deviceDoc(dir, prov)
	served = old + "\n[diag]\nsupport_url = \"https://support.example.net\"\n"
	if err := os.WriteFile(path, []byte(old), 0o600); err != nil {
		t.Fatal(err)
	}
	s := startFromFile(t, path, ProvisionOptions{MAC: "001122aabbcc", Client: srv.Client()})
	if err := s.wait(t); !errors.Is(err, ErrRestart) {
		t.Fatalf("Run = %v, want a restart with the new configuration", err)
	}
	got, err := os.ReadFile(path)
	if err != nil || string(got) != served {
		t.Fatalf("file on disk %q, %v; want the served one", got, err)
	}
	if c, err := config.Load(path); err != nil || c.Diag.SupportURL != "https://support.example.net" {
		t.Fatalf("new configuration: %+v, %v", c, err)
	}
}

// The story of a factory reset on a device that owes the back end two
// calls: the reset goes through the management API, the configuration is
// gone, the delivered call is forgotten, and once the device is
// provisioned again the two calls reach the back end.
func TestFactoryResetKeepsUndeliveredCallsUntilDelivered(t *testing.T) {
	dir := t.TempDir()
	led, err := ledger.Open(filepath.Join(dir, ledgerFile), ledger.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Now().Add(-time.Hour).Truncate(time.Second)
	if err := led.SaveAccount(meter.Account{Account: "100200300", Status: meter.Active, Currency: "USD", Balance: 10 * meter.Unit}, t0); err != nil {
		t.Fatal(err)
	}
	for i, id := range []string{"delivered", "owed-1", "owed-2"} {
		r := meter.Record{ID: id, Start: t0.Add(time.Duration(i) * time.Minute), Port: 1, Direction: "outgoing", Dialled: "15551234", Number: "15551234", Metered: true}
		if err := led.Begin(r); err != nil {
			t.Fatal(err)
		}
		r.Disposition, r.Cost, r.TalkMS = meter.Answered, meter.Unit/10, 60_000
		if _, err := led.Finish(r); err != nil {
			t.Fatal(err)
		}
	}
	if err := led.Acknowledge("delivered", 99*meter.Unit/10, meter.Active, t0.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := led.Close(); err != nil {
		t.Fatal(err)
	}

	path := filepath.Join(dir, "tipring.toml")
	if err := os.WriteFile(path, []byte(deviceDoc(dir, "")), 0o600); err != nil {
		t.Fatal(err)
	}
	s := startFromFile(t, path, ProvisionOptions{})
	c := api.NewClient("http://"+s.d.api.Addr().String(), "p", nil)
	res, err := c.Reset(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if res.KeptCalls != 2 {
		t.Errorf("kept %d calls, want the 2 not acknowledged", res.KeptCalls)
	}
	if err := s.wait(t); !errors.Is(err, ErrRestart) {
		t.Fatalf("Run after the reset = %v, want a restart", err)
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("configuration after the reset: %v, want it gone", err)
	}

	// Provisioned again, now with the billing back end.
	bs, err := billing.New(billing.Config{Account: "100200300", Token: "tok", Balance: 10 * meter.Unit})
	if err != nil {
		t.Fatal(err)
	}
	back := httptest.NewServer(bs.Handler())
	defer back.Close()
	meterDoc := fmt.Sprintf("\n[meter]\nbackend = %q\naccount = \"100200300\"\ntoken = \"tok\"\n", back.URL)
	if err := os.WriteFile(path, []byte(deviceDoc(dir, meterDoc)), 0o600); err != nil {
		t.Fatal(err)
	}
	s2 := startFromFile(t, path, ProvisionOptions{})
	deadline := time.Now().Add(10 * time.Second)
	for {
		var got []string
		for _, u := range bs.Usage() {
			got = append(got, u.ID)
		}
		slices.Sort(got)
		if slices.Equal(got, []string{"owed-1", "owed-2"}) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("back end received %v, want exactly owed-1 and owed-2", got)
		}
		time.Sleep(20 * time.Millisecond)
	}
	calls, err := s2.d.Calls(0)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range calls {
		if r.ID == "delivered" {
			t.Error("the delivered call is still in the history after the reset")
		}
	}
}

func TestResetOffline(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "tipring.toml")
	if err := os.WriteFile(path, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	// No ledger yet: the configuration still goes, and no ledger is made.
	if kept, err := ResetOffline(dir, path, nil); err != nil || kept != 0 {
		t.Fatalf("ResetOffline = %d, %v", kept, err)
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("configuration: %v, want it gone", err)
	}
	if _, err := os.Stat(filepath.Join(dir, ledgerFile)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("ledger: %v, want none made", err)
	}
	// A ledger held by a running firmware: refused, with the way out.
	led, err := ledger.Open(filepath.Join(dir, ledgerFile), ledger.Options{NoSync: true, Timeout: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer led.Close()
	if _, err := ResetOffline(dir, path, nil); err == nil {
		t.Fatal("offline reset with the ledger in use succeeded")
	}
}

// The reset button held 10 s does what tipring reset does.
func TestResetButtonResetsTheDevice(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "tipring.toml")
	if err := os.WriteFile(path, []byte(deviceDoc(dir, "")), 0o600); err != nil {
		t.Fatal(err)
	}
	s := startFromFile(t, path, ProvisionOptions{})
	presses := make(chan struct{}, 1)
	watched := make(chan error, 1)
	go func() { watched <- s.d.watchResetButton(context.Background(), presses) }()
	presses <- struct{}{}
	if err := <-watched; err != nil {
		t.Fatal(err)
	}
	if err := s.wait(t); !errors.Is(err, ErrRestart) {
		t.Fatalf("Run = %v, want a restart into provisioning", err)
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("configuration: %v, want it gone", err)
	}
}
