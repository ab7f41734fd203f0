package router

import (
	"bufio"
	"bytes"
	"encoding/xml"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// The two gateways below are written for these tests, after the shape of
// what the real devices serve: an AVM FRITZ!Box on DSL (IGD:1 with a DSL
// link config and both an IP and a PPP connection, the PPP one up) and a
// Linux router running miniupnpd (IGD:1, WANAccessType Cable, one IP
// connection, no link config).

const fritzDescription = `<?xml version="1.0" encoding="utf-8"?>
<root xmlns="urn:schemas-upnp-org:device-1-0">
 <specVersion><major>1</major><minor>0</minor></specVersion>
 <systemVersion><HW>226</HW><Major>154</Major><Minor>7</Minor><Patch>57</Patch><Display>154.07.57</Display></systemVersion>
 <device>
  <deviceType>urn:schemas-upnp-org:device:InternetGatewayDevice:1</deviceType>
  <friendlyName>FRITZ!Box 7590</friendlyName>
  <manufacturer>AVM Berlin</manufacturer>
  <manufacturerURL>http://www.avm.de</manufacturerURL>
  <modelDescription>FRITZ!Box 7590</modelDescription>
  <modelName>FRITZ!Box 7590</modelName>
  <modelNumber>avm</modelNumber>
  <modelURL>http://www.avm.de</modelURL>
  <UDN>uuid:1f0e7a44-5b2c-4d7e-9a11-00000000f001</UDN>
  <serviceList>
   <service>
    <serviceType>urn:schemas-upnp-org:service:Layer3Forwarding:1</serviceType>
    <serviceId>urn:upnp-org:serviceId:L3Fwd1</serviceId>
    <controlURL>/igdupnp/control/layer3forwarding</controlURL>
    <eventSubURL>/igdupnp/control/layer3forwarding</eventSubURL>
    <SCPDURL>/igdl3fwdSCPD.xml</SCPDURL>
   </service>
  </serviceList>
  <deviceList>
   <device>
    <deviceType>urn:schemas-upnp-org:device:WANDevice:1</deviceType>
    <friendlyName>WANDevice - FRITZ!Box 7590</friendlyName>
    <manufacturer>AVM Berlin</manufacturer>
    <modelName>WANDevice - FRITZ!Box 7590</modelName>
    <UDN>uuid:1f0e7a44-5b2c-4d7e-9a11-00000000f002</UDN>
    <serviceList>
     <service>
      <serviceType>urn:schemas-upnp-org:service:WANCommonInterfaceConfig:1</serviceType>
      <serviceId>urn:upnp-org:serviceId:WANCommonIFC1</serviceId>
      <controlURL>/igdupnp/control/WANCommonIFC1</controlURL>
      <eventSubURL>/igdupnp/control/WANCommonIFC1</eventSubURL>
      <SCPDURL>/igdicfgSCPD.xml</SCPDURL>
     </service>
    </serviceList>
    <deviceList>
     <device>
      <deviceType>urn:schemas-upnp-org:device:WANConnectionDevice:1</deviceType>
      <friendlyName>WANConnectionDevice - FRITZ!Box 7590</friendlyName>
      <manufacturer>AVM Berlin</manufacturer>
      <modelName>WANConnectionDevice - FRITZ!Box 7590</modelName>
      <UDN>uuid:1f0e7a44-5b2c-4d7e-9a11-00000000f003</UDN>
      <serviceList>
       <service>
        <serviceType>urn:schemas-upnp-org:service:WANDSLLinkConfig:1</serviceType>
        <serviceId>urn:upnp-org:serviceId:WANDSLLinkC1</serviceId>
        <controlURL>/igdupnp/control/WANDSLLinkC1</controlURL>
        <eventSubURL>/igdupnp/control/WANDSLLinkC1</eventSubURL>
        <SCPDURL>/igddslSCPD.xml</SCPDURL>
       </service>
       <service>
        <serviceType>urn:schemas-upnp-org:service:WANIPConnection:1</serviceType>
        <serviceId>urn:upnp-org:serviceId:WANIPConn1</serviceId>
        <controlURL>/igdupnp/control/WANIPConn1</controlURL>
        <eventSubURL>/igdupnp/control/WANIPConn1</eventSubURL>
        <SCPDURL>/igdconnSCPD.xml</SCPDURL>
       </service>
       <service>
        <serviceType>urn:schemas-upnp-org:service:WANPPPConnection:1</serviceType>
        <serviceId>urn:upnp-org:serviceId:WANPPPConn1</serviceId>
        <controlURL>/igdupnp/control/WANPPPConn1</controlURL>
        <eventSubURL>/igdupnp/control/WANPPPConn1</eventSubURL>
        <SCPDURL>/igdpppSCPD.xml</SCPDURL>
       </service>
      </serviceList>
     </device>
    </deviceList>
   </device>
  </deviceList>
  <presentationURL>http://fritz.box</presentationURL>
 </device>
</root>`

const miniDescription = `<?xml version="1.0"?>
<root xmlns="urn:schemas-upnp-org:device-1-0" configId="1337">
<specVersion><major>1</major><minor>1</minor></specVersion>
<device>
<deviceType>urn:schemas-upnp-org:device:InternetGatewayDevice:1</deviceType>
<friendlyName>OpenWrt router</friendlyName>
<manufacturer>OpenWrt</manufacturer>
<manufacturerURL>https://openwrt.org/</manufacturerURL>
<modelDescription>OpenWrt router</modelDescription>
<modelName>OpenWrt router</modelName>
<modelNumber>1</modelNumber>
<modelURL>https://openwrt.org/</modelURL>
<serialNumber>00000000</serialNumber>
<UDN>uuid:9b1c44d0-7e2a-4f3b-8c55-00000000a001</UDN>
<serviceList><service>
<serviceType>urn:schemas-upnp-org:service:Layer3Forwarding:1</serviceType>
<serviceId>urn:upnp-org:serviceId:L3Forwarding1</serviceId>
<SCPDURL>/L3F.xml</SCPDURL><controlURL>/ctl/L3F</controlURL><eventSubURL>/evt/L3F</eventSubURL>
</service></serviceList>
<deviceList><device>
<deviceType>urn:schemas-upnp-org:device:WANDevice:1</deviceType>
<friendlyName>WANDevice</friendlyName>
<manufacturer>MiniUPnP</manufacturer>
<modelName>WAN Device</modelName>
<UDN>uuid:9b1c44d0-7e2a-4f3b-8c55-00000000a002</UDN>
<serviceList><service>
<serviceType>urn:schemas-upnp-org:service:WANCommonInterfaceConfig:1</serviceType>
<serviceId>urn:upnp-org:serviceId:WANCommonIFC1</serviceId>
<SCPDURL>/WANCfg.xml</SCPDURL><controlURL>/ctl/CmnIfCfg</controlURL><eventSubURL>/evt/CmnIfCfg</eventSubURL>
</service></serviceList>
<deviceList><device>
<deviceType>urn:schemas-upnp-org:device:WANConnectionDevice:1</deviceType>
<friendlyName>WANConnectionDevice</friendlyName>
<manufacturer>MiniUPnP</manufacturer>
<modelName>MiniUPnPd</modelName>
<UDN>uuid:9b1c44d0-7e2a-4f3b-8c55-00000000a003</UDN>
<serviceList><service>
<serviceType>urn:schemas-upnp-org:service:WANIPConnection:1</serviceType>
<serviceId>urn:upnp-org:serviceId:WANIPConn1</serviceId>
<SCPDURL>/WANIPCn.xml</SCPDURL><controlURL>/ctl/IPConn</controlURL><eventSubURL>/evt/IPConn</eventSubURL>
</service></serviceList>
</device></deviceList>
</device></deviceList>
<presentationURL>http://192.168.1.1/</presentationURL>
</device>
</root>`

const (
	urnCommon = "urn:schemas-upnp-org:service:WANCommonInterfaceConfig:1"
	urnIP     = "urn:schemas-upnp-org:service:WANIPConnection:1"
	urnPPP    = "urn:schemas-upnp-org:service:WANPPPConnection:1"
	urnDSL    = "urn:schemas-upnp-org:service:WANDSLLinkConfig:1"
)

// action is one SOAP action a fake gateway answers, with its out
// arguments in order.
type action struct {
	name string
	out  [][2]string
}

// service is one service of a fake gateway.
type service struct {
	urn, scpd, control string
	actions            []action
}

func fritzServices() []service {
	conn := func(status, ip, uptime string) []action {
		return []action{
			{"GetStatusInfo", [][2]string{{"NewConnectionStatus", status}, {"NewLastConnectionError", "ERROR_NONE"}, {"NewUptime", uptime}}},
			{"GetExternalIPAddress", [][2]string{{"NewExternalIPAddress", ip}}},
			{"GetConnectionTypeInfo", [][2]string{{"NewConnectionType", "IP_Routed"}, {"NewPossibleConnectionTypes", "IP_Routed"}}},
		}
	}
	return []service{
		{urnCommon, "/igdicfgSCPD.xml", "/igdupnp/control/WANCommonIFC1", []action{
			{"GetCommonLinkProperties", [][2]string{{"NewWANAccessType", "DSL"}, {"NewLayer1UpstreamMaxBitRate", "46720000"}, {"NewLayer1DownstreamMaxBitRate", "292128000"}, {"NewPhysicalLinkStatus", "Up"}}},
			{"GetTotalBytesSent", [][2]string{{"NewTotalBytesSent", "1234567"}}},
		}},
		{urnDSL, "/igddslSCPD.xml", "/igdupnp/control/WANDSLLinkC1", []action{
			{"GetDSLLinkInfo", [][2]string{{"NewLinkType", "PPPoE"}, {"NewLinkStatus", "Up"}}},
		}},
		{urnIP, "/igdconnSCPD.xml", "/igdupnp/control/WANIPConn1", conn("Disconnected", "0.0.0.0", "0")},
		{urnPPP, "/igdpppSCPD.xml", "/igdupnp/control/WANPPPConn1", conn("Connected", "198.51.100.23", "86400")},
	}
}

func miniServices() []service {
	return []service{
		{urnCommon, "/WANCfg.xml", "/ctl/CmnIfCfg", []action{
			{"GetCommonLinkProperties", [][2]string{{"NewWANAccessType", "Cable"}, {"NewLayer1UpstreamMaxBitRate", "1000000000"}, {"NewLayer1DownstreamMaxBitRate", "1000000000"}, {"NewPhysicalLinkStatus", "Up"}}},
		}},
		{urnIP, "/WANIPCn.xml", "/ctl/IPConn", []action{
			{"GetStatusInfo", [][2]string{{"NewConnectionStatus", "Connected"}, {"NewLastConnectionError", "ERROR_NONE"}, {"NewUptime", "3600"}}},
			{"GetExternalIPAddress", [][2]string{{"NewExternalIPAddress", "192.168.178.20"}}},
			{"GetConnectionTypeInfo", [][2]string{{"NewConnectionType", "IP_Routed"}, {"NewPossibleConnectionTypes", "IP_Routed"}}},
		}},
	}
}

// fakeIGD serves a description, the SCPDs and SOAP answers on an httptest
// server on 127.0.0.1.
type fakeIGD struct {
	srv   *httptest.Server
	hang  chan struct{} // when non-nil, SOAP requests wait until it closes or the client goes away
	mu    sync.Mutex
	calls []string // "urn#Action" of every SOAP request
}

func newFakeIGD(t testing.TB, description string, services []service, hang bool) *fakeIGD {
	t.Helper()
	f := &fakeIGD{}
	if hang {
		f.hang = make(chan struct{})
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /desc.xml", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", `text/xml; charset="utf-8"`)
		io.WriteString(w, description)
	})
	for _, s := range services {
		mux.HandleFunc("GET "+s.scpd, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", `text/xml; charset="utf-8"`)
			io.WriteString(w, scpdXML(s.actions))
		})
		mux.HandleFunc("POST "+s.control, func(w http.ResponseWriter, r *http.Request) {
			f.soap(w, r, s)
		})
	}
	f.srv = httptest.NewServer(mux)
	t.Cleanup(func() {
		if f.hang != nil {
			close(f.hang)
		}
		f.srv.Close()
	})
	return f
}

