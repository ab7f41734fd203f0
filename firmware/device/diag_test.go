package device

import (
	"bytes"
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/tipring/tipring/diag"
	"github.com/tipring/tipring/firmware/api"
)

// refusingRegistrar answers every REGISTER with 403, as a provider does for
// a wrong password or a suspended account.
func refusingRegistrar(t *testing.T) string {
	t.Helper()
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	go func() {
		buf := make([]byte, 65535)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			msg, err := sip.ParseMessage(buf[:n])
			req, ok := msg.(*sip.Request)
			if err != nil || !ok {
				continue
			}
			res := sip.NewResponseFromRequest(req, 403, "Forbidden", nil)
			_, _ = pc.WriteTo([]byte(res.String()), from)
		}
	}()
	return pc.LocalAddr().String()
}

// A bundle from a running device: every file of the layout that this
// firmware collects, the likely cause named (the registrar refuses us),
// and not one of the configured secrets anywhere, in either mode.
func TestBundleNamesTheCauseAndKeepsNoSecret(t *testing.T) {
	cfg := testConfig(t, "")
	registrar := refusingRegistrar(t)
	cfg.Lines[0].Registrar, cfg.Lines[1].Registrar = registrar, registrar
	secrets := []string{"canary-Line1-pw", "canary-Line2-pw", "canary-Admin-pw", "canary-Billing-tok"}
	cfg.Lines[0].Password, cfg.Lines[1].Password, cfg.Admin.Password = secrets[0], secrets[1], secrets[2]
	cfg.Meter.Backend, cfg.Meter.Account, cfg.Meter.Token = "http://127.0.0.1:9/", "100200300", secrets[3]
	d, err := New(cfg, Options{Version: "test"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	select {
	case <-d.Ready():
	case err := <-done:
		t.Fatalf("Run: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("not ready")
	}
	// Let the REGISTERs be refused.
	deadline := time.Now().Add(15 * time.Second)
	for d.ua.Status(1).Failures == 0 && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	for _, anon := range []bool{false, true} {
		start := time.Now()
		b, err := d.Bundle(context.Background(), api.BundleOptions{Anonymize: anon, Phone: "Panasonic KX-TS500", Problem: "no dial tone"})
		if err != nil {
			t.Fatal(err)
		}
		took := time.Since(start)
		t.Logf("bundle (anonymized %v): %d bytes in %v", anon, len(b), took)
		if took > 10*time.Second {
			t.Errorf("the bundle took %v", took)
		}
		files, err := diag.ReadArchive(bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]string{}
		var names []string
		for _, f := range files {
			got[f.Name] = string(f.Data)
			names = append(names, f.Name)
			for _, s := range secrets {
				if strings.Contains(string(f.Data), s) {
					t.Errorf("%s holds the secret %q", f.Name, s)
				}
			}
		}
		if strings.Join(names, " ") != "summary.txt diag.json calls.csv registrations.json linetest.json" {
			t.Fatalf("files %v", names)
		}
		sum := got["summary.txt"]
		for _, want := range []string{"Panasonic KX-TS500", "no dial tone", "100200300"} {
			if !strings.Contains(sum, want) {
				t.Errorf("summary lacks %q:\n%s", want, sum)
			}
		}
		if !strings.Contains(got["diag.json"], `"registration-rejected"`) || !strings.Contains(sum, "403") {
			t.Errorf("no registration-rejected finding for a registrar answering 403:\n%s", sum)
		}
		if anon && strings.Contains(got["diag.json"], `"user": "1001"`) {
			t.Error("the anonymized bundle still names line 1's number")
		}
	}
}
