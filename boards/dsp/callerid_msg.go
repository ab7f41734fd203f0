package dsp

import (
	"errors"
	"fmt"
	"time"

	"github.com/tipring/tipring/boards"
)

// Message and parameter types shared by Telcordia GR-30-CORE and ETSI
// EN 300 659-3: the numbering is the same on both sides of the Atlantic, which
// is why one encoder serves Bell 202 and V.23 alike.
const (
	cidMsgSDMF = 0x04 // single data message: date/time + number (GR-30)
	cidMsgMDMF = 0x80 // multiple data message / ETSI call setup

	cidParamDateTime      = 0x01 // MMDDHHMM, 8 ASCII digits
	cidParamNumber        = 0x02 // calling line identity, ASCII digits
	cidParamNumberAbsent  = 0x04 // reason for absence of number: 'O' or 'P'
	cidParamName          = 0x07 // calling name, ASCII
	cidParamNameAbsent    = 0x08 // reason for absence of name: 'O' or 'P'
	cidReasonUnavailable  = 'O'  // out of area / not provided by the network
	cidReasonPrivate      = 'P'  // the caller withheld it
	cidDateTimeLen        = 8
	cidMaxNumberLen       = 20 // ETSI EN 300 659-3 limit; GR-30 phones show 10-15
	cidMaxNameLen         = 50 // ETSI EN 300 659-3 limit; GR-30 phones show 15
	cidMaxMessageLen      = 255 + 3
	cidMessageOverheadLen = 3 // type, length, checksum
)

// Errors from DecodeCallerIDMessage and the encoders. They are wrapped with
// the details (which byte, which parameter), so test with errors.Is.
var (
	// ErrCallerIDTruncated: the message is shorter than its length byte says.
	ErrCallerIDTruncated = errors.New("caller ID message truncated")
	// ErrCallerIDTrailing: bytes follow the checksum.
	ErrCallerIDTrailing = errors.New("caller ID message has bytes after the checksum")
	// ErrCallerIDChecksum: the bytes do not sum to zero modulo 256.
	ErrCallerIDChecksum = errors.New("caller ID checksum mismatch")
	// ErrCallerIDMessageType: neither SDMF (0x04) nor MDMF call setup (0x80).
	ErrCallerIDMessageType = errors.New("unsupported caller ID message type")
	// ErrCallerIDParameter: a parameter is truncated, repeated, of the wrong
	// length or holds characters its type does not allow.
	ErrCallerIDParameter = errors.New("malformed caller ID parameter")
	// ErrCallerIDEmpty: there is nothing to present (no number, name, reason
	// or date).
	ErrCallerIDEmpty = errors.New("caller ID carries nothing")
)

// EncodeSDMF builds a Bell single data message: date/time and the number, or
// 'P' (withheld) or 'O' (unavailable) in its place. SDMF has no room for a
// name, so cid.Name is not sent. The date is mandatory in SDMF; a zero
// cid.Time is an error. A caller without a number who is not marked withheld
// is sent as unavailable, since SDMF has no way to say nothing.
func EncodeSDMF(cid boards.CallerID) ([]byte, error) {
	if cid.Time.IsZero() {
		return nil, fmt.Errorf("encode SDMF: %w: SDMF requires the date and time", ErrCallerIDEmpty)
	}
	var who []byte
	switch {
	case cid.Withheld:
		who = []byte{cidReasonPrivate}
	case cid.Number != "":
		if err := cidCheckNumber(cid.Number); err != nil {
			return nil, fmt.Errorf("encode SDMF: %w", err)
		}
		who = []byte(cid.Number)
	default:
		who = []byte{cidReasonUnavailable}
	}
	msg := make([]byte, 0, cidMessageOverheadLen+cidDateTimeLen+len(who))
	msg = append(msg, cidMsgSDMF, byte(cidDateTimeLen+len(who)))
	msg = cidAppendDateTime(msg, cid.Time)
	msg = append(msg, who...)
	return append(msg, cidChecksum(msg)), nil
}

