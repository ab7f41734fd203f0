package dialplan

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestParseErrors(t *testing.T) {
	tests := []struct {
		plan string
		pos  int
		msg  string
	}{
		{"(911|1[2-9xxxxxxxxx)", 6, `unterminated "["`},
		{"(911|1[2-9]xxxxxxxxx", 0, `missing ")"`},
		{"911|1xx)", 7, `")" without "("`},
		{"(911)1", 5, `text after ")"`},
		{"(911|<9:xxx)", 5, `unterminated "<"`},
		{"(|911)", 1, `empty rule before "|"`},
		{"(911|)", 5, `empty rule before ")"`},
		{"911|", 4, `empty rule at the end`},
		{"()", 1, `empty rule before ")"`},
		{"", 0, `empty dial plan`},
		{"   ", 3, `empty dial plan`},
		{"[9-2]xx", 1, `bad range "9-2"`},
		{"[2-]x", 1, `bad range "2-"`},
		{"[*-#]", 1, `bad range "*-#"`},
		{"[-2]", 1, `"-" must stand between two digits`},
		{"[]x", 0, `empty set "[]"`},
		{"[2x]", 2, `unknown character 'x' in a "[...]" set`},
		{".xx", 0, `"." must follow a key`},
		{"x..", 2, `"." must follow a key`},
		{"<9:>.x", 4, `"." must follow a key`},
		{"12?3", 2, `unknown character '?'`},
		{"12é", 2, `unknown character 'é'`},
		{"12\xff", 2, `unknown character byte 0xff`},
		{"1900!x", 4, `"!" must be at the end of a rule`},
		{"!1900", 0, `"!" must be at the end of a rule`},
		{"<9>xxx", 0, `missing ":" in "<9>"`},
		{"<9:1:2>x", 4, `second ":"`},
		{"<x:>1", 1, `'x' cannot be dialled`},
		{"<1:x>1", 3, `'x' cannot be sent`},
		{"<:>1", 0, `"<:>" changes nothing`},
		{"((12))", 1, `"(" may only open the plan`},
		{"9(11)", 1, `"(" may only open the plan`},
		{"xS", 1, `"S" needs a number of seconds`},
		{"xL", 1, `"L" needs a number of seconds`},
		{"xxS999", 2, `timer S999 is longer than 300 seconds`},
		{"xxL99999999999999999999", 2, `is longer than 300 seconds`},
		{"xT1", 2, `'1' after "T"`},
		{"xT,", 2, `',' after "T"`},
		{"xTT", 2, `"T" given twice`},
		{",9", 0, `"," must follow a key`},
		{"<:1>,9", 4, `"," must follow a key`},
		{"9,", 1, `"," must be followed by more keys`},
		{"9,<:1>", 1, `"," must be followed by more keys`},
		{"L:x,(12)", 0, `"L:" needs a number of seconds`},
		{"L:5(12)", 3, `missing "," after "L:5"`},
		{"S:1,S:2,(12)", 4, `"S:" given twice`},
		{"L:1,L:2,(12)", 4, `"L:" given twice`},
		{"S:1,", 4, `empty dial plan`},
		{"(12S:3)", 3, `"S:" sets the plan's timer`},
		{"(P5<:1000>|xxxx)", 1, `"P" (pause) is not supported`},
		{"(T)", 1, `rule "T" has no keys`},
		{"(S0)", 1, `rule "S0" has no keys`},
		{"(12| ! )", 5, `rule "!" has no keys`},
		{strings.Repeat("x", maxSteps+1), 0, `more than 63 keys`},
		{"(" + strings.Repeat("<1:>", maxSteps) + "1)", 1, `more than 63 keys`},
		{strings.Repeat("x", MaxPlanLen+1), MaxPlanLen, `more than 8192`},
	}
	for _, tt := range tests {
		p, err := Parse(tt.plan, Options{})
		var se *SyntaxError
		if !errors.As(err, &se) {
			t.Errorf("Parse(%q) = %v, %v; want a *SyntaxError", tt.plan, p, err)
			continue
		}
		if se.Pos != tt.pos || !strings.Contains(se.Msg, tt.msg) {
			t.Errorf("Parse(%q): position %d %q; want position %d and %q", tt.plan, se.Pos, se.Msg, tt.pos, tt.msg)
		}
	}
}

