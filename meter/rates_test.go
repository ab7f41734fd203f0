package meter

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

const sampleRates = `{
  "version": "2024-06-01.3",
  "currency": "USD",
  "generated_by": "a field this device does not know",
  "rates": [
    {"prefix":"44","destination":"United Kingdom","per_minute":"0.0210","first_increment":60,"next_increment":6,"connect_fee":"0.00","access_fee":"0.00","access_fee_label":"","min_duration":0,"grace":0},
    {"prefix":"447","destination":"United Kingdom mobile","per_minute":"0.0450","first_increment":30,"next_increment":6,"connect_fee":"0.05","access_fee":"0.10","access_fee_label":"Mobile access","min_duration":0,"grace":3,"tier":"gold"},
    {"prefix":"4420","destination":"London","per_minute":"0.0100","first_increment":1,"next_increment":1},
    {"prefix":"1","destination":"United States","per_minute":"0.0100","first_increment":6,"next_increment":6,"connect_fee":null}
  ]
}`

func TestParseRatesSample(t *testing.T) {
	tab, err := ParseRates([]byte(sampleRates))
	if err != nil {
		t.Fatal(err)
	}
	if tab.Version() != "2024-06-01.3" || tab.Currency() != "USD" || tab.Len() != 4 {
		t.Fatalf("got version %q currency %q len %d", tab.Version(), tab.Currency(), tab.Len())
	}
	r, ok := tab.Lookup("447700900123")
	want := Rate{Prefix: "447", Destination: "United Kingdom mobile", PerMinute: 45_000,
		FirstIncrement: 30, NextIncrement: 6, ConnectFee: 50_000, AccessFee: 100_000,
		AccessFeeLabel: "Mobile access", Grace: 3}
	if !ok || r != want {
		t.Fatalf("Lookup = %+v, %v; want %+v", r, ok, want)
	}
	var prefixes []string
	for _, r := range tab.Rates() {
		prefixes = append(prefixes, r.Prefix)
	}
	if !slices.Equal(prefixes, []string{"1", "44", "4420", "447"}) {
		t.Fatalf("Rates() prefixes = %v, want sorted", prefixes)
	}
}

func TestLookupLongestPrefix(t *testing.T) {
	tab, err := ParseRates([]byte(sampleRates))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		number, want string // want "" = no match
	}{
		{"442079460000", "4420"},
		{"+442079460000", "4420"},
		{"+44 20 7946 0000", "44"}, // the space ends the number
		{"4421", "44"},
		{"44", "44"},
		{"4", ""},
		{"447", "447"},
		{"4470", "447"},
		{"12125550100", "1"},
		{"33123456789", ""},
		{"", ""},
		{"+", ""},
		{"++44", ""},
		{"*225", ""},
		{"0044", ""},
	} {
		r, ok := tab.Lookup(c.number)
		if ok != (c.want != "") || r.Prefix != c.want {
			t.Errorf("Lookup(%q) = %q, %v; want %q", c.number, r.Prefix, ok, c.want)
		}
	}
	var nilTable *Table
	if _, ok := nilTable.Lookup("44"); ok || nilTable.Len() != 0 {
		t.Error("a nil table matched a number")
	}
}

// TestLookupMatchesBruteForce compares the parent-link search with a plain
// scan over random tables dense enough that prefixes nest deeply.
func TestLookupMatchesBruteForce(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for round := range 50 {
		seen := map[string]bool{}
		var rates []Rate
		for range 1 + rng.IntN(300) {
			p := randDigits(rng, 1+rng.IntN(6), 3) // digits 0..2 only: many nested prefixes
			if seen[p] {
				continue
			}
			seen[p] = true
			rates = append(rates, Rate{Prefix: p, Destination: "d" + p, PerMinute: 1, FirstIncrement: 1, NextIncrement: 1})
		}
		tab, err := NewTable("v", "EUR", rates)
		if err != nil {
			t.Fatal(err)
		}
		for range 200 {
			number := randDigits(rng, rng.IntN(9), 3)
			best := ""
			for _, r := range rates {
				if strings.HasPrefix(number, r.Prefix) && len(r.Prefix) > len(best) {
					best = r.Prefix
				}
			}
			got, ok := tab.Lookup(number)
			if ok != (best != "") || got.Prefix != best {
				t.Fatalf("round %d: Lookup(%q) = %q, %v; brute force says %q", round, number, got.Prefix, ok, best)
			}
		}
	}
}