func (f *fakeIGD) location() string { return f.srv.URL + "/desc.xml" }

func (f *fakeIGD) soapCalls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.calls...)
}

func (f *fakeIGD) soap(w http.ResponseWriter, r *http.Request, s service) {
	soapAction := strings.Trim(r.Header.Get("SOAPAction"), `"`)
	f.mu.Lock()
	f.calls = append(f.calls, soapAction)
	f.mu.Unlock()
	if f.hang != nil {
		select {
		case <-f.hang:
		case <-r.Context().Done():
		}
		return
	}
	urn, name, _ := strings.Cut(soapAction, "#")
	body, _ := io.ReadAll(r.Body)
	// The envelope must name the action in the service's namespace, as a
	// real gateway checks.
	var env struct {
		Body struct {
			Action struct{ XMLName xml.Name } `xml:",any"`
		}
	}
	if err := xml.Unmarshal(body, &env); err != nil || urn != s.urn ||
		env.Body.Action.XMLName.Space != s.urn || env.Body.Action.XMLName.Local != name {
		soapFault(w, 402, "Invalid Args")
		return
	}
	for _, a := range s.actions {
		if a.name == name {
			w.Header().Set("Content-Type", `text/xml; charset="utf-8"`)
			fmt.Fprintf(w, `<?xml version="1.0"?>
<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" s:encodingStyle="http://schemas.xmlsoap.org/soap/encoding/"><s:Body><u:%sResponse xmlns:u="%s">`, name, s.urn)
			for _, kv := range a.out {
				fmt.Fprintf(w, "<%s>%s</%s>", kv[0], kv[1], kv[0])
			}
			fmt.Fprintf(w, "</u:%sResponse></s:Body></s:Envelope>", name)
			return
		}
	}
	soapFault(w, 401, "Invalid Action")
}

