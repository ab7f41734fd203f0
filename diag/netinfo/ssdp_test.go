package netinfo

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// An invented description in the shape a FRITZ!Box serves.
const fritzDescription = `<?xml version="1.0"?>
<root xmlns="urn:schemas-upnp-org:device-1-0">
<specVersion><major>1</major><minor>0</minor></specVersion>
<device>
<deviceType>urn:schemas-upnp-org:device:InternetGatewayDevice:2</deviceType>
<friendlyName> FRITZ!Box 7590 </friendlyName>
<manufacturer>AVM Berlin</manufacturer>
<modelName>FRITZ!Box 7590</modelName>
<modelNumber>avm</modelNumber>
<deviceList><device><deviceType>urn:schemas-upnp-org:device:WANDevice:2</deviceType><friendlyName>WANDevice - FRITZ!Box 7590</friendlyName></device></deviceList>
</device>
</root>`

func ssdpAnswer(st, usn, location, server string) []byte {
	return fmt.Appendf(nil, "HTTP/1.1 200 OK\r\nCACHE-CONTROL: max-age=1800\r\nDATE: Thu, 26 Nov 2026 10:00:00 GMT\r\nEXT:\r\n"+
		"LOCATION: %s\r\nSERVER: %s\r\nST: %s\r\nUSN: %s\r\n\r\n", location, server, st, usn)
}

func TestSearchSSDPAndDescribe(t *testing.T) {
	var fetched atomic.Int32
	desc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fetched.Add(1)
		if r.URL.Path != "/igd.xml" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/xml")
		fmt.Fprint(w, fritzDescription)
	}))
	defer desc.Close()
	srv := "FRITZ!Box 7590 UPnP/1.0 AVM FRITZ!Box 7590 154.07.57"
	var searches atomic.Int32
	addr, _ := responder(t, func(b []byte) [][]byte {
		q := string(b)
		if !strings.HasPrefix(q, "M-SEARCH * HTTP/1.1\r\n") || !strings.Contains(q, "MAN: \"ssdp:discover\"\r\n") || !strings.Contains(q, "ST: ssdp:all\r\n") {
			t.Errorf("bad M-SEARCH %q", q)
			return nil
		}
		searches.Add(1)
		igd := "uuid:75802409-bccb-40e7-8e6c-3ca62f102030"
		return [][]byte{
			ssdpAnswer("upnp:rootdevice", igd+"::upnp:rootdevice", desc.URL+"/igd.xml", srv),
			ssdpAnswer("urn:schemas-upnp-org:device:InternetGatewayDevice:2", igd+"::urn:schemas-upnp-org:device:InternetGatewayDevice:2", desc.URL+"/igd.xml", srv),
			[]byte("NOTIFY * HTTP/1.1\r\nNT: upnp:rootdevice\r\n\r\n"),
			[]byte("HTTP/1.1 500 Oops\r\n\r\n"),
			// A device whose description sits on another host is not fetched.
			ssdpAnswer("urn:schemas-upnp-org:device:MediaRenderer:1", "uuid:RINCON_B8E937AABB0101400", "http://203.0.113.9:1400/xml/device_description.xml", "Linux UPnP/1.0 Sonos/70.3"),
		}
	})
	devs, err := SearchSSDP(context.Background(), addr, 300*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if searches.Load() != 2 {
		t.Errorf("%d M-SEARCHes, want 2", searches.Load())
	}
	// Two searches, three answers each: two devices.
	if len(devs) != 2 {
		t.Fatalf("devices = %+v", devs)
	}
	igd := devs[0]
	if igd.UUID != "75802409-bccb-40e7-8e6c-3ca62f102030" || igd.Server != srv || igd.From != addr.Addr() ||
		!slices.Equal(igd.Types, []string{"upnp:rootdevice", "urn:schemas-upnp-org:device:InternetGatewayDevice:2"}) {
		t.Errorf("igd = %+v", igd)
	}
	errs := describeSSDP(context.Background(), newDescriptionClient(), devs)
	if len(errs) != 0 {
		t.Errorf("describe errors: %v", errs)
	}
	if devs[0].FriendlyName != "FRITZ!Box 7590" || devs[0].Manufacturer != "AVM Berlin" || devs[0].ModelName != "FRITZ!Box 7590" ||
		devs[0].DeviceType != "urn:schemas-upnp-org:device:InternetGatewayDevice:2" {
		t.Errorf("described igd = %+v", devs[0])
	}
	if devs[1].FriendlyName != "" || fetched.Load() != 1 {
		t.Errorf("off-host description followed: %+v, %d fetches", devs[1], fetched.Load())
	}
}