func randDigits(rng *rand.Rand, n, base int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte('0' + rng.IntN(base))
	}
	return string(b)
}

func TestParseRatesErrors(t *testing.T) {
	row := func(fields string) string {
		return `{"version":"v1","currency":"USD","rates":[` +
			`{"prefix":"1","destination":"US","per_minute":"0.01","first_increment":6,"next_increment":6},` + fields + `]}`
	}
	good := `"prefix":"4420","destination":"London","per_minute":"0.01","first_increment":60`
	for _, c := range []struct {
		name, data, want string
	}{
		{"issue example", row(`{` + good + `,"next_increment":0}`),
			`meter: rates row 2 (prefix "4420"): next_increment 0: want 1..3600 seconds`},
		{"increment too long", row(`{` + good + `,"next_increment":3601}`), `row 2 (prefix "4420"): next_increment 3601: want 1..3600 seconds`},
		{"fractional increment", row(`{` + good + `,"next_increment":6.5}`), `next_increment 6.5: want whole seconds`},
		{"increment as string", row(`{` + good + `,"next_increment":"6"}`), `next_increment "6": want a number`},
		{"huge increment", row(`{` + good + `,"next_increment":99999999999999999999999}`), `next_increment 99999999999999999999999: want whole seconds`},
		{"increment beyond int32", row(`{` + good + `,"next_increment":4294967302}`), `next_increment 4294967302: want 1..3600`},
		{"missing next increment", row(`{` + good + `}`), `row 2 (prefix "4420"): next_increment is missing`},
		{"null per minute", row(`{"prefix":"4420","destination":"London","per_minute":null,"first_increment":1,"next_increment":1}`), `per_minute is missing`},
		{"per minute as number", row(`{"prefix":"4420","destination":"London","per_minute":0.01,"first_increment":1,"next_increment":1}`), `row 2 (prefix "4420"): per_minute 0.01: want a decimal string`},
		{"per minute negative", row(`{"prefix":"4420","destination":"London","per_minute":"-0.01","first_increment":1,"next_increment":1}`), `per_minute -0.0100: want 0..1000.0000`},
		{"per minute huge", row(`{"prefix":"4420","destination":"London","per_minute":"1000.000001","first_increment":1,"next_increment":1}`), `per_minute 1000.000001: want 0..1000.0000`},
		{"connect fee exponent", row(`{` + good + `,"next_increment":6,"connect_fee":"1e3"}`), `connect_fee "1e3": want a decimal string`},
		{"access fee too precise", row(`{` + good + `,"next_increment":6,"access_fee":"0.0000001"}`), `access_fee "0.0000001"`},
		{"prefix with letters", row(`{"prefix":"44a","destination":"x","per_minute":"0.01","first_increment":1,"next_increment":1}`), `row 2 (prefix "44a"): prefix "44a": want digits only`},
		{"prefix with plus", row(`{"prefix":"+44","destination":"x","per_minute":"0.01","first_increment":1,"next_increment":1}`), `want digits only`},
		{"prefix as number", row(`{"prefix":44,"destination":"x","per_minute":"0.01","first_increment":1,"next_increment":1}`), `row 2 (prefix ""): prefix 44: want a string`},
		{"empty prefix", row(`{"prefix":"","destination":"x","per_minute":"0.01","first_increment":1,"next_increment":1}`), `prefix is empty`},
		{"prefix too long", row(`{"prefix":"123456789012345678901","destination":"x","per_minute":"0.01","first_increment":1,"next_increment":1}`), `prefix has 21 digits: want at most 20`},
		{"no destination", row(`{"prefix":"44","per_minute":"0.01","first_increment":1,"next_increment":1}`), `row 2 (prefix "44"): destination is missing`},
		{"blank destination", row(`{"prefix":"44","destination":"  ","per_minute":"0.01","first_increment":1,"next_increment":1}`), `destination is empty`},
		{"grace too long", row(`{` + good + `,"next_increment":6,"grace":86401}`), `grace 86401: want 0..86400 seconds`},
		{"negative min duration", row(`{` + good + `,"next_increment":6,"min_duration":-1}`), `min_duration -1: want 0..86400 seconds`},
		{"label as number", row(`{` + good + `,"next_increment":6,"access_fee_label":7}`), `access_fee_label 7: want a string`},
		{"duplicate prefix", row(`{"prefix":"1","destination":"again","per_minute":"0.01","first_increment":1,"next_increment":1}`), `row 2 (prefix "1"): prefix "1": duplicate of row 1`},
		{"row not an object", row(`[1,2]`), `rates row 2: want an object`},
		{"empty version", `{"version":"","currency":"USD","rates":[]}`, `empty version`},
		{"version as number", `{"version":3,"currency":"USD","rates":[]}`, `version: want a string`},
		{"lower-case currency", `{"version":"v","currency":"usd","rates":[]}`, `currency "usd": want three upper-case letters`},
		{"long currency", `{"version":"v","currency":"USDT","rates":[]}`, `currency "USDT"`},
		{"no currency", `{"version":"v","rates":[]}`, `no currency`},
		{"no rates", `{"version":"v","currency":"USD"}`, `no rates`},
		{"null rates", `{"version":"v","currency":"USD","rates":null}`, `rates: want an array`},
		{"empty rates", `{"version":"v","currency":"USD","rates":[]}`, `the table has no rows`},
		{"rates twice", `{"version":"v","currency":"USD","rates":[],"rates":[]}`, `"rates" appears twice`},
		{"not an object", `[]`, `meter: rates: want "{", got [`},
		{"empty", ``, `meter: rates: EOF`},
		{"trailing data", `{"version":"v","currency":"USD","rates":[{"prefix":"1","destination":"US","per_minute":"0.01","first_increment":6,"next_increment":6}]} {}`, `data after the JSON object`},
		{"truncated", row(`{"prefix":"4420","dest`), `meter: rates row 2: unexpected EOF`},
	} {
		t.Run(c.name, func(t *testing.T) {
			tab, err := ParseRates([]byte(c.data))
			if err == nil {
				t.Fatalf("accepted a table of %d rows", tab.Len())
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %q\ndoes not contain %q", err, c.want)
			}
		})
	}
}

