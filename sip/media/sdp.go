package media

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/pion/sdp/v3"

	"github.com/tipring/tipring/internal/order"
)

// ErrNoCommonCodec means the offer (or answer) has no audio stream we can
// take part in: no codec in common, or no plain RTP audio at all. A SIP user
// agent answers such an INVITE with 488 Not Acceptable Here.
var ErrNoCommonCodec = errors.New("media: no common codec")

// maxSDP bounds what we parse: a real SDP is well under 2 KB and sipgo
// cannot even carry much more over UDP.
const maxSDP = 16 << 10

// direction is an SDP media direction attribute (RFC 3264 section 5.1), as
// written by the side that wrote the SDP.
type direction uint8

const (
	sendRecv direction = iota
	sendOnly
	recvOnly
	inactive
)

func (d direction) String() string {
	switch d {
	case sendOnly:
		return "sendonly"
	case recvOnly:
		return "recvonly"
	case inactive:
		return "inactive"
	}
	return "sendrecv"
}

// reverse is the direction that answers d (RFC 3264 section 6.1).
func (d direction) reverse() direction {
	switch d {
	case sendOnly:
		return recvOnly
	case recvOnly:
		return sendOnly
	}
	return d
}

func (d direction) sends() bool    { return d == sendRecv || d == sendOnly }
func (d direction) receives() bool { return d == sendRecv || d == recvOnly }

func parseDirection(key string) (direction, bool) {
	switch key {
	case "sendrecv":
		return sendRecv, true
	case "sendonly":
		return sendOnly, true
	case "recvonly":
		return recvOnly, true
	case "inactive":
		return inactive, true
	}
	return 0, false
}

// rtpmap is one a=rtpmap line.
type rtpmap struct {
	name     string
	rate     int
	channels int
}

// mediaDesc is what we need from one m= section of a remote SDP.
type mediaDesc struct {
	media   string // m= fields as written
	port    int
	proto   string
	formats []string
	addr    netip.Addr // c= of the section, else of the session; invalid if neither
	rtcp    int        // a=rtcp port, 0 if absent
	rtpmaps map[uint8]rtpmap
	dir     direction
	ptime   int
}

// remoteSDP is a parsed remote session description.
type remoteSDP struct {
	media []mediaDesc
}

// mline is an m= line as the peer wrote it; pion only knows the IANA media
// and proto tokens, so unusual ones (m=image ... udptl t38) reach pion as a
// stand-in and are remembered here.
type mline struct {
	media, proto string
	port         int
	formats      []string
}

// rankOf orders session-level lines as RFC 4566 section 5 does; pion
// rejects any other order. Lines we do not use and pion is strict about (i,
// u, e, p, b, r, z, k) get -1: they are dropped rather than risk rejecting a
// usable offer.
func rankOf(key byte) int {
	switch key {
	case 'v':
		return 0
	case 'o':
		return 1
	case 's':
		return 2
	case 'c':
		return 3
	case 't':
		return 4
	case 'a':
		return 5
	}
	return -1
}

