package dialplan

import (
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

const (
	usPlan = "(911|1[2-9]xxxxxxxxx|[2-9]xxxxxxxxx|011x.T|*xx)"
	ukPlan = "(999|112|0[1-9]xxxxxxxxx|00x.T|[1-9]x.T|*xx)"
	dePlan = "(110|112|0[1-9]x.T|00x.T|[1-9]x.T|*xx)"
)

func mustParse(tb testing.TB, s string, opts Options) *Plan {
	tb.Helper()
	p, err := Parse(s, opts)
	if err != nil {
		tb.Fatalf("Parse(%q): %v", s, err)
	}
	return p
}

// check is one question to a plan: Match, or Timeout when expired is set.
type check struct {
	digits  string
	expired bool
	want    Result
}

func cont(d time.Duration, rule int) Result {
	return Result{Action: Continue, Timeout: d, Rule: rule}
}

func dial(number string, rule int) Result {
	return Result{Action: Dial, Number: number, Rule: rule}
}

func block(rule int) Result { return Result{Action: Block, Rule: rule} }

var reject = Result{Action: Reject, Rule: -1}

const (
	short = DefaultShortTimer
	long  = DefaultLongTimer
)

func TestMatch(t *testing.T) {
	tone := func(r Result) Result { r.SecondaryDialTone = true; return r }
	tests := []struct {
		name   string
		plan   string
		opts   Options
		checks []check
	}{
		{"us", usPlan, Options{}, []check{
			{digits: "", want: cont(long, -1)},
			{digits: "", expired: true, want: reject},
			{digits: "1", want: cont(long, -1)},
			{digits: "1408555123", want: cont(long, -1)},
			{digits: "14085551234", want: dial("14085551234", 1)},
			{digits: "4085551234", want: dial("4085551234", 2)},
			// 911 could still grow into a 10-digit number: the short timer.
			// (The line dials emergency numbers before asking the plan.)
			{digits: "911", want: cont(short, 0)},
			{digits: "911", expired: true, want: dial("911", 0)},
			{digits: "011", want: cont(short, 3)},
			{digits: "0114930123456", want: cont(short, 3)},
			{digits: "0114930123456", expired: true, want: dial("0114930123456", 3)},
			{digits: "01", want: cont(long, -1)},
			{digits: "01", expired: true, want: reject},
			{digits: "*7", want: cont(long, -1)},
			{digits: "*72", want: dial("*72", 4)},
			{digits: "10", want: reject},
			{digits: "00", want: reject},
			{digits: "0114930123456#", want: dial("0114930123456", 3)},
			{digits: "408555#", want: reject},
			{digits: "#", want: reject},
			{digits: "9a", want: reject},
			{digits: "91 1", want: reject},
		}},
		{"uk", ukPlan, Options{}, []check{
			{digits: "02079460000", want: dial("02079460000", 2)},
			{digits: "0207946000", want: cont(long, -1)},
			{digits: "0", want: cont(long, -1)},
			{digits: "999", want: cont(short, 0)},
			{digits: "999", expired: true, want: dial("999", 0)},
			{digits: "112", want: cont(short, 1)},
			{digits: "0044", want: cont(short, 3)},
			{digits: "00442079460000", expired: true, want: dial("00442079460000", 3)},
			{digits: "118118", want: cont(short, 4)},
			{digits: "118118", expired: true, want: dial("118118", 4)},
			{digits: "*21", want: dial("*21", 5)},
		}},
		{"de", dePlan, Options{}, []check{
			{digits: "0", want: cont(long, -1)},
			{digits: "030", want: cont(short, 2)},
			{digits: "0301234567", expired: true, want: dial("0301234567", 2)},
			{digits: "0301234567#", want: dial("0301234567", 2)},
			// x. may repeat zero times: "00" alone is a complete number.
			{digits: "00", want: cont(short, 3)},
			{digits: "110", want: cont(short, 0)},
			{digits: "1101", want: cont(short, 4)},
			{digits: "*31#", want: dial("*31", 5)},
		}},
		{"strip a leading 9", "(<9:>xxxxxxx)", Options{}, []check{
			{digits: "95551234", want: dial("5551234", 0)},
			{digits: "9555123", want: cont(long, -1)},
			{digits: "5551234", want: reject},
		}},
		{"add an area code", "(<:1408>xxxxxxx|1xxxxxxxxxx)", Options{}, []check{
			{digits: "5551234", want: dial("14085551234", 0)},
			{digits: "15551234", want: cont(long, -1)},
			{digits: "1555123", want: cont(short, 0)},
			{digits: "1555123", expired: true, want: dial("14081555123", 0)},
			{digits: "12125551234", want: dial("12125551234", 1)},
		}},
		{"replace a prefix", "(<011:00>x.T|<00:+>x.T)", Options{}, []check{
			{digits: "01144", want: cont(short, 0)},
			{digits: "01144", expired: true, want: dial("0044", 0)},
			{digits: "0049301234", expired: true, want: dial("+49301234", 1)},
		}},
		{"insert in the middle", "(9,8<:1408>[2-9]xxxxxx)", Options{}, []check{
			{digits: "985551234", want: dial("9814085551234", 0)},
		}},
		{"empty number", "(<9:>x.)", Options{}, []check{
			{digits: "9", want: cont(short, 0)},
			{digits: "9", expired: true, want: reject},
			{digits: "95", expired: true, want: dial("5", 0)},
		}},
		{"hot line", "(<:12125551234>)", Options{}, []check{
			{digits: "", want: dial("12125551234", 0)},
			{digits: "1", want: reject},
		}},
		{"hot line with S0", "(S0 <:12125551234>)", Options{}, []check{
			{digits: "", want: dial("12125551234", 0)},
		}},
		{"warm line", "(<:1000>S5|xxxx)", Options{}, []check{
			{digits: "", want: cont(5*time.Second, 0)},
			{digits: "", expired: true, want: dial("1000", 0)},
			{digits: "1", want: cont(long, -1)},
			{digits: "1234", want: dial("1234", 1)},
		}},
		{"block an open prefix", "(1900x.!|1[2-9]xxxxxxxxx)", Options{}, []check{
			{digits: "1900", want: cont(short, 0)},
			{digits: "19005551234", want: cont(short, 0)},
			{digits: "19005551234", expired: true, want: block(0)},
			// Only the ! rule is left: blocked without waiting.
			{digits: "190055512345", want: block(0)},
			{digits: "18005551234", want: dial("18005551234", 1)},
		}},
		{"block a fixed length", "(1900xxxxxxx!|1[2-9]xxxxxxxxx)", Options{}, []check{
			{digits: "1900", want: cont(long, -1)},
			{digits: "19005551234", want: block(0)},
		}},
		{"block wins by specificity, not order", "(1xxxxxxxxxx|1947xxxxxxx!)", Options{}, []check{
			{digits: "19475551234", want: block(1)},
			{digits: "12125551234", want: dial("12125551234", 0)},
		}},
		{"block as soon as only ! rules are left", "(1900xxxxxxx!|[2-9]xxxxxxxxx)", Options{}, []check{
			{digits: "", want: cont(long, -1)},
			{digits: "19", want: block(0)},
		}},
		{"block after send key", "(1900x.!|xxxxx.)", Options{}, []check{
			{digits: "19001#", want: block(0)},
			{digits: "29001#", want: dial("29001", 1)},
		}},
		{"S0 sends at once", "(xxxxxxxS0|xxxxxxxxxx)", Options{}, []check{
			{digits: "5551234", want: dial("5551234", 0)},
		}},
		{"without S0 waits", "(xxxxxxx|xxxxxxxxxx)", Options{}, []check{
			{digits: "5551234", want: cont(short, 0)},
		}},
		{"S2", "(xxxxxxxS2|xxxxxxxxxx)", Options{}, []check{
			{digits: "5551234", want: cont(2*time.Second, 0)},
			{digits: "555123", want: cont(long, -1)},
		}},
		{"L for the whole rule", "(L20 011xxxxxx.|[2-9]xxxxxx)", Options{}, []check{
			{digits: "", want: cont(20*time.Second, -1)},
			{digits: "0", want: cont(20*time.Second, -1)},
			{digits: "5", want: cont(long, -1)},
		}},
		{"L from where it is written", "(011 L20 xxxx.|[2-9]xxxxxx)", Options{}, []check{
			{digits: "0", want: cont(long, -1)},
			{digits: "011", want: cont(20*time.Second, -1)},
			{digits: "0114", want: cont(20*time.Second, -1)},
		}},
		{"L0 gives up at once", "(1 L0 xx)", Options{}, []check{
			{digits: "", want: cont(long, -1)},
			{digits: "1", want: reject},
		}},
		{"plan timers", "L:15,S:6,(xxx|xxxxx)", Options{ShortTimer: time.Second, LongTimer: 2 * time.Second}, []check{
			{digits: "", want: cont(15*time.Second, -1)},
			{digits: "123", want: cont(6*time.Second, 0)},
		}},
		{"options timers", "(xxx|xxxxx)", Options{ShortTimer: time.Second, LongTimer: 2 * time.Second}, []check{
			{digits: "", want: cont(2*time.Second, -1)},
			{digits: "123", want: cont(time.Second, 0)},
		}},
		{"plan short timer 0", "S:0,(xxx|xxxxx)", Options{}, []check{
			{digits: "123", want: dial("123", 0)},
		}},
		{"secondary dial tone", "(9,xxxxxxx|911)", Options{}, []check{
			{digits: "", want: cont(long, -1)},
			{digits: "9", want: tone(cont(long, -1))},
			{digits: "95", want: cont(long, -1)},
			{digits: "91", want: cont(long, -1)},
			{digits: "9555123", want: cont(long, -1)},
			{digits: "95551234", want: dial("95551234", 0)},
		}},
		{"two secondary dial tones", "(9,8,011xx.)", Options{}, []check{
			{digits: "9", want: tone(cont(long, -1))},
			{digits: "98", want: tone(cont(long, -1))},
			{digits: "980", want: cont(long, -1)},
		}},
		{"# as a key", "(*xx#|xxxx)", Options{}, []check{
			{digits: "*72", want: cont(long, -1)},
			{digits: "*72#", want: dial("*72#", 0)},
			{digits: "12#", want: reject},
		}},
		{"# as send", "(xx.)", Options{}, []check{
			{digits: "12#", want: dial("12", 0)},
			{digits: "#", want: reject},
			{digits: "12#3", want: reject},
		}},
		{"T completes on timeout", "(123T|1234)", Options{}, []check{
			{digits: "123", want: cont(short, 0)},
			{digits: "123", expired: true, want: dial("123", 0)},
			{digits: "123#", want: dial("123", 0)},
			{digits: "1234", want: dial("1234", 1)},
		}},
		{"T waits even when nothing could follow", "(123T)", Options{}, []check{
			{digits: "123", want: cont(short, 0)},
			{digits: "123", expired: true, want: dial("123", 0)},
		}},
		{"no T dials at once", "(123)", Options{}, []check{
			{digits: "12", want: cont(long, -1)},
			{digits: "12", expired: true, want: reject},
			{digits: "123", want: dial("123", 0)},
			{digits: "1234", want: reject},
		}},
		{"more literal keys win", "(xxxx|12xx)", Options{}, []check{
			{digits: "1234", want: dial("1234", 1)},
		}},
		{"narrower sets win", "([1-5]xxx|[12]xxx)", Options{}, []check{
			{digits: "1234", want: dial("1234", 1)},
			{digits: "4234", want: dial("4234", 0)},
		}},
		{"exact beats open", "(1x.|1xxx)", Options{}, []check{
			{digits: "1234", want: cont(short, 1)},
			{digits: "1234", expired: true, want: dial("1234", 1)},
		}},
		{"first rule wins a tie", "(<:9>xxxx|xxxx)", Options{}, []check{
			{digits: "1234", want: dial("91234", 0)},
		}},
		{"DTMF A-D", "(A1|xx)", Options{}, []check{
			{digits: "A1", want: dial("A1", 0)},
			{digits: "AA", want: reject},
		}},
		{"x is digits only", "(xx)", Options{}, []check{
			{digits: "*1", want: reject},
			{digits: "A1", want: reject},
		}},
		{"digit limit", "(x.)", Options{}, []check{
			{digits: strings.Repeat("1", MaxDigits), want: cont(short, 0)},
			{digits: strings.Repeat("1", MaxDigits+1), want: reject},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := mustParse(t, tt.plan, tt.opts)
			for _, c := range tt.checks {
				var got Result
				what := "Match"
				if c.expired {
					got, what = p.Timeout(c.digits), "Timeout"
				} else {
					got = p.Match(c.digits)
				}
				if got != c.want {
					t.Errorf("%s: %s(%q) = %+v, want %+v", tt.plan, what, c.digits, got, c.want)
				}
			}
		})
	}
}

// A rule that can match the same digits in several ways sends what its most
// specific way gives, so where an insert lands is predictable.
func TestMatchAmbiguousTransform(t *testing.T) {
	for _, c := range []struct{ plan, digits, want string }{
		// [1-3] is narrower than x: it takes both digits, x. takes none.
		{"([1-3].<:5>x.)", "12", "125"},
		{"(x.<:5>[1-3].)", "12", "512"},
		{"(x.<:5>[1-3].)", "124", "1245"}, // the 4 forces x. to take all
	} {
		p := mustParse(t, c.plan, Options{})
		got := p.Timeout(c.digits)
		if got.Number != c.want {
			t.Errorf("%s: Timeout(%q) = %+v, want number %q", c.plan, c.digits, got, c.want)
		}
	}
	// Both "1"s could be the literal and both ways score the same: whichever
	// is taken, every digit is sent once and the insert follows a "1".
	p := mustParse(t, "(x.1<:5>x.)", Options{})
	got := p.Timeout("2131")
	i := strings.IndexByte(got.Number, '5')
	if got.Action != Dial || i < 1 || got.Number[i-1] != '1' || strings.Replace(got.Number, "5", "", 1) != "2131" {
		t.Errorf("Timeout(2131) = %+v: want 2131 with a 5 inserted after a 1", got)
	}
}

func TestActionString(t *testing.T) {
	for a, want := range map[Action]string{Continue: "continue", Dial: "dial", Reject: "reject", Block: "block", 0: "unknown"} {
		if got := a.String(); got != want {
			t.Errorf("Action(%d).String() = %q, want %q", int(a), got, want)
		}
	}
}

// The line calls Match from its own goroutine; several lines share nothing
// but may share a Plan parsed once.
func TestConcurrentMatch(t *testing.T) {
	p := mustParse(t, "(<9:>1[2-9]xxxxxxxxx|"+usPlan[1:], Options{})
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 200 {
				d := "914085551234"
				if (g+i)%2 == 0 {
					d = "14085551234"
				}
				r := p.Match(d)
				if r.Action != Dial {
					t.Errorf("Match(%q) = %+v", d, r)
					return
				}
			}
		}()
	}
	wg.Wait()
}