func TestRowErrorNamesField(t *testing.T) {
	_, err := NewTable("v", "GBP", []Rate{
		{Prefix: "44", Destination: "UK", FirstIncrement: 60, NextIncrement: 60},
		{Prefix: "4420", Destination: "London", FirstIncrement: 60, NextIncrement: 0},
	})
	var re *RowError
	if !errors.As(err, &re) || re.Row != 2 || re.Prefix != "4420" || re.Field != "next_increment" {
		t.Fatalf("err = %v (%#v), want a RowError for row 2 next_increment", err, re)
	}
}

func TestNewTableCopiesInput(t *testing.T) {
	rates := []Rate{{Prefix: "44", Destination: "UK", PerMinute: 1, FirstIncrement: 1, NextIncrement: 1}}
	tab, err := NewTable("v", "GBP", rates)
	if err != nil {
		t.Fatal(err)
	}
	rates[0].PerMinute = 99
	out := tab.Rates()
	out[0].PerMinute = 77
	if r, _ := tab.Lookup("44"); r.PerMinute != 1 {
		t.Fatalf("the table changed through a caller's slice: per minute %d", r.PerMinute)
	}
}

// genRates builds a table shaped like a real international one: country
// codes of one to three digits, each split into area and mobile ranges of
// up to ten digits.
func genRates(rng *rand.Rand, n int) []Rate {
	seen := make(map[string]bool, n)
	rates := make([]Rate, 0, n)
	add := func(p string) {
		if seen[p] || len(rates) == n {
			return
		}
		seen[p] = true
		rates = append(rates, Rate{
			Prefix: p, Destination: "Destination " + p,
			PerMinute:      Money(rng.IntN(2_000_000)),
			FirstIncrement: []int{1, 6, 30, 60}[rng.IntN(4)], NextIncrement: []int{1, 6, 60}[rng.IntN(3)],
		})
	}
	var countries []string
	for len(countries) < 220 {
		c := fmt.Sprint(1 + rng.IntN(999))
		c = c[:min(len(c), 1+rng.IntN(3))]
		if !seen[c] {
			countries = append(countries, c)
			add(c)
		}
	}
	for len(rates) < n {
		c := countries[rng.IntN(len(countries))]
		add(c + randDigits(rng, 1+rng.IntN(10-len(c)), 10))
	}
	return rates
}

