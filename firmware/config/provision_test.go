package config

import (
	"strings"
	"testing"
	"time"
)

// An empty admin password is a device whose password is derived from its
// factory secret (firmware/provision): the file need not carry one.
func TestEmptyAdminPasswordIsAccepted(t *testing.T) {
	c, err := Parse("t.toml", []byte(strings.Replace(minimal, "password = \"unique\"", "", 1)))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if c.Admin.Password != "" {
		t.Fatalf("admin password %q, want it left empty for the firmware to derive", c.Admin.Password)
	}
}

func TestProvisionSection(t *testing.T) {
	c, err := Parse("t.toml", []byte(minimal+"\n[provision]\nurl = \"https://prov.example.net/t\"\npublic_key = \"11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=\"\n"))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if c.Provision.URL != "https://prov.example.net/t" || c.Provision.Interval.D() != 24*time.Hour {
		t.Fatalf("provision %+v, want the URL and the 24h default interval", c.Provision)
	}
	for _, tc := range []struct{ doc, want string }{
		{"[provision]\nurl = \"http://prov.example.net/\"\n", "provision.url: plain http"},
		{"[provision]\nurl = \"ftp://prov.example.net/\"\n", "provision.url: want an https URL"},
		{"[provision]\nurl = \"https://p.example.net/\"\ninterval = \"10s\"\n", "provision.interval: want at least 1m"},
		{"[provision]\npublic_key = \"c2hvcnQ=\"\n", "line 2: provision.public_key"},
	} {
		_, err := Parse("t.toml", []byte(tc.doc+minimal))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: err %v, want %q", tc.doc, err, tc.want)
		}
	}
	for _, ok := range []string{
		"[provision]\nurl = \"http://127.0.0.1:8000/\"\n",
		"[provision]\nurl = \"http://prov.lan/\"\nallow_http = true\n",
	} {
		if _, err := Parse("t.toml", []byte(ok+minimal)); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
}
