package dialplan

import (
	"errors"
	"reflect"
	"regexp"
	"strings"
	"testing"
)

var seedPlans = []string{
	usPlan, ukPlan, dePlan,
	"(<9:>xxxxxxx|<:1408>xxxxxxx|<011:00>x.T|1900x.!)",
	"L:15,S:6,(9,8<:1408>[2-9]xxxxxx | 9,8,1[2-9]xxxxxxxxxS0 | 9,8,011xx. | 9,8,xx.|[1-8]xx)",
	"(S0 <:12125551234>)",
	"(<:1000>S5|xxxx)",
	"(*xx#|[2-46-8*#]x.|A1|011 L20 xxxx.)",
	"(x.1<:5>x.|[1-3].<:5>x.)",
	"(911|1[2-9xxxxxxxxx)",
	"(1900!x|<9>|[9-2]|x..|xT1)",
}

// FuzzParse: any text either parses or gives a *SyntaxError inside the text;
// a parsed plan prints to text that parses to the same plan, and matching
// digits against it neither panics nor breaks the Result contract.
func FuzzParse(f *testing.F) {
	for _, s := range seedPlans {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := Parse(s, Options{})
		if err != nil {
			var se *SyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("Parse(%q): %v is not a *SyntaxError", s, err)
			}
			if se.Pos < 0 || se.Pos > len(s) || se.Msg == "" {
				t.Fatalf("Parse(%q): bad error %+v", s, se)
			}
			return
		}
		printed := p.String()
		again, err := Parse(printed, Options{})
		if err != nil {
			t.Fatalf("Parse(%q).String() = %q does not parse: %v", s, printed, err)
		}
		if !reflect.DeepEqual(p, again) {
			t.Fatalf("Parse(%q).String() = %q parses to a different plan", s, printed)
		}
		if again.String() != printed {
			t.Fatalf("String() not stable: %q then %q", printed, again.String())
		}
		for _, d := range digitsFor(s) {
			checkContract(t, p, d)
		}
	})
}

// digitsFor makes digit strings from the fuzzer's text, so that they have a
// chance of matching the plan it spells.
func digitsFor(s string) []string {
	var keys []byte
	for i := 0; i < len(s) && len(keys) <= MaxDigits; i++ {
		if keyIndex(s[i]) >= 0 {
			keys = append(keys, s[i])
		}
	}
	out := []string{"", "1", "911", "14085551234", "0114930123456", "*72", "#", "12#", string(keys)}
	if len(keys) > 0 {
		out = append(out, string(keys)+"#", string(keys[:len(keys)/2]))
	}
	return out
}

// FuzzMatch checks Match and Timeout for any plan and digits against the
// Result contract and against regular expressions built from the rules.
func FuzzMatch(f *testing.F) {
	for _, s := range seedPlans {
		for _, d := range []string{"", "14085551234", "0114930123456#", "95551234", "19005551234", "*72#", "985551234", "2131"} {
			f.Add(s, d)
		}
	}
	f.Fuzz(func(t *testing.T, s, digits string) {
		p, err := Parse(s, Options{})
		if err != nil {
			return
		}
		checkContract(t, p, digits)
		if !validDigits(digits) {
			return
		}
		// What the line does: one Match per digit.
		for i := 0; i < len(digits); i++ {
			checkContract(t, p, digits[:i])
		}
		checkOracle(t, p, digits)
	})
}

// checkContract holds for every plan and every string of digits.
func checkContract(t *testing.T, p *Plan, digits string) {
	t.Helper()
	m := p.Match(digits)
	tm := p.Timeout(digits)
	for _, r := range []Result{m, tm} {
		if r.Rule < -1 || r.Rule >= len(p.rules) {
			t.Fatalf("%s %q: rule %d out of range", p, digits, r.Rule)
		}
		switch r.Action {
		case Continue:
			if r.Timeout <= 0 || r.Number != "" {
				t.Fatalf("%s %q: bad Continue %+v", p, digits, r)
			}
		case Dial:
			if r.Number == "" || r.Rule < 0 || p.rules[r.Rule].block || r.Timeout != 0 || r.SecondaryDialTone {
				t.Fatalf("%s %q: bad Dial %+v", p, digits, r)
			}
		case Block:
			if r.Rule < 0 || !p.rules[r.Rule].block || r.Number != "" {
				t.Fatalf("%s %q: bad Block %+v", p, digits, r)
			}
		case Reject:
			if r != rejected {
				t.Fatalf("%s %q: bad Reject %+v", p, digits, r)
			}
		default:
			t.Fatalf("%s %q: unknown action %+v", p, digits, r)
		}
	}
	if tm.Action == Continue {
		t.Fatalf("%s %q: Timeout says continue", p, digits)
	}
	if m.Action != Continue && m != tm {
		t.Fatalf("%s %q: Match %+v is final but Timeout says %+v", p, digits, m, tm)
	}
}

// checkOracle compares the matcher with Go's regexp, which knows nothing of
// scores or positions, for valid digits.
func checkOracle(t *testing.T, p *Plan, digits string) {
	t.Helper()
	for i := range p.rules {
		r := &p.rules[i]
		re := ruleRegexp(r)
		st := r.run(digits)
		if st.complete != re.MatchString(digits) {
			t.Fatalf("%s rule %d %q: complete=%v, regexp %s says otherwise", p, i, digits, st.complete, re)
		}
		if len(digits) < MaxDigits {
			grows := false
			for k := 0; k < len(keyChars) && !grows; k++ {
				next := r.run(digits + keyChars[k:k+1])
				grows = next.open || next.complete
			}
			if st.open != grows {
				t.Fatalf("%s rule %d %q: open=%v but a further key matches: %v", p, i, digits, st.open, grows)
			}
		}
		if !st.open && !st.complete {
			for k := 0; k < len(keyChars) && len(digits) < MaxDigits; k++ {
				if next := r.run(digits + keyChars[k:k+1]); next.open || next.complete {
					t.Fatalf("%s rule %d: %q is dead but %q lives", p, i, digits, digits+keyChars[k:k+1])
				}
			}
		}
	}
	for _, res := range []Result{p.Match(digits), p.Timeout(digits)} {
		if res.Action != Dial {
			continue
		}
		matched := digits
		if !p.evaluate(digits).alive {
			matched = strings.TrimSuffix(digits, "#")
		}
		r := &p.rules[res.Rule]
		if !ruleRegexp(r).MatchString(matched) {
			t.Fatalf("%s: dialled %q by rule %d, which does not match %q", p, res.Number, res.Rule, matched)
		}
		// Every way through a rule takes each <in:...> key once and sends
		// every insert once, whatever the stars take.
		want := len(matched)
		for _, it := range r.items {
			if it.kind == itemTransform {
				want += len(it.out) - len(it.in)
			}
		}
		if len(res.Number) != want || (r.plain && res.Number != matched) {
			t.Fatalf("%s: rule %d sends %q for %q", p, res.Rule, res.Number, matched)
		}
	}
}

func ruleRegexp(r *rule) *regexp.Regexp {
	var b strings.Builder
	b.WriteString("^")
	for _, st := range r.steps {
		b.WriteString("[")
		for k := 0; k < len(keyChars); k++ {
			if st.set&(1<<k) != 0 {
				b.WriteString(regexp.QuoteMeta(keyChars[k : k+1]))
			}
		}
		b.WriteString("]")
		if st.star {
			b.WriteString("*")
		}
	}
	b.WriteString("$")
	return regexp.MustCompile(b.String())
}
