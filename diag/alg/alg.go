// Package alg detects a SIP ALG: a router feature ("SIP ALG", "SIP
// helper", "SIP passthrough") that rewrites the addresses in SIP messages
// on their way through, and with them often breaks registration, incoming
// calls or audio.
//
// It works from what the device already has: the requests it sent and the
// responses it got, as they crossed the wire (the SIP trace). A plain
// registrar such as Kamailio gives three views of what arrived:
//
//   - Every response carries our Via back as the server received it
//     (RFC 3261 section 8.2.6.2), with received and rport saying where the
//     packet came from (RFC 3581). A sent-by that differs from the one we
//     sent was changed on the way — the server may only add parameters.
//   - A 200 to REGISTER lists the bindings the registrar stored
//     (section 10.3), so our Contact comes back as it arrived.
//   - A server that reflects a request in its answer (a message/sipfrag
//     body, as a provider's check service can do with Kamailio's
//     set_reply_body("$mb", "message/sipfrag")) shows everything, SDP
//     included.
//
// An ALG that also translates the answers back (as Linux's nf_nat_sip
// does) hides from those views; it does not hide from a comparison of
// registrations from port 5060, which ALGs watch, and from another port,
// which they ignore (PortTest).
package alg

import (
	"cmp"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/emiago/sipgo/sip"
	"github.com/pion/sdp/v3"
)

// Exchange is one request the device sent and the response that answered
// it, as they crossed the wire (or as the SIP trace shows them: lines
// separated by "\n" are accepted).
type Exchange struct {
	Sent     []byte
	Received []byte // nil when no answer came
}

// PortTest is a REGISTER sent from port 5060, the port SIP ALGs watch, and
// one sent from another local port, close together in time.
type PortTest struct {
	Standard Exchange
	Other    Exchange
}

// Input is what Detect compares.
type Input struct {
	Exchanges []Exchange
	// Ports is the comparison of local ports, when both were tried.
	Ports *PortTest
}

// Rewrite is one value that arrived at the server different from how the
// device sent it.
type Rewrite struct {
	Method string `json:"method"` // of the request, e.g. REGISTER
	// Field is "Via", "Contact", "SDP c=" or "SDP m=<media> port".
	Field string `json:"field"`
	Sent  string `json:"sent"`
	Seen  string `json:"seen"`
}

func (r Rewrite) String() string {
	return fmt.Sprintf("%s %s sent as %s, seen by the server as %s", r.Method, r.Field, r.Sent, r.Seen)
}

// Result is the verdict: whether a SIP ALG is suspected, how sure, and why.
type Result struct {
	Suspected bool `json:"suspected"`
	// Confidence is 0–1, never above 0.95: even a rewrite seen by the
	// server could come from another middlebox (a session border
	// controller at the ISP, a firewall with a SIP module).
	Confidence float64   `json:"confidence"`
	Rewrites   []Rewrite `json:"rewrites,omitempty"`
	// Public is where the server saw us (received and rport of its Via),
	// when it said: from the last of Input.Exchanges, else from the port
	// test, preferring the port an ALG ignores.
	Public netip.AddrPort `json:"public,omitzero"`
	// Evidence holds plain-words lines, for the summary.
	Evidence []string `json:"evidence"`
	// Errors are messages that could not be read; they count for nothing.
	Errors []string `json:"errors,omitempty"`
}

// Why is the one-line reason diag.Line's alg_why holds: each rewritten
// value once, with the requests it was seen in. It is empty unless a SIP
// ALG is suspected.
func (r Result) Why() string {
	if !r.Suspected {
		return ""
	}
	if len(r.Rewrites) > 0 {
		type change struct{ field, sent, seen string }
		var order []change
		methods := map[change][]string{}
		for _, rw := range r.Rewrites {
			c := change{rw.Field, rw.Sent, rw.Seen}
			if _, ok := methods[c]; !ok {
				order = append(order, c)
			}
			if !slices.Contains(methods[c], rw.Method) {
				methods[c] = append(methods[c], rw.Method)
			}
		}
		parts := make([]string, len(order))
		for i, c := range order {
			parts[i] = fmt.Sprintf("%s %s → %s (%s)", c.field, c.sent, c.seen, strings.Join(methods[c], ", "))
		}
		return "rewritten on the way to the server: " + strings.Join(parts, "; ")
	}
	if len(r.Evidence) > 0 {
		return r.Evidence[0]
	}
	return ""
}

