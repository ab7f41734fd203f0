package provision

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestMain(m *testing.M) { goleakMain(m) }

func testFactory(t testing.TB) Factory {
	t.Helper()
	f, err := NewFactory("TR-000123", "00:11:22:AA:BB:CC", bytes.NewReader(bytes.Repeat([]byte{7}, 32)))
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// The password is a function of the secret alone: the label printed at
// the factory stays right for the device's whole life, through firmware
// updates and factory resets. The golden value pins the derivation.
func TestAdminPasswordIsStable(t *testing.T) {
	f := testFactory(t)
	if got, want := f.AdminPassword(), "befz9hunwxud"; got != want {
		t.Fatalf("password %q, want %q: changing the derivation makes every printed label wrong", got, want)
	}
	again, err := ParseFactory(f.Marshal())
	if err != nil {
		t.Fatal(err)
	}
	if again.AdminPassword() != f.AdminPassword() {
		t.Fatal("the password changed through the factory file")
	}
}

func TestAdminPasswordIsUniqueAndReadable(t *testing.T) {
	seen := map[string]bool{}
	for range 2000 {
		secret := make([]byte, 32)
		if _, err := rand.Read(secret); err != nil {
			t.Fatal(err)
		}
		p := DerivePassword(secret)
		if len(p) != 12 {
			t.Fatalf("password %q: want 12 characters", p)
		}
		if strings.Trim(p, passwordAlphabet) != "" || strings.ContainsAny(p, "01ilo") {
			t.Fatalf("password %q has a character outside %q", p, passwordAlphabet)
		}
		if seen[p] {
			t.Fatalf("two secrets gave the password %q", p)
		}
		seen[p] = true
	}
}

func TestLabelNamesSerialMACAndPassword(t *testing.T) {
	f := testFactory(t)
	l := f.Label()
	for _, want := range []string{"TR-000123", "00:11:22:aa:bb:cc", f.AdminPassword()} {
		if !strings.Contains(l, want) {
			t.Errorf("label %q lacks %q", l, want)
		}
	}
}

func TestFactoryFileRefusals(t *testing.T) {
	good := testFactory(t)
	for _, tc := range []struct{ doc, want string }{
		{`{"serial":"","mac":"001122aabbcc","secret":"` + good.Secret + `"}`, "serial is missing"},
		{`{"serial":"a b","mac":"001122aabbcc","secret":"` + good.Secret + `"}`, "without spaces"},
		{`{"serial":"x","mac":"0011","secret":"` + good.Secret + `"}`, "want 6 bytes"},
		{`{"serial":"x","mac":"00:11:22:aa:bb:cc","secret":"` + good.Secret + `"}`, `write it as "001122aabbcc"`},
		{`{"serial":"x","mac":"001122aabbcc","secret":"abcd"}`, "want 64 hex digits"},
		{`{"serial":"x","mac":"001122aabbcc","secret":"` + good.Secret + `","colour":"red"}`, `unknown field "colour"`},
		{`{"serial":"x","mac":"001122aabbcc","secret":"` + good.Secret + `","provision_url":"tftp://x"}`, "provision_url"},
		{`{"serial":"x","mac":"001122aabbcc","secret":"` + good.Secret + `","provision_key":"c2hvcnQ="}`, "provision_key"},
		{`{"serial":"x"} {}`, "more than one"},
		{strings.Repeat(" ", 5000), "more than the"},
	} {
		_, err := ParseFactory([]byte(tc.doc))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%.60s: err %v, want %q", tc.doc, err, tc.want)
		}
	}
}

func TestFactoryFileIsWrittenOncePrivately(t *testing.T) {
	path := filepath.Join(t.TempDir(), FactoryFile)
	f := testFactory(t)
	if err := f.Write(path); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600: the file holds the secret", st.Mode().Perm())
	}
	other := f
	other.Secret = hex.EncodeToString(bytes.Repeat([]byte{9}, 32))
	if err := other.Write(path); err == nil || !strings.Contains(err.Error(), "written once") {
		t.Fatalf("second write: %v, want a refusal", err)
	}
	back, err := LoadFactory(path)
	if err != nil || back != f {
		t.Fatalf("LoadFactory = %+v, %v; want the first device's data", back, err)
	}
}

func FuzzParseFactory(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		fac, err := ParseFactory(data)
		if err != nil {
			return
		}
		// What parses must survive its own encoding and give a password.
		again, err := ParseFactory(fac.Marshal())
		if err != nil || again != fac {
			t.Fatalf("round trip: %+v, %v; want %+v", again, err, fac)
		}
		if len(fac.AdminPassword()) != passwordLen {
			t.Fatalf("password %q", fac.AdminPassword())
		}
	})
}
