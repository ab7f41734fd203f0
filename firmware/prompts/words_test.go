package prompts

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"testing"
)

func say(words []string) string { return strings.Join(words, " ") }

func TestNumberWords(t *testing.T) {
	cases := []struct {
		n    int
		want string
	}{
		{0, "n_0"},
		{7, "n_7"},
		{13, "n_13"},
		{20, "n_20"},
		{21, "n_20 n_1"},
		{99, "n_90 n_9"},
		{100, "n_1 hundred"},
		{105, "n_1 hundred n_5"},
		{110, "n_1 hundred n_10"},
		{999, "n_9 hundred n_90 n_9"},
		{1000, "n_1 thousand"},
		{1001, "n_1 thousand n_1"},
		{1234, "n_1 thousand n_2 hundred n_30 n_4"},
		{20_000, "n_20 thousand"},
		{100_100, "n_1 hundred thousand n_1 hundred"},
		{999_999, "n_9 hundred n_90 n_9 thousand n_9 hundred n_90 n_9"},
		{1_000_000, "n_1 n_0 n_0 n_0 n_0 n_0 n_0"},
		{-45, "minus n_40 n_5"},
	}
	for _, c := range cases {
		if got := say(NumberWords(c.n)); got != c.want {
			t.Errorf("NumberWords(%d) = %q, want %q", c.n, got, c.want)
		}
	}
	// The most negative int (32 bits on arm and mipsle) has no positive
	// counterpart; its magnitude is still spoken.
	if got := say(NumberWords(math.MinInt)); got != "minus "+say(digitWords(strconv.Itoa(math.MinInt)[1:])) {
		t.Errorf("NumberWords(MinInt) = %q", got)
	}
}

func TestMoneyWords(t *testing.T) {
	cases := []struct {
		micro    int64
		currency string
		want     string
	}{
		{12_340_000, "USD", "n_12 dollars and n_30 n_4 cents"},
		{1_000_000, "USD", "n_1 dollar"},
		{1_010_000, "USD", "n_1 dollar and n_1 cent"},
		{2_000_000, "usd", "n_2 dollars"},
		{50_000, "USD", "n_5 cents"},
		{0, "USD", "n_0 dollars"},
		// Cut, not rounded: the caller never hears more than there is.
		{12_349_999, "USD", "n_12 dollars and n_30 n_4 cents"},
		{9_999, "USD", "n_0 dollars"},
		{-2_500_000, "USD", "minus n_2 dollars and n_50 cents"},
		{-9_999, "USD", "n_0 dollars"},
		{1_000_000, "GBP", "n_1 pound"},
		{3_010_000, "GBP", "n_3 pounds and n_1 penny"},
		{20_000, "GBP", "n_2 pence"},
		{1_000_000, "EUR", "n_1 euro"},
		{7_990_000, "EUR", "n_7 euros and n_90 n_9 cents"},
		{1_234_567_890_000, "EUR", "n_1 n_2 n_3 n_4 n_5 n_6 n_7 euros and n_80 n_9 cents"},
		{999_999_000_000, "EUR", "n_9 hundred n_90 n_9 thousand n_9 hundred n_90 n_9 euros"},
		{12_340_000, "CHF", "n_12 point n_3 n_4"},
		{12_300_000, "CHF", "n_12 point n_3"},
		{12_050_000, "JPY", "n_12 point n_0 n_5"},
		{500_000_000, "JPY", "n_5 hundred"},
		{10_000, "", "n_0 point n_0 n_1"},
		{-1_500_000, "XXX", "minus n_1 point n_5"},
	}
	for _, c := range cases {
		if got := say(MoneyWords(c.micro, c.currency)); got != c.want {
			t.Errorf("MoneyWords(%d, %q) = %q, want %q", c.micro, c.currency, got, c.want)
		}
	}
}

