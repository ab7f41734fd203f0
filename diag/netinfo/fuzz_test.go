package netinfo

import (
	"bytes"
	"encoding/binary"
	"strings"
	"testing"
	"time"
)

// Seeds live in testdata/fuzz/FuzzXxx. Each fuzzer checks that bad input
// is an error, never a panic, and that what parses is self-consistent.

func FuzzParseRoute(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, order := range []binary.ByteOrder{binary.LittleEndian, binary.BigEndian} {
			rs, err := ParseRoute(bytes.NewReader(b), order)
			if err != nil {
				continue
			}
			for _, r := range rs {
				if !r.Dest.IsValid() || r.Dest != r.Dest.Masked() {
					t.Fatalf("route %+v has an unmasked or invalid prefix", r)
				}
			}
			if r, ok := DefaultRoute(rs); ok && !r.Gateway.IsValid() {
				t.Fatalf("default route %+v without a gateway", r)
			}
		}
	})
}

func FuzzParseIPv6Route(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		rs, err := ParseIPv6Route(bytes.NewReader(b))
		if err != nil {
			return
		}
		for _, r := range rs {
			if !r.Dest.IsValid() || r.Dest.Bits() > 128 {
				t.Fatalf("route %+v has a bad prefix", r)
			}
		}
	})
}

func FuzzParseResolvConf(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := ParseResolvConf(bytes.NewReader(b))
		if err != nil {
			return
		}
		for _, a := range r.Servers {
			if !a.IsValid() {
				t.Fatal("invalid server address parsed")
			}
		}
	})
}

func FuzzParseARP(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		ns, err := ParseARP(bytes.NewReader(b))
		if err != nil {
			return
		}
		for _, n := range ns {
			if !n.Addr.Is4() || (n.State == "incomplete") != (n.MAC == "") {
				t.Fatalf("neighbour %+v", n)
			}
		}
		Census(ns)
	})
}

func FuzzParseDhclientLeases(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		ls, err := ParseDhclientLeases(bytes.NewReader(b))
		if err != nil {
			return
		}
		for _, l := range ls {
			if l.Address.IsValid() && l.Address.Bits() < 0 {
				t.Fatalf("lease %+v", l)
			}
		}
	})
}

func FuzzParseNetworkdLease(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		l, err := ParseNetworkdLease(bytes.NewReader(b), time.Unix(1_700_000_000, 0))
		if err == nil && !l.Address.IsValid() {
			t.Fatal("lease without an address accepted")
		}
	})
}

func FuzzParseSSDPResponse(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := ParseSSDPResponse(b)
		if err != nil {
			return
		}
		if r.USN == "" {
			t.Fatal("answer without USN accepted")
		}
		uuidOf(r.USN)
	})
}

func FuzzParseDeviceDescription(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := ParseDeviceDescription(bytes.NewReader(b))
		if err == nil && d.DeviceType == "" && d.FriendlyName == "" {
			t.Fatal("empty description accepted")
		}
	})
}

// FuzzParseMDNSAnswer feeds raw messages to the DNS reader and the
// service assembly that an mDNS answer goes through.
func FuzzParseMDNSAnswer(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := parseDNS(b)
		if err != nil {
			return
		}
		var recs []fromRecord
		for _, r := range m.Records {
			recs = append(recs, fromRecord{dnsRecord: r})
			// Every name read must write back (when its labels are legal)
			// and read again to the same text.
			if w, err := appendName(nil, r.Name); err == nil && r.Name != "." {
				got, _, err := readName(append(make([]byte, dnsHeaderLen), w...), dnsHeaderLen)
				if err != nil || got != r.Name {
					t.Fatalf("name %q round-trips to %q (%v)", r.Name, got, err)
				}
			}
		}
		for _, s := range assembleMDNS(recs) {
			if strings.Count(s.Type, ".") > 1 {
				t.Fatalf("service type %q", s.Type)
			}
		}
	})
}

func FuzzParseNeighMsg(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		n, err := parseNeighMsg(b, binary.LittleEndian)
		if err == nil && !n.Addr.IsValid() {
			t.Fatal("neighbour without an address accepted")
		}
	})
}

func FuzzParseOUITable(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		tab, err := ParseOUITable(bytes.NewReader(b))
		if err != nil {
			return
		}
		for k, v := range tab {
			mac := []byte{k[0], k[1], k[2], 0, 0, 0}
			if k[0]&0x02 == 0 {
				if got, ok := tab.Lookup(macString(mac)); !ok || got != v {
					t.Fatalf("lookup of %x = %+v %v, want %+v", mac, got, ok, v)
				}
			}
		}
	})
}

func macString(b []byte) string {
	const hexd = "0123456789abcdef"
	var sb strings.Builder
	for i, c := range b {
		if i > 0 {
			sb.WriteByte(':')
		}
		sb.WriteByte(hexd[c>>4])
		sb.WriteByte(hexd[c&0xf])
	}
	return sb.String()
}