// Suspicion threshold and cap on the combined confidence.
const (
	suspectAt     = 0.5
	maxConfidence = 0.95
)

// What one observation is worth alone.
const (
	confVia          = 0.9  // the server must not change sent-by
	confEcho         = 0.95 // the server showed what it received
	confContact      = 0.6  // registrar changes Contact only to fix NAT
	confContactNAT   = 0.25 // the same value a registrar's NAT fix writes
	confPortSilent   = 0.6  // 5060 unanswered, another port answered
	confPortCode     = 0.5  // answers of different classes
	confPortPublic   = 0.8  // behind a NAT from one port, not from the other
	confPortRewrites = 0.3  // rewrites on 5060 only
)

// Detect compares what was sent with what the server saw. It never fails:
// unreadable messages are listed in Errors and ignored.
func Detect(in Input) Result {
	d := detector{}
	for i, ex := range in.Exchanges {
		s, err := d.exchange(ex)
		if err != nil {
			d.res.Errors = append(d.res.Errors, fmt.Sprintf("exchange %d: %v", i+1, err))
		}
		if s.public.IsValid() {
			d.res.Public = s.public
		}
	}
	if in.Ports != nil {
		d.ports(*in.Ports)
	}
	d.finish()
	return d.res
}

type detector struct {
	res   Result
	confs []float64
	// found counts rewrites seen, repeats included, so that an exchange
	// can tell whether it showed any.
	found int
	// compared counts the answered exchanges.
	compared int
}

func (d *detector) say(conf float64, format string, args ...any) {
	d.res.Evidence = append(d.res.Evidence, fmt.Sprintf(format, args...))
	if conf > 0 {
		d.confs = append(d.confs, conf)
	}
}

func (d *detector) rewrite(conf float64, rw Rewrite) {
	d.found++
	if !slices.Contains(d.res.Rewrites, rw) {
		d.res.Rewrites = append(d.res.Rewrites, rw)
		d.say(conf, "%s", rw)
	}
}

func (d *detector) finish() {
	// Independent observations add up: 1 − Π(1 − c).
	miss := 1.0
	for _, c := range d.confs {
		miss *= 1 - c
	}
	d.res.Confidence = min(1-miss, maxConfidence)
	d.res.Suspected = d.res.Confidence >= suspectAt
	if d.compared == 0 {
		d.res.Evidence = append(d.res.Evidence, "no answered SIP request to compare")
		return
	}
	if d.res.Public.IsValid() {
		d.res.Evidence = append(d.res.Evidence, fmt.Sprintf("the server saw us at %s", d.res.Public))
	}
	if !d.res.Suspected {
		d.res.Evidence = append(d.res.Evidence, "the server saw our addresses as we sent them: no sign of a SIP ALG")
	}
}

// seen is what one exchange showed.
type seen struct {
	answered bool
	code     int
	local    netip.AddrPort // our sent-by, when it is an address
	public   netip.AddrPort
	rewrites int
}

// exchange compares one request with its answer.
func (d *detector) exchange(ex Exchange) (seen, error) {
	var s seen
	req, err := parseRequest(ex.Sent)
	if err != nil {
		return s, fmt.Errorf("sent message: %w", err)
	}
	if len(ex.Received) == 0 {
		return s, nil
	}
	res, err := parseResponse(ex.Received)
	if err != nil {
		return s, fmt.Errorf("received message: %w", err)
	}
	if !sameTransaction(req, res) {
		return s, fmt.Errorf("the response (Call-ID %q, CSeq %q) does not answer the request (Call-ID %q, CSeq %q)",
			headerValue(res.CallID()), headerValue(res.CSeq()), headerValue(req.CallID()), headerValue(req.CSeq()))
	}
	s.answered, s.code = true, res.StatusCode
	d.compared++
	method := string(req.Method)
	before := d.found

	sentVia := req.Via()
	gotVia := matchingVia(sentVia, res)
	viaChanged := false
	if sentVia != nil {
		s.local, _ = netip.ParseAddrPort(hostPort(sentVia.Host, sentVia.Port, defaultPort("sip", sentVia.Transport)))
	}
	if sentVia != nil && gotVia != nil {
		if a, b := sentBy(sentVia), sentBy(gotVia); a != b {
			viaChanged = true
			d.rewrite(confVia, Rewrite{Method: method, Field: "Via", Sent: a, Seen: b})
		}
		if p, ok := public(gotVia); ok {
			s.public = p
		}
	}

	if req.Method == sip.REGISTER && res.StatusCode >= 200 && res.StatusCode < 300 {
		d.contact(method, req, res, viaChanged, s.public)
	}
	if ct := res.ContentType(); ct != nil && mediaType(ct.Value()) == "message/sipfrag" {
		d.echo(method, req, res)
	}
	s.rewrites = d.found - before
	return s, nil
}

