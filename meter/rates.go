package meter

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"

	"github.com/tipring/tipring/internal/order"
)

// Bounds on a rate row. They are far beyond any real tariff; their job is
// to refuse a corrupted table before it can make calls free or absurdly
// dear, and to keep every product in Price far from overflow.
const (
	maxPrefixLen  = 20
	maxRateAmount = 1000 * Unit
	maxIncrement  = 3600  // one hour pulses
	maxDaySeconds = 86400 // min_duration and grace
)

// Table is a validated, immutable rate table. It is safe for concurrent
// use: nothing changes it after NewTable.
//
// Rows are kept sorted by prefix. A lookup binary-searches the number's
// predecessor and then walks up parent links (each row's longest proper
// prefix in the table): the longest matching prefix is always that
// predecessor or one of its ancestors, so a lookup costs one binary search
// plus at most 20 string comparisons and allocates nothing. A digit trie
// is faster still but needs tens of bytes per node, several megabytes for
// a 100,000-row table on a device with little memory.
type Table struct {
	version  string
	currency string
	prefixes []string // sorted; prefixes[i] == rates[i].Prefix
	parent   []int32  // index of the longest proper prefix of prefixes[i], or -1
	rates    []Rate
}

// RowError is a rate row the meter refuses. Row counts from 1 in the order
// the back end sent the rows.
type RowError struct {
	Row    int
	Prefix string // as sent; empty when the prefix itself is unreadable
	Field  string // the JSON name of the bad field
	Msg    string // what is wrong, starting with the field
}

func (e *RowError) Error() string {
	return fmt.Sprintf("meter: rates row %d (prefix %q): %s", e.Row, e.Prefix, e.Msg)
}

func rowErr(row int, prefix, field, format string, args ...any) *RowError {
	return &RowError{Row: row, Prefix: prefix, Field: field, Msg: field + " " + fmt.Sprintf(format, args...)}
}

// NewTable validates every row and builds the lookup structure. One bad row
// refuses the whole table: a partial table would silently block or misprice
// destinations, while the caller can keep its last good table.
func NewTable(version, currency string, rates []Rate) (*Table, error) {
	if err := checkHeader(version, currency); err != nil {
		return nil, err
	}
	if len(rates) == 0 {
		return nil, errors.New("meter: rates: the table has no rows")
	}
	for i := range rates {
		if err := checkRow(i+1, &rates[i]); err != nil {
			return nil, err
		}
	}
	// Sorting (prefix, row) pairs rather than row numbers keeps the
	// comparisons on contiguous memory; the row breaks ties so that a
	// duplicate is always reported against its first occurrence.
	byPrefix := make([]keyedRow, len(rates))
	for i := range rates {
		byPrefix[i] = keyedRow{rates[i].Prefix, int32(i)}
	}
	order.Sort(byPrefix, func(a, b keyedRow) int {
		if c := strings.Compare(a.prefix, b.prefix); c != 0 {
			return c
		}
		return int(a.row - b.row)
	})
	t := &Table{
		version:  version,
		currency: currency,
		prefixes: make([]string, len(rates)),
		parent:   make([]int32, len(rates)),
		rates:    make([]Rate, len(rates)),
	}
	// Sorted prefixes are a depth-first walk of the digit trie, so a stack
	// of the current path gives every row its nearest ancestor.
	var path []int32
	for i, o := range byPrefix {
		r := rates[o.row]
		if i > 0 && t.prefixes[i-1] == r.Prefix {
			return nil, rowErr(int(o.row)+1, r.Prefix, "prefix", "%q: duplicate of row %d", r.Prefix, byPrefix[i-1].row+1)
		}
		for len(path) > 0 && !strings.HasPrefix(r.Prefix, t.prefixes[path[len(path)-1]]) {
			path = path[:len(path)-1]
		}
		t.parent[i] = -1
		if len(path) > 0 {
			t.parent[i] = path[len(path)-1]
		}
		path = append(path, int32(i))
		t.prefixes[i] = r.Prefix
		t.rates[i] = r
	}
	return t, nil
}