// EncodeMDMF builds an MDMF (GR-30) / call setup (ETSI EN 300 659-3) message:
// date/time when cid.Time is set, then the number or the reason it is
// absent, then the name or the reason it is absent, then the checksum.
//
// A withheld caller is sent as 'P' for both number and name even if they
// were given: privacy wins over whatever the caller of this function knew.
// Otherwise an empty number (or name) with Unavailable set is sent as 'O',
// and an empty one without it is left out. Names are sent as printable ASCII,
// other characters become '?', and long names are cut to 50 characters,
// because phones cannot show more; a number must be 1 to 20 digits.
func EncodeMDMF(cid boards.CallerID) ([]byte, error) {
	msg := make([]byte, 2, cidMessageOverheadLen+2+cidDateTimeLen+2+cidMaxNumberLen+2+cidMaxNameLen)
	msg[0] = cidMsgMDMF
	if !cid.Time.IsZero() {
		msg = append(msg, cidParamDateTime, cidDateTimeLen)
		msg = cidAppendDateTime(msg, cid.Time)
	}
	switch {
	case cid.Withheld:
		msg = append(msg, cidParamNumberAbsent, 1, cidReasonPrivate)
	case cid.Number != "":
		if err := cidCheckNumber(cid.Number); err != nil {
			return nil, fmt.Errorf("encode MDMF: %w", err)
		}
		msg = append(msg, cidParamNumber, byte(len(cid.Number)))
		msg = append(msg, cid.Number...)
	case cid.Unavailable:
		msg = append(msg, cidParamNumberAbsent, 1, cidReasonUnavailable)
	}
	switch {
	case cid.Withheld:
		msg = append(msg, cidParamNameAbsent, 1, cidReasonPrivate)
	case cid.Name != "":
		at := len(msg)
		msg = append(msg, cidParamName, 0)
		msg = cidAppendName(msg, cid.Name)
		msg[at+1] = byte(len(msg) - at - 2)
	case cid.Unavailable:
		msg = append(msg, cidParamNameAbsent, 1, cidReasonUnavailable)
	}
	if len(msg) == 2 {
		return nil, fmt.Errorf("encode MDMF: %w: no date, number, name or reason for absence", ErrCallerIDEmpty)
	}
	msg[1] = byte(len(msg) - 2)
	return append(msg, cidChecksum(msg)), nil
}

// DecodeCallerIDMessage decodes one SDMF or MDMF message: type, length,
// body, checksum, exactly. Unknown MDMF parameters are skipped, as GR-30 and
// EN 300 659-3 ask of a receiver, so that newer networks do not blank the
// display. The message carries no year: Time is in year 0 (a leap year, so
// 29 February survives), UTC; see CallerIDTimeNear for giving it a year.
//
// When the number is withheld the name is not shown either, and a reason for
// absence of the name is only used when nothing was said about the number:
// boards.CallerID has one pair of flags for both.
func DecodeCallerIDMessage(msg []byte) (boards.CallerID, error) {
	var cid boards.CallerID
	if len(msg) < cidMessageOverheadLen {
		return cid, fmt.Errorf("%w: %d bytes, a message has at least %d", ErrCallerIDTruncated, len(msg), cidMessageOverheadLen)
	}
	want := int(msg[1]) + cidMessageOverheadLen
	if len(msg) < want {
		return cid, fmt.Errorf("%w: length byte says %d bytes of body, %d present", ErrCallerIDTruncated, msg[1], len(msg)-cidMessageOverheadLen)
	}
	if len(msg) > want {
		return cid, fmt.Errorf("%w: %d extra bytes", ErrCallerIDTrailing, len(msg)-want)
	}
	if sum := cidSum(msg); sum != 0 {
		return cid, fmt.Errorf("%w: bytes sum to 0x%02x, not 0x00 (checksum byte 0x%02x, expected 0x%02x)",
			ErrCallerIDChecksum, sum, msg[len(msg)-1], cidChecksum(msg[:len(msg)-1]))
	}
	body := msg[2 : len(msg)-1]
	switch msg[0] {
	case cidMsgSDMF:
		return cidDecodeSDMF(body)
	case cidMsgMDMF:
		return cidDecodeMDMF(body)
	}
	return cid, fmt.Errorf("%w: 0x%02x (want SDMF 0x04 or MDMF 0x80)", ErrCallerIDMessageType, msg[0])
}