// contact finds our binding among those a registrar returned.
func (d *detector) contact(method string, req *sip.Request, res *sip.Response, viaChanged bool, pub netip.AddrPort) {
	ours := req.Contact()
	if ours == nil || ours.Address.Wildcard {
		return
	}
	var same []sip.Uri
	for _, h := range res.GetHeaders("Contact") {
		c, ok := h.(*sip.ContactHeader)
		if !ok {
			continue
		}
		if sameURI(c.Address, ours.Address) {
			return
		}
		if c.Address.Scheme == ours.Address.Scheme && c.Address.User == ours.Address.User {
			same = append(same, c.Address)
		}
	}
	sent := hostPort(ours.Address.Host, ours.Address.Port, defaultPort(ours.Address.Scheme, ""))
	switch len(same) {
	case 0:
		d.say(0, "the registrar's answer to %s lists no binding for %s: the Contact cannot be compared", method, ours.Address.User)
		return
	case 1:
	default:
		d.say(0, "the registrar's answer to %s lists %d bindings for %s, none of them ours as sent (%s): the Contact cannot be compared", method, len(same), ours.Address.User, sent)
		return
	}
	got := hostPort(same[0].Host, same[0].Port, defaultPort(same[0].Scheme, ""))
	rw := Rewrite{Method: method, Field: "Contact", Sent: sent, Seen: got}
	if !viaChanged && pub.IsValid() && got == pub.String() {
		// Registrars with a NAT fix (Kamailio's fix_nated_contact) store
		// the source address too; only a changed Via would tell them apart.
		d.found++
		if !slices.Contains(d.res.Rewrites, rw) {
			d.res.Rewrites = append(d.res.Rewrites, rw)
			d.say(confContactNAT, "%s; that is where the server saw us, which a registrar's own NAT fix also writes", rw)
		}
		return
	}
	d.rewrite(confContact, rw)
}

// echo compares the request with the copy a server reflected in a
// message/sipfrag body.
func (d *detector) echo(method string, req *sip.Request, res *sip.Response) {
	got, err := parseRequest(res.Body())
	if err != nil {
		d.res.Errors = append(d.res.Errors, fmt.Sprintf("the reflected %s in the answer: %v", method, err))
		return
	}
	if !sameTransaction(req, got) {
		d.res.Errors = append(d.res.Errors, fmt.Sprintf("the reflected request in the answer to %s is another request", method))
		return
	}
	if a, b := req.Via(), got.Via(); a != nil && b != nil && sentBy(a) != sentBy(b) {
		d.rewrite(confEcho, Rewrite{Method: method, Field: "Via", Sent: sentBy(a), Seen: sentBy(b)})
	}
	if a, b := req.Contact(), got.Contact(); a != nil && b != nil && !a.Address.Wildcard && !sameURI(a.Address, b.Address) {
		d.rewrite(confEcho, Rewrite{Method: method, Field: "Contact",
			Sent: hostPort(a.Address.Host, a.Address.Port, defaultPort(a.Address.Scheme, "")),
			Seen: hostPort(b.Address.Host, b.Address.Port, defaultPort(b.Address.Scheme, ""))})
	}
	if !isSDP(req) {
		return
	}
	if !isSDP(got) {
		d.say(confEcho, "%s: the SDP we sent did not reach the server as SDP", method)
		return
	}
	a, errA := addrsOfSDP(req.Body())
	b, errB := addrsOfSDP(got.Body())
	if err := cmp.Or(errA, errB); err != nil {
		d.res.Errors = append(d.res.Errors, fmt.Sprintf("SDP of %s: %v", method, err))
		return
	}
	for i := range min(len(a), len(b)) {
		if a[i].value != b[i].value && a[i].field == b[i].field {
			d.rewrite(confEcho, Rewrite{Method: method, Field: a[i].field, Sent: a[i].value, Seen: b[i].value})
		}
	}
}

