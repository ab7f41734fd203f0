package peers

import (
	"encoding/json"
	"strings"
	"testing"
)

// ul.lookup's answer as Kamailio 5.6 gives it (fields trimmed).
const sampleLookup = `{"AoR":"1001","HashID":1234,"Contacts":[{"Contact":{"Address":"sip:1001@127.0.0.1:5062","Expires":299,"Q":-1,"Call-ID":"x","CSeq":2,"User-Agent":"1001","Received":"sip:127.0.0.1:40000","Path":"[not set]","State":"CS_NEW","Flags":0,"CFlags":64,"Socket":"udp:127.0.0.1:5060","Methods":4294967295}}]}`

func TestParseBindings(t *testing.T) {
	b, err := parseBindings(json.RawMessage(sampleLookup))
	if err != nil {
		t.Fatal(err)
	}
	if len(b) != 1 {
		t.Fatalf("%d bindings, want 1", len(b))
	}
	want := Binding{Contact: "sip:1001@127.0.0.1:5062", Received: "sip:127.0.0.1:40000", Expires: 299, UserAgent: "1001"}
	if b[0] != want {
		t.Fatalf("got %+v, want %+v", b[0], want)
	}
	b, err = parseBindings(json.RawMessage(`{"AoR":"1001","Contacts":[{"Contact":{"Address":"sip:x","Expires":"permanent","Received":"[not set]"}}]}`))
	if err != nil || len(b) != 1 || b[0].Received != "" || b[0].Expires != 0 {
		t.Fatalf("permanent binding: %+v, %v", b, err)
	}
	if _, err := parseBindings(json.RawMessage(`[1,2]`)); err == nil {
		t.Fatal("an array parsed as bindings")
	}
}

func FuzzParseBindings(f *testing.F) {
	f.Add([]byte(sampleLookup))
	f.Add([]byte(`{"Contacts":[]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = parseBindings(b)
	})
}

func TestCheckToken(t *testing.T) {
	for _, bad := range []string{"", "a:b", "a b", "a\nb", `a"b`, `a\b`} {
		if err := checkToken("user name", bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	if err := checkToken("user name", "a:b"); !strings.Contains(err.Error(), "user name") {
		t.Errorf("error %q does not name the field", err)
	}
	if err := checkToken("user name", "1001"); err != nil {
		t.Errorf("1001 refused: %v", err)
	}
}

func TestKamailioConfigRenders(t *testing.T) {
	path := t.TempDir() + "/k.cfg"
	if err := renderKamailioConfig(path, kamailioConfig{Debug: 2, Port: 5060, RPCPort: 5061, Realm: "r", MinExpires: 60, DBDir: "/x"}); err != nil {
		t.Fatal(err)
	}
}