type keyedRow struct {
	prefix string
	row    int32
}

func checkHeader(version, currency string) error {
	if version == "" {
		return errors.New("meter: rates: empty version")
	}
	if !ValidCurrency(currency) {
		return fmt.Errorf("meter: rates: currency %q: want three upper-case letters such as \"USD\"", currency)
	}
	return nil
}

// ValidCurrency reports whether s has the shape of an ISO 4217 code, three
// upper-case letters. The rate table, the back-end client and the
// development back end all check currencies with it, so they agree.
func ValidCurrency(s string) bool {
	if len(s) != 3 {
		return false
	}
	for i := range len(s) {
		if s[i] < 'A' || s[i] > 'Z' {
			return false
		}
	}
	return true
}

func checkRow(row int, r *Rate) error {
	p := r.Prefix
	switch {
	case p == "":
		return rowErr(row, p, "prefix", "is empty")
	case len(p) > maxPrefixLen:
		return rowErr(row, p, "prefix", "has %d digits: want at most %d", len(p), maxPrefixLen)
	case !allDigits(p):
		return rowErr(row, p, "prefix", "%q: want digits only", p)
	case strings.TrimSpace(r.Destination) == "":
		return rowErr(row, p, "destination", "is empty")
	}
	for _, m := range []struct {
		field string
		v     Money
	}{{"per_minute", r.PerMinute}, {"connect_fee", r.ConnectFee}, {"access_fee", r.AccessFee}} {
		if m.v < 0 || m.v > maxRateAmount {
			return rowErr(row, p, m.field, "%s: want 0..%s", m.v, maxRateAmount)
		}
	}
	if err := checkSeconds(row, p, "first_increment", int64(r.FirstIncrement), 1, maxIncrement); err != nil {
		return err
	}
	if err := checkSeconds(row, p, "next_increment", int64(r.NextIncrement), 1, maxIncrement); err != nil {
		return err
	}
	if err := checkSeconds(row, p, "min_duration", int64(r.MinDuration), 0, maxDaySeconds); err != nil {
		return err
	}
	return checkSeconds(row, p, "grace", int64(r.Grace), 0, maxDaySeconds)
}

func checkSeconds(row int, prefix, field string, v, lo, hi int64) error {
	if v < lo || v > hi {
		return rowErr(row, prefix, field, "%d: want %d..%d seconds", v, lo, hi)
	}
	return nil
}

// Lookup finds the rate of the longest prefix of number. A leading '+' is
// skipped and the first character that is not a digit ends the number, so
// "+44 20 …" is rated on "44".
func (t *Table) Lookup(number string) (Rate, bool) {
	if t == nil {
		return Rate{}, false
	}
	if number != "" && number[0] == '+' {
		number = number[1:]
	}
	n := 0
	for n < len(number) && number[n] >= '0' && number[n] <= '9' {
		n++
	}
	q := number[:n]
	if q == "" {
		return Rate{}, false
	}
	// The predecessor: the last prefix that sorts at or before q.
	lo, hi := 0, len(t.prefixes)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if t.prefixes[m] <= q {
			lo = m + 1
		} else {
			hi = m
		}
	}
	for i := lo - 1; i >= 0; i = int(t.parent[i]) {
		if p := t.prefixes[i]; len(p) <= len(q) && q[:len(p)] == p {
			return t.rates[i], true
		}
	}
	return Rate{}, false
}

// Version is the back end's version of the table.
func (t *Table) Version() string {
	if t == nil {
		return ""
	}
	return t.version
}

// Currency is the ISO 4217 code every amount in the table is in.
func (t *Table) Currency() string {
	if t == nil {
		return ""
	}
	return t.currency
}

// Len is the number of rows.
func (t *Table) Len() int {
	if t == nil {
		return 0
	}
	return len(t.rates)
}

// Rates returns a copy of the rows sorted by prefix.
func (t *Table) Rates() []Rate {
	if t == nil {
		return nil
	}
	return slices.Clone(t.rates)
}

