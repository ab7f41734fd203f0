package trace

import (
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"unicode"

	"github.com/emiago/sipgo/sip"
)

const (
	redacted = "<redacted>"
	// removedLine stands in for a line the blunt redaction dropped. It has
	// no colon, so nothing downstream can mistake it for a header.
	removedLine = "<line removed, it may hold a credential>"
)

// Authorization schemes worth keeping in front of the redacted value: they
// tell support which kind of authentication was tried. Anything else in that
// position might be a bare token, so it goes too.
var knownSchemes = map[string]bool{"digest": true, "basic": true, "bearer": true}

// Headers whose names contain "auth" but that carry challenges or their
// acknowledgements, not credentials. The nonce and realm help support read a
// failing registration.
var challengeHeaders = map[string]bool{
	"www-authenticate":          true,
	"proxy-authenticate":        true,
	"authentication-info":       true,
	"proxy-authentication-info": true,
}

var (
	// paramRe finds name=value pairs whose name says secret, in URIs,
	// header parameters and bodies alike.
	paramRe = regexp.MustCompile(`(?i)\b([\w.-]*(?:password|passwd|pwd|pw|pass|token|secret|auth|authorization|apikey|api_key|credentials?))(\s*=\s*)("[^"]*"?|[^;&,\s>"'?]*)`)
	// userinfoRe finds the password of sip:user:password@host, which RFC
	// 3261 deprecates and some devices still send.
	userinfoRe = regexp.MustCompile(`(?i)\b(sips?:[^:@\s;>,"<]*):([^@\s;>,"<]+)@`)
	// inlineRe finds SDES-SRTP master keys (a=crypto:… inline:KEY): with
	// them a capture of the media could be decrypted.
	inlineRe = regexp.MustCompile(`(?i)(\binline:)([^\s|;]+)`)
	// redactedAuthRe is what an Authorization value may look like after
	// redaction.
	redactedAuthRe = regexp.MustCompile(`^(?:[A-Za-z]+ )?` + regexp.QuoteMeta(redacted) + `$`)
	// startLineRe recognises a request or status line in a message that
	// sipgo could not parse, so the blunt redaction keeps it.
	startLineRe = regexp.MustCompile(`^(?:[A-Za-z]+ \S+ SIP/\d\.\d|SIP/\d\.\d \d{3}(?: .*)?)$`)
)

type redactor struct {
	anonymize bool
	tokens    *Tokenizer
	// variants are the secrets and their escaped forms, longest first so a
	// longer form is replaced before a shorter one inside it.
	variants []string
}

func newRedactor(opts Options) *redactor {
	r := &redactor{anonymize: opts.Anonymize, tokens: opts.Tokens}
	if r.anonymize && r.tokens == nil {
		r.tokens = NewTokenizer(nil)
	}
	seen := map[string]bool{}
	for _, s := range opts.Secrets {
		q := url.QueryEscape(s)
		// As sent, as a form or query encodes it, as a path does, as
		// JavaScript's encodeURIComponent does, as the trace shows it.
		for _, v := range []string{s, q, url.PathEscape(s), strings.ReplaceAll(q, "+", "%20"), printable(s)} {
			if v != "" && !seen[v] {
				seen[v] = true
				r.variants = append(r.variants, v)
			}
		}
	}
	sort.Slice(r.variants, func(i, j int) bool { return len(r.variants[i]) > len(r.variants[j]) })
	return r
}

// message redacts one stored message. parsed reports whether sipgo could
// parse it; if not, the line-based fallback did the work.
func (r *redactor) message(raw []byte, truncated bool) (text string, parsed bool) {
	if truncated {
		raw = r.trimSecretPrefix(raw)
	}
	lines, parsed := parsedLines(raw)
	if !parsed {
		lines = fallbackLines(raw)
	}
	for i, l := range lines {
		lines[i] = scrubLine(l)
	}
	text = r.secrets(strings.Join(lines, "\n"))
	if r.anonymize {
		lines = strings.Split(text, "\n")
		for i, l := range lines {
			lines[i] = r.anonymizeLine(l)
		}
		text = r.secrets(strings.Join(lines, "\n"))
	}
	return text, parsed
}

