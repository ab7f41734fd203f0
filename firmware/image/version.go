package image

import (
	"fmt"
	"strconv"
	"strings"
)

// Version is a firmware version that can be ordered: semver-like
// ("1.4.0", "v1.4.0-rc.1") with `git describe` output tolerated
// ("v0.3.1-4-gabc1234", "v0.3.1-dirty"). A build with no release tag
// ("dev", or a bare commit hash "f0ba696-dirty") is a development version:
// it sorts below every release, so a device running one accepts any image
// and a release never counts as a downgrade from it.
type Version struct {
	Major, Minor, Patch int
	// Pre is the pre-release label ("rc.1"); a pre-release sorts below
	// its release.
	Pre string
	// Commits counts commits since the tag (git describe); they sort
	// above the tag and below the next release.
	Commits int
	// Dev is a development build; Raw keeps what was parsed.
	Dev bool
	Raw string
}

// maxVersionLen bounds what ParseVersion reads: a version is a short label.
const maxVersionLen = 128

// ParseVersion reads s. An empty string, "dev", and strings that do not
// start with a digit (after an optional "v") are development versions.
func ParseVersion(s string) (Version, error) {
	if len(s) > maxVersionLen {
		return Version{}, fmt.Errorf("version %.20q…: longer than %d characters", s, maxVersionLen)
	}
	for _, c := range s {
		if c <= ' ' || c > '~' {
			return Version{}, fmt.Errorf("version %q: only printable ASCII without spaces", s)
		}
	}
	v := Version{Raw: s}
	rest := strings.TrimPrefix(s, "v")
	if rest == "" || rest[0] < '0' || rest[0] > '9' {
		v.Dev = true
		return v, nil
	}
	rest = strings.TrimSuffix(rest, "-dirty")
	core, suffix, dash := strings.Cut(rest, "-")
	if dash && suffix == "" {
		return Version{}, fmt.Errorf("version %q: empty pre-release part", s)
	}
	if plus := strings.IndexByte(core, '+'); plus >= 0 { // build metadata does not order
		core = core[:plus]
	}
	parts := strings.Split(core, ".")
	if len(parts) > 3 {
		return Version{}, fmt.Errorf("version %q: want MAJOR.MINOR.PATCH", s)
	}
	nums := [3]int{}
	for i, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 || n > 1_000_000 || (len(p) > 1 && p[0] == '0') {
			return Version{}, fmt.Errorf("version %q: %q is not a version number", s, p)
		}
		nums[i] = n
	}
	v.Major, v.Minor, v.Patch = nums[0], nums[1], nums[2]
	if suffix == "" {
		return v, nil
	}
	if plus := strings.IndexByte(suffix, '+'); plus >= 0 {
		suffix = suffix[:plus]
	}
	// git describe appends "-<commits>-g<hash>" to the tag.
	fields := strings.Split(suffix, "-")
	if n := len(fields); n >= 2 && isHash(fields[n-1]) {
		c, err := strconv.Atoi(fields[n-2])
		if err == nil && c >= 0 {
			v.Commits = c
			fields = fields[:n-2]
		}
	}
	v.Pre = strings.Join(fields, "-")
	if v.Pre != "" {
		for _, id := range strings.Split(v.Pre, ".") {
			if id == "" {
				return Version{}, fmt.Errorf("version %q: empty pre-release part", s)
			}
		}
	}
	return v, nil
}

// isHash reports whether s is git describe's "g<abbreviated hash>".
func isHash(s string) bool {
	if len(s) < 5 || s[0] != 'g' {
		return false
	}
	for _, c := range s[1:] {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// String is the version as it was written.
func (v Version) String() string {
	if v.Raw == "" && v.Dev {
		return "dev"
	}
	return v.Raw
}

// Compare returns -1, 0 or +1 as v sorts before, with or after w.
// Development versions are equal to each other and below every release.
func (v Version) Compare(w Version) int {
	switch {
	case v.Dev && w.Dev:
		return 0
	case v.Dev:
		return -1
	case w.Dev:
		return 1
	}
	for _, d := range [...]int{v.Major - w.Major, v.Minor - w.Minor, v.Patch - w.Patch} {
		if d != 0 {
			return sign(d)
		}
	}
	if c := comparePre(v.Pre, w.Pre); c != 0 {
		return c
	}
	return sign(v.Commits - w.Commits)
}

func sign(d int) int {
	switch {
	case d < 0:
		return -1
	case d > 0:
		return 1
	}
	return 0
}

// comparePre orders pre-release labels as semver does: none is highest;
// dot-separated parts compare numerically when both are numbers, else as
// text, numbers below text; a shorter label that is a prefix sorts first.
func comparePre(a, b string) int {
	switch {
	case a == b:
		return 0
	case a == "":
		return 1
	case b == "":
		return -1
	}
	as, bs := strings.Split(a, "."), strings.Split(b, ".")
	for i := 0; i < len(as) && i < len(bs); i++ {
		an, aerr := strconv.Atoi(as[i])
		bn, berr := strconv.Atoi(bs[i])
		switch {
		case aerr == nil && berr == nil:
			if an != bn {
				return sign(an - bn)
			}
		case aerr == nil:
			return -1
		case berr == nil:
			return 1
		default:
			if c := strings.Compare(as[i], bs[i]); c != 0 {
				return c
			}
		}
	}
	return sign(len(as) - len(bs))
}
