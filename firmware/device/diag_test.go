package device

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/tipring/tipring/diag"
	"github.com/tipring/tipring/diag/logtail"
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
	tail := logtail.New(100, 1024)
	log := slog.New(slog.NewTextHandler(tail, nil))
	// A line as a careless log call would write it: the bundle must not
	// carry the secret even then.
	log.Warn("register failed", "uri", "sip:1001:"+secrets[0]+"@127.0.0.1", "number", "15551230001")
	d := runDevice(t, cfg, Options{Version: "test", Logger: log, LogTail: tail})
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
		if strings.Join(names, " ") != "summary.txt diag.json calls.csv registrations.json sip-trace.txt linetest.json log.txt" {
			t.Fatalf("files %v", names)
		}
		if tr := got["sip-trace.txt"]; !strings.Contains(tr, "REGISTER sip:") || !strings.Contains(tr, "SIP/2.0 403") {
			t.Errorf("sip-trace.txt lacks the REGISTER and its 403:\n%.2000s", tr)
		}
		if lg := got["log.txt"]; !strings.Contains(lg, "register failed") || anon == strings.Contains(lg, "15551230001") {
			t.Errorf("log.txt (anonymized %v) is wrong:\n%.2000s", anon, lg)
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

func TestReportSendsTheBundleToSupportAndReturnsTheTicket(t *testing.T) {
	type upload struct {
		ticket, account string
		files           []diag.File
	}
	uploads := make(chan upload, 4)
	answer := ""
	status := http.StatusCreated
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		files, err := diag.ReadArchive(r.Body)
		if err != nil {
			t.Errorf("upload is not a bundle: %v", err)
		}
		uploads <- upload{r.Header.Get("X-Tipring-Ticket"), r.Header.Get("X-Tipring-Account"), files}
		w.WriteHeader(status)
		fmt.Fprint(w, answer)
	}))
	defer srv.Close()
	cfg := testConfig(t, "")
	cfg.Diag.SupportURL = srv.URL + "/bundles"
	cfg.Meter.Account = "100200300"
	d := runDevice(t, cfg, Options{Version: "test"})

	ticket, err := d.report(context.Background(), 2)
	if err != nil {
		t.Fatal(err)
	}
	up := <-uploads
	if len(ticket) != ticketDigits || up.ticket != ticket || up.account != "100200300" {
		t.Errorf("ticket %q, uploaded with ticket %q account %q", ticket, up.ticket, up.account)
	}
	if len(up.files) == 0 || up.files[0].Name != "summary.txt" ||
		!strings.Contains(string(up.files[0].Data), "port 2 (ticket "+ticket+")") {
		t.Errorf("the upload's summary does not say where it came from: %+v", up.files)
	}

	answer = `{"ticket":"4711"}`
	if ticket, err := d.report(context.Background(), 1); err != nil || ticket != "4711" {
		t.Errorf("support's own ticket: got %q, %v; want 4711", ticket, err)
	}
	<-uploads

	status, answer = http.StatusServiceUnavailable, ""
	if _, err := d.report(context.Background(), 1); err == nil || !strings.Contains(err.Error(), "503") {
		t.Errorf("a 503 from support gave %v, want an error naming it", err)
	}
	<-uploads

	cfg.Diag.SupportURL = ""
	if _, err := d.report(context.Background(), 1); err == nil || !strings.Contains(err.Error(), "support_url") {
		t.Errorf("no support_url gave %v, want an error naming the key", err)
	}
}
