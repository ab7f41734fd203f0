package diag

import (
	"net/netip"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"
)

// docSections splits docs/diag.md at its headings: heading line → body.
func docSections(t *testing.T) map[string]string {
	t.Helper()
	b, err := os.ReadFile("../docs/diag.md")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	head := ""
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "#") {
			head = l
			continue
		}
		out[head] += l + "\n"
	}
	return out
}

// jsonFields lists the JSON names of t's fields as encoding/json writes
// them (embedded structs inlined), and the struct types they lead to.
func jsonFields(t reflect.Type) (names []string, nested []reflect.Type) {
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" {
			continue
		}
		if f.Anonymous && name == "" {
			n, s := jsonFields(f.Type)
			names, nested = append(names, n...), append(nested, s...)
			continue
		}
		names = append(names, name)
		if name == "" {
			names[len(names)-1] = f.Name
		}
		nested = append(nested, f.Type)
	}
	return names, nested
}

// Every field diag.json can hold is documented in docs/diag.md, in the
// section of its type: the doc cannot fall behind the code.
func TestSchemaDocumented(t *testing.T) {
	sections := docSections(t)
	leaf := map[reflect.Type]bool{
		reflect.TypeFor[time.Time](): true, reflect.TypeFor[netip.Addr](): true,
		reflect.TypeFor[netip.AddrPort](): true, reflect.TypeFor[netip.Prefix](): true,
	}
	seen := map[reflect.Type]bool{}
	var walk func(rt reflect.Type)
	walk = func(rt reflect.Type) {
		for rt.Kind() == reflect.Pointer || rt.Kind() == reflect.Slice || rt.Kind() == reflect.Map {
			rt = rt.Elem()
		}
		if rt.Kind() != reflect.Struct || leaf[rt] || seen[rt] {
			return
		}
		seen[rt] = true
		body, found := "", false
		for head, b := range sections {
			if strings.HasPrefix(head, "### ") && strings.Contains(head, "`"+rt.String()+"`") {
				body, found = b, true
			}
		}
		if !found {
			t.Errorf("docs/diag.md has no section \"### `%s`\"", rt)
			return
		}
		names, nested := jsonFields(rt)
		for _, n := range names {
			if !strings.Contains(body, "| `"+n+"` |") {
				t.Errorf("docs/diag.md, section %s: field `%s` is not documented", rt, n)
			}
		}
		for _, n := range nested {
			walk(n)
		}
	}
	walk(reflect.TypeFor[Evidence]())
	if len(seen) < 20 {
		t.Fatalf("walked only %d types: the walk is broken", len(seen))
	}
}

func TestFindingsDocumented(t *testing.T) {
	var findings string
	for head, b := range docSections(t) {
		if head == "## Findings" {
			findings = b
		}
	}
	if findings == "" {
		t.Fatal(`docs/diag.md has no "## Findings" section`)
	}
	for _, r := range rules() {
		if !strings.Contains(findings, "| `"+r.id+"` |") {
			t.Errorf("finding %s is not in the table of docs/diag.md", r.id)
		}
	}
}

// The bundle's files are documented in the order of Layout().
func TestLayoutDocumented(t *testing.T) {
	var files string
	for head, b := range docSections(t) {
		if head == "## The files" {
			files = b
		}
	}
	last := -1
	for _, name := range Layout() {
		i := strings.Index(files, "| `"+name+"` |")
		if i < 0 {
			t.Errorf("%s is not in the table of files", name)
			continue
		}
		if i < last {
			t.Errorf("%s is documented out of Layout() order", name)
		}
		last = i
	}
}
