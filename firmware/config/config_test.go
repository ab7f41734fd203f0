package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tipring/tipring/firmware/dialplan"
)

const minimal = `
[[line]]
port = 1
user = "1001"
password = "secret"
registrar = "sip.example.net"

[admin]
password = "unique"
`

func TestDevelopmentConfigLoads(t *testing.T) {
	c, err := Load(filepath.Join("..", "..", "scripts", "dev", "tipring.toml"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Device.Board != "sim" || len(c.Lines) != 2 || c.Lines[1].User != "1002" {
		t.Fatalf("unexpected: %+v", c)
	}
	if r := c.Lines[0].Plan().Match("600"); r.Action != dialplan.Dial || r.Number != "600" {
		t.Fatalf("the dev plan should dial the test number 600 at once, got %+v", r)
	}
}

func TestDefaults(t *testing.T) {
	c, err := Parse("t.toml", []byte(minimal))
	if err != nil {
		t.Fatal(err)
	}
	l := c.Lines[0]
	if l.Transport != "udp" || l.ShortTimer.D() != 4*time.Second || l.LongTimer.D() != 10*time.Second ||
		l.Expires.D() != time.Hour || l.KeepAlive.D() != 25*time.Second {
		t.Fatalf("line defaults: %+v", l)
	}
	if c.Device.Region != "us" || c.SIP.Listen != "0.0.0.0:5060" || c.Meter.Checkpoint.D() != 10*time.Second {
		t.Fatalf("defaults: %+v", c)
	}
	// No dial_plan: the region's plan, so a full national number dials at once.
	if r := l.Plan().Match("15551234567"); r.Action != dialplan.Dial {
		t.Fatalf("region default plan: 15551234567 → %+v", r)
	}
	lo, hi, err := c.RTPPortRange()
	if err != nil || lo != 16384 || hi != 16482 {
		t.Fatalf("rtp ports %d-%d %v", lo, hi, err)
	}
}

// The design's example configuration is accepted as written.
func TestDesignExample(t *testing.T) {
	doc := `
[device]
board = "sim"
region = "us"
data_dir = "/var/lib/tipring"

[sip]
listen = "0.0.0.0:5060"
rtp_ports = "16384-16482"

[[line]]
port = 1
user = "1001"
auth_user = ""
password = "secret"
registrar = "sip.example.net"
proxy = ""
transport = "udp"
dial_plan = "(911|1[2-9]xxxxxxxxx|[2-9]xxxxxxxxx|011x.T|*xx)"

[admin]
listen = "127.0.0.1:8080"
password = "unique-per-device"

[sim]
control = "127.0.0.1:7070"

[meter]
backend = "https://billing.example.net/"
account = "100200300"
token = "device-token"
checkpoint = "10s"
warn_before = "60s"
offline_grace = "72h"

[diag]
support_url = ""
stun = "stun.example.net:3478"
`
	if _, err := Parse("design.toml", []byte(doc)); err != nil {
		t.Fatal(err)
	}
}

func TestErrorsNameKeyAndLine(t *testing.T) {
	for _, tc := range []struct {
		name string
		doc  string
		want []string
	}{
		{"unknown key", "[device]\nboard = \"sim\"\ncolour = \"red\"\n" + minimal,
			[]string{"line 3: device.colour: unknown key"}},
		{"unknown table", minimal + "\n[telephone]\nmake = \"x\"\n",
			[]string{"telephone", "unknown key"}},
		{"wrong type", "[sip]\nlisten = 5060\n" + minimal,
			[]string{"line 2", "sip.listen"}},
		{"bad duration", "[meter]\ncheckpoint = \"ten seconds\"\n" + minimal,
			[]string{"line 2", "meter.checkpoint", "not a duration"}},
		{"missing password", "[[line]]\nport = 1\nuser = \"1001\"\nregistrar = \"x\"\n[admin]\npassword=\"p\"\n",
			[]string{"line 1: [[line]] #1 (port 1) password: missing"}},
		{"bad dial plan", "[[line]]\nport = 1\nuser = \"1001\"\npassword = \"s\"\nregistrar = \"x\"\ndial_plan = \"(911|1[2-9xxxxxxxxx)\"\n[admin]\npassword=\"p\"\n",
			[]string{"line 6: [[line]] #1 (port 1) dial_plan: dial plan: position 6"}},
		{"duplicate port", minimal + "\n[[line]]\nport = 1\nuser = \"1002\"\npassword = \"s\"\nregistrar = \"x\"\n",
			[]string{"[[line]] #2 (port 1) port: port 1 is used by two lines"}},
		{"bad region", "[device]\nregion = \"mars\"\n" + minimal,
			[]string{"line 2: device.region: unknown region \"mars\""}},
		{"bad transport", strings.Replace(minimal, `registrar = "sip.example.net"`, "registrar = \"sip.example.net\"\ntransport = \"sctp\"", 1),
			[]string{"transport: unknown transport \"sctp\""}},
		{"bad registrar", strings.Replace(minimal, `"sip.example.net"`, `"sip.example.net:99999"`, 1),
			[]string{"registrar: bad port"}},
		{"no lines", "[admin]\npassword = \"p\"\n", []string{"no [[line]] configured"}},
		{"bad rtp range", "[sip]\nrtp_ports = \"20000-10000\"\n" + minimal,
			[]string{"line 2: sip.rtp_ports"}},
		{"bad codec", "[sip]\ncodecs = [\"G729\"]\n" + minimal,
			[]string{"sip.codecs", "G729"}},
		{"not toml", "[device\n", []string{"config t.toml"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("t.toml", []byte(tc.doc))
			if err == nil {
				t.Fatal("accepted")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q\ndoes not contain %q", err, w)
				}
			}
		})
	}
}

func TestAllProblemsReportedAtOnce(t *testing.T) {
	doc := "[sip]\nlisten = \"x\"\n[[line]]\nport = 1\n[admin]\npassword=\"p\"\n"
	_, err := Parse("t.toml", []byte(doc))
	var n int
	for _, e := range unwrapAll(err) {
		var ce *Error
		if errors.As(e, &ce) {
			n++
		}
	}
	if n < 4 { // listen, user, password, registrar
		t.Fatalf("want every problem reported, got %d: %v", n, err)
	}
}

func unwrapAll(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "nope.toml"))
	if err == nil || !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("got %v", err)
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(minimal))
	f.Add([]byte("[device]\nboard = \"sim\"\n" + minimal))
	f.Add([]byte("[[line]]\ndial_plan = \"(x.T\"\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse("fuzz.toml", data)
		if err == nil {
			if len(c.Lines) == 0 {
				t.Fatal("accepted a configuration with no lines")
			}
			for _, l := range c.Lines {
				if l.Plan() == nil || l.Password == "" {
					t.Fatalf("accepted an incomplete line: %+v", l)
				}
			}
		}
	})
}