// ports compares registration from port 5060 with registration from
// another port.
func (d *detector) ports(pt PortTest) {
	std, errS := d.exchange(pt.Standard)
	other, errO := d.exchange(pt.Other)
	if !d.res.Public.IsValid() {
		d.res.Public = cmp.Or(other.public, std.public)
	}
	for _, e := range []struct {
		name string
		err  error
	}{{"REGISTER from port 5060", errS}, {"REGISTER from another port", errO}} {
		if e.err != nil {
			d.res.Errors = append(d.res.Errors, fmt.Sprintf("%s: %v", e.name, e.err))
		}
	}
	if errS != nil || errO != nil {
		return
	}
	switch {
	case !std.answered && other.answered:
		d.say(confPortSilent, "REGISTER from port 5060 got no answer while from another port it got %d: something on the way treats port 5060 differently", other.code)
		return
	case !std.answered || !other.answered:
		return
	}
	if std.code/100 != other.code/100 {
		d.say(confPortCode, "REGISTER from port 5060 was answered %d, from another port %d", std.code, other.code)
	}
	// Whether the server saw us behind a NAT cannot depend on the port;
	// unless the answers on one port were translated back on the way.
	if std.public.IsValid() && other.public.IsValid() {
		stdNAT, otherNAT := std.public != std.local, other.public != other.local
		switch {
		case !stdNAT && otherNAT:
			d.say(confPortPublic, "from port 5060 the server saw us at our own address %s, from another port at %s: the answers on port 5060 were translated back on the way", std.public, other.public)
		case stdNAT && !otherNAT:
			d.say(confPortPublic, "from port 5060 the server saw us at %s, from another port at our own address %s: something on the way treats port 5060 differently", std.public, other.public)
		}
	}
	if std.rewrites > 0 && other.rewrites == 0 {
		d.say(confPortRewrites, "the rewrites happen on port 5060 only, the port SIP ALGs watch")
	}
}

// maxMessage bounds what is parsed: SIP over UDP stays far below it.
const maxMessage = 64 << 10

var errTooLarge = errors.New("message larger than 64 KiB")

func parse(raw []byte) (msg sip.Message, err error) {
	if len(raw) > maxMessage {
		return nil, errTooLarge
	}
	// The trace shows lines separated by "\n", and a message without a body
	// ends at its last header, without the blank line; sipgo wants CRLF
	// and the blank line.
	if !strings.Contains(string(raw), "\r\n") {
		text := strings.ReplaceAll(string(raw), "\n", "\r\n")
		if !strings.Contains(text, "\r\n\r\n") {
			text = strings.TrimRight(text, "\r\n") + "\r\n\r\n"
		}
		raw = []byte(text)
	}
	// sipgo is fuzzed upstream, but diagnostics must never take the device
	// down: a panic is a parse error here.
	defer func() {
		if r := recover(); r != nil {
			msg, err = nil, fmt.Errorf("SIP parser failed: %v", r)
		}
	}()
	msg, err = sip.ParseMessage(raw)
	if err != nil {
		return nil, fmt.Errorf("not a SIP message: %w", err)
	}
	return msg, nil
}

func parseRequest(raw []byte) (*sip.Request, error) {
	m, err := parse(raw)
	if err != nil {
		return nil, err
	}
	req, ok := m.(*sip.Request)
	if !ok {
		return nil, errors.New("a response where a request was expected")
	}
	if req.CallID() == nil || req.CSeq() == nil || req.Via() == nil {
		return nil, errors.New("request without Call-ID, CSeq or Via")
	}
	return req, nil
}

func parseResponse(raw []byte) (*sip.Response, error) {
	m, err := parse(raw)
	if err != nil {
		return nil, err
	}
	res, ok := m.(*sip.Response)
	if !ok {
		return nil, errors.New("a request where a response was expected")
	}
	if res.CallID() == nil || res.CSeq() == nil {
		return nil, errors.New("response without Call-ID or CSeq")
	}
	return res, nil
}

