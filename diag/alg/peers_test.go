package alg

import (
	"errors"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/pion/sdp/v3"
)

// The peers of these tests all run on 127.0.0.1 and speak SIP over UDP,
// parsed and built with sipgo's sip package: a registrar, a NAT with or
// without a SIP ALG between it and the device, and the device's side.

// algPublic is what the test ALG writes into messages: a public address
// from TEST-NET-2 on port 5060, as home routers write their WAN address.
var algPublic = netip.MustParseAddrPort("198.51.100.7:5060")

func listen(t testing.TB) *net.UDPConn {
	t.Helper()
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func addrOf(c *net.UDPConn) netip.AddrPort { return c.LocalAddr().(*net.UDPAddr).AddrPort() }

// registrar is a plain registrar: it stores the Contacts of REGISTERs as
// they arrive and answers with every binding of the address of record. It
// also plays a provider's check service: a request to the user "echo" is
// answered with the request as received, in a message/sipfrag body.
type registrar struct {
	conn *net.UDPConn
	wg   sync.WaitGroup

	mu       sync.Mutex
	bindings map[string][]sip.ContactHeader
}

func newRegistrar(t testing.TB) *registrar {
	r := &registrar{conn: listen(t), bindings: map[string][]sip.ContactHeader{}}
	r.wg.Go(r.serve)
	t.Cleanup(func() { r.conn.Close(); r.wg.Wait() })
	return r
}

func (r *registrar) addr() netip.AddrPort { return addrOf(r.conn) }

func (r *registrar) serve() {
	buf := make([]byte, 65535)
	for {
		n, from, err := r.conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			return
		}
		raw := append([]byte(nil), buf[:n]...)
		msg, err := sip.ParseMessage(raw)
		if err != nil {
			continue
		}
		req, ok := msg.(*sip.Request)
		if !ok || req.IsAck() {
			continue
		}
		// received and rport are filled from the source (RFC 3581).
		req.SetSource(from.String())
		var res *sip.Response
		switch {
		case req.To() != nil && req.To().Address.User == "echo":
			code, reason := 200, "OK"
			if req.IsInvite() {
				code, reason = 488, "Not Acceptable Here"
			}
			res = sip.NewResponseFromRequest(req, code, reason, raw)
			res.AppendHeader(sip.NewHeader("Content-Type", "message/sipfrag"))
		case req.Method == sip.REGISTER:
			res = sip.NewResponseFromRequest(req, 200, "OK", nil)
			for _, c := range r.register(req) {
				c.Params = sip.NewParams()
				c.Params.Add("expires", "3600")
				res.AppendHeader(&c)
			}
		default:
			res = sip.NewResponseFromRequest(req, 200, "OK", nil)
		}
		r.conn.WriteToUDPAddrPort([]byte(res.String()), from)
	}
}

// register stores the request's Contacts and returns the AOR's bindings.
func (r *registrar) register(req *sip.Request) []sip.ContactHeader {
	aor := req.To().Address.User
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, h := range req.GetHeaders("Contact") {
		c, ok := h.(*sip.ContactHeader)
		if !ok {
			continue
		}
		kept := r.bindings[aor][:0]
		for _, b := range r.bindings[aor] {
			if !sameURI(b.Address, c.Address) {
				kept = append(kept, b)
			}
		}
		r.bindings[aor] = append(kept, sip.ContactHeader{Address: c.Address})
	}
	return append([]sip.ContactHeader(nil), r.bindings[aor]...)
}

// algMode is how the test NAT treats SIP.
type algMode int

const (
	// clean translates addresses in packet headers only, like a router
	// with its SIP ALG turned off.
	clean algMode = iota
	// rewriting writes algPublic into Via, Contact and SDP c= of requests
	// and leaves the answers alone, like many home routers.
	rewriting
	// restoring rewrites requests like rewriting and translates the
	// answers back (Via, its received and rport, Contact), as Linux's
	// nf_nat_sip does: the device sees its own addresses again.
	restoring
	// dropping swallows SIP, like an ALG that chokes on our messages.
	dropping
)