func cidDecodeSDMF(body []byte) (boards.CallerID, error) {
	var cid boards.CallerID
	if len(body) < cidDateTimeLen+1 {
		return cid, fmt.Errorf("%w: SDMF body of %d bytes, needs date/time and a number or reason", ErrCallerIDParameter, len(body))
	}
	t, err := cidParseDateTime(body[:cidDateTimeLen])
	if err != nil {
		return cid, err
	}
	cid.Time = t
	who := body[cidDateTimeLen:]
	if len(who) == 1 && (who[0] == cidReasonPrivate || who[0] == cidReasonUnavailable) {
		cid.Withheld = who[0] == cidReasonPrivate
		cid.Unavailable = who[0] == cidReasonUnavailable
		return cid, nil
	}
	if err := cidCheckNumber(string(who)); err != nil {
		return boards.CallerID{}, err
	}
	cid.Number = string(who)
	return cid, nil
}

func cidDecodeMDMF(body []byte) (boards.CallerID, error) {
	var (
		cid                   boards.CallerID
		seen                  [256]bool
		numReason, nameReason byte
		name                  string
	)
	if len(body) == 0 {
		return cid, fmt.Errorf("%w: MDMF message without parameters", ErrCallerIDEmpty)
	}
	for i := 0; i < len(body); {
		if len(body)-i < 2 {
			return boards.CallerID{}, fmt.Errorf("%w: parameter 0x%02x at offset %d has no length byte", ErrCallerIDParameter, body[i], i+2)
		}
		typ, n := body[i], int(body[i+1])
		if len(body)-i-2 < n {
			return boards.CallerID{}, fmt.Errorf("%w: parameter 0x%02x says %d bytes, %d left", ErrCallerIDParameter, typ, n, len(body)-i-2)
		}
		val := body[i+2 : i+2+n]
		i += 2 + n
		known := typ == cidParamDateTime || typ == cidParamNumber || typ == cidParamNumberAbsent ||
			typ == cidParamName || typ == cidParamNameAbsent
		if !known {
			continue
		}
		if seen[typ] {
			return boards.CallerID{}, fmt.Errorf("%w: parameter 0x%02x appears twice", ErrCallerIDParameter, typ)
		}
		seen[typ] = true
		var err error
		switch typ {
		case cidParamDateTime:
			cid.Time, err = cidParseDateTime(val)
		case cidParamNumber:
			err = cidCheckNumber(string(val))
			cid.Number = string(val)
		case cidParamNumberAbsent:
			numReason, err = cidParseReason(typ, val)
		case cidParamName:
			err = cidCheckName(val)
			name = string(val)
		case cidParamNameAbsent:
			nameReason, err = cidParseReason(typ, val)
		}
		if err != nil {
			return boards.CallerID{}, err
		}
	}
	if seen[cidParamNumber] && seen[cidParamNumberAbsent] {
		return boards.CallerID{}, fmt.Errorf("%w: both a number and a reason for its absence", ErrCallerIDParameter)
	}
	if seen[cidParamName] && seen[cidParamNameAbsent] {
		return boards.CallerID{}, fmt.Errorf("%w: both a name and a reason for its absence", ErrCallerIDParameter)
	}
	reason := numReason
	if !seen[cidParamNumber] && !seen[cidParamNumberAbsent] {
		reason = nameReason
	}
	cid.Withheld = reason == cidReasonPrivate
	cid.Unavailable = reason == cidReasonUnavailable
	if !cid.Withheld {
		cid.Name = name
	}
	if cid.Number == "" && cid.Name == "" && !cid.Withheld && !cid.Unavailable && cid.Time.IsZero() {
		return boards.CallerID{}, fmt.Errorf("%w: no date, number, name or reason for absence", ErrCallerIDEmpty)
	}
	return cid, nil
}