func TestMinutesWords(t *testing.T) {
	for n, want := range map[int]string{
		0:   "n_0 minutes",
		1:   "n_1 minute",
		2:   "n_2 minutes",
		41:  "n_40 n_1 minutes",
		-3:  "n_0 minutes",
		120: "n_1 hundred n_20 minutes",
	} {
		if got := say(MinutesWords(n)); got != want {
			t.Errorf("MinutesWords(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestSentences(t *testing.T) {
	cases := []struct {
		name string
		got  []string
		want string
	}{
		{"balance with minutes", BalanceSentence(12_340_000, "USD", 41),
			"balance_is n_12 dollars and n_30 n_4 cents which_buys_about n_40 n_1 minutes at_last_call_rate"},
		{"balance without a last call", BalanceSentence(5_000_000, "GBP", -1),
			"balance_is n_5 pounds"},
		{"balance buying one minute", BalanceSentence(100_000, "EUR", 1),
			"balance_is n_10 cents which_buys_about n_1 minute at_last_call_rate"},
		{"call limit", CallLimitSentence(12), "you_have n_12 minutes for_this_call"},
		{"call limit of one minute", CallLimitSentence(1), "you_have n_1 minute for_this_call"},
		{"one minute left", RemainingSentence(60), "one_minute_remaining"},
		{"ten seconds left", RemainingSentence(10), "ten_seconds_remaining"},
		{"two minutes left", RemainingSentence(120), "n_2 minutes remaining"},
		{"45 seconds left", RemainingSentence(45), "n_40 n_5 seconds remaining"},
		{"1 second left", RemainingSentence(1), "n_1 second remaining"},
		{"report ticket", ReportSentSentence("4801"), "report_sent n_4 n_8 n_0 n_1"},
		{"report ticket with a stray character", ReportSentSentence("12-3"), "report_sent n_1 n_2 n_3"},
	}
	for _, c := range cases {
		if got := say(c.got); got != c.want {
			t.Errorf("%s: %q, want %q", c.name, got, c.want)
		}
	}
}

// Whatever the value, every word has a recording: a sentence never fails
// to play because of the number in it.
func TestWordsAreAllKeys(t *testing.T) {
	keys := Keys()
	check := func(what string, words []string) {
		t.Helper()
		for _, w := range words {
			if !slices.Contains(keys, w) {
				t.Fatalf("%s: word %q is not a key", what, w)
			}
		}
	}
	for n := -1000; n <= 1_001_000; n += 7 {
		check(fmt.Sprint("NumberWords ", n), NumberWords(n))
	}
	for _, cur := range []string{"USD", "GBP", "EUR", "SEK"} {
		for m := int64(-3_000_000); m <= 3_000_000; m += 10_000 {
			check(fmt.Sprint("MoneyWords ", m, cur), MoneyWords(m, cur))
		}
	}
	for s := -5; s <= 3600; s++ {
		check(fmt.Sprint("RemainingSentence ", s), RemainingSentence(s))
	}
}

// parseNumber reads back what NumberWords says: the listener's side.
func parseNumber(t *testing.T, words []string) (uint64, bool) {
	t.Helper()
	if len(words) == 0 {
		t.Fatal("no words for a number")
	}
	neg := words[0] == Minus
	if neg {
		words = words[1:]
	}
	digitsOnly := len(words) > 1
	for _, w := range words {
		if v, ok := strings.CutPrefix(w, "n_"); !ok || len(v) != 1 {
			digitsOnly = false
		}
	}
	if digitsOnly {
		var s strings.Builder
		for _, w := range words {
			s.WriteString(strings.TrimPrefix(w, "n_"))
		}
		u, err := strconv.ParseUint(s.String(), 10, 64)
		if err != nil {
			t.Fatalf("digits %q: %v", say(words), err)
		}
		return u, neg
	}
	var total, cur uint64
	for _, w := range words {
		switch w {
		case Hundred:
			cur *= 100
		case Thousand:
			total += cur * 1000
			cur = 0
		default:
			v, ok := strings.CutPrefix(w, "n_")
			if !ok {
				t.Fatalf("%q in number %q", w, say(words))
			}
			d, _ := strconv.Atoi(v)
			cur += uint64(d)
		}
	}
	return total + cur, neg
}

func FuzzNumberWords(f *testing.F) {
	f.Fuzz(func(t *testing.T, n64 int64) {
		n := int(n64) // what NumberWords takes: 32 bits on arm and mipsle
		u, neg := parseNumber(t, NumberWords(n))
		want := uint64(int64(n))
		if n < 0 {
			want = -want
		}
		if u != want || neg != (n < 0) {
			t.Fatalf("NumberWords(%d) = %q, heard as %d (negative %v)", n, say(NumberWords(n)), u, neg)
		}
	})
}

// What MoneyWords says is heard as the amount cut to hundredths, with the
// right unit in the right number.
func FuzzMoneyWords(f *testing.F) {
	f.Fuzz(func(t *testing.T, micro int64, currency string) {
		words := MoneyWords(micro, currency)
		mag := uint64(micro)
		if micro < 0 {
			mag = -mag
		}
		wantMajor, wantHundredths := mag/1e6, mag%1e6/1e4
		wantMinus := micro < 0 && (wantMajor > 0 || wantHundredths > 0)
		gotMinus := len(words) > 0 && words[0] == Minus
		if gotMinus != wantMinus {
			t.Fatalf("MoneyWords(%d, %q) = %q: minus %v, want %v", micro, currency, say(words), gotMinus, wantMinus)
		}
		if gotMinus {
			words = words[1:]
		}
		var major, hundredths uint64
		if units, ok := unitsFor(currency); ok {
			// [N major] [and] [N minor]
			for len(words) > 0 {
				i := slices.IndexFunc(words, func(w string) bool {
					return w == units.major || w == units.majors || w == units.minor || w == units.minors
				})
				if i <= 0 {
					t.Fatalf("MoneyWords(%d, %q) = %q: no unit after a number", micro, currency, say(words))
				}
				n, neg := parseNumber(t, words[:i])
				if neg {
					t.Fatalf("MoneyWords(%d, %q): minus inside the amount", micro, currency)
				}
				switch words[i] {
				case units.major, units.majors:
					major = n
					if (words[i] == units.major) != (n == 1) {
						t.Fatalf("MoneyWords(%d, %q) = %q: %q with %d", micro, currency, say(words), words[i], n)
					}
				default:
					hundredths = n
					if (words[i] == units.minor) != (n == 1) {
						t.Fatalf("MoneyWords(%d, %q) = %q: %q with %d", micro, currency, say(words), words[i], n)
					}
				}
				words = words[i+1:]
				if len(words) > 0 && words[0] == And {
					words = words[1:]
				}
			}
		} else {
			i := slices.Index(words, Point)
			if i < 0 {
				i = len(words)
			} else {
				frac := strings.ReplaceAll(say(words[i+1:]), "n_", "")
				frac = strings.ReplaceAll(frac, " ", "")
				if len(frac) == 1 {
					frac += "0"
				}
				v, err := strconv.ParseUint(frac, 10, 64)
				if err != nil || len(frac) != 2 {
					t.Fatalf("MoneyWords(%d, %q) = %q: bad decimals", micro, currency, say(words))
				}
				hundredths = v
			}
			major, _ = parseNumber(t, words[:i])
		}
		if major != wantMajor || hundredths != wantHundredths {
			t.Fatalf("MoneyWords(%d, %q) heard as %d and %d hundredths, want %d and %d",
				micro, currency, major, hundredths, wantMajor, wantHundredths)
		}
	})
}
