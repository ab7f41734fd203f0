package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/pem"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tipring/tipring/firmware/api"
	"github.com/tipring/tipring/firmware/config"
	"github.com/tipring/tipring/firmware/provision"
)

func TestProvisionWritesAConfigurationThatParses(t *testing.T) {
	args := []string{"provision", "--config", "-", "--region", "de", "--user", "1001", "--password", "s3cret", "--registrar", "sip.example.net",
		"--user2", "1002", "--password2", "other", "--meter-backend", "https://billing.example.net/", "--meter-account", "42", "--meter-token", "t",
		"--admin-listen", "127.0.0.1:8081"}
	code, out, errOut := call(args...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	c, err := config.Parse("stdout", []byte(out))
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if c.Device.Region != "de" || len(c.Lines) != 2 || c.Lines[1].Registrar != "sip.example.net" || c.Meter.Account != "42" {
		t.Fatalf("parsed %+v from\n%s", c, out)
	}

	path := filepath.Join(t.TempDir(), "etc", "tipring.toml")
	if code, _, errOut := call("provision", "--config", path, "--user", "1001", "--password", "p", "--registrar", "sip.example.net"); code != 0 {
		t.Fatalf("write: %s", errOut)
	}
	if st, err := os.Stat(path); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("written file: %v, %v; want mode 0600", st, err)
	}
	if code, _, errOut := call("provision", "--config", path, "--user", "1009", "--password", "p", "--registrar", "x"); code != 1 || !strings.Contains(errOut, "--force") {
		t.Errorf("overwrite without --force: exit %d, %q", code, errOut)
	}
	if code, _, errOut := call("provision", "--config", path, "--force", "--user", "1009", "--password", "p", "--registrar", "x"); code != 0 {
		t.Errorf("overwrite with --force: %s", errOut)
	}
	if c, err := config.Load(path); err != nil || c.Lines[0].User != "1009" {
		t.Errorf("after --force: %+v, %v", c, err)
	}
	if code, _, errOut := call("provision", "--config", "-", "--user", "1001", "--registrar", "x"); code != 1 || !strings.Contains(errOut, "password: missing") {
		t.Errorf("no password: exit %d, %q", code, errOut)
	}
}

func TestResetOfflineNeedsYes(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "tipring.toml")
	if err := os.WriteFile(path, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, _, errOut := call("reset", "--offline", "--data", dir, "--config", path); code != 2 || !strings.Contains(errOut, "--yes") {
		t.Fatalf("without --yes: exit %d, %q", code, errOut)
	}
	code, out, errOut := call("reset", "--offline", "--yes", "--data", dir, "--config", path)
	if code != 0 || !strings.Contains(out, "removed") {
		t.Fatalf("exit %d, %q, %q", code, out, errOut)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Fatalf("configuration still there: %v", err)
	}
}

func freePort(t *testing.T, network string) int {
	t.Helper()
	if network == "udp" {
		c, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		return c.LocalAddr().(*net.UDPAddr).Port
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// lockedBuffer collects a process's output while the test reads it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// Done when: provisioning from a URL configures a blank device. The real
// binary starts with no configuration, a factory file and a provisioning
// URL on an HTTPS server with a private CA; it fetches its own file, comes
// up configured with the admin password derived from its factory secret,
// and after a factory reset through the CLI provisions itself again.
func TestBlankDeviceProvisionsItselfFromAURL(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the firmware")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "tipring")
	build := exec.Command("go", "build", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	data := filepath.Join(dir, "data")
	if err := os.MkdirAll(data, 0o700); err != nil {
		t.Fatal(err)
	}
	fac, err := provision.NewFactory("TR-E2E-1", "02:00:00:00:e2:e1", rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if err := fac.Write(filepath.Join(data, provision.FactoryFile)); err != nil {
		t.Fatal(err)
	}
	prompts, err := filepath.Abs("../../prompts/data")
	if err != nil {
		t.Fatal(err)
	}
	adminPort, rtp := freePort(t, "tcp"), freePort(t, "udp")&^1
	served := fmt.Sprintf(`[device]
board = "sim"
data_dir = %q
prompts = %q

[sip]
listen = "127.0.0.1:%d"
rtp_ports = "%d-%d"

[[line]]
port = 1
user = "1001"
password = "x"
registrar = "127.0.0.1:9"

[admin]
listen = "127.0.0.1:%d"

[sim]
control = "127.0.0.1:%d"
`, data, prompts, freePort(t, "udp"), rtp, rtp+9, adminPort, freePort(t, "tcp"))

	var mu sync.Mutex
	var asked []string
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		asked = append(asked, r.URL.Path)
		mu.Unlock()
		if r.URL.Path != "/prov/cfg02000000e2e1.toml" {
			http.NotFound(w, r)
			return
		}
		_, _ = w.Write([]byte(served))
	}))
	defer srv.Close()
	ca := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}

	cfgPath := filepath.Join(dir, "etc", "tipring.toml")
	var out lockedBuffer
	cmd := exec.Command(bin, "run", "--config", cfgPath, "--data", data, "--provision", srv.URL+"/prov", "--provision-ca", ca)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case err := <-exited:
			if err != nil {
				t.Errorf("tipring did not stop cleanly: %v", err)
			}
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
			t.Error("tipring did not stop on SIGTERM")
		}
		if t.Failed() {
			t.Logf("--- tipring log ---\n%s", out.String())
		}
	}()

	client := api.NewClient(fmt.Sprintf("http://127.0.0.1:%d", adminPort), fac.AdminPassword(), nil)
	waitUp := func(what string) api.Status {
		t.Helper()
		deadline := time.Now().Add(15 * time.Second)
		for {
			st, err := client.Status(context.Background())
			if err == nil {
				return st
			}
			select {
			case err := <-exited:
				exited <- err
				t.Fatalf("%s: tipring exited: %v", what, err)
			default:
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: no status within 15 s: %v", what, err)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	st := waitUp("first provisioning")
	if st.Board != "sim" || len(st.Lines) != 1 || st.Lines[0].User != "1001" {
		t.Fatalf("status %+v, want the provisioned line", st)
	}
	if got, err := os.ReadFile(cfgPath); err != nil || string(got) != served {
		t.Fatalf("configuration on disk: %v; want the served file", err)
	}
	if !strings.Contains(out.String(), "cfg02000000e2e1.toml") {
		t.Errorf("the log does not name the file fetched")
	}

	// The CLI on the device finds the derived password by itself.
	if code, stdout, errOut := call("status", "--config", cfgPath); code != 0 || !strings.Contains(stdout, "board sim") {
		t.Fatalf("tipring status: exit %d, %q, %q", code, stdout, errOut)
	}

	// A factory reset: the device forgets its configuration and
	// provisions itself again from the same server.
	if code, stdout, errOut := call("reset", "--yes", "--config", cfgPath); code != 0 || !strings.Contains(stdout, "provisioning") {
		t.Fatalf("tipring reset: exit %d, %q, %q", code, stdout, errOut)
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		mu.Lock()
		n := len(asked)
		mu.Unlock()
		if n >= 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no second provisioning request after the reset")
		}
		time.Sleep(20 * time.Millisecond)
	}
	waitUp("provisioning after the reset")
}
