package sip

import (
	"crypto/rand"
	"encoding/hex"
	"net/netip"
	"strconv"
	"strings"

	"github.com/emiago/sipgo/sip"
)

// Small helpers over sipgo's message types. Every message is built and
// parsed with sipgo's sip package; these only fill in what tipring needs.

// allowMethods is what we answer to and advertise.
const allowMethods = "INVITE, ACK, CANCEL, BYE, OPTIONS, UPDATE, INFO, NOTIFY"

func randomToken(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails on supported platforms
	return hex.EncodeToString(b)
}

func newTag() string    { return randomToken(8) }
func newBranch() string { return sip.RFC3261BranchMagicCookie + randomToken(10) }

// param reads a header parameter regardless of the case of its name, as
// RFC 3261 7.3.1 requires; sipgo's HeaderParams.Get is case-sensitive.
func param(p sip.HeaderParams, name string) (string, bool) {
	for _, kv := range p {
		if strings.EqualFold(kv.K, name) {
			return kv.V, true
		}
	}
	return "", false
}

func tagOf(p sip.HeaderParams) string {
	v, _ := param(p, "tag")
	return v
}

func headerValue(m sip.Message, name string) string {
	if hs := m.GetHeaders(name); len(hs) > 0 {
		return strings.TrimSpace(hs[0].Value())
	}
	return ""
}

// sipURI builds sip:user@host[:port].
func sipURI(user string, hp netip.AddrPort) sip.Uri {
	return sip.Uri{Scheme: "sip", User: user, Host: hp.Addr().String(), Port: int(hp.Port())}
}

func hostURI(user string, h hostPort) sip.Uri {
	return sip.Uri{Scheme: "sip", User: user, Host: h.host, Port: h.port}
}

func newVia(transport string, host netip.Addr, port uint16) *sip.ViaHeader {
	v := &sip.ViaHeader{
		ProtocolName:    "SIP",
		ProtocolVersion: "2.0",
		Transport:       strings.ToUpper(transport),
		Host:            host.String(),
		Port:            int(port),
		Params:          sip.NewParams(),
	}
	v.Params.Add("branch", newBranch())
	// RFC 3581: ask for the source port the server saw, which is how we
	// learn our public address and how responses find us through NAT.
	v.Params.Add("rport", "")
	return v
}

func maxForwards() sip.Header {
	m := sip.MaxForwardsHeader(70)
	return &m
}

func cseqHeader(n uint32, m sip.RequestMethod) sip.Header {
	return &sip.CSeqHeader{SeqNo: n, MethodName: m}
}

func callIDHeader(id string) sip.Header {
	h := sip.CallIDHeader(id)
	return &h
}

func contentType(v string) sip.Header {
	h := sip.ContentTypeHeader(v)
	return &h
}

// viaPublicAddr reads what the server saw as our address from the top Via
// of a response (RFC 3581 received/rport).
func viaPublicAddr(res *sip.Response) (netip.AddrPort, bool) {
	via := res.Via()
	if via == nil {
		return netip.AddrPort{}, false
	}
	recv, hasRecv := param(via.Params, "received")
	rport, hasRport := param(via.Params, "rport")
	if !hasRecv && (!hasRport || rport == "") {
		return netip.AddrPort{}, false
	}
	host := via.Host
	if hasRecv && recv != "" {
		host = recv
	}
	ip, err := netip.ParseAddr(strings.Trim(host, "[]"))
	if err != nil {
		return netip.AddrPort{}, false
	}
	port := via.Port
	if hasRport && rport != "" {
		p, err := strconv.Atoi(rport)
		if err != nil || p < 1 || p > 65535 {
			return netip.AddrPort{}, false
		}
		port = p
	}
	if port <= 0 || port > 65535 {
		port = 5060
	}
	return netip.AddrPortFrom(ip.Unmap(), uint16(port)), true
}

// sourceAddr parses the address a message arrived from.
func sourceAddr(m sip.Message) (netip.AddrPort, bool) {
	ap, err := netip.ParseAddrPort(m.Source())
	if err != nil {
		return netip.AddrPort{}, false
	}
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()), true
}

// uriUser returns the user part of a SIP URI without parameters, with
// %-escapes decoded.
func uriUser(u sip.Uri) string {
	user := u.User
	if i := strings.IndexByte(user, ';'); i >= 0 {
		user = user[:i]
	}
	return unescape(user)
}

func unescape(s string) string {
	if !strings.Contains(s, "%") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+2 < len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+3], 16, 8); err == nil {
				b.WriteByte(byte(v))
				i += 2
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// escapeUser escapes what a dialled number may hold but a SIP URI user part
// must not carry raw ('#' especially, which phones dial).
func escapeUser(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9',
			strings.IndexByte("-_.!~*'()&=+$,;?/", c) >= 0:
			b.WriteByte(c)
		default:
			b.WriteString("%")
			b.WriteString(strings.ToUpper(hex.EncodeToString([]byte{c})))
		}
	}
	return b.String()
}

// uriAddrPort returns the address of a URI whose host is an IP literal.
func uriAddrPort(u sip.Uri) (netip.AddrPort, bool) {
	ip, err := netip.ParseAddr(strings.Trim(u.Host, "[]"))
	if err != nil {
		return netip.AddrPort{}, false
	}
	port := u.Port
	if port <= 0 || port > 65535 {
		port = 5060
	}
	return netip.AddrPortFrom(ip.Unmap(), uint16(port)), true
}
