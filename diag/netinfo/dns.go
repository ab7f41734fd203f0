package netinfo

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"strings"
)

// A small DNS wire-format reader and query writer, enough for mDNS
// service discovery (PTR, SRV, TXT, A, AAAA). Names are kept as dotted
// text with '.' and '\' inside a label escaped by '\', so that instance
// names such as "Printer 2.0" survive the round trip.

const (
	typeA    = 1
	typePTR  = 12
	typeTXT  = 16
	typeAAAA = 28
	typeSRV  = 33
	classIN  = 1

	dnsHeaderLen = 12
	maxNameLen   = 255
)

type dnsQuestion struct {
	Name  string
	Type  uint16
	Class uint16
}

type dnsRecord struct {
	Name   string
	Type   uint16
	Class  uint16 // without mDNS's cache-flush bit
	TTL    uint32
	Target string     // PTR and SRV
	Port   uint16     // SRV
	TXT    []string   // TXT
	Addr   netip.Addr // A and AAAA
}

type dnsMessage struct {
	ID        uint16
	Response  bool
	Questions []dnsQuestion
	Records   []dnsRecord // answer, authority and additional sections together
}

var errDNSShort = errors.New("message ends early")

// parseDNS decodes a DNS message. Record types it does not use are kept
// with their name and type only.
func parseDNS(b []byte) (dnsMessage, error) {
	if len(b) < dnsHeaderLen {
		return dnsMessage{}, fmt.Errorf("dns: %d bytes, shorter than a header", len(b))
	}
	m := dnsMessage{ID: binary.BigEndian.Uint16(b), Response: b[2]&0x80 != 0}
	qd := int(binary.BigEndian.Uint16(b[4:]))
	rr := int(binary.BigEndian.Uint16(b[6:])) + int(binary.BigEndian.Uint16(b[8:])) + int(binary.BigEndian.Uint16(b[10:]))
	off := dnsHeaderLen
	for i := 0; i < qd; i++ {
		name, n, err := readName(b, off)
		if err != nil {
			return dnsMessage{}, fmt.Errorf("dns: question %d: %w", i+1, err)
		}
		if n+4 > len(b) {
			return dnsMessage{}, fmt.Errorf("dns: question %d: %w", i+1, errDNSShort)
		}
		m.Questions = append(m.Questions, dnsQuestion{Name: name, Type: binary.BigEndian.Uint16(b[n:]), Class: binary.BigEndian.Uint16(b[n+2:]) &^ 0x8000})
		off = n + 4
	}
	for i := 0; i < rr; i++ {
		r, n, err := readRecord(b, off)
		if err != nil {
			return dnsMessage{}, fmt.Errorf("dns: record %d: %w", i+1, err)
		}
		m.Records = append(m.Records, r)
		off = n
	}
	return m, nil
}

func readRecord(b []byte, off int) (dnsRecord, int, error) {
	name, n, err := readName(b, off)
	if err != nil {
		return dnsRecord{}, 0, err
	}
	if n+10 > len(b) {
		return dnsRecord{}, 0, errDNSShort
	}
	r := dnsRecord{
		Name:  name,
		Type:  binary.BigEndian.Uint16(b[n:]),
		Class: binary.BigEndian.Uint16(b[n+2:]) &^ 0x8000,
		TTL:   binary.BigEndian.Uint32(b[n+4:]),
	}
	rdlen := int(binary.BigEndian.Uint16(b[n+8:]))
	start := n + 10
	end := start + rdlen
	if end > len(b) {
		return dnsRecord{}, 0, fmt.Errorf("%s: data of %d bytes: %w", name, rdlen, errDNSShort)
	}
	data := b[start:end]
	switch r.Type {
	case typeA, typeAAAA:
		a, ok := netip.AddrFromSlice(data)
		if !ok || (r.Type == typeA) != a.Is4() {
			return dnsRecord{}, 0, fmt.Errorf("%s: address record of %d bytes", name, rdlen)
		}
		r.Addr = a
	case typePTR:
		t, tn, err := readName(b, start)
		if err != nil || tn != end {
			return dnsRecord{}, 0, fmt.Errorf("%s: PTR data is not one name", name)
		}
		r.Target = t
	case typeSRV:
		if rdlen < 7 {
			return dnsRecord{}, 0, fmt.Errorf("%s: SRV data of %d bytes", name, rdlen)
		}
		r.Port = binary.BigEndian.Uint16(data[4:])
		t, tn, err := readName(b, start+6)
		if err != nil || tn != end {
			return dnsRecord{}, 0, fmt.Errorf("%s: SRV target is not one name", name)
		}
		r.Target = t
	case typeTXT:
		for i := 0; i < len(data); {
			l := int(data[i])
			if i+1+l > len(data) {
				return dnsRecord{}, 0, fmt.Errorf("%s: TXT string overruns its record", name)
			}
			if l > 0 {
				r.TXT = append(r.TXT, string(data[i+1:i+1+l]))
			}
			i += 1 + l
		}
	}
	return r, end, nil
}

