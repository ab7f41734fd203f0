package router

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/huin/goupnp"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func collect(t *testing.T, opts Options) Report {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	rep, err := Collect(ctx, opts)
	if err != nil {
		t.Fatalf("Collect: %v", err)
	}
	return rep
}

func TestFritzBoxOnDSL(t *testing.T) {
	igd := newFakeIGD(t, fritzDescription, fritzServices(), false)
	rep := collect(t, Options{Location: igd.location()})

	if !rep.Found || len(rep.Errors) != 0 {
		t.Fatalf("Found=%v Errors=%q", rep.Found, rep.Errors)
	}
	want := Report{
		Manufacturer: "AVM Berlin", ModelName: "FRITZ!Box 7590", ModelNumber: "avm",
		FriendlyName: "FRITZ!Box 7590", Firmware: "154.07.57",
		WANAccessType: "DSL", PhysicalLinkStatus: "Up", LinkConfig: "dsl",
		DSLLinkStatus: "Up", DSLLinkType: "PPPoE",
		Connection: "WANPPPConnection:1", ExternalIP: netip.MustParseAddr("198.51.100.23"),
		ConnectionType: "IP_Routed", ConnectionStatus: "Connected", Uptime: 24 * time.Hour,
		UpstreamKbps: 46720, DownstreamKbps: 292128, Access: "dsl",
	}
	got := []any{rep.Manufacturer, rep.ModelName, rep.ModelNumber, rep.FriendlyName, rep.Firmware,
		rep.WANAccessType, rep.PhysicalLinkStatus, rep.LinkConfig, rep.DSLLinkStatus, rep.DSLLinkType,
		rep.Connection, rep.ExternalIP, rep.ConnectionType, rep.ConnectionStatus, rep.Uptime,
		rep.UpstreamKbps, rep.DownstreamKbps, rep.Access}
	exp := []any{want.Manufacturer, want.ModelName, want.ModelNumber, want.FriendlyName, want.Firmware,
		want.WANAccessType, want.PhysicalLinkStatus, want.LinkConfig, want.DSLLinkStatus, want.DSLLinkType,
		want.Connection, want.ExternalIP, want.ConnectionType, want.ConnectionStatus, want.Uptime,
		want.UpstreamKbps, want.DownstreamKbps, want.Access}
	for i := range got {
		if got[i] != exp[i] {
			t.Errorf("field %d: got %v, want %v", i, got[i], exp[i])
		}
	}
	if rep.FirmwareSource != "description systemVersion" {
		t.Errorf("FirmwareSource = %q", rep.FirmwareSource)
	}
	// WANAccessType, an up DSL link and PPP agree: strong but not certain.
	if rep.AccessConfidence < 0.9 || rep.AccessConfidence > 0.95 {
		t.Errorf("AccessConfidence = %v, want 0.9–0.95", rep.AccessConfidence)
	}
	// The IP connection is down on this box; it must have been asked and
	// passed over, not taken because it came first.
	calls := strings.Join(igd.soapCalls(), " ")
	if !strings.Contains(calls, urnIP+"#GetExternalIPAddress") || !strings.Contains(calls, urnPPP+"#GetExternalIPAddress") {
		t.Errorf("SOAP calls = %s", calls)
	}
	// GetTotalBytesSent is offered but not needed.
	if strings.Contains(calls, "GetTotalBytesSent") {
		t.Errorf("unneeded call made: %s", calls)
	}
}

