package sip

import (
	"iter"
	"strings"

	"github.com/emiago/sipgo/sip"
)

// maxPartyField bounds what a caller can put on the phone's display.
const maxPartyField = 64

// partyOf works out who is calling. From is the default. When the request
// came from our own server, its asserted identity wins: P-Asserted-Identity
// (RFC 3325), else Remote-Party-ID (the older draft many providers still
// send). Anyone else could write those headers, so they count only from the
// server. Privacy (RFC 3323/3325), an RPID privacy parameter or an anonymous
// From (the caller's own wish, which an asserted identity does not undo)
// make the caller Withheld, and then nothing else is shown.
func partyOf(req *sip.Request, fromServer bool) Party {
	var p Party
	if f := req.From(); f != nil {
		p.Number, p.Name = uriNumber(f.Address), f.DisplayName
		if isAnonymous(f.Address) {
			p.Withheld = true
		}
	}
	withheld := privacyWithholds(headerValue(req, "Privacy"))
	if fromServer {
		if num, name, ok := assertedIdentity(req); ok {
			p.Number = num
			if name != "" {
				p.Name = name
			}
		} else if num, name, priv, ok := remotePartyID(req); ok {
			p.Number = num
			if name != "" {
				p.Name = name
			}
			withheld = withheld || priv
		}
	}
	if withheld || p.Withheld || strings.EqualFold(p.Number, "anonymous") {
		return Party{Withheld: true}
	}
	p.Number = clip(p.Number)
	p.Name = clip(strings.TrimSpace(p.Name))
	return p
}

func clip(s string) string {
	if len(s) > maxPartyField {
		s = s[:maxPartyField]
	}
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return -1
		}
		return r
	}, s)
}

// privacyWithholds reads a Privacy header: "id" (RFC 3325), "user" and
// "header" (RFC 3323) all ask not to reveal the caller.
func privacyWithholds(v string) bool {
	for _, tok := range strings.FieldsFunc(strings.ToLower(v), func(r rune) bool { return r == ';' || r == ',' || r == ' ' }) {
		switch tok {
		case "id", "user", "header":
			return true
		}
	}
	return false
}

func isAnonymous(u sip.Uri) bool {
	return strings.EqualFold(u.User, "anonymous") || strings.EqualFold(u.Host, "anonymous.invalid")
}

// uriNumber is the telephone number a URI names: the user part of a SIP
// URI, or the number of a tel: URI.
func uriNumber(u sip.Uri) string {
	switch strings.ToLower(u.Scheme) {
	case "sip", "sips", "":
		return uriUser(u)
	case "tel":
		n := u.Raw()
		if i := strings.IndexByte(n, ';'); i >= 0 {
			n = n[:i]
		}
		return unescape(n)
	}
	return ""
}

// assertedIdentity takes the first usable entry of P-Asserted-Identity.
func assertedIdentity(req *sip.Request) (number, name string, ok bool) {
	for a := range nameAddrs(req, "P-Asserted-Identity") {
		if n := uriNumber(a.uri); n != "" {
			return n, a.display, true
		}
	}
	return "", "", false
}

// remotePartyID reads Remote-Party-ID (draft-ietf-sip-privacy-04), with its
// privacy parameter.
func remotePartyID(req *sip.Request) (number, name string, private, ok bool) {
	for a := range nameAddrs(req, "Remote-Party-ID") {
		if party, has := param(a.params, "party"); has && !strings.EqualFold(party, "calling") {
			continue
		}
		n := uriNumber(a.uri)
		if n == "" {
			continue
		}
		priv, _ := param(a.params, "privacy")
		priv = strings.ToLower(priv)
		return n, a.display, priv == "full" || priv == "uri" || priv == "name", true
	}
	return "", "", false, false
}

// nameAddr is one parsed entry of an identity header.
type nameAddr struct {
	display string
	uri     sip.Uri
	params  sip.HeaderParams
}

// nameAddrs yields, in order, every entry of every header called name that
// parses; entries that do not parse are passed over.
func nameAddrs(req *sip.Request, name string) iter.Seq[nameAddr] {
	return func(yield func(nameAddr) bool) {
		for _, h := range req.GetHeaders(name) {
			for _, v := range splitAddrList(h.Value()) {
				a := nameAddr{params: sip.NewParams()}
				dn, err := sip.ParseAddressValue(v, &a.uri, &a.params)
				if err != nil {
					continue
				}
				a.display = dn
				if !yield(a) {
					return
				}
			}
		}
	}
}

// splitAddrList splits a header value holding several name-addrs at the
// commas that are outside quotes and angle brackets.
func splitAddrList(v string) []string {
	var out []string
	depth, quoted, start := 0, false, 0
	for i := 0; i < len(v); i++ {
		switch c := v[i]; {
		case c == '\\' && quoted:
			i++
		case c == '"':
			quoted = !quoted
		case quoted:
		case c == '<':
			depth++
		case c == '>':
			if depth > 0 {
				depth--
			}
		case c == ',' && depth == 0:
			out = append(out, strings.TrimSpace(v[start:i]))
			start = i + 1
		}
	}
	if s := strings.TrimSpace(v[start:]); s != "" {
		out = append(out, s)
	}
	return out
}