// parsedLines renders a message that sipgo parses, header by header, with
// credentials removed and any body that is not SDP replaced by a note.
func parsedLines(raw []byte) (lines []string, ok bool) {
	// sipgo is fuzzed upstream, but a trace must never take the device
	// down: a panic in the parser just sends the message to the fallback.
	defer func() {
		if recover() != nil {
			lines, ok = nil, false
		}
	}()
	msg, err := sip.ParseMessage(raw)
	if err != nil {
		return nil, false
	}
	var (
		start   string
		headers []sip.Header
	)
	switch m := msg.(type) {
	case *sip.Request:
		if m.Recipient.Password != "" {
			m.Recipient.Password = redacted
		}
		start, headers = m.StartLine(), m.Headers()
	case *sip.Response:
		start, headers = m.StartLine(), m.Headers()
	default:
		return nil, false
	}
	if hasLineBreak(start) {
		return nil, false
	}
	lines = append(lines, start)
	contentType := ""
	for _, h := range headers {
		name, value := h.Name(), h.Value()
		// sipgo splits lines at CR only: a bare LF inside a value would
		// show as a line of its own in the trace. Such a message is not
		// what it seems; let the blunt redaction handle it.
		if hasLineBreak(name) || hasLineBreak(value) {
			return nil, false
		}
		lname := strings.ToLower(strings.TrimSpace(name))
		if lname == "content-type" || lname == "c" {
			contentType = value
		}
		lines = append(lines, name+": "+headerValue(lname, value))
	}
	lines = append(lines, "")
	if body := msg.Body(); len(body) > 0 {
		if isSDP(contentType) {
			lines = append(lines, splitLines(string(body))...)
		} else {
			lines = append(lines, bodyRemoved(len(body), contentType))
		}
	}
	return lines, true
}

// headerValue redacts the value of the header named lname (lower case).
func headerValue(lname, value string) string {
	switch {
	case challengeHeaders[lname]:
		return value
	case strings.Contains(lname, "authorization"):
		scheme, _, _ := strings.Cut(strings.TrimSpace(value), " ")
		if knownSchemes[strings.ToLower(scheme)] {
			return scheme + " " + redacted
		}
		return redacted
	case sensitiveName(lname):
		return redacted
	}
	return value
}

// sensitiveName says a header name suggests a credential (X-Auth-Token,
// P-Secret …).
func sensitiveName(lname string) bool {
	for _, w := range []string{"auth", "token", "secret", "passw", "pwd", "credential"} {
		if strings.Contains(lname, w) {
			return true
		}
	}
	return false
}

// fallbackLines redacts a message sipgo could not parse. Without a parse
// nobody can say for sure where a header ends, so it errs on the side of
// removing: every line whose name mentions auth or another credential word
// goes, with its continuation lines, and the body goes unless a
// Content-Type line says SDP.
func fallbackLines(raw []byte) []string {
	in := splitLines(string(raw))
	var (
		out      []string
		dropping bool
		sdp      bool
	)
	for i, l := range in {
		if l == "" && i > 0 {
			out = append(out, "")
			if sdp {
				for _, b := range in[i+1:] {
					out = append(out, bodyLine(b))
				}
			} else if rest := in[i+1:]; len(rest) > 0 {
				n := len(rest) - 1
				for _, b := range rest {
					n += len(b)
				}
				if n > 0 {
					out = append(out, bodyRemoved(n, ""))
				}
			}
			return out
		}
		if i == 0 && startLineRe.MatchString(l) {
			out = append(out, l)
			continue
		}
		if l != "" && (l[0] == ' ' || l[0] == '\t') && dropping {
			continue
		}
		name, value, hasColon := strings.Cut(l, ":")
		lname := strings.ToLower(strings.TrimSpace(name))
		if strings.Contains(lname, "auth") || sensitiveName(lname) {
			dropping = true
			out = append(out, removedLine)
			continue
		}
		dropping = false
		if hasColon && (lname == "content-type" || lname == "c") && isSDP(value) {
			sdp = true
		}
		out = append(out, l)
	}
	return out
}

// bodyLine applies the fallback's line rule inside an SDP body: SDP lines
// are type=value, so a line that names auth before a colon is not SDP.
func bodyLine(l string) string {
	name, _, _ := strings.Cut(l, ":")
	lname := strings.ToLower(name)
	if strings.Contains(lname, "auth") || sensitiveName(lname) {
		return removedLine
	}
	return l
}

