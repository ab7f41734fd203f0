package netinfo

import (
	"bufio"
	"strings"
	"testing"
)

func TestOUITableEveryLineParses(t *testing.T) {
	// Each non-comment line alone must parse, so a bad line is named.
	sc := bufio.NewScanner(strings.NewReader(ouiText))
	n := 0
	for line := 1; sc.Scan(); line++ {
		text := strings.TrimSpace(sc.Text())
		if text == "" || text[0] == '#' {
			continue
		}
		n++
		tab, err := ParseOUITable(strings.NewReader(text))
		if err != nil || len(tab) != 1 {
			t.Errorf("oui.txt line %d %q: %v", line, text, err)
			continue
		}
		for k := range tab {
			// An OUI is globally administered and unicast; a prefix with
			// either bit set is a typing error.
			if k[0]&0x03 != 0 {
				t.Errorf("oui.txt line %d: %q has the local or multicast bit set", line, text)
			}
		}
	}
	tab, err := DefaultOUITable()
	if err != nil {
		t.Fatal(err) // also catches a prefix listed twice
	}
	if len(tab) != n || n < 300 {
		t.Errorf("table has %d entries from %d lines", len(tab), n)
	}
	vendors := map[string]bool{}
	for _, v := range tab {
		vendors[v.Name] = true
	}
	for _, want := range []string{"AVM", "Netgear", "TP-Link", "ASUS", "Linksys", "Ubiquiti", "MikroTik", "Huawei", "ZTE",
		"Sagemcom", "Technicolor", "Arris", "Cisco", "Juniper", "Compal Broadband Networks", "Hitron", "Ubee",
		"Apple", "Google", "Amazon", "Raspberry Pi"} {
		if !vendors[want] {
			t.Errorf("no %s in the table", want)
		}
	}
	if !strings.Contains(ouiText, "compiled by hand from public IEEE assignments") {
		t.Error("oui.txt does not state its source")
	}
}

func TestOUILookup(t *testing.T) {
	tab, err := DefaultOUITable()
	if err != nil {
		t.Fatal(err)
	}
	for mac, want := range map[string]Vendor{
		"3c:a6:2f:01:02:03": {"AVM", KindRouter},
		"3C-A6-2F-01-02-03": {"AVM", KindRouter},
		"b8:27:eb:00:00:01": {"Raspberry Pi", KindDevice},
		"00:0b:82:12:34:56": {"Grandstream", KindPhone},
		"da:a1:19:00:00:01": {"locally administered address", KindLocal},
	} {
		if v, ok := tab.Lookup(mac); !ok || v != want {
			t.Errorf("Lookup(%s) = %+v %v, want %+v", mac, v, ok, want)
		}
	}
	for _, mac := range []string{"00:00:01:00:00:00", "", "not a mac"} {
		if v, ok := tab.Lookup(mac); ok {
			t.Errorf("Lookup(%q) = %+v", mac, v)
		}
	}
}

func TestParseOUITableErrors(t *testing.T) {
	for name, in := range map[string]string{
		"duplicate":   "00:04:0E router AVM\n00:04:0e device Other\n",
		"bad kind":    "00:04:0E modem AVM\n",
		"no vendor":   "00:04:0E router\n",
		"bad prefix":  "00:04 router AVM\n",
		"long prefix": "00:04:0E:01 router AVM\n",
		"not hex":     "00:04:0G router AVM\n",
	} {
		if _, err := ParseOUITable(strings.NewReader(in)); err == nil || !strings.Contains(err.Error(), "line") {
			t.Errorf("%s: err = %v", name, err)
		}
	}
}