func TestCollectDiscoversOnLoopback(t *testing.T) {
	desc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, fritzDescription)
	}))
	defer desc.Close()
	ssdpAddr, _ := responder(t, func([]byte) [][]byte {
		return [][]byte{ssdpAnswer("upnp:rootdevice", "uuid:1::upnp:rootdevice", desc.URL+"/d.xml", "x")}
	})
	mdnsAddr, _ := responder(t, func(b []byte) [][]byte {
		q, err := parseDNS(b)
		if err != nil {
			return nil
		}
		return [][]byte{buildResponse(t, q.ID, q.Questions, []testRR{ptrRR(t, "_googlecast._tcp.local", "Living Room TV._googlecast._tcp.local")})}
	})
	o := fixtureOptions("testdata/home")
	o.SSDPAddr, o.MDNSAddr, o.Wait = ssdpAddr, mdnsAddr, 200*time.Millisecond
	rep, err := Collect(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.SSDP) != 1 || rep.SSDP[0].FriendlyName != "FRITZ!Box 7590" {
		t.Errorf("ssdp = %+v", rep.SSDP)
	}
	if len(rep.MDNS) != 1 || rep.MDNS[0].Instance != "Living Room TV" || rep.MDNS[0].Type != "_googlecast._tcp" {
		t.Errorf("mdns = %+v", rep.MDNS)
	}
	if len(rep.Errors) != 0 {
		t.Errorf("errors = %v", rep.Errors)
	}
}

func TestCollectKeepsItsDeadline(t *testing.T) {
	silent, _ := responder(t, func([]byte) [][]byte { return nil })
	o := fixtureOptions("testdata/home")
	o.SSDPAddr, o.MDNSAddr, o.Wait = silent, silent, 10*time.Second
	o.ProbeTargets = []ProbeTarget{{Name: "silent", Addr: silent}}
	o.Probe = ProbeOptions{Count: 50, Interval: time.Second, Method: MethodUDP}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	rep, err := Collect(ctx, o)
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("Collect took %v past a 300 ms deadline", took)
	}
	if err == nil {
		t.Error("no error for an expired context")
	}
	// What was read before the deadline is still there.
	if rep.Gateway == nil || len(rep.Probes) != 1 || rep.Probes[0].Error == "" {
		t.Errorf("partial report = gateway %v, probes %+v", rep.Gateway, rep.Probes)
	}
}

func TestParseSSDPResponse(t *testing.T) {
	r, err := ParseSSDPResponse([]byte("HTTP/1.1 200 OK\r\nst: upnp:rootdevice\r\nusn:  uuid:abc::upnp:rootdevice \r\nLocation: http://192.0.2.1:49000/igd.xml\r\n\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	if r.ST != "upnp:rootdevice" || r.USN != "uuid:abc::upnp:rootdevice" || r.Location != "http://192.0.2.1:49000/igd.xml" || uuidOf(r.USN) != "abc" {
		t.Errorf("response = %+v", r)
	}
	for name, bad := range map[string]string{
		"not 200":    "HTTP/1.1 404 Not Found\r\nUSN: uuid:a\r\n\r\n",
		"not HTTP":   "M-SEARCH * HTTP/1.1\r\nUSN: uuid:a\r\n\r\n",
		"no USN":     "HTTP/1.1 200 OK\r\nST: upnp:rootdevice\r\n\r\n",
		"empty":      "",
		"bad header": "HTTP/1.1 200 OK\r\n no colon here\r\n\r\n",
	} {
		if _, err := ParseSSDPResponse([]byte(bad)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestParseDeviceDescription(t *testing.T) {
	d, err := ParseDeviceDescription(strings.NewReader(fritzDescription))
	if err != nil {
		t.Fatal(err)
	}
	if d.FriendlyName != "FRITZ!Box 7590" || d.ModelNumber != "avm" {
		t.Errorf("description = %+v", d)
	}
	for name, bad := range map[string]string{
		"not xml":    "{}",
		"other root": "<html><device><friendlyName>x</friendlyName></device></html>",
		"no device":  "<root></root>",
	} {
		if _, err := ParseDeviceDescription(strings.NewReader(bad)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestDescribable(t *testing.T) {
	lan := netip.MustParseAddr("192.168.178.1")
	for loc, want := range map[string]bool{
		"http://192.168.178.1:49000/igd.xml": true,
		"http://192.168.178.2:49000/igd.xml": false, // another host
		"https://192.168.178.1/igd.xml":      false,
		"http://user@192.168.178.1/igd.xml":  false,
		"http://fritz.box:49000/igd.xml":     false, // a name could resolve anywhere
		"http://[fe80::1]/igd.xml":           false,
		"::not a url":                        false,
	} {
		if got := describable(loc, lan); got != want {
			t.Errorf("describable(%q) = %v", loc, got)
		}
	}
	pub := netip.MustParseAddr("203.0.113.9")
	if describable("http://203.0.113.9/x.xml", pub) {
		t.Error("description on a public address followed")
	}
}