// The config loader prefixes this message with the file and line; it must
// name the position and quote the plan.
func TestSyntaxErrorMessage(t *testing.T) {
	_, err := Parse("(911|1[2-9xxxxxxxxx)", Options{})
	want := `dial plan: position 6: unterminated "[" in "(911|1[2-9xxxxxxxxx)"`
	if err == nil || err.Error() != want {
		t.Errorf("error %q, want %q", err, want)
	}
	long := "(" + strings.Repeat("1234567890|", 20) + "12?4|" + strings.Repeat("1234567890|", 20) + "1)"
	_, err = Parse(long, Options{})
	if err == nil || !strings.Contains(err.Error(), `unknown character '?' in …"1234567890|1234567890|12?4|1234567890|`) || !strings.HasSuffix(err.Error(), `"…`) {
		t.Errorf("long plan: error %q should quote the text around the problem", err)
	}
}

func TestParseBadOptions(t *testing.T) {
	for _, o := range []Options{{ShortTimer: -time.Second}, {LongTimer: -1}} {
		_, err := Parse("(xx)", o)
		var se *SyntaxError
		if err == nil || errors.As(err, &se) {
			t.Errorf("Parse with %+v: error %v, want a plain error", o, err)
		}
	}
}

func TestString(t *testing.T) {
	tests := []struct{ in, want string }{
		{usPlan, usPlan},
		{ukPlan, ukPlan},
		{dePlan, dePlan},
		{" ( 911 | 1 [2-9] xx xxx xxxx ) ", "(911|1[2-9]xxxxxxxxx)"},
		{"911|xxx", "(911|xxx)"},
		{"[0-9]X.", "(xx.)"},
		{"[5]x", "(5x)"},
		{"[2-46-8*#]", "([2-46-8*#])"},
		{"[21]", "([12])"},
		{"[0123456789*#ABCD]", "([0-9*#ABCD])"},
		{"[13579]", "([13579])"},
		{"[4-4]", "(4)"},
		{"x .", "(x.)"},
		{"L:15,S:6,(xS0 5)", "S:6,L:15,(xS0 5)"},
		{"9, ,xxx", "(9,xxx)"},
		{"9, S4, xxx", "(9,S4 xxx)"},
		{"1900x.!", "(1900x.!)"},
		{"011x.T", "(011x.T)"},
		{"xxTS4", "(xxS4T)"},
		{"xx T ! ", "(xxT!)"},
		{"< 011 : 00 >x.", "(<011:00>x.)"},
		{"<9:> xxx|<:+1>xx", "(<9:>xxx|<:+1>xx)"},
		{"S0 <:12125551234>", "(S0 <:12125551234>)"},
		{"(9,8<:1408>[2-9]xxxxxx | 9,8,1[2-9]xxxxxxxxxS0 | 9,8,011xx. | 9,8,xx.|[1-8]xx)",
			"(9,8<:1408>[2-9]xxxxxx|9,8,1[2-9]xxxxxxxxxS0|9,8,011xx.|9,8,xx.|[1-8]xx)"},
		{"(011 L20 xxxx.|A1)", "(011L20 xxxx.|A1)"},
	}
	for _, tt := range tests {
		p := mustParse(t, tt.in, Options{})
		got := p.String()
		if got != tt.want {
			t.Errorf("Parse(%q).String() = %q, want %q", tt.in, got, tt.want)
			continue
		}
		again := mustParse(t, got, Options{})
		if !reflect.DeepEqual(p, again) {
			t.Errorf("%q: reparsing String() %q gives a different plan", tt.in, got)
		}
	}
}

// Options are not part of the text: String leaves them out, and a plan's
// own S:/L: prefixes win over them.
func TestStringKeepsOptionsOut(t *testing.T) {
	o := Options{ShortTimer: 2 * time.Second, LongTimer: 3 * time.Second}
	p := mustParse(t, "S:6,(xxx|xxxxx)", o)
	if got := p.String(); got != "S:6,(xxx|xxxxx)" {
		t.Errorf("String() = %q", got)
	}
	if got := p.Match("123").Timeout; got != 6*time.Second {
		t.Errorf("short timer %v, want the plan's 6s", got)
	}
	if got := p.Match("").Timeout; got != 3*time.Second {
		t.Errorf("long timer %v, want the options' 3s", got)
	}
}