func TestMatchAllocs(t *testing.T) {
	p := mustParse(t, usPlan, Options{})
	allocs := testing.AllocsPerRun(100, func() {
		if p.Match("14085551234").Action != Dial {
			t.Fatal("not dialled")
		}
	})
	if allocs > 0 {
		t.Errorf("Match allocates %v times, want 0", allocs)
	}
	p = mustParse(t, "(<9:>1[2-9]xxxxxxxxx)", Options{})
	allocs = testing.AllocsPerRun(100, func() { p.Match("914085551234") })
	if allocs > 1 {
		t.Errorf("Match with a transform allocates %v times, want at most 1 (the number)", allocs)
	}
}

var sink Result

func BenchmarkMatch(b *testing.B) {
	p := mustParse(b, usPlan, Options{})
	b.ReportAllocs()
	for b.Loop() {
		sink = p.Match("14085551234")
	}
}

// BenchmarkMatchDialling is what the line does for one call: one Match per
// digit, the last one dialling.
func BenchmarkMatchDialling(b *testing.B) {
	p := mustParse(b, usPlan, Options{})
	const number = "14085551234"
	b.ReportAllocs()
	for b.Loop() {
		for i := 0; i <= len(number); i++ {
			sink = p.Match(number[:i])
		}
	}
}

func BenchmarkMatchTransform(b *testing.B) {
	p := mustParse(b, "(<9:>1[2-9]xxxxxxxxx|9,<:1408>[2-9]xxxxxx|<011:+>x.T|1900x.!)", Options{})
	b.ReportAllocs()
	for b.Loop() {
		sink = p.Match("914085551234")
	}
}

func BenchmarkParse(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse(usPlan, Options{}); err != nil {
			b.Fatal(err)
		}
	}
}