// rowJSON holds a row's fields undecoded, so that each one is checked by
// itself and a bad one is reported by name.
type rowJSON struct {
	Prefix         json.RawMessage `json:"prefix"`
	Destination    json.RawMessage `json:"destination"`
	PerMinute      json.RawMessage `json:"per_minute"`
	FirstIncrement json.RawMessage `json:"first_increment"`
	NextIncrement  json.RawMessage `json:"next_increment"`
	ConnectFee     json.RawMessage `json:"connect_fee"`
	AccessFee      json.RawMessage `json:"access_fee"`
	AccessFeeLabel json.RawMessage `json:"access_fee_label"`
	MinDuration    json.RawMessage `json:"min_duration"`
	Grace          json.RawMessage `json:"grace"`
}

// ParseRates reads the back end's answer to GET /v1/rates. Unknown fields
// are ignored so that the back end can add some; a field of the wrong
// type, a missing required field (prefix, destination, per_minute,
// first_increment, next_increment) or any row NewTable refuses rejects the
// whole table. A JSON null counts as absent; the optional fields then
// default to zero or empty.
//
// The rows are decoded one at a time from a stream, so a large table never
// exists twice in memory.
func ParseRates(data []byte) (*Table, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := expectDelim(dec, '{'); err != nil {
		return nil, fmt.Errorf("meter: rates: %w", err)
	}
	var (
		version, currency                 string
		seenVersion, seenCurrency, seenRs bool
		rates                             []Rate
	)
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, fmt.Errorf("meter: rates: %w", err)
		}
		key, _ := tok.(string) // a decoder only yields strings as object keys
		switch key {
		case "version", "currency":
			var s string
			if err := dec.Decode(&s); err != nil {
				return nil, fmt.Errorf("meter: rates: %s: want a string: %w", key, err)
			}
			if key == "version" {
				version, seenVersion = s, true
			} else {
				currency, seenCurrency = s, true
			}
		case "rates":
			if seenRs {
				return nil, errors.New(`meter: rates: "rates" appears twice`)
			}
			seenRs = true
			if rates, err = decodeRows(dec); err != nil {
				return nil, err
			}
		default:
			var skip json.RawMessage
			if err := dec.Decode(&skip); err != nil {
				return nil, fmt.Errorf("meter: rates: %s: %w", key, err)
			}
		}
	}
	if err := expectDelim(dec, '}'); err != nil {
		return nil, fmt.Errorf("meter: rates: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("meter: rates: data after the JSON object")
	}
	switch {
	case !seenVersion:
		return nil, errors.New("meter: rates: no version")
	case !seenCurrency:
		return nil, errors.New("meter: rates: no currency")
	case !seenRs:
		return nil, errors.New("meter: rates: no rates")
	}
	if err := checkHeader(version, currency); err != nil {
		return nil, err
	}
	return NewTable(version, currency, rates)
}

func expectDelim(dec *json.Decoder, want json.Delim) error {
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	if d, ok := tok.(json.Delim); !ok || d != want {
		return fmt.Errorf("want %q, got %v", want, tok)
	}
	return nil
}