// normalise rewrites an SDP from the wild into the strict form pion/sdp
// parses: CRLF line ends, session lines in RFC order (c= after t= is common
// and pion rejects it), media lines m, c, a, unused line types dropped, and
// the lines we rely on validated here so errors name the line at fault.
func normalise(body []byte) (string, []mline, error) {
	if len(body) == 0 {
		return "", nil, errors.New("empty SDP")
	}
	if len(body) > maxSDP {
		return "", nil, fmt.Errorf("SDP is %d bytes, more than %d", len(body), maxSDP)
	}
	type line struct {
		key  byte
		val  string
		rank int
	}
	var session []line
	var media [][]line
	var mlines []mline
	seen := map[byte]bool{}
	for i, raw := range strings.Split(string(body), "\n") {
		l := strings.TrimRight(raw, " \t\r")
		if l == "" {
			continue
		}
		n := i + 1
		if len(l) < 2 || l[1] != '=' || l[0] < 'a' || l[0] > 'z' {
			return "", nil, fmt.Errorf("line %d: %q is not <type>=<value>", n, clip(l))
		}
		if strings.ContainsAny(l, "\x00\r") {
			return "", nil, fmt.Errorf("line %d: control character in %q", n, clip(l))
		}
		key, val := l[0], l[2:]
		if key == 'm' {
			m, err := parseMLine(val)
			if err != nil {
				return "", nil, fmt.Errorf("line %d: %w", n, err)
			}
			mlines = append(mlines, m)
			media = append(media, []line{{'m', pionMLine(m), 0}})
			continue
		}
		if key == 'c' {
			addr, err := parseConnection(val)
			if err != nil {
				return "", nil, fmt.Errorf("line %d: %w", n, err)
			}
			val = "IN " + ipType(addr) + " " + addr.String()
		}
		if len(media) > 0 {
			cur := &media[len(media)-1]
			switch key {
			case 'c':
				if !slices.ContainsFunc(*cur, func(l line) bool { return l.key == 'c' }) {
					*cur = append(*cur, line{'c', val, 1})
				}
			case 'a':
				*cur = append(*cur, line{'a', val, 2})
			}
			continue
		}
		r := rankOf(key)
		if r < 0 {
			continue
		}
		switch key {
		case 'v':
			if strings.TrimSpace(val) != "0" {
				return "", nil, fmt.Errorf("line %d: unsupported SDP version v=%s", n, clip(val))
			}
			val = "0"
		case 'o':
			val = saneOrigin(val)
		case 't':
			if f := strings.Fields(val); len(f) != 2 || !isDigits(f[0]) || !isDigits(f[1]) {
				val = "0 0"
			}
		}
		if key != 'a' && key != 't' {
			if seen[key] {
				continue // a second v=, o=, s= or c=: the first one counts
			}
			seen[key] = true
		}
		session = append(session, line{key, val, r})
	}
	if len(media) == 0 {
		return "", nil, errors.New("no media description (m= line)")
	}
	// Supply what pion insists on and we do not use.
	for _, def := range []line{{'v', "0", 0}, {'o', "- 0 0 IN IP4 0.0.0.0", 1}, {'s', "-", 2}, {'t', "0 0", 4}} {
		if !slices.ContainsFunc(session, func(l line) bool { return l.key == def.key }) {
			session = append(session, def)
		}
	}
	order.Stable(session, func(a, b line) int { return a.rank - b.rank })

	var out strings.Builder
	write := func(ls []line) {
		for _, l := range ls {
			out.WriteByte(l.key)
			out.WriteByte('=')
			out.WriteString(l.val)
			out.WriteString("\r\n")
		}
	}
	write(session)
	for _, m := range media {
		order.Stable(m, func(a, b line) int { return a.rank - b.rank })
		write(m)
	}
	return out.String(), mlines, nil
}