func soapFault(w http.ResponseWriter, code int, desc string) {
	w.Header().Set("Content-Type", `text/xml; charset="utf-8"`)
	w.WriteHeader(http.StatusInternalServerError)
	fmt.Fprintf(w, `<?xml version="1.0"?>
<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" s:encodingStyle="http://schemas.xmlsoap.org/soap/encoding/"><s:Body><s:Fault><faultcode>s:Client</faultcode><faultstring>UPnPError</faultstring><detail><UPnPError xmlns="urn:schemas-upnp-org:control-1-0"><errorCode>%d</errorCode><errorDescription>%s</errorDescription></UPnPError></detail></s:Fault></s:Body></s:Envelope>`, code, desc)
}

func scpdXML(actions []action) string {
	var b strings.Builder
	b.WriteString(`<?xml version="1.0"?>
<scpd xmlns="urn:schemas-upnp-org:service-1-0"><specVersion><major>1</major><minor>0</minor></specVersion><actionList>`)
	for _, a := range actions {
		fmt.Fprintf(&b, "<action><name>%s</name><argumentList>", a.name)
		for _, kv := range a.out {
			fmt.Fprintf(&b, "<argument><name>%s</name><direction>out</direction><relatedStateVariable>%s</relatedStateVariable></argument>", kv[0], strings.TrimPrefix(kv[0], "New"))
		}
		b.WriteString("</argumentList></action>")
	}
	b.WriteString(`</actionList><serviceStateTable>`)
	for _, a := range actions {
		for _, kv := range a.out {
			fmt.Fprintf(&b, `<stateVariable sendEvents="no"><name>%s</name><dataType>string</dataType></stateVariable>`, strings.TrimPrefix(kv[0], "New"))
		}
	}
	b.WriteString(`</serviceStateTable></scpd>`)
	return b.String()
}