// scrubLine is the last line of defence, applied to every line of either
// path: no control characters, no Authorization value, no password-like
// parameter, no URI password, no SRTP key.
func scrubLine(l string) string {
	l = printable(l)
	if name, value, ok := strings.Cut(l, ":"); ok &&
		strings.Contains(strings.ToLower(name), "authorization") &&
		!redactedAuthRe.MatchString(strings.TrimSpace(value)) {
		return removedLine
	}
	// The substring checks only skip regexps that cannot match: they keep
	// a 200-message snapshot cheap on a small CPU.
	lower := asciiLower(l)
	if strings.Contains(l, "=") {
		l = paramRe.ReplaceAllString(l, "${1}${2}"+redacted)
	}
	if strings.Contains(lower, "sip") && strings.Contains(l, "@") {
		l = userinfoRe.ReplaceAllString(l, "${1}:"+redacted+"@")
	}
	if strings.Contains(lower, "inline:") {
		l = inlineRe.ReplaceAllString(l, "${1}"+redacted)
	}
	return l
}

// secrets replaces every literal secret, ignoring ASCII case.
func (r *redactor) secrets(s string) string {
	for _, v := range r.variants {
		s = replaceFold(s, v, redacted)
	}
	return s
}

// trimSecretPrefix drops the end of a truncated message when it is the
// beginning of a secret: the cut may have split one, and the whole-word
// replacement would then miss its first half.
func (r *redactor) trimSecretPrefix(raw []byte) []byte {
	for _, v := range r.variants {
		for k := min(len(v)-1, len(raw)); k >= 1; k-- {
			if asciiEqualFold(string(raw[len(raw)-k:]), v[:k]) {
				raw = raw[:len(raw)-k]
				break
			}
		}
	}
	return raw
}

func isSDP(contentType string) bool {
	media, _, _ := strings.Cut(contentType, ";")
	return strings.EqualFold(strings.TrimSpace(media), "application/sdp")
}

var mediaTypeRe = regexp.MustCompile(`^[A-Za-z0-9!#$&^_.+-]+/[A-Za-z0-9!#$&^_.+-]+$`)

func bodyRemoved(n int, contentType string) string {
	media, _, _ := strings.Cut(contentType, ";")
	media = strings.TrimSpace(media)
	if !mediaTypeRe.MatchString(media) {
		media = "non-SDP"
	}
	return "<" + strconv.Itoa(n) + "-byte " + media + " body removed>"
}

// splitLines splits at CRLF, lone CR and lone LF alike: a viewer shows each
// as a line break, so redaction must see each as one.
func splitLines(s string) []string {
	var out []string
	for {
		i := strings.IndexAny(s, "\r\n")
		if i < 0 {
			return append(out, s)
		}
		out = append(out, s[:i])
		if s[i] == '\r' && i+1 < len(s) && s[i+1] == '\n' {
			i++
		}
		s = s[i+1:]
	}
}

func hasLineBreak(s string) bool { return strings.ContainsAny(s, "\r\n") }

// printable makes text safe to show: invalid UTF-8 and control characters
// (terminal escapes included) become '?'; tabs stay.
func printable(s string) string {
	s = strings.ToValidUTF8(s, "?")
	return strings.Map(func(r rune) rune {
		if r != '\t' && unicode.IsControl(r) {
			return '?'
		}
		return r
	}, s)
}

// replaceFold replaces every occurrence of old in s, ignoring ASCII case.
// It folds ASCII only, so byte offsets in the folded copy match s.
func replaceFold(s, old, repl string) string {
	if old == "" || len(old) > len(s) {
		return s
	}
	ls, lold := asciiLower(s), asciiLower(old)
	if !strings.Contains(ls, lold) {
		return s
	}
	var sb strings.Builder
	for {
		i := strings.Index(ls, lold)
		if i < 0 {
			sb.WriteString(s)
			return sb.String()
		}
		sb.WriteString(s[:i])
		sb.WriteString(repl)
		s, ls = s[i+len(old):], ls[i+len(old):]
	}
}

func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

func asciiEqualFold(a, b string) bool {
	return len(a) == len(b) && asciiLower(a) == asciiLower(b)
}
