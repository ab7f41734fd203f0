package dialplan

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/tipring/tipring/boards/region"
)

// Every region's default plan must load, and docs/dialplan.md must show it.
func TestRegionPlans(t *testing.T) {
	doc, err := os.ReadFile("../../docs/dialplan.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, code := range region.Codes() {
		r, err := region.Lookup(code)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Parse(r.DialPlan, Options{}); err != nil {
			t.Errorf("region %s: %v", code, err)
		}
		row := "| `" + code + "` | `" + strings.ReplaceAll(r.DialPlan, "|", `\|`) + "` |"
		if !strings.Contains(string(doc), row) {
			t.Errorf("docs/dialplan.md lacks the row %s", row)
		}
	}
}

// The plans in docs/dialplan.md parse, except in the section on mistakes.
func TestDocsPlans(t *testing.T) {
	doc, err := os.ReadFile("../../docs/dialplan.md")
	if err != nil {
		t.Fatal(err)
	}
	good, _, _ := strings.Cut(string(doc), "## Mistakes")
	n := 0
	// Plans in fenced blocks stand alone on a line; take the fences out
	// before pairing single backticks.
	fence := regexp.MustCompile("(?s)```\n(.*?)```\n")
	for _, m := range fence.FindAllStringSubmatch(good, -1) {
		for _, line := range strings.Split(m[1], "\n") {
			if plansLike.MatchString(line) {
				n++
				if _, err := Parse(line, Options{}); err != nil {
					t.Errorf("docs/dialplan.md: %q: %v", line, err)
				}
			}
		}
	}
	good = fence.ReplaceAllString(good, "")
	for _, m := range regexp.MustCompile("`([^`]+)`").FindAllStringSubmatch(good, -1) {
		s := strings.ReplaceAll(m[1], `\|`, "|")
		s = strings.ReplaceAll(s, "|…", "")
		if !plansLike.MatchString(s) || strings.Contains(s, "…") {
			continue
		}
		n++
		if _, err := Parse(s, Options{}); err != nil {
			t.Errorf("docs/dialplan.md: %q: %v", m[1], err)
		}
	}
	t.Logf("%d plans checked", n)
	if n < 12 {
		t.Errorf("only %d plans found in docs/dialplan.md", n)
	}
}

var plansLike = regexp.MustCompile(`^([SL]:[0-9]+,)*\(.*\)$`)

// The recipes in docs/dialplan.md do what the page says.
func TestDocsRecipes(t *testing.T) {
	tests := []struct {
		plan   string
		digits string
		expire bool
		want   Result
	}{
		{"(<:1408>[2-9]xxxxxx|1[2-9]xxxxxxxxx)", "5551234", false, dial("14085551234", 0)},
		{"(<9:>,1[2-9]xxxxxxxxx|<9:>,[2-9]xxxxxx|[1-8]xx)", "9", false, Result{Action: Continue, Timeout: long, Rule: -1, SecondaryDialTone: true}},
		{"(<9:>,1[2-9]xxxxxxxxx|<9:>,[2-9]xxxxxx|[1-8]xx)", "914085551234", false, dial("14085551234", 0)},
		{"(<9:>,1[2-9]xxxxxxxxx|<9:>,[2-9]xxxxxx|[1-8]xx)", "95551234", false, dial("5551234", 1)},
		{"(<9:>,1[2-9]xxxxxxxxx|<9:>,[2-9]xxxxxx|[1-8]xx)", "123", false, dial("123", 2)},
		{"(011x.!|1[2-9]xxxxxxxxx)", "011", false, block(0)},
		{"(<011:+>x.T|1[2-9]xxxxxxxxx)", "01144", true, dial("+44", 0)},
		{"(*xx|*72x.T)", "*69", false, dial("*69", 0)},
		{"(*xx|*72x.T)", "*72", false, cont(short, 1)},
		{"(*xx|*72x.T)", "*725551234", true, dial("*725551234", 1)},
		{"L:20,(xxxx)", "1", false, cont(20e9, -1)},
		{"(1xxxxxxxxxx | 1 900 xxxxxxx !)", "19005551234", false, block(1)},
	}
	for _, tt := range tests {
		p := mustParse(t, tt.plan, Options{})
		got := p.Match(tt.digits)
		if tt.expire {
			got = p.Timeout(tt.digits)
		}
		if got != tt.want {
			t.Errorf("%s %q (timeout %v) = %+v, want %+v", tt.plan, tt.digits, tt.expire, got, tt.want)
		}
	}
}
