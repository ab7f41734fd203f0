package netinfo

import (
	"cmp"
	"context"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/tipring/tipring/internal/order"
)

// MDNSGroup is the mDNS destination used on a device (RFC 6762).
const MDNSGroup = "224.0.0.251:5353"

const mdnsEnumerate = "_services._dns-sd._udp.local"

// MDNSService is one service instance a device announced over mDNS.
type MDNSService struct {
	Instance string       `json:"instance"` // the human-readable name, e.g. "Office Printer"
	Type     string       `json:"type"`     // e.g. "_ipp._tcp"
	Host     string       `json:"host,omitempty"`
	Port     uint16       `json:"port,omitempty"`
	Addrs    []netip.Addr `json:"addrs,omitempty"`
	TXT      []string     `json:"txt,omitempty"`
	From     netip.Addr   `json:"from"` // the host that answered
}

// commonMDNSTypes are asked for directly besides the enumeration, because
// some responders do not answer the enumeration query.
func commonMDNSTypes() []string {
	return []string{
		"_ipp._tcp", "_printer._tcp", "_airplay._tcp", "_raop._tcp", "_googlecast._tcp",
		"_spotify-connect._tcp", "_hap._tcp", "_smb._tcp", "_device-info._tcp",
		"_workstation._tcp", "_http._tcp", "_sip._udp",
	}
}

type fromRecord struct {
	from netip.Addr
	dnsRecord
}

// BrowseMDNS asks target for the services on the link and for the common
// service types, listens for wait, then asks once more for the types the
// enumeration revealed. It sends from an ephemeral port, which makes it a
// "legacy unicast" query (RFC 6762 §6.7): responders answer by unicast to
// that port, so the box need not join the group or bind port 5353.
func BrowseMDNS(ctx context.Context, target netip.AddrPort, wait time.Duration) ([]MDNSService, error) {
	asked := map[string]bool{nameKey(mdnsEnumerate): true}
	qs := []dnsQuestion{{Name: mdnsEnumerate, Type: typePTR, Class: classIN}}
	for _, t := range commonMDNSTypes() {
		name := t + ".local"
		asked[nameKey(name)] = true
		qs = append(qs, dnsQuestion{Name: name, Type: typePTR, Class: classIN})
	}
	var recs []fromRecord
	var errs []string
	if err := mdnsRound(ctx, target, qs, wait, &recs, &errs); err != nil {
		return assembleMDNS(recs), err
	}
	var more []dnsQuestion
	for _, r := range recs {
		if r.Type == typePTR && nameKey(r.Name) == nameKey(mdnsEnumerate) && !asked[nameKey(r.Target)] {
			asked[nameKey(r.Target)] = true
			more = append(more, dnsQuestion{Name: r.Target, Type: typePTR, Class: classIN})
		}
	}
	if len(more) > 0 {
		if err := mdnsRound(ctx, target, more, wait/2, &recs, &errs); err != nil {
			return assembleMDNS(recs), err
		}
	}
	if len(errs) > 0 && len(recs) == 0 {
		return nil, fmt.Errorf("mdns: no usable answer: %s", strings.Join(errs, "; "))
	}
	return assembleMDNS(recs), nil
}

func mdnsRound(ctx context.Context, target netip.AddrPort, qs []dnsQuestion, wait time.Duration, recs *[]fromRecord, errs *[]string) error {
	id := uint16(rand.N(0xFFFF) + 1)
	q, err := appendQuery(nil, id, qs)
	if err != nil {
		return fmt.Errorf("mdns query: %w", err)
	}
	err = exchange(ctx, target, [][]byte{q}, 0, wait, func(from netip.AddrPort, b []byte) {
		m, err := parseDNS(b)
		if err != nil {
			*errs = append(*errs, fmt.Sprintf("from %s: %v", from.Addr(), err))
			return
		}
		if !m.Response {
			return // another querier's question, not an answer
		}
		for _, r := range m.Records {
			*recs = append(*recs, fromRecord{from.Addr(), r})
		}
	})
	if err != nil {
		return fmt.Errorf("mdns: %w", err)
	}
	return nil
}

// assembleMDNS joins PTR, SRV, TXT and address records into services.
func assembleMDNS(recs []fromRecord) []MDNSService {
	srv := map[string]dnsRecord{}
	txt := map[string][]string{}
	addrs := map[string][]netip.Addr{}
	for _, r := range recs {
		k := nameKey(r.Name)
		switch r.Type {
		case typeSRV:
			srv[k] = r.dnsRecord
		case typeTXT:
			txt[k] = r.TXT
		case typeA, typeAAAA:
			if !slices.Contains(addrs[k], r.Addr) {
				addrs[k] = append(addrs[k], r.Addr)
			}
		}
	}
	seen := map[string]bool{}
	var out []MDNSService
	for _, r := range recs {
		if r.Type != typePTR || nameKey(r.Name) == nameKey(mdnsEnumerate) {
			continue
		}
		inst := nameKey(r.Target)
		if seen[inst] {
			continue
		}
		labels := splitName(r.Target)
		typeLabels := splitName(r.Name)
		// An instance name is one label in front of its service type.
		if len(labels) != len(typeLabels)+1 || !strings.EqualFold(strings.Join(labels[1:], "."), strings.Join(typeLabels, ".")) {
			continue
		}
		seen[inst] = true
		s := MDNSService{Instance: labels[0], Type: serviceType(typeLabels), From: r.from, TXT: txt[inst]}
		if sr, ok := srv[inst]; ok {
			s.Host = strings.TrimSuffix(sr.Target, ".")
			s.Port = sr.Port
			s.Addrs = addrs[nameKey(sr.Target)]
		}
		out = append(out, s)
	}
	order.Sort(out, func(a, b MDNSService) int {
		return cmp.Or(cmp.Compare(a.Type, b.Type), cmp.Compare(a.Instance, b.Instance))
	})
	return out
}

// serviceType drops the domain from "_ipp._tcp.local".
func serviceType(labels []string) string {
	if len(labels) > 2 {
		labels = labels[:2]
	}
	return strings.Join(labels, ".")
}
