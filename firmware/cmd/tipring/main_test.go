package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func call(args ...string) (int, string, string) {
	var out, errOut bytes.Buffer
	code := realMain(context.Background(), args, &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestCommandLine(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "none.toml")
	bad := filepath.Join(t.TempDir(), "bad.toml")
	if err := os.WriteFile(bad, []byte("[device]\ncolour = \"red\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args   []string
		code   int
		stdout string
		stderr string
	}{
		{[]string{"version"}, 0, "tipring dev", ""},
		{nil, 2, "", "usage: tipring COMMAND"},
		{[]string{"frobnicate"}, 2, "", `unknown command "frobnicate"`},
		{[]string{"run", "--config", missing}, 1, "", "no such file"},
		{[]string{"run", "--config", bad}, 1, "", "line 2: device.colour: unknown key"},
		{[]string{"phone"}, 2, "", "need PORT and ACTION"},
		{[]string{"phone", "one", "offhook"}, 2, "", "PORT must be a port number"},
		{[]string{"phone", "--control", "127.0.0.1:9", "1", "juggle"}, 2, "", `unknown action "juggle"`},
		{[]string{"phone", "--control", "127.0.0.1:9", "1", "dial"}, 2, "", "dial needs DIGITS"},
		{[]string{"phone", "--control", "127.0.0.1:9", "1", "offhook"}, 1, "", "127.0.0.1:9"},
		{[]string{"status", "--api", "http://127.0.0.1:9", "--password", "x"}, 1, "", "is tipring running?"},
	} {
		code, out, errOut := call(tc.args...)
		if code != tc.code || !strings.Contains(out, tc.stdout) || !strings.Contains(errOut, tc.stderr) {
			t.Errorf("tipring %s: exit %d, stdout %q, stderr %q; want exit %d with %q / %q",
				strings.Join(tc.args, " "), code, out, errOut, tc.code, tc.stdout, tc.stderr)
		}
	}
}
