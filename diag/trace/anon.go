package trace

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"regexp"
	"strings"
)

// Tokenizer replaces phone numbers with stable tokens. One bundle shares one
// Tokenizer across all its files, so the same number reads as the same token
// in sip-trace.txt, calls.csv and the summary. The token is a keyed hash:
// phone numbers are few enough to enumerate, so without a secret key an
// unkeyed hash could be reversed by hashing every number.
type Tokenizer struct {
	key []byte
}

// NewTokenizer returns a Tokenizer keyed with key. An empty key asks for a
// random one, which is what a bundle wants: tokens consistent within it and
// meaningless outside it.
func NewTokenizer(key []byte) *Tokenizer {
	if len(key) == 0 {
		key = make([]byte, 32)
		rand.Read(key) // never fails since Go 1.24: it crashes the program instead
	}
	return &Tokenizer{key: append([]byte(nil), key...)}
}

// Number returns the token for the phone number s, e.g. "num-3f2a91c0".
// Only the digits count, so "+1 (555) 010-0199" and "+15550100199" get the
// same token. A string without digits is returned unchanged. Safe for
// concurrent use.
func (t *Tokenizer) Number(s string) string {
	digits := strings.Map(keepDigits, s)
	if digits == "" {
		return s
	}
	if t == nil {
		// No key, no safe token: hide the number without a correlation.
		return "num-redacted"
	}
	mac := hmac.New(sha256.New, t.key)
	mac.Write([]byte(digits))
	return "num-" + hex.EncodeToString(mac.Sum(nil)[:4])
}

var (
	// sipUserRe finds an all-digit user part of a sip: or sips: URI. The
	// user must end at '@', or at ';' or ':' that lead on to it (user
	// parameters, the password); a host never ends that way, so IP
	// addresses stay.
	sipUserRe = regexp.MustCompile(`(?i)\bsips?:(\+?[0-9][0-9-]*)[@;:]`)
	// telRe finds the number of a tel: URI, visual separators included.
	telRe = regexp.MustCompile(`(?i)\btel:(\+?[0-9](?:[0-9().-]*[0-9])?)`)
	// sdpOriginRe finds an all-digit user name in an SDP o= line, where
	// some phones put their number.
	sdpOriginRe = regexp.MustCompile(`^o=(\+?[0-9]+) `)
	// digitRunRe finds number-like runs in display names; only runs of
	// five digits or more are numbers worth hiding.
	digitRunRe = regexp.MustCompile(`\+?[0-9](?:[0-9 ().-]*[0-9])?`)
)

// identityHeaders carry a caller's or callee's number in their display names.
var identityHeaders = map[string]bool{
	"from": true, "f": true, "to": true, "t": true, "contact": true, "m": true,
	"p-asserted-identity": true, "p-preferred-identity": true, "p-called-party-id": true,
	"remote-party-id": true, "diversion": true, "history-info": true,
	"referred-by": true, "b": true, "refer-to": true, "r": true,
}

// anonymizeLine replaces the phone numbers in one line of a redacted
// message. Display names go first: their tokens then hold no "sip:" or
// "tel:" prefix for the URI rules to match again.
func (r *redactor) anonymizeLine(l string) string {
	if name, value, ok := strings.Cut(l, ":"); ok && identityHeaders[strings.ToLower(strings.TrimSpace(name))] {
		l = name + ":" + r.displayNames(value)
	}
	if strings.HasPrefix(l, "o=") {
		l = replaceGroup(sdpOriginRe, l, r.tokens.Number)
	}
	lower := asciiLower(l)
	if strings.Contains(lower, "sip") {
		l = replaceGroup(sipUserRe, l, r.tokens.Number)
	}
	if strings.Contains(lower, "tel:") {
		l = replaceGroup(telRe, l, r.tokens.Number)
	}
	return l
}

// displayNames tokenizes runs of five or more digits in the display names
// of an address list ("Name" <uri>, …). An address without angle brackets
// has no display name: its digits are the URI's, handled by the URI rules.
func (r *redactor) displayNames(value string) string {
	var sb strings.Builder
	for _, item := range splitAddresses(value) {
		lt := indexOutsideQuotes(item, '<')
		if lt < 0 {
			sb.WriteString(item)
			continue
		}
		sb.WriteString(digitRunRe.ReplaceAllStringFunc(item[:lt], func(run string) string {
			if len(strings.Map(keepDigits, run)) < 5 {
				return run
			}
			return r.tokens.Number(run)
		}))
		sb.WriteString(item[lt:])
	}
	return sb.String()
}

func keepDigits(r rune) rune {
	if '0' <= r && r <= '9' {
		return r
	}
	return -1
}

// splitAddresses cuts an address list at the commas outside quotes and
// angle brackets, keeping the commas with the item before them.
func splitAddresses(s string) []string {
	var (
		out     []string
		inQuote bool
		escaped bool
		angle   int
		start   int
	)
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case escaped:
			escaped = false
		case inQuote && c == '\\':
			escaped = true
		case c == '"':
			inQuote = !inQuote
		case inQuote:
		case c == '<':
			angle++
		case c == '>' && angle > 0:
			angle--
		case c == ',' && angle == 0:
			out = append(out, s[start:i+1])
			start = i + 1
		}
	}
	return append(out, s[start:])
}

func indexOutsideQuotes(s string, target byte) int {
	inQuote, escaped := false, false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case escaped:
			escaped = false
		case inQuote && c == '\\':
			escaped = true
		case c == '"':
			inQuote = !inQuote
		case !inQuote && c == target:
			return i
		}
	}
	return -1
}

// replaceGroup replaces the first capture group of every match of re in s.
func replaceGroup(re *regexp.Regexp, s string, f func(string) string) string {
	matches := re.FindAllStringSubmatchIndex(s, -1)
	if matches == nil {
		return s
	}
	var sb strings.Builder
	last := 0
	for _, m := range matches {
		sb.WriteString(s[last:m[2]])
		sb.WriteString(f(s[m[2]:m[3]]))
		last = m[3]
	}
	sb.WriteString(s[last:])
	return sb.String()
}
