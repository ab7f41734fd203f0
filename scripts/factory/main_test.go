package main

import (
	"bytes"
	"crypto/rand"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tipring/tipring/firmware/provision"
)

// The label the station prints carries the password the device will use,
// and two devices never share one.
func TestFactoryWritesTheFileAndPrintsTheLabel(t *testing.T) {
	var labels []string
	for i, mac := range []string{"00:11:22:aa:bb:01", "00:11:22:aa:bb:02"} {
		dir := t.TempDir()
		var out, errOut bytes.Buffer
		serial := []string{"TR-1", "TR-2"}[i]
		if err := run([]string{"--serial", serial, "--mac", mac, "--data", dir}, &out, &errOut, rand.Reader); err != nil {
			t.Fatalf("%v: %s", err, errOut.String())
		}
		f, err := provision.LoadFactory(filepath.Join(dir, provision.FactoryFile))
		if err != nil {
			t.Fatal(err)
		}
		label := strings.TrimSpace(out.String())
		if !strings.Contains(label, "serial "+serial) || !strings.Contains(label, mac) || !strings.HasSuffix(label, "admin password "+f.AdminPassword()) {
			t.Fatalf("label %q does not match the file %+v", label, f)
		}
		labels = append(labels, f.AdminPassword())
		if err := run([]string{"--serial", serial, "--mac", mac, "--data", dir}, &out, &errOut, rand.Reader); err == nil || !strings.Contains(err.Error(), "written once") {
			t.Fatalf("second run on the same device: %v, want a refusal", err)
		}
	}
	if labels[0] == labels[1] {
		t.Fatal("two devices got the same admin password")
	}
	var out bytes.Buffer
	if err := run([]string{"--serial", "x", "--mac", "nope", "--data", t.TempDir()}, &out, &out, rand.Reader); err == nil || !strings.Contains(err.Error(), "6 bytes") {
		t.Fatalf("bad MAC: %v", err)
	}
}
