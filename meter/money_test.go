package meter

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestParseMoney(t *testing.T) {
	good := []struct {
		in   string
		want Money
		out  string
	}{
		{"12.3400", 12_340_000, "12.3400"},
		{"0.0210", 21_000, "0.0210"},
		{"5", 5 * Unit, "5.0000"},
		{"-1.5", -1_500_000, "-1.5000"},
		{"+0.000350", 350, "0.00035"},
		{"0000.1", 100_000, "0.1000"},
		{"1000000000", MaxMoney, "1000000000.0000"},
		{"-0", 0, "0.0000"},
	}
	for _, g := range good {
		m, err := ParseMoney(g.in)
		if err != nil || m != g.want {
			t.Errorf("ParseMoney(%q) = %d, %v; want %d", g.in, m, err, g.want)
			continue
		}
		if s := m.String(); s != g.out {
			t.Errorf("Money(%d).String() = %q, want %q", m, s, g.out)
		}
	}
	bad := map[string]string{
		"":              "empty",
		"1.2345678":     "decimals",
		"1e3":           "not a decimal",
		"1,000.00":      "not a decimal",
		".5":            "both sides",
		"5.":            "both sides",
		"-":             "both sides",
		"1000000000.01": "above the limit",
		"99999999999":   "too large",
		"NaN":           "not a decimal",
		" 1.00":         "not a decimal",
	}
	for in, want := range bad {
		if _, err := ParseMoney(in); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseMoney(%q): err %v, want one containing %q", in, err, want)
		}
	}
}

func TestMoneyJSON(t *testing.T) {
	var v struct {
		Balance Money `json:"balance"`
	}
	if err := json.Unmarshal([]byte(`{"balance":"12.34"}`), &v); err != nil || v.Balance != 12_340_000 {
		t.Fatalf("decode: %d, %v", v.Balance, err)
	}
	b, err := json.Marshal(v)
	if err != nil || string(b) != `{"balance":"12.3400"}` {
		t.Fatalf("encode: %s, %v", b, err)
	}
	// A JSON number would have gone through floating point at the producer.
	if err := json.Unmarshal([]byte(`{"balance":12.34}`), &v); err == nil {
		t.Fatal("a JSON number was accepted as money")
	}
}

func FuzzParseMoney(f *testing.F) {
	for _, s := range []string{"12.3400", "-0.000001", "1000000000", "1e3", "", "00.10"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		m, err := ParseMoney(s)
		if err != nil {
			return
		}
		if m > MaxMoney || m < -MaxMoney {
			t.Fatalf("%q parsed to %d, beyond the limit", s, m)
		}
		// What String writes, ParseMoney reads back to the same amount.
		back, err := ParseMoney(m.String())
		if err != nil || back != m {
			t.Fatalf("%q → %d → %q → %d, %v", s, m, m.String(), back, err)
		}
	})
}
