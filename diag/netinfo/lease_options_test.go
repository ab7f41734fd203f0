package netinfo

import (
	"strings"
	"testing"
)

// The provisioning options a device looks for in its lease: 66 as dhclient
// names it, 160 undeclared (a quoted string, or hex when a byte is not
// printable) or declared as docs/boards.md shows.
func TestLeaseProvisioningOptions(t *testing.T) {
	for name, tc := range map[string]struct {
		in         string
		tftp, prov string
	}{
		"66 quoted":          {`lease { option tftp-server-name "prov.example.net"; }`, "prov.example.net", ""},
		"160 undeclared":     {`lease { option unknown-160 "https://p.example.net/t"; }`, "", "https://p.example.net/t"},
		"160 hex with nul":   {`lease { option unknown-160 68:74:74:70:73:3a:2f:2f:70:0; }`, "", "https://p"},
		"160 declared":       {`lease { option provision-url "https://q.example.net"; }`, "", "https://q.example.net"},
		"both, one byte hex": {"lease {\n option tftp-server-name a;\n option unknown-160 \"u\";\n}", "\n", "u"},
	} {
		ls, err := ParseDhclientLeases(strings.NewReader(tc.in))
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if len(ls) != 1 || ls[0].TFTPServer != tc.tftp || ls[0].ProvisionURL != tc.prov {
			t.Errorf("%s: leases %+v, want option 66 %q and 160 %q", name, ls, tc.tftp, tc.prov)
		}
	}
	for _, bad := range []string{
		`lease { option unknown-160 zz:74; }`,
		`lease { option tftp-server-name 123:4; }`,
	} {
		if _, err := ParseDhclientLeases(strings.NewReader(bad)); err == nil || !strings.Contains(err.Error(), "hex bytes") {
			t.Errorf("%s: err %v, want one that asks for a string or hex bytes", bad, err)
		}
	}
}
