package image

import "testing"

func TestVersionOrder(t *testing.T) {
	// Each is below the next.
	ordered := []string{"dev", "0.9.9", "v1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-alpha.beta", "1.0.0-beta.2", "1.0.0-beta.11", "1.0.0-rc.1", "1.0.0", "v1.0.0-4-gabc1234", "1.0.0-12-gabc1234-dirty", "1.0.1", "1.1", "2.0.0"}
	for i := range ordered {
		for j := range ordered {
			a, err1 := ParseVersion(ordered[i])
			b, err2 := ParseVersion(ordered[j])
			if err1 != nil || err2 != nil {
				t.Fatalf("parse %q, %q: %v %v", ordered[i], ordered[j], err1, err2)
			}
			want := sign(i - j)
			if got := a.Compare(b); got != want {
				t.Errorf("Compare(%s, %s) = %d, want %d", ordered[i], ordered[j], got, want)
			}
		}
	}
}

func TestDevVersions(t *testing.T) {
	for _, s := range []string{"", "dev", "f0ba696", "f0ba696-dirty", "main"} {
		v, err := ParseVersion(s)
		if err != nil || !v.Dev {
			t.Errorf("ParseVersion(%q) = %+v, %v; want a dev version", s, v, err)
		}
	}
}

func TestBadVersions(t *testing.T) {
	for _, s := range []string{"1.x.0", "1.2.3.4", "01.2.3", "1.2.3-", "1.0.0-a..b", "1.0 0", "1.0.0\x00"} {
		if v, err := ParseVersion(s); err == nil {
			t.Errorf("ParseVersion(%q) = %+v, want an error", s, v)
		}
	}
}