func TestMiniupnpdFoundBySSDP(t *testing.T) {
	igd := newFakeIGD(t, miniDescription, miniServices(), false)
	ssdp := newSSDPResponder(t, "urn:schemas-upnp-org:device:InternetGatewayDevice:1", igd.location(),
		"OpenWrt/23.05.3 UPnP/1.1 MiniUPnPd/2.3.4", "uuid:9b1c44d0-7e2a-4f3b-8c55-00000000a001")

	rep := collect(t, Options{SearchAddr: ssdp.addr(), LocalAddr: "127.0.0.1"})
	if !rep.Found || len(rep.Errors) != 0 {
		t.Fatalf("Found=%v Errors=%q", rep.Found, rep.Errors)
	}
	if rep.Location != igd.location() || rep.IGDs != 1 {
		t.Errorf("Location=%q IGDs=%d", rep.Location, rep.IGDs)
	}
	if rep.Server != "OpenWrt/23.05.3 UPnP/1.1 MiniUPnPd/2.3.4" || rep.Stack != "miniupnpd" {
		t.Errorf("Server=%q Stack=%q", rep.Server, rep.Stack)
	}
	if rep.Manufacturer != "OpenWrt" || rep.ModelName != "OpenWrt router" || rep.Firmware != "" {
		t.Errorf("identity = %q %q firmware %q", rep.Manufacturer, rep.ModelName, rep.Firmware)
	}
	if rep.WANAccessType != "Cable" || rep.LinkConfig != "" || rep.Connection != "WANIPConnection:1" {
		t.Errorf("WANAccessType=%q LinkConfig=%q Connection=%q", rep.WANAccessType, rep.LinkConfig, rep.Connection)
	}
	if rep.ExternalIP != netip.MustParseAddr("192.168.178.20") || rep.UpstreamKbps != 1_000_000 {
		t.Errorf("ExternalIP=%v Upstream=%d", rep.ExternalIP, rep.UpstreamKbps)
	}
	// miniupnpd's "Cable" is a constant: the only hint, and a weak one.
	if len(rep.AccessEvidence) != 1 || rep.AccessEvidence[0].Confidence > 0.15 ||
		!strings.Contains(rep.AccessEvidence[0].Why, "miniupnpd") {
		t.Errorf("AccessEvidence = %+v", rep.AccessEvidence)
	}
	if rep.Access != "cable" || rep.AccessConfidence > 0.15 {
		t.Errorf("Access=%q %.2f", rep.Access, rep.AccessConfidence)
	}
	// The M-SEARCH is a proper SSDP search.
	var sts []string
	for _, r := range ssdp.received() {
		sts = append(sts, r.Header.Get("ST"))
		if r.Header.Get("MX") == "" || r.URL.String() != "*" {
			t.Errorf("M-SEARCH without MX or target *: %v %v", r.Header, r.URL)
		}
	}
	if !strings.Contains(strings.Join(sts, " "), "InternetGatewayDevice:2") {
		t.Errorf("searched for %q, want IGD:1 and IGD:2", sts)
	}
}

func TestNoGatewayAnswers(t *testing.T) {
	// A responder that is only a media server: it hears the searches and
	// keeps quiet, as a LAN without a UPnP gateway does.
	ssdp := newSSDPResponder(t, "urn:schemas-upnp-org:device:MediaServer:1", "http://127.0.0.1:1/x.xml", "x", "uuid:x")
	rep := collect(t, Options{SearchAddr: ssdp.addr(), LocalAddr: "127.0.0.1"})
	if rep.Found || rep.IGDs != 0 || len(ssdp.received()) == 0 {
		t.Fatalf("Found=%v IGDs=%d searches=%d", rep.Found, rep.IGDs, len(ssdp.received()))
	}
}

func TestSilentRouterDoesNotBlock(t *testing.T) {
	igd := newFakeIGD(t, fritzDescription, fritzServices(), true)

	// Per-call timeout shorter than the context: one timeout, then the
	// remaining calls are skipped.
	start := time.Now()
	rep := collect(t, Options{Location: igd.location(), CallTimeout: 300 * time.Millisecond})
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("took %v with a 300 ms call timeout", took)
	}
	if !rep.Found || rep.ModelName != "FRITZ!Box 7590" {
		t.Errorf("description lost: Found=%v Model=%q", rep.Found, rep.ModelName)
	}
	if n := len(igd.soapCalls()); n != 1 {
		t.Errorf("%d SOAP calls to a silent router, want 1: %q %q", n, igd.soapCalls(), rep.Errors)
	}
	if !strings.Contains(strings.Join(rep.Errors, "\n"), "no answer") {
		t.Errorf("Errors = %q", rep.Errors)
	}

	// Context shorter than the per-call timeout: the context wins.
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	start = time.Now()
	rep, err := Collect(ctx, Options{Location: igd.location(), CallTimeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("took %v past a 500 ms deadline", took)
	}
	if len(rep.Errors) == 0 {
		t.Error("no error recorded for the silent router")
	}
}

func TestOnlyLocalAddressesAreFollowed(t *testing.T) {
	if _, err := Collect(context.Background(), Options{Location: "http://203.0.113.9/desc.xml"}); !errors.Is(err, errNotLocal) {
		t.Errorf("public location: err = %v", err)
	}
	if _, err := Collect(context.Background(), Options{Location: "http://router.example/desc.xml"}); !errors.Is(err, errNotLocal) {
		t.Errorf("host name location: err = %v", err)
	}
	if _, err := Collect(context.Background(), Options{SearchAddr: "nonsense"}); err == nil {
		t.Error("bad search address accepted")
	}

	// A description whose control URLs point off the LAN: the calls are
	// refused before any packet is sent.
	desc := strings.ReplaceAll(miniDescription, "<controlURL>/ctl/", "<controlURL>http://198.51.100.1/ctl/")
	igd := newFakeIGD(t, desc, miniServices(), false)
	rep := collect(t, Options{Location: igd.location()})
	if !rep.Found || rep.ExternalIP.IsValid() {
		t.Fatalf("Found=%v ExternalIP=%v", rep.Found, rep.ExternalIP)
	}
	if errs := strings.Join(rep.Errors, "\n"); !strings.Contains(errs, "not a local IP") {
		t.Errorf("Errors = %s", errs)
	}
	if n := len(igd.soapCalls()); n != 0 {
		t.Errorf("%d calls reached the LAN server", n)
	}
}