// ssdpResponder answers M-SEARCH on 127.0.0.1 the way a gateway answers on
// the multicast group: one 200 OK per matching search target.
type ssdpResponder struct {
	conn     net.PacketConn
	st       string
	location string
	server   string
	usn      string
	wg       sync.WaitGroup
	mu       sync.Mutex
	searches []*http.Request
}

func newSSDPResponder(t testing.TB, st, location, server, uuid string) *ssdpResponder {
	t.Helper()
	c, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &ssdpResponder{conn: c, st: st, location: location, server: server, usn: uuid + "::" + st}
	r.wg.Go(r.serve)
	t.Cleanup(func() {
		c.Close()
		r.wg.Wait()
	})
	return r
}

func (r *ssdpResponder) addr() string { return r.conn.LocalAddr().String() }

func (r *ssdpResponder) received() []*http.Request {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]*http.Request(nil), r.searches...)
}

func (r *ssdpResponder) serve() {
	buf := make([]byte, 2048)
	for {
		n, from, err := r.conn.ReadFrom(buf)
		if err != nil {
			return
		}
		req, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(buf[:n])))
		if err != nil || req.Method != "M-SEARCH" {
			continue
		}
		r.mu.Lock()
		r.searches = append(r.searches, req)
		r.mu.Unlock()
		st := req.Header.Get("ST")
		if req.Header.Get("MAN") != `"ssdp:discover"` || (st != r.st && st != "ssdp:all") {
			continue
		}
		resp := "HTTP/1.1 200 OK\r\n" +
			"CACHE-CONTROL: max-age=120\r\n" +
			"EXT:\r\n" +
			"LOCATION: " + r.location + "\r\n" +
			"SERVER: " + r.server + "\r\n" +
			"ST: " + r.st + "\r\n" +
			"USN: " + r.usn + "\r\n\r\n"
		r.conn.WriteTo([]byte(resp), from)
	}
}