// readName reads a possibly compressed name at off and returns it with the
// offset just past it. Compression pointers must point backwards, which
// bounds the work and rules out loops.
func readName(b []byte, off int) (string, int, error) {
	var sb strings.Builder
	end := -1
	limit := off // a pointer must go below every place we have been
	total := 0
	for {
		if off >= len(b) {
			return "", 0, errDNSShort
		}
		l := int(b[off])
		switch l & 0xC0 {
		case 0x00:
			if l == 0 {
				if end < 0 {
					end = off + 1
				}
				if sb.Len() == 0 {
					return ".", end, nil
				}
				return sb.String(), end, nil
			}
			if off+1+l > len(b) {
				return "", 0, errDNSShort
			}
			total += l + 1
			if total > maxNameLen {
				return "", 0, errors.New("name longer than 255 bytes")
			}
			if sb.Len() > 0 {
				sb.WriteByte('.')
			}
			for _, c := range b[off+1 : off+1+l] {
				if c == '.' || c == '\\' {
					sb.WriteByte('\\')
				}
				sb.WriteByte(c)
			}
			off += 1 + l
		case 0xC0:
			if off+2 > len(b) {
				return "", 0, errDNSShort
			}
			ptr := int(binary.BigEndian.Uint16(b[off:]) & 0x3FFF)
			if end < 0 {
				end = off + 2
			}
			if ptr >= limit {
				return "", 0, fmt.Errorf("compression pointer %d does not point backwards", ptr)
			}
			limit = ptr
			off = ptr
		default:
			return "", 0, fmt.Errorf("label type 0x%02x not supported", l&0xC0)
		}
	}
}

// splitName splits an escaped dotted name into its labels, unescaped.
func splitName(name string) []string {
	if name == "." || name == "" {
		return nil
	}
	var labels []string
	var cur strings.Builder
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c == '\\' && i+1 < len(name):
			i++
			cur.WriteByte(name[i])
		case c == '.':
			labels = append(labels, cur.String())
			cur.Reset()
		default:
			cur.WriteByte(c)
		}
	}
	return append(labels, cur.String())
}

// appendName writes name in wire format without compression.
func appendName(b []byte, name string) ([]byte, error) {
	total := 0
	for _, l := range splitName(name) {
		if l == "" || len(l) > 63 {
			return nil, fmt.Errorf("dns name %q: label of %d bytes", name, len(l))
		}
		total += len(l) + 1
		if total > maxNameLen {
			return nil, fmt.Errorf("dns name %q longer than 255 bytes", name)
		}
		b = append(b, byte(len(l)))
		b = append(b, l...)
	}
	return append(b, 0), nil
}

// appendQuery writes a query message asking the given questions.
func appendQuery(b []byte, id uint16, qs []dnsQuestion) ([]byte, error) {
	b = binary.BigEndian.AppendUint16(b, id)
	b = append(b, 0, 0) // a standard query; mDNS wants RD clear
	b = binary.BigEndian.AppendUint16(b, uint16(len(qs)))
	b = append(b, 0, 0, 0, 0, 0, 0)
	for _, q := range qs {
		var err error
		if b, err = appendName(b, q.Name); err != nil {
			return nil, err
		}
		b = binary.BigEndian.AppendUint16(b, q.Type)
		b = binary.BigEndian.AppendUint16(b, q.Class)
	}
	return b, nil
}

// nameKey folds a name for comparison: DNS names compare without regard
// to ASCII case or a trailing dot.
func nameKey(name string) string {
	return strings.ToLower(strings.TrimSuffix(name, "."))
}
