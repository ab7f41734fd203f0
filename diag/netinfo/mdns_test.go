package netinfo

import (
	"context"
	"encoding/binary"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

type testRR struct {
	name string
	typ  uint16
	data []byte
}

func mustName(t testing.TB, name string) []byte {
	b, err := appendName(nil, name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func ptrRR(t testing.TB, name, target string) testRR {
	return testRR{name, typePTR, mustName(t, target)}
}

func srvRR(t testing.TB, name string, port uint16, target string) testRR {
	d := []byte{0, 0, 0, 0}
	d = binary.BigEndian.AppendUint16(d, port)
	return testRR{name, typeSRV, append(d, mustName(t, target)...)}
}

func txtRR(name string, strs ...string) testRR {
	var d []byte
	for _, s := range strs {
		d = append(d, byte(len(s)))
		d = append(d, s...)
	}
	return testRR{name, typeTXT, d}
}

func addrRR(name string, a netip.Addr) testRR {
	typ := uint16(typeA)
	if a.Is6() {
		typ = typeAAAA
	}
	return testRR{name, typ, a.AsSlice()}
}

// buildResponse writes an mDNS legacy-unicast answer: the query's ID and
// questions echoed, every record in the answer section with the
// cache-flush bit set as responders do.
func buildResponse(t testing.TB, id uint16, qs []dnsQuestion, rrs []testRR) []byte {
	b := binary.BigEndian.AppendUint16(nil, id)
	b = append(b, 0x84, 0) // response, authoritative
	b = binary.BigEndian.AppendUint16(b, uint16(len(qs)))
	b = binary.BigEndian.AppendUint16(b, uint16(len(rrs)))
	b = append(b, 0, 0, 0, 0)
	for _, q := range qs {
		b = append(b, mustName(t, q.Name)...)
		b = binary.BigEndian.AppendUint16(b, q.Type)
		b = binary.BigEndian.AppendUint16(b, q.Class)
	}
	for _, r := range rrs {
		b = append(b, mustName(t, r.name)...)
		b = binary.BigEndian.AppendUint16(b, r.typ)
		b = binary.BigEndian.AppendUint16(b, 0x8001)
		b = binary.BigEndian.AppendUint32(b, 120)
		b = binary.BigEndian.AppendUint16(b, uint16(len(r.data)))
		b = append(b, r.data...)
	}
	return b
}

// responder serves UDP on 127.0.0.1 until the test ends, answering each
// datagram with what answer returns.
func responder(t *testing.T, answer func(q []byte) [][]byte) (netip.AddrPort, *sync.WaitGroup) {
	t.Helper()
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		buf := make([]byte, 9000)
		for {
			n, from, err := conn.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			for _, a := range answer(append([]byte(nil), buf[:n]...)) {
				_, _ = conn.WriteToUDPAddrPort(a, from)
			}
		}
	})
	t.Cleanup(func() {
		conn.Close()
		wg.Wait()
	})
	return conn.LocalAddr().(*net.UDPAddr).AddrPort(), &wg
}

func TestBrowseMDNS(t *testing.T) {
	var mu sync.Mutex
	var queries []dnsMessage
	addr, _ := responder(t, func(b []byte) [][]byte {
		q, err := parseDNS(b)
		if err != nil || q.Response {
			t.Errorf("responder got a bad query: %v", err)
			return nil
		}
		mu.Lock()
		queries = append(queries, q)
		mu.Unlock()
		var rrs []testRR
		for _, qq := range q.Questions {
			switch nameKey(qq.Name) {
			case "_services._dns-sd._udp.local":
				rrs = append(rrs, ptrRR(t, mdnsEnumerate, "_ipp._tcp.local"), ptrRR(t, mdnsEnumerate, "_hue._tcp.local"))
			case "_ipp._tcp.local":
				inst := `Office Printer 2\.0._ipp._tcp.local`
				rrs = append(rrs, ptrRR(t, "_ipp._tcp.local", inst),
					srvRR(t, inst, 631, "printer.local"),
					txtRR(inst, "ty=Brother HL-L2350DW", "rp=ipp/print", ""),
					addrRR("printer.local", netip.MustParseAddr("192.0.2.40")),
					addrRR("printer.local", netip.MustParseAddr("fe80::40")))
			case "_hue._tcp.local":
				rrs = append(rrs, ptrRR(t, "_hue._tcp.local", "Hue Bridge - 1A2B3C._hue._tcp.local"),
					srvRR(t, "Hue Bridge - 1A2B3C._hue._tcp.local", 443, "hue.local"))
			}
		}
		if len(rrs) == 0 {
			return nil
		}
		// Other hosts' chatter and garbage must not spoil the answer.
		return [][]byte{{1, 2, 3}, buildResponse(t, q.ID, q.Questions, rrs)}
	})
	svcs, err := BrowseMDNS(context.Background(), addr, 300*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if len(svcs) != 2 {
		t.Fatalf("services = %+v", svcs)
	}
	hue, ipp := svcs[0], svcs[1]
	if ipp.Instance != "Office Printer 2.0" || ipp.Type != "_ipp._tcp" || ipp.Host != "printer.local" || ipp.Port != 631 ||
		!slices.Equal(ipp.TXT, []string{"ty=Brother HL-L2350DW", "rp=ipp/print"}) || len(ipp.Addrs) != 2 || ipp.From != addr.Addr() {
		t.Errorf("ipp = %+v", ipp)
	}
	// _hue._tcp is not among the common types: it was found through the
	// enumeration and asked for in a second round.
	if hue.Instance != "Hue Bridge - 1A2B3C" || hue.Type != "_hue._tcp" || hue.Port != 443 {
		t.Errorf("hue = %+v", hue)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(queries) != 2 || len(queries[1].Questions) != 1 || queries[1].Questions[0].Name != "_hue._tcp.local" {
		t.Errorf("queries = %+v", queries)
	}
}

func TestBrowseMDNSNoAnswerIsEmpty(t *testing.T) {
	addr, _ := responder(t, func([]byte) [][]byte { return nil })
	svcs, err := BrowseMDNS(context.Background(), addr, 50*time.Millisecond)
	if err != nil || len(svcs) != 0 {
		t.Errorf("silence gave %v, %v", svcs, err)
	}
	bad, _ := responder(t, func([]byte) [][]byte { return [][]byte{{0, 0, 0x84, 0, 0, 1}} })
	if _, err := BrowseMDNS(context.Background(), bad, 50*time.Millisecond); err == nil || !strings.Contains(err.Error(), "no usable answer") {
		t.Errorf("garbage only: err = %v", err)
	}
}

func TestReadNameCompression(t *testing.T) {
	// "local" at 12, "_tcp.local" via a pointer, then a pointer loop.
	msg := make([]byte, 12)
	msg = append(msg, 5, 'l', 'o', 'c', 'a', 'l', 0)   // 12
	msg = append(msg, 4, '_', 't', 'c', 'p', 0xC0, 12) // 19
	msg = append(msg, 0xC0, 28)                        // 26: points forward to itself's neighbour
	msg = append(msg, 0xC0, 26)                        // 28: back to 26, which points forward
	name, end, err := readName(msg, 19)
	if err != nil || name != "_tcp.local" || end != 26 {
		t.Errorf("readName = %q %d %v", name, end, err)
	}
	if _, _, err := readName(msg, 28); err == nil {
		t.Error("pointer loop accepted")
	}
	if _, _, err := readName(append(make([]byte, 12), 0x40), 12); err == nil {
		t.Error("extended label type accepted")
	}
}

func TestNameEscapesRoundTrip(t *testing.T) {
	name := `A\.B\\C.x.local`
	b := mustName(t, name)
	if b[0] != 5 || string(b[1:6]) != `A.B\C` {
		t.Fatalf("wire = %q", b)
	}
	got, _, err := readName(append(make([]byte, 12), b...), 12)
	if err != nil || got != name {
		t.Errorf("round trip = %q %v", got, err)
	}
	if _, err := appendName(nil, "a..b"); err == nil {
		t.Error("empty label accepted")
	}
	if _, err := appendName(nil, strings.Repeat("x", 64)+".local"); err == nil {
		t.Error("64-byte label accepted")
	}
}

func TestParseDNSErrors(t *testing.T) {
	good := buildResponse(t, 7, nil, []testRR{addrRR("h.local", netip.MustParseAddr("192.0.2.1"))})
	if _, err := parseDNS(good); err != nil {
		t.Fatal(err)
	}
	for name, b := range map[string][]byte{
		"short header":  {0, 1},
		"truncated":     good[:len(good)-2],
		"A of 16 bytes": buildResponse(t, 7, nil, []testRR{{"h.local", typeA, make([]byte, 16)}}),
		"TXT overrun":   buildResponse(t, 7, nil, []testRR{{"h.local", typeTXT, []byte{9, 'a'}}}),
		"PTR garbage":   buildResponse(t, 7, nil, []testRR{{"h.local", typePTR, []byte{3, 'a', 'b', 'c', 0, 9}}}),
		"short SRV":     buildResponse(t, 7, nil, []testRR{{"h.local", typeSRV, []byte{0, 0, 0}}}),
	} {
		if _, err := parseDNS(b); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
