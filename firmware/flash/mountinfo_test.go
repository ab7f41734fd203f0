package flash

import (
	"fmt"
	"strings"
	"testing"
)

func TestParseMountInfo(t *testing.T) {
	in := "36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue\n" +
		"\n" +
		`40 22 8:17 / /media/a\040b\134c rw shared:3 master:4 - vfat /dev/sdb1 rw` + "\n" +
		"41 22 0:52 / /run/user/0 rw - tmpfs tmpfs rw\n"
	got, err := ParseMountInfo(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	want := []Mount{
		{Dev{98, 0}, "/mnt2", "ext3", "/dev/root"},
		{Dev{8, 17}, `/media/a b\c`, "vfat", "/dev/sdb1"},
		{Dev{0, 52}, "/run/user/0", "tmpfs", "tmpfs"},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d mounts, want %d: %+v", len(got), len(want), got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("mount %d = %+v, want %+v", i, got[i], want[i])
		}
	}
	for _, bad := range []string{
		"36 35 98:0 /mnt1 /mnt2 rw",                         // short
		"36 35 98:0 /mnt1 /mnt2 rw master:1 ext3 /dev/x rw", // no separator
		"36 35 98-0 /mnt1 /mnt2 rw - ext3 /dev/x rw",        // device number
		`36 35 98:0 /mnt1 /mnt\04 rw - ext3 /dev/x rw`,      // short escape
		`36 35 98:0 /mnt1 /mnt\999 rw - ext3 /dev/x rw`,     // not octal
		"36 35 98:0 /mnt1 /mnt2 rw -",                       // nothing after the separator
	} {
		if _, err := ParseMountInfo(strings.NewReader("1 1 0:1 / / rw - ext4 /dev/a rw\n" + bad + "\n")); err == nil || !strings.Contains(err.Error(), "line 2") {
			t.Errorf("%q: %v; want an error naming line 2", bad, err)
		}
	}
}

// escapeOctal is the kernel's side of unescapeOctal, stricter: every
// byte outside printable ASCII is escaped, so no escaped field can hold a
// byte strings.Fields splits on.
func escapeOctal(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || c == '\\' {
			fmt.Fprintf(&b, "\\%03o", c)
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

// FuzzParseMountInfo: no input panics, and a mount that parses survives
// being written back the way the kernel writes it.
func FuzzParseMountInfo(f *testing.F) {
	f.Add("36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue")
	f.Add(`40 22 8:17 / /media/a\040b rw shared:3 - vfat /dev/sdb1 rw`)
	f.Fuzz(func(t *testing.T, line string) {
		ms, err := ParseMountInfo(strings.NewReader(line))
		if err != nil {
			return
		}
		for _, m := range ms {
			again := "1 1 " + m.Dev.String() + " / " + escapeOctal(m.Point) + " rw - " + m.FSType + " " + escapeOctal(m.Source) + " rw"
			m2, err := parseMountLine(again)
			if err != nil {
				t.Fatalf("%+v written back as %q does not parse: %v", m, again, err)
			}
			if m2 != m {
				t.Fatalf("%+v written back as %q parses as %+v", m, again, m2)
			}
		}
	})
}