func TestLatin1Description(t *testing.T) {
	desc := "<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?>\n" +
		strings.Replace(strings.SplitN(miniDescription, "\n", 2)[1], "OpenWrt router</friendlyName>", "R\xfcckseite</friendlyName>", 1)
	igd := newFakeIGD(t, desc, miniServices(), false)
	rep := collect(t, Options{Location: igd.location()})
	if rep.FriendlyName != "Rückseite" {
		t.Errorf("FriendlyName = %q, errors %q", rep.FriendlyName, rep.Errors)
	}
}

func TestServerFirmware(t *testing.T) {
	for _, tc := range []struct{ server, model, want string }{
		{"FRITZ!Box 7590 UPnP/1.0 AVM FRITZ!Box 7590 154.07.57", "FRITZ!Box 7590", "154.07.57"},
		{"FRITZ!Box 7590 UPnP/1.0 AVM FRITZ!Box 7590", "FRITZ!Box 7590", ""},
		{"OpenWrt/23.05.3 UPnP/1.1 MiniUPnPd/2.3.4", "OpenWrt router", ""},
		{"Linux UPnP/1.0 Router 1.0.4", "Router", "1.0.4"},
		{"Linux UPnP/1.0 Router beta", "Router", ""},
		{"anything", "", ""},
	} {
		if got := serverFirmware(tc.server, tc.model); got != tc.want {
			t.Errorf("serverFirmware(%q, %q) = %q, want %q", tc.server, tc.model, got, tc.want)
		}
	}
}

func TestWeighAccess(t *testing.T) {
	for _, tc := range []struct {
		name     string
		rep      Report
		access   string
		min, max float64
	}{
		{"nothing said", Report{}, "", 0, 0},
		{"broadcom ethernet", Report{Stack: "broadcom", WANAccessType: "Ethernet"}, "ethernet", 0.05, 0.15},
		{"unknown stack cable", Report{WANAccessType: "Cable"}, "cable", 0.25, 0.35},
		{"cable with cable link config", Report{WANAccessType: "Cable", LinkConfig: "cable"}, "cable", 0.75, 0.85},
		// A miniupnpd router that also exposes a DSL link config is on DSL,
		// whatever WANAccessType says.
		{"miniupnpd on dsl", Report{Stack: "miniupnpd", WANAccessType: "Cable", LinkConfig: "dsl"}, "dsl", 0.65, 0.75},
		{"pots", Report{WANAccessType: "POTS", LinkConfig: "pots"}, "pots", 0.75, 0.85},
		{"odd value", Report{WANAccessType: "Fibre?"}, "other", 0.45, 0.55},
	} {
		weigh(&tc.rep)
		if tc.rep.Access != tc.access || tc.rep.AccessConfidence < tc.min || tc.rep.AccessConfidence > tc.max {
			t.Errorf("%s: %q %.2f, want %q in [%.2f, %.2f]", tc.name, tc.rep.Access, tc.rep.AccessConfidence, tc.access, tc.min, tc.max)
		}
	}
}

func FuzzDescription(f *testing.F) {
	f.Add([]byte(fritzDescription), "FRITZ!Box 7590 UPnP/1.0 AVM FRITZ!Box 7590 154.07.57")
	f.Add([]byte(miniDescription), "OpenWrt/23.05.3 UPnP/1.1 MiniUPnPd/2.3.4")
	f.Fuzz(func(t *testing.T, body []byte, server string) {
		root := new(goupnp.RootDevice)
		if err := decodeXML(body, goupnp.DeviceXMLNamespace, root); err != nil {
			return
		}
		extra, err := parseDescription(body, root)
		if err != nil {
			return
		}
		rep := Report{Server: server}
		describe(&rep, root, extra)
		weigh(&rep)
		for _, s := range []string{rep.Manufacturer, rep.ModelName, rep.ModelNumber, rep.ModelDescription, rep.FriendlyName, rep.Firmware, rep.DeviceType} {
			if len(s) > 128 {
				t.Fatalf("unbounded field from the router: %d bytes", len(s))
			}
		}
		if rep.Firmware != "" && rep.FirmwareSource == "" {
			t.Fatal("firmware without a source")
		}
	})
}

// BenchmarkCollect times reading and querying the FRITZ!Box-like gateway
// on loopback, discovery skipped (it waits a fixed second).
func BenchmarkCollect(b *testing.B) {
	igd := newFakeIGD(b, fritzDescription, fritzServices(), false)
	for b.Loop() {
		rep, err := Collect(context.Background(), Options{Location: igd.location()})
		if err != nil || !rep.ExternalIP.IsValid() {
			b.Fatalf("%v %+v", err, rep.Errors)
		}
	}
}
