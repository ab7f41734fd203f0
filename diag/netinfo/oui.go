package netinfo

import (
	"bufio"
	_ "embed"
	"fmt"
	"io"
	"net"
	"strings"
)

//go:embed oui.txt
var ouiText string

// Vendor kinds in the OUI table.
const (
	KindRouter = "router" // makes routers, modems, gateways, switches
	KindMixed  = "mixed"  // makes routers and other devices alike
	KindPhone  = "phone"  // VoIP telephones and adapters
	KindDevice = "device" // computers, phones, media, IoT
	// KindLocal marks a locally administered address: randomised by a
	// phone's privacy setting or made up by a virtual interface, so it
	// names no maker.
	KindLocal = "local"
)

// Vendor is what the OUI table knows about a MAC address's maker.
type Vendor struct {
	Name string `json:"name"`
	Kind string `json:"kind"`
}

// OUITable maps the first three bytes of a MAC address to its maker.
type OUITable map[[3]byte]Vendor

// ParseOUITable parses the "OUI kind vendor" text format of oui.txt.
func ParseOUITable(r io.Reader) (OUITable, error) {
	t := OUITable{}
	sc := bufio.NewScanner(r)
	line := 0
	for sc.Scan() {
		line++
		text := strings.TrimSpace(sc.Text())
		if text == "" || text[0] == '#' {
			continue
		}
		f := strings.Fields(text)
		if len(f) < 3 {
			return nil, fmt.Errorf("oui line %d: want OUI, kind and vendor", line)
		}
		hw, err := net.ParseMAC(f[0] + ":00:00:00")
		if err != nil || len(hw) != 6 {
			return nil, fmt.Errorf("oui line %d: %q is not an OUI like 00:04:0E", line, f[0])
		}
		switch f[1] {
		case KindRouter, KindMixed, KindPhone, KindDevice:
		default:
			return nil, fmt.Errorf("oui line %d: kind %q is not router, mixed, phone or device", line, f[1])
		}
		var k [3]byte
		copy(k[:], hw[:3])
		if old, dup := t[k]; dup {
			return nil, fmt.Errorf("oui line %d: %s already assigned to %s", line, f[0], old.Name)
		}
		t[k] = Vendor{Name: strings.Join(f[2:], " "), Kind: f[1]}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("oui table: %w", err)
	}
	return t, nil
}

// DefaultOUITable parses the table built into the program. It is parsed on
// each call rather than kept in a package variable; the table is small
// and a collection runs rarely.
func DefaultOUITable() (OUITable, error) {
	return ParseOUITable(strings.NewReader(ouiText))
}

// Lookup names the maker of mac, reporting false when the table does not
// know it. A locally administered address is reported as such, since no
// table can name its maker.
func (t OUITable) Lookup(mac string) (Vendor, bool) {
	hw, err := net.ParseMAC(mac)
	if err != nil || len(hw) < 3 {
		return Vendor{}, false
	}
	if hw[0]&0x02 != 0 {
		return Vendor{Name: "locally administered address", Kind: KindLocal}, true
	}
	v, ok := t[[3]byte{hw[0], hw[1], hw[2]}]
	return v, ok
}