func ratesJSON(tb testing.TB, version, currency string, rates []Rate) []byte {
	tb.Helper()
	b, err := json.Marshal(struct {
		Version  string `json:"version"`
		Currency string `json:"currency"`
		Rates    []Rate `json:"rates"`
	}{version, currency, rates})
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func TestGeneratedTableRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	rates := genRates(rng, 5000)
	tab, err := ParseRates(ratesJSON(t, "v9", "USD", rates))
	if err != nil {
		t.Fatal(err)
	}
	if tab.Len() != len(rates) {
		t.Fatalf("Len = %d, want %d", tab.Len(), len(rates))
	}
	for _, r := range rates {
		if got, ok := tab.Lookup(r.Prefix + "0000"); !ok || !strings.HasPrefix(got.Prefix, r.Prefix) {
			t.Fatalf("Lookup(%s0000) = %q, %v: the longest match must extend %q", r.Prefix, got.Prefix, ok, r.Prefix)
		}
		if got, _ := tab.Lookup(r.Prefix); got != r {
			t.Fatalf("Lookup(%s) = %+v, want %+v", r.Prefix, got, r)
		}
	}
}

func BenchmarkLookup100k(b *testing.B) {
	rng := rand.New(rand.NewPCG(5, 6))
	rates := genRates(rng, 100_000)
	tab, err := NewTable("bench", "USD", rates)
	if err != nil {
		b.Fatal(err)
	}
	// Numbers as dialled: a known prefix followed by subscriber digits
	// up to 12..15 digits, and one in eight with no match at all.
	numbers := make([]string, 4096)
	for i := range numbers {
		p := rates[rng.IntN(len(rates))].Prefix
		if i%8 == 0 {
			p = "0"
		}
		numbers[i] = "+" + p + randDigits(rng, max(12+rng.IntN(4)-len(p), 1), 10)
	}
	b.ReportAllocs()
	b.ResetTimer()
	i := 0
	for b.Loop() {
		tab.Lookup(numbers[i&(len(numbers)-1)])
		i++
	}
}

func BenchmarkParseRates100k(b *testing.B) {
	rng := rand.New(rand.NewPCG(7, 8))
	data := ratesJSON(b, "bench", "USD", genRates(rng, 100_000))
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseRates(data); err != nil {
			b.Fatal(err)
		}
	}
}

func FuzzParseRates(f *testing.F) {
	f.Add([]byte(sampleRates))
	f.Fuzz(func(t *testing.T, data []byte) {
		tab, err := ParseRates(data)
		if err != nil {
			if tab != nil {
				t.Fatal("a table with an error")
			}
			return
		}
		rates := tab.Rates()
		if len(rates) != tab.Len() || len(rates) == 0 {
			t.Fatalf("Rates has %d rows, Len says %d", len(rates), tab.Len())
		}
		for i, r := range rates {
			if i > 0 && rates[i-1].Prefix >= r.Prefix {
				t.Fatalf("Rates not sorted: %q then %q", rates[i-1].Prefix, r.Prefix)
			}
			if got, ok := tab.Lookup(r.Prefix); !ok || got != r {
				t.Fatalf("Lookup(%q) = %+v, %v; want the row itself", r.Prefix, got, ok)
			}
		}
		// What the device accepted, written back, must read the same.
		again, err := ParseRates(ratesJSON(t, tab.Version(), tab.Currency(), rates))
		if err != nil {
			t.Fatalf("the table written back is refused: %v", err)
		}
		if !slices.Equal(again.Rates(), rates) {
			t.Fatal("the table written back reads differently")
		}
	})
}