// natProxy is a UDP NAT with an optional SIP ALG. Each device address gets
// its own outside socket (its mapping), so the registrar sees the NAT's
// address, not the device's.
type natProxy struct {
	t        testing.TB
	mode     algMode
	sipPort  uint16 // the ALG acts on this device port only; 0: all
	inside   *net.UDPConn
	upstream netip.AddrPort
	wg       sync.WaitGroup

	mu      sync.Mutex
	outside map[netip.AddrPort]*net.UDPConn
	// original sent-by and Contact per Via branch, for restoring.
	original map[string][2]sip.Uri
}

func newNATProxy(t testing.TB, upstream netip.AddrPort, mode algMode, sipPort uint16) *natProxy {
	p := &natProxy{t: t, mode: mode, sipPort: sipPort, inside: listen(t), upstream: upstream,
		outside: map[netip.AddrPort]*net.UDPConn{}, original: map[string][2]sip.Uri{}}
	p.wg.Go(p.fromDevices)
	t.Cleanup(func() {
		p.inside.Close()
		p.mu.Lock()
		for _, c := range p.outside {
			c.Close()
		}
		p.mu.Unlock()
		p.wg.Wait()
	})
	return p
}

func (p *natProxy) addr() netip.AddrPort { return addrOf(p.inside) }

func (p *natProxy) alg(device netip.AddrPort) bool {
	return p.mode != clean && (p.sipPort == 0 || device.Port() == p.sipPort)
}

func (p *natProxy) fromDevices() {
	buf := make([]byte, 65535)
	for {
		n, dev, err := p.inside.ReadFromUDPAddrPort(buf)
		if err != nil {
			return
		}
		out, err := p.mapping(dev)
		if err != nil {
			return
		}
		pkt := append([]byte(nil), buf[:n]...)
		if p.alg(dev) {
			if p.mode == dropping {
				continue
			}
			pkt = p.rewriteRequest(pkt)
		}
		out.WriteToUDPAddrPort(pkt, p.upstream)
	}
}

// mapping returns the outside socket of a device address, making it and
// its reader on first use.
func (p *natProxy) mapping(dev netip.AddrPort) (*net.UDPConn, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if c, ok := p.outside[dev]; ok {
		return c, nil
	}
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return nil, err
	}
	p.outside[dev] = c
	p.wg.Go(func() { p.toDevice(c, dev) })
	return c, nil
}

func (p *natProxy) toDevice(out *net.UDPConn, dev netip.AddrPort) {
	buf := make([]byte, 65535)
	for {
		n, from, err := out.ReadFromUDPAddrPort(buf)
		if err != nil {
			return
		}
		if from != p.upstream {
			continue // a NAT's filter
		}
		pkt := append([]byte(nil), buf[:n]...)
		if p.alg(dev) && p.mode == restoring {
			pkt = p.restoreResponse(pkt, dev)
		}
		p.inside.WriteToUDPAddrPort(pkt, dev)
	}
}

func (p *natProxy) rewriteRequest(pkt []byte) []byte {
	msg, err := sip.ParseMessage(pkt)
	if err != nil {
		return pkt
	}
	req, ok := msg.(*sip.Request)
	if !ok {
		return pkt
	}
	var orig [2]sip.Uri
	if v := req.Via(); v != nil {
		orig[0] = sip.Uri{Host: v.Host, Port: v.Port}
		v.Host, v.Port = algPublic.Addr().String(), int(algPublic.Port())
		if branch, ok := v.Params.Get("branch"); ok {
			defer func() {
				p.mu.Lock()
				p.original[branch] = orig
				p.mu.Unlock()
			}()
		}
	}
	if c := req.Contact(); c != nil && !c.Address.Wildcard {
		orig[1] = c.Address
		c.Address.Host, c.Address.Port = algPublic.Addr().String(), int(algPublic.Port())
	}
	if ct := req.ContentType(); ct != nil && mediaType(ct.Value()) == "application/sdp" {
		var s sdp.SessionDescription
		if s.UnmarshalString(string(req.Body())) == nil {
			if s.ConnectionInformation != nil && s.ConnectionInformation.Address != nil {
				s.ConnectionInformation.Address.Address = algPublic.Addr().String()
			}
			for _, m := range s.MediaDescriptions {
				if m.ConnectionInformation != nil && m.ConnectionInformation.Address != nil {
					m.ConnectionInformation.Address.Address = algPublic.Addr().String()
				}
			}
			if b, err := s.Marshal(); err == nil {
				req.SetBody(b)
			}
		}
	}
	return []byte(req.String())
}