func clip(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := range len(s) {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// saneOrigin keeps an o= line pion can parse and replaces any other: we do
// not use the peer's origin, so a quirky one must not fail the call.
func saneOrigin(v string) string {
	f := strings.Fields(v)
	if len(f) == 6 && isDigits(f[1]) && len(f[1]) < 20 && isDigits(f[2]) && len(f[2]) < 20 &&
		f[3] == "IN" && (f[4] == "IP4" || f[4] == "IP6") {
		return strings.Join(f, " ")
	}
	return "- 0 0 IN IP4 0.0.0.0"
}

// parseConnection reads "IN IP4 192.0.2.1" (an optional /ttl is ignored).
func parseConnection(v string) (netip.Addr, error) {
	f := strings.Fields(v)
	if len(f) != 3 || f[0] != "IN" || (f[1] != "IP4" && f[1] != "IP6") {
		return netip.Addr{}, fmt.Errorf("c=%s is not \"IN IP4|IP6 <address>\"", clip(v))
	}
	host, _, _ := strings.Cut(f[2], "/")
	addr, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("c=%s: address %q is not an IP address", clip(v), clip(host))
	}
	addr = addr.Unmap()
	if addr.Is4() != (f[1] == "IP4") {
		return netip.Addr{}, fmt.Errorf("c=%s: address does not match %s", clip(v), f[1])
	}
	return addr, nil
}

func ipType(a netip.Addr) string {
	if a.Is4() {
		return "IP4"
	}
	return "IP6"
}

func parseMLine(v string) (mline, error) {
	f := strings.Fields(v)
	if len(f) < 3 {
		return mline{}, fmt.Errorf("m=%s needs <media> <port> <proto> <format>...", clip(v))
	}
	portStr, _, _ := strings.Cut(f[1], "/")
	port, err := strconv.Atoi(portStr)
	if err != nil || port < 0 || port > 65535 {
		return mline{}, fmt.Errorf("m=%s: bad port %q", clip(v), clip(f[1]))
	}
	return mline{media: f[0], port: port, proto: f[2], formats: f[3:]}, nil
}

// pionMLine is the m= line handed to pion: the same, or a stand-in pion
// accepts for media/proto tokens outside its IANA lists.
func pionMLine(m mline) string {
	media, proto := m.media, m.proto
	if !slices.Contains([]string{"audio", "video", "text", "application", "message"}, media) {
		media = "application"
	}
	for p := range strings.SplitSeq(proto, "/") {
		if !slices.Contains([]string{"UDP", "RTP", "AVP", "SAVP", "SAVPF", "TLS", "DTLS", "SCTP", "AVPF", "TCP"}, p) {
			proto = "UDP"
			break
		}
	}
	return media + " " + strconv.Itoa(m.port) + " " + proto + " " + strings.Join(m.formats, " ")
}

// parseSDP parses a remote SDP offer or answer.
func parseSDP(body []byte) (*remoteSDP, error) {
	text, mlines, err := normalise(body)
	if err != nil {
		return nil, fmt.Errorf("media: malformed SDP: %w", err)
	}
	var sd sdp.SessionDescription
	if err := sd.UnmarshalString(text); err != nil {
		return nil, fmt.Errorf("media: malformed SDP: %w", err)
	}
	if len(sd.MediaDescriptions) != len(mlines) {
		return nil, fmt.Errorf("media: malformed SDP: %d m= lines read as %d", len(mlines), len(sd.MediaDescriptions))
	}
	var sessAddr netip.Addr
	if ci := sd.ConnectionInformation; ci != nil && ci.Address != nil {
		sessAddr, _ = netip.ParseAddr(ci.Address.Address) // validated by normalise
	}
	sessDir := sendRecv
	for _, a := range sd.Attributes {
		if d, ok := parseDirection(a.Key); ok {
			sessDir = d
		}
	}
	r := &remoteSDP{}
	for i, md := range sd.MediaDescriptions {
		m := mediaDesc{
			media:   mlines[i].media,
			port:    mlines[i].port,
			proto:   mlines[i].proto,
			formats: mlines[i].formats,
			addr:    sessAddr,
			rtpmaps: map[uint8]rtpmap{},
			dir:     sessDir,
		}
		if ci := md.ConnectionInformation; ci != nil && ci.Address != nil {
			m.addr, _ = netip.ParseAddr(ci.Address.Address)
		}
		for _, a := range md.Attributes {
			if d, ok := parseDirection(a.Key); ok {
				m.dir = d
				continue
			}
			switch a.Key {
			case "rtpmap":
				if pt, rm, ok := parseRtpmap(a.Value); ok {
					m.rtpmaps[pt] = rm
				}
			case "ptime":
				if v, err := strconv.Atoi(strings.TrimSpace(a.Value)); err == nil && v > 0 && v <= 1000 {
					m.ptime = v
				}
			case "rtcp":
				f := strings.Fields(a.Value)
				if len(f) > 0 {
					if p, err := strconv.Atoi(f[0]); err == nil && p > 0 && p <= 65535 {
						m.rtcp = p
					}
				}
			}
		}
		r.media = append(r.media, m)
	}
	return r, nil
}

// parseRtpmap reads "<pt> <name>/<rate>[/<channels>]".
func parseRtpmap(v string) (uint8, rtpmap, bool) {
	ptStr, rest, ok := strings.Cut(strings.TrimSpace(v), " ")
	if !ok {
		return 0, rtpmap{}, false
	}
	pt, err := strconv.Atoi(ptStr)
	if err != nil || pt < 0 || pt > 127 {
		return 0, rtpmap{}, false
	}
	parts := strings.Split(strings.TrimSpace(rest), "/")
	if len(parts) < 2 {
		return 0, rtpmap{}, false
	}
	rate, err := strconv.Atoi(parts[1])
	if err != nil {
		return 0, rtpmap{}, false
	}
	rm := rtpmap{name: parts[0], rate: rate, channels: 1}
	if len(parts) > 2 {
		if ch, err := strconv.Atoi(parts[2]); err == nil {
			rm.channels = ch
		}
	}
	return uint8(pt), rm, true
}

// format is one payload type of an m= line as we understand it.
type format struct {
	pt    uint8
	codec codec // noCodec if not one of ours
	event bool  // telephone-event/8000
}

// formats lists the m= line's payload types that we understand.
func (m *mediaDesc) understood() []format {
	var out []format
	for _, f := range m.formats {
		n, err := strconv.Atoi(f)
		if err != nil || n < 0 || n > 127 {
			continue
		}
		pt := uint8(n)
		rm, mapped := m.rtpmaps[pt]
		switch {
		case mapped && rm.rate == 8000 && rm.channels == 1 && codecByName(rm.name) != noCodec:
			out = append(out, format{pt: pt, codec: codecByName(rm.name)})
		case mapped && rm.rate == 8000 && strings.EqualFold(rm.name, "telephone-event"):
			out = append(out, format{pt: pt, event: true})
		case !mapped && codecByStaticPT(pt) != noCodec:
			out = append(out, format{pt: pt, codec: codecByStaticPT(pt)})
		}
	}
	return out
}

// names lists the formats of the m= line for error messages.
func (m *mediaDesc) names() string {
	var names []string
	for _, f := range m.formats {
		name := f
		if n, err := strconv.Atoi(f); err == nil && n >= 0 && n <= 127 {
			if rm, ok := m.rtpmaps[uint8(n)]; ok {
				name = rm.name
			}
		}
		names = append(names, name)
	}
	return strings.Join(names, ",")
}

// isRTPAVP reports whether the stream is plain RTP (not SRTP, not feedback
// profiles we would have to claim to implement).
func (m *mediaDesc) isRTPAVP() bool { return strings.EqualFold(m.proto, "RTP/AVP") }

// remoteRTP is where the stream's RTP and RTCP go.
func (m *mediaDesc) endpoints() (rtpAddr, rtcpAddr netip.AddrPort) {
	rtpAddr = netip.AddrPortFrom(m.addr, uint16(m.port))
	rp := m.rtcp
	if rp == 0 {
		rp = m.port + 1
	}
	if rp > 65535 {
		rp = m.port
	}
	return rtpAddr, netip.AddrPortFrom(m.addr, uint16(rp))
}

// negotiation is the agreed media: immutable once published, swapped
// atomically as offers and answers come and go.
type negotiation struct {
	codec  codec // what we send
	pt     uint8 // its payload type
	recv   [128]codec
	dtmfPT int // telephone-event payload type, -1 if none
	remote netip.AddrPort
	rtcp   netip.AddrPort
	// our is the direction we declared; send and expect follow from it and
	// from the remote address.
	our    direction
	send   bool // we send RTP
	expect bool // the remote sends RTP and may not be silent for long: arm the timeout
	held   bool // the remote put us on hold
}

func (n *negotiation) codecName() string {
	if n == nil {
		return ""
	}
	return n.codec.String()
}

// localSDP is what we need to write our side.
type localSDP struct {
	name      string
	sessID    uint64
	version   uint64
	addr      netip.Addr
	port      int
	codecs    []codec
	offerDTMF uint8
}

func (l *localSDP) base() *sdp.SessionDescription {
	return &sdp.SessionDescription{
		Origin: sdp.Origin{
			Username: "tipring", SessionID: l.sessID, SessionVersion: l.version,
			NetworkType: "IN", AddressType: ipType(l.addr), UnicastAddress: l.addr.String(),
		},
		SessionName: sdp.SessionName(l.name),
		ConnectionInformation: &sdp.ConnectionInformation{
			NetworkType: "IN", AddressType: ipType(l.addr), Address: &sdp.Address{Address: l.addr.String()},
		},
		TimeDescriptions: []sdp.TimeDescription{{}},
	}
}

func rtpmapAttr(pt uint8, name string) sdp.Attribute {
	return sdp.NewAttribute("rtpmap", strconv.Itoa(int(pt))+" "+name+"/8000")
}

func audioSection(port int, fmts []string, attrs []sdp.Attribute) *sdp.MediaDescription {
	return &sdp.MediaDescription{
		MediaName:  sdp.MediaName{Media: "audio", Port: sdp.RangedPort{Value: port}, Protos: []string{"RTP", "AVP"}, Formats: fmts},
		Attributes: attrs,
	}
}

// offer writes our initial offer: every codec we have, in order of
// preference, and telephone-event. It stays lean: SIP over UDP through sipgo
// fails for messages much over 1300 bytes.
func (l *localSDP) offer() ([]byte, error) {
	sd := l.base()
	var fmts []string
	var attrs []sdp.Attribute
	for _, c := range l.codecs {
		fmts = append(fmts, strconv.Itoa(int(c.staticPT())))
		attrs = append(attrs, rtpmapAttr(c.staticPT(), c.String()))
	}
	fmts = append(fmts, strconv.Itoa(int(l.offerDTMF)))
	attrs = append(attrs,
		rtpmapAttr(l.offerDTMF, "telephone-event"),
		sdp.NewAttribute("fmtp", strconv.Itoa(int(l.offerDTMF))+" 0-15"),
		sdp.NewAttribute("ptime", "20"),
		sdp.NewPropertyAttribute("sendrecv"))
	sd.MediaDescriptions = []*sdp.MediaDescription{audioSection(l.port, fmts, attrs)}
	return sd.Marshal()
}

// answerTo negotiates an answer to a remote offer. keep, if set, is the codec
// in use, kept if the offer still has it (a re-INVITE must not switch codecs
// needlessly). The answer has one m= line per offered one, all but the first
// usable audio stream refused with port 0 (RFC 3264 section 6).
func (l *localSDP) answerTo(offer *remoteSDP, keep codec) ([]byte, *negotiation, error) {
	sd := l.base()
	var chosen *negotiation
	var why []string
	for i := range offer.media {
		m := &offer.media[i]
		var n *negotiation
		switch {
		case chosen != nil:
		case m.media != "audio":
		case m.port == 0:
			why = append(why, "audio stream refused by the offerer (port 0)")
		case !m.isRTPAVP():
			why = append(why, fmt.Sprintf("audio profile %s not supported (only RTP/AVP)", m.proto))
		case !m.addr.IsValid():
			return nil, nil, errors.New("media: malformed SDP: audio stream has no connection address (c= line)")
		default:
			n = l.pick(m, keep)
			if n == nil {
				why = append(why, "audio formats "+m.names())
			}
		}
		if n == nil {
			sd.MediaDescriptions = append(sd.MediaDescriptions, refused(m))
			continue
		}
		chosen = n
		fmts := []string{strconv.Itoa(int(n.pt))}
		attrs := []sdp.Attribute{rtpmapAttr(n.pt, n.codec.String())}
		if n.dtmfPT >= 0 {
			fmts = append(fmts, strconv.Itoa(n.dtmfPT))
			attrs = append(attrs, rtpmapAttr(uint8(n.dtmfPT), "telephone-event"),
				sdp.NewAttribute("fmtp", strconv.Itoa(n.dtmfPT)+" 0-15"))
		}
		attrs = append(attrs, sdp.NewAttribute("ptime", "20"), sdp.NewPropertyAttribute(n.our.String()))
		sd.MediaDescriptions = append(sd.MediaDescriptions, audioSection(l.port, fmts, attrs))
	}
	if chosen == nil {
		if len(why) == 0 {
			why = append(why, "no audio stream")
		}
		return nil, nil, fmt.Errorf("%w: %s", ErrNoCommonCodec, strings.Join(why, "; "))
	}
	body, err := sd.Marshal()
	if err != nil {
		return nil, nil, fmt.Errorf("media: write SDP answer: %w", err)
	}
	return body, chosen, nil
}

// refused is the answer's m= line declining a stream.
func refused(m *mediaDesc) *sdp.MediaDescription {
	fmts := m.formats
	if len(fmts) == 0 {
		fmts = []string{"0"}
	}
	var protos []string
	for p := range strings.SplitSeq(m.proto, "/") {
		protos = append(protos, p)
	}
	return &sdp.MediaDescription{MediaName: sdp.MediaName{Media: m.media, Port: sdp.RangedPort{Value: 0}, Protos: protos, Formats: fmts}}
}

// pick chooses our codec from an offered audio stream: the kept one if
// offered, else the first of ours, in our order of preference, that the
// offer has. nil if none.
func (l *localSDP) pick(m *mediaDesc, keep codec) *negotiation {
	fs := m.understood()
	n := &negotiation{dtmfPT: -1}
	for _, f := range fs {
		if f.event && n.dtmfPT < 0 {
			n.dtmfPT = int(f.pt)
		}
	}
	prefs := l.codecs
	if keep != noCodec {
		prefs = append([]codec{keep}, l.codecs...)
	}
	for _, c := range prefs {
		for _, f := range fs {
			if f.codec == c && slices.Contains(l.codecs, c) {
				n.codec, n.pt = c, f.pt
				n.recv[f.pt] = c
				n.setDirection(m, m.dir.reverse())
				return n
			}
		}
	}
	return nil
}

// setDirection fills in addresses and what flows, given the remote stream
// and the direction we declare.
func (n *negotiation) setDirection(m *mediaDesc, our direction) {
	n.remote, n.rtcp = m.endpoints()
	n.our = our
	// c=0.0.0.0 is the old (RFC 2543) way of putting a call on hold.
	oldHold := m.addr.IsUnspecified()
	n.send = our.sends() && !oldHold && m.port != 0
	n.held = oldHold || m.dir == sendOnly || m.dir == inactive
	n.expect = m.dir == sendRecv && !oldHold
}

// answered applies a remote answer to our offer.
func (l *localSDP) answered(ans *remoteSDP) (*negotiation, error) {
	var m *mediaDesc
	for i := range ans.media {
		if ans.media[i].media == "audio" {
			m = &ans.media[i]
			break
		}
	}
	switch {
	case m == nil:
		return nil, fmt.Errorf("%w: the answer has no audio stream", ErrNoCommonCodec)
	case m.port == 0:
		return nil, fmt.Errorf("%w: the answer refused the audio stream (port 0)", ErrNoCommonCodec)
	case !m.addr.IsValid():
		return nil, errors.New("media: malformed SDP: the answer's audio stream has no connection address (c= line)")
	}
	n := &negotiation{dtmfPT: -1}
	for _, f := range m.understood() {
		switch {
		case f.event:
			if n.dtmfPT < 0 {
				n.dtmfPT = int(f.pt)
			}
		case slices.Contains(l.codecs, f.codec):
			// The answerer may send any codec it listed; we send the first.
			n.recv[f.pt] = f.codec
			if n.codec == noCodec {
				n.codec, n.pt = f.codec, f.pt
			}
		}
	}
	if n.codec == noCodec {
		return nil, fmt.Errorf("%w: the answer has none of the codecs we offered (it has %s)", ErrNoCommonCodec, m.names())
	}
	n.setDirection(m, m.dir.reverse())
	return n, nil
}