// CallerIDTimeNear gives a decoded caller-ID time (which has no year) the
// year that puts it nearest to now, so a call at 23:59 on 31 December
// received just after midnight is dated last year. Times that already carry a
// year other than 0 are returned unchanged. The result is in now's location.
func CallerIDTimeNear(t, now time.Time) time.Time {
	if t.IsZero() || t.Year() != 0 {
		return t
	}
	// Four years back always include a leap year for 29 February.
	best := time.Time{}
	for y := now.Year() - 4; y <= now.Year()+1; y++ {
		c := time.Date(y, t.Month(), t.Day(), t.Hour(), t.Minute(), 0, 0, now.Location())
		if c.Month() != t.Month() { // 29 February outside a leap year
			continue
		}
		if best.IsZero() || cidAbs(c.Sub(now)) < cidAbs(best.Sub(now)) {
			best = c
		}
	}
	return best
}

func cidAbs(d time.Duration) time.Duration {
	if d < 0 {
		return -d
	}
	return d
}

func cidParseReason(typ byte, val []byte) (byte, error) {
	if len(val) != 1 || (val[0] != cidReasonPrivate && val[0] != cidReasonUnavailable) {
		return 0, fmt.Errorf("%w: reason for absence (0x%02x) must be 'O' or 'P', got %q", ErrCallerIDParameter, typ, val)
	}
	return val[0], nil
}

func cidCheckNumber(s string) error {
	if s == "" || len(s) > cidMaxNumberLen {
		return fmt.Errorf("%w: number must be 1 to %d digits, got %d", ErrCallerIDParameter, cidMaxNumberLen, len(s))
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return fmt.Errorf("%w: number %q has %q at %d; only digits can be sent", ErrCallerIDParameter, s, s[i], i)
		}
	}
	return nil
}

func cidCheckName(b []byte) error {
	if len(b) == 0 || len(b) > cidMaxNameLen {
		return fmt.Errorf("%w: name must be 1 to %d characters, got %d", ErrCallerIDParameter, cidMaxNameLen, len(b))
	}
	for i, c := range b {
		if c < 0x20 || c > 0x7e {
			return fmt.Errorf("%w: name has byte 0x%02x at %d, not printable ASCII", ErrCallerIDParameter, c, i)
		}
	}
	return nil
}

// cidAppendName appends s as printable ASCII, at most cidMaxNameLen bytes.
func cidAppendName(dst []byte, s string) []byte {
	n := 0
	for _, r := range s {
		if n == cidMaxNameLen {
			break
		}
		if r < 0x20 || r > 0x7e {
			r = '?'
		}
		dst = append(dst, byte(r))
		n++
	}
	return dst
}

func cidAppendDateTime(dst []byte, t time.Time) []byte {
	for _, v := range [4]int{int(t.Month()), t.Day(), t.Hour(), t.Minute()} {
		dst = append(dst, byte('0'+v/10), byte('0'+v%10))
	}
	return dst
}

func cidParseDateTime(b []byte) (time.Time, error) {
	if len(b) != cidDateTimeLen {
		return time.Time{}, fmt.Errorf("%w: date/time must be %d digits MMDDHHMM, got %d bytes", ErrCallerIDParameter, cidDateTimeLen, len(b))
	}
	var v [4]int
	for i, c := range b {
		if c < '0' || c > '9' {
			return time.Time{}, fmt.Errorf("%w: date/time %q is not all digits", ErrCallerIDParameter, b)
		}
		v[i/2] = v[i/2]*10 + int(c-'0')
	}
	month, day, hour, minute := v[0], v[1], v[2], v[3]
	t := time.Date(0, time.Month(month), day, hour, minute, 0, 0, time.UTC)
	if month < 1 || month > 12 || day < 1 || t.Day() != day || hour > 23 || minute > 59 {
		return time.Time{}, fmt.Errorf("%w: date/time %q is not a valid MMDDHHMM", ErrCallerIDParameter, b)
	}
	return t, nil
}

func cidSum(b []byte) byte {
	var s byte
	for _, c := range b {
		s += c
	}
	return s
}

// cidChecksum is the two's complement of the byte sum, so that the sum of
// the whole message including the checksum is zero modulo 256.
func cidChecksum(b []byte) byte { return -cidSum(b) }