func (p *natProxy) restoreResponse(pkt []byte, dev netip.AddrPort) []byte {
	msg, err := sip.ParseMessage(pkt)
	if err != nil {
		return pkt
	}
	res, ok := msg.(*sip.Response)
	if !ok {
		return pkt
	}
	v := res.Via()
	if v == nil {
		return pkt
	}
	branch, _ := v.Params.Get("branch")
	p.mu.Lock()
	orig, ok := p.original[branch]
	p.mu.Unlock()
	if !ok {
		return pkt
	}
	v.Host, v.Port = orig[0].Host, orig[0].Port
	if v.Params.Has("received") {
		v.Params.Add("received", dev.Addr().String())
	}
	if v.Params.Has("rport") {
		v.Params.Add("rport", strconv.Itoa(int(dev.Port())))
	}
	for _, h := range res.GetHeaders("Contact") {
		if c, ok := h.(*sip.ContactHeader); ok && c.Address.Host == algPublic.Addr().String() {
			c.Address.Host, c.Address.Port = orig[1].Host, orig[1].Port
		}
	}
	return []byte(res.String())
}

// device is the adapter's side: one UDP socket, requests built with
// sipgo's types, answers read raw.
type device struct {
	t    testing.TB
	conn *net.UDPConn
	seq  uint32
}

func newDevice(t testing.TB) *device { return &device{t: t, conn: listen(t)} }

func (d *device) request(method sip.RequestMethod, user string, body []byte) *sip.Request {
	local := addrOf(d.conn)
	d.seq++
	req := sip.NewRequest(method, sip.Uri{Scheme: "sip", User: user, Host: "tipring.test"})
	via := &sip.ViaHeader{ProtocolName: "SIP", ProtocolVersion: "2.0", Transport: "UDP",
		Host: local.Addr().String(), Port: int(local.Port()), Params: sip.NewParams()}
	via.Params.Add("branch", sip.GenerateBranch())
	via.Params.Add("rport", "")
	req.AppendHeader(via)
	from := &sip.FromHeader{Address: sip.Uri{Scheme: "sip", User: "1001", Host: "tipring.test"}, Params: sip.NewParams()}
	from.Params.Add("tag", sip.GenerateTagN(8))
	req.AppendHeader(from)
	req.AppendHeader(&sip.ToHeader{Address: sip.Uri{Scheme: "sip", User: user, Host: "tipring.test"}})
	callID := sip.CallIDHeader(sip.GenerateBranchN(12))
	req.AppendHeader(&callID)
	req.AppendHeader(&sip.CSeqHeader{SeqNo: d.seq, MethodName: method})
	req.AppendHeader(&sip.ContactHeader{Address: sip.Uri{Scheme: "sip", User: "1001", Host: local.Addr().String(), Port: int(local.Port())}})
	maxFwd := sip.MaxForwardsHeader(70)
	req.AppendHeader(&maxFwd)
	if body != nil {
		req.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	}
	req.SetBody(body)
	return req
}

// exchange sends req to dst and returns what was sent and the answer,
// nil when none came within wait.
func (d *device) exchange(req *sip.Request, dst netip.AddrPort, wait time.Duration) Exchange {
	d.t.Helper()
	sent := []byte(req.String())
	if _, err := d.conn.WriteToUDPAddrPort(sent, dst); err != nil {
		d.t.Fatal(err)
	}
	buf := make([]byte, 65535)
	d.conn.SetReadDeadline(time.Now().Add(wait))
	n, _, err := d.conn.ReadFromUDPAddrPort(buf)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return Exchange{Sent: sent}
	}
	if err != nil {
		d.t.Fatal(err)
	}
	return Exchange{Sent: sent, Received: append([]byte(nil), buf[:n]...)}
}

func (d *device) register(dst netip.AddrPort) Exchange {
	return d.exchange(d.request(sip.REGISTER, "1001", nil), dst, 2*time.Second)
}

// sdpOffer is a small G.711 offer from the device's address.
func sdpOffer(local netip.Addr) []byte {
	return []byte("v=0\r\no=- 1 1 IN IP4 " + local.String() + "\r\ns=-\r\nc=IN IP4 " + local.String() +
		"\r\nt=0 0\r\nm=audio 16384 RTP/AVP 0 8 101\r\na=rtpmap:101 telephone-event/8000\r\n")
}
