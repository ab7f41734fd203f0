package config

import (
	"strings"
	"testing"
	"time"
)

func TestUpdateSection(t *testing.T) {
	c, err := Parse("t.toml", []byte(minimal+"\n[update]\nurl = \"https://updates.example.net/tipring\"\nconfirm_after = \"90s\"\n"))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if c.Update.URL != "https://updates.example.net/tipring" || c.Update.PullInterval() != 24*time.Hour || c.Update.ConfirmWait() != 90*time.Second {
		t.Fatalf("update %+v: want the URL, the 24h default interval and 90s", c.Update)
	}
	if d := Defaults().Update.ConfirmWait(); d != 5*time.Minute {
		t.Errorf("default confirm_after %v, want 5m", d)
	}
	for _, tc := range []struct{ doc, want string }{
		{"[update]\nurl = \"ftp://u.example.net/\"\n", "line 2: update.url: want an http(s) URL"},
		{"[update]\nurl = \"https://u.example.net/?x=1\"\n", "update.url"},
		{"[update]\ninterval = \"30s\"\n", "update.interval: want at least 1m"},
		{"[update]\nconfirm = \"1m\"\n", "update.confirm: unknown key"},
	} {
		_, err := Parse("t.toml", []byte(tc.doc+minimal))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: err %v, want %q", tc.doc, err, tc.want)
		}
	}
}