func headerValue(h sip.Header) string {
	if h == nil {
		return ""
	}
	return h.Value()
}

func sameTransaction(a, b sip.Message) bool {
	ca, cb := a.CSeq(), b.CSeq()
	return a.CallID() != nil && b.CallID() != nil && ca != nil && cb != nil &&
		a.CallID().Value() == b.CallID().Value() && ca.SeqNo == cb.SeqNo && ca.MethodName == cb.MethodName
}

// matchingVia is the response's Via with our branch, else its top one.
func matchingVia(ours *sip.ViaHeader, res *sip.Response) *sip.ViaHeader {
	if ours == nil {
		return nil
	}
	branch, _ := ours.Params.Get("branch")
	for _, h := range res.GetHeaders("Via") {
		if v, ok := h.(*sip.ViaHeader); ok && branch != "" {
			if b, _ := v.Params.Get("branch"); b == branch {
				return v
			}
		}
	}
	return res.Via()
}

// sentBy renders a Via's transport and sent-by, with the default port
// filled in, so that "10.0.0.2" and "10.0.0.2:5060" compare equal.
func sentBy(v *sip.ViaHeader) string {
	return strings.ToUpper(v.Transport) + " " + hostPort(v.Host, v.Port, defaultPort("sip", v.Transport))
}

// public is where the server saw the request come from.
func public(v *sip.ViaHeader) (netip.AddrPort, bool) {
	rcv, ok := v.Params.Get("received")
	if !ok {
		return netip.AddrPort{}, false
	}
	a, err := netip.ParseAddr(strings.Trim(rcv, "[]"))
	if err != nil {
		return netip.AddrPort{}, false
	}
	port := v.Port
	if rp, ok := v.Params.Get("rport"); ok && rp != "" {
		p, err := strconv.ParseUint(rp, 10, 16)
		if err != nil {
			return netip.AddrPort{}, false
		}
		port = int(p)
	}
	if port <= 0 || port > 65535 {
		port = defaultPort("sip", v.Transport)
	}
	return netip.AddrPortFrom(a.Unmap(), uint16(port)), true
}

func defaultPort(scheme, transport string) int {
	if strings.EqualFold(scheme, "sips") || strings.EqualFold(transport, "tls") {
		return 5061
	}
	return 5060
}

func hostPort(host string, port, def int) string {
	if port <= 0 {
		port = def
	}
	host = strings.ToLower(strings.Trim(host, "[]"))
	if a, err := netip.ParseAddr(host); err == nil {
		return netip.AddrPortFrom(a.Unmap(), uint16(port)).String()
	}
	return host + ":" + strconv.Itoa(port)
}

func sameURI(a, b sip.Uri) bool {
	return strings.EqualFold(a.Scheme, b.Scheme) && a.User == b.User &&
		hostPort(a.Host, a.Port, defaultPort(a.Scheme, "")) == hostPort(b.Host, b.Port, defaultPort(b.Scheme, ""))
}

func mediaType(ct string) string {
	t, _, _ := strings.Cut(ct, ";")
	return strings.ToLower(strings.TrimSpace(t))
}

func isSDP(m *sip.Request) bool {
	ct := m.ContentType()
	return ct != nil && mediaType(ct.Value()) == "application/sdp" && len(m.Body()) > 0
}

// sdpAddr is one address-bearing value of an SDP body, in order.
type sdpAddr struct{ field, value string }

// addrsOfSDP lists the values an ALG rewrites: the session and media c=
// addresses and the media ports.
func addrsOfSDP(body []byte) ([]sdpAddr, error) {
	var s sdp.SessionDescription
	if err := s.UnmarshalString(string(body)); err != nil {
		return nil, fmt.Errorf("SDP: %w", err)
	}
	var out []sdpAddr
	if c := s.ConnectionInformation; c != nil && c.Address != nil {
		out = append(out, sdpAddr{"SDP c=", c.Address.Address})
	}
	for _, m := range s.MediaDescriptions {
		out = append(out, sdpAddr{"SDP m=" + m.MediaName.Media + " port", strconv.Itoa(m.MediaName.Port.Value)})
		if c := m.ConnectionInformation; c != nil && c.Address != nil {
			out = append(out, sdpAddr{"SDP c= of " + m.MediaName.Media, c.Address.Address})
		}
	}
	return out, nil
}