func decodeRows(dec *json.Decoder) ([]Rate, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, fmt.Errorf("meter: rates: %w", err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '[' {
		return nil, fmt.Errorf("meter: rates: rates: want an array, got %v", tok)
	}
	var rates []Rate
	for row := 1; dec.More(); row++ {
		var rj rowJSON
		if err := dec.Decode(&rj); err != nil {
			var te *json.UnmarshalTypeError
			if errors.As(err, &te) {
				return nil, fmt.Errorf("meter: rates row %d: want an object", row)
			}
			return nil, fmt.Errorf("meter: rates row %d: %w", row, err)
		}
		r, err := rj.rate(row)
		if err != nil {
			return nil, err
		}
		rates = append(rates, r)
	}
	if _, err := dec.Token(); err != nil { // the closing ']'
		return nil, fmt.Errorf("meter: rates: %w", err)
	}
	return rates, nil
}

// rate decodes and checks the types of the row's fields; NewTable checks
// their values.
func (rj *rowJSON) rate(row int) (Rate, error) {
	var r Rate
	var err error
	if r.Prefix, err = jsonString(row, "", "prefix", rj.Prefix, true); err != nil {
		return r, err
	}
	p := r.Prefix
	if r.Destination, err = jsonString(row, p, "destination", rj.Destination, true); err != nil {
		return r, err
	}
	if r.AccessFeeLabel, err = jsonString(row, p, "access_fee_label", rj.AccessFeeLabel, false); err != nil {
		return r, err
	}
	if r.PerMinute, err = jsonMoney(row, p, "per_minute", rj.PerMinute, true); err != nil {
		return r, err
	}
	if r.ConnectFee, err = jsonMoney(row, p, "connect_fee", rj.ConnectFee, false); err != nil {
		return r, err
	}
	if r.AccessFee, err = jsonMoney(row, p, "access_fee", rj.AccessFee, false); err != nil {
		return r, err
	}
	if r.FirstIncrement, err = jsonSeconds(row, p, "first_increment", rj.FirstIncrement, true, 1, maxIncrement); err != nil {
		return r, err
	}
	if r.NextIncrement, err = jsonSeconds(row, p, "next_increment", rj.NextIncrement, true, 1, maxIncrement); err != nil {
		return r, err
	}
	if r.MinDuration, err = jsonSeconds(row, p, "min_duration", rj.MinDuration, false, 0, maxDaySeconds); err != nil {
		return r, err
	}
	if r.Grace, err = jsonSeconds(row, p, "grace", rj.Grace, false, 0, maxDaySeconds); err != nil {
		return r, err
	}
	return r, nil
}

func absent(raw json.RawMessage) bool {
	return len(raw) == 0 || string(raw) == "null"
}

// shown quotes a raw JSON value for an error message, cut short so that a
// hostile table cannot make the log line huge.
func shown(raw json.RawMessage) string {
	const most = 40
	if len(raw) > most {
		return string(raw[:most]) + "…"
	}
	return string(raw)
}

func jsonString(row int, prefix, field string, raw json.RawMessage, required bool) (string, error) {
	if absent(raw) {
		if required {
			return "", rowErr(row, prefix, field, "is missing")
		}
		return "", nil
	}
	var s string
	if raw[0] != '"' || json.Unmarshal(raw, &s) != nil {
		return "", rowErr(row, prefix, field, "%s: want a string", shown(raw))
	}
	return s, nil
}

func jsonMoney(row int, prefix, field string, raw json.RawMessage, required bool) (Money, error) {
	if absent(raw) {
		if required {
			return 0, rowErr(row, prefix, field, "is missing")
		}
		return 0, nil
	}
	var m Money
	if raw[0] != '"' || m.UnmarshalJSON(raw) != nil {
		return 0, rowErr(row, prefix, field, "%s: want a decimal string such as \"0.0210\"", shown(raw))
	}
	return m, nil
}

func jsonSeconds(row int, prefix, field string, raw json.RawMessage, required bool, lo, hi int64) (int, error) {
	if absent(raw) {
		if required {
			return 0, rowErr(row, prefix, field, "is missing")
		}
		return 0, nil
	}
	v, err := strconv.ParseInt(string(raw), 10, 64)
	if err != nil {
		if raw[0] == '-' || (raw[0] >= '0' && raw[0] <= '9') {
			return 0, rowErr(row, prefix, field, "%s: want whole seconds, %d..%d", shown(raw), lo, hi)
		}
		return 0, rowErr(row, prefix, field, "%s: want a number", shown(raw))
	}
	// Checked here as well as in NewTable so that a value beyond int on a
	// 32-bit board is refused rather than truncated.
	if err := checkSeconds(row, prefix, field, v, lo, hi); err != nil {
		return 0, err
	}
	return int(v), nil
}
