package main

import (
	"bufio"
	"bytes"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/tipring/tipring/meter"
	"github.com/tipring/tipring/scripts/devbilling/billing"
)

// docScripts returns the curl blocks of docs/devbilling.md as bash
// scripts, continuation lines joined.
func docScripts(t *testing.T) []string {
	t.Helper()
	doc, err := os.ReadFile("../../docs/devbilling.md")
	if err != nil {
		t.Fatal(err)
	}
	var scripts []string
	var cur strings.Builder
	in := false
	sc := bufio.NewScanner(bytes.NewReader(doc))
	for sc.Scan() {
		l := sc.Text()
		switch {
		case strings.HasPrefix(l, "```sh"):
			in = true
			cur.Reset()
		case in && strings.HasPrefix(l, "```"):
			in = false
			if strings.Contains(cur.String(), "curl ") {
				scripts = append(scripts, cur.String())
			}
		case in:
			cur.WriteString(l + "\n")
		}
	}
	return scripts
}

// TestDocCommands runs every curl command of docs/devbilling.md, as
// written, against a running back end (its address swapped in), and checks
// that they did what the doc says.
func TestDocCommands(t *testing.T) {
	if _, err := exec.LookPath("curl"); err != nil {
		t.Fatal("curl is missing: scripts/install-peers.sh (make test) installs it")
	}
	srv, err := billing.New(billing.Config{Account: "100200300", Token: "dev-token", Balance: 5 * meter.Unit})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv.Handler())
	defer ts.Close()
	scripts := docScripts(t)
	if len(scripts) < 2 {
		t.Fatalf("found %d curl blocks in docs/devbilling.md, want the API and the switches", len(scripts))
	}
	for _, s := range scripts {
		s = strings.ReplaceAll(s, "http://127.0.0.1:8090", ts.URL)
		cmd := exec.Command("bash", "-euo", "pipefail", "-c", s)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s\n%s\n%v", s, out, err)
		}
		if strings.Contains(string(out), `"error"`) {
			t.Fatalf("a documented command was refused:\n%s\n%s", s, out)
		}
	}
	// The doc's usage example was applied once, and its last switches hold.
	if u := srv.Usage(); len(u) != 1 || u[0].ID != "call-1" || u[0].Posts != 1 {
		t.Fatalf("usage %+v, want call-1 applied once", u)
	}
	if st := srv.State(); st.Status != meter.Active || !st.Malformed || st.Recharge != "decline" {
		t.Fatalf("state %+v after the documented switches", st)
	}
}
