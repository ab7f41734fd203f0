package flash

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// Dev is a device number, as the kernel writes it in /proc/self/mountinfo
// and /sys/dev/block: major:minor.
type Dev struct {
	Major, Minor uint32
}

func (d Dev) String() string { return fmt.Sprintf("%d:%d", d.Major, d.Minor) }

// parseDev reads "8:17".
func parseDev(s string) (Dev, error) {
	maj, min, ok := strings.Cut(strings.TrimSpace(s), ":")
	if !ok {
		return Dev{}, fmt.Errorf("device number %q: want major:minor", s)
	}
	a, err := strconv.ParseUint(maj, 10, 32)
	if err != nil {
		return Dev{}, fmt.Errorf("device number %q: major: %w", s, err)
	}
	b, err := strconv.ParseUint(min, 10, 32)
	if err != nil {
		return Dev{}, fmt.Errorf("device number %q: minor: %w", s, err)
	}
	return Dev{uint32(a), uint32(b)}, nil
}

// Mount is one line of /proc/self/mountinfo, the fields the safety checks
// need.
type Mount struct {
	Dev    Dev    // st_dev of the mounted filesystem; 0:N for virtual and some multi-device filesystems
	Point  string // where it is mounted, unescaped
	FSType string
	Source string // "/dev/sdb1", "overlay", "tmpfs", …
}

// ParseMountInfo reads the kernel's mountinfo format (proc(5)). A line it
// cannot read is an error naming the line: a safety check that skipped a
// mount could let a mounted disk be overwritten.
func ParseMountInfo(r io.Reader) ([]Mount, error) {
	var out []Mount
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64*1024), 1024*1024)
	n := 0
	for sc.Scan() {
		n++
		if strings.TrimSpace(sc.Text()) == "" {
			continue
		}
		m, err := parseMountLine(sc.Text())
		if err != nil {
			return nil, fmt.Errorf("mountinfo line %d: %w", n, err)
		}
		out = append(out, m)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read mountinfo: %w", err)
	}
	return out, nil
}

// parseMountLine reads
//
//	36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue
//
// where the optional fields before "-" may be any in number.
func parseMountLine(line string) (Mount, error) {
	f := strings.Fields(line)
	if len(f) < 7 {
		return Mount{}, fmt.Errorf("%d fields, want at least 7", len(f))
	}
	sep := -1
	for i := 6; i < len(f); i++ {
		if f[i] == "-" {
			sep = i
			break
		}
	}
	if sep < 0 || len(f) < sep+3 {
		return Mount{}, errors.New(`no "- fstype source" after the optional fields`)
	}
	dev, err := parseDev(f[2])
	if err != nil {
		return Mount{}, err
	}
	point, err := unescapeOctal(f[4])
	if err != nil {
		return Mount{}, fmt.Errorf("mount point: %w", err)
	}
	src, err := unescapeOctal(f[sep+2])
	if err != nil {
		return Mount{}, fmt.Errorf("mount source: %w", err)
	}
	return Mount{Dev: dev, Point: point, FSType: f[sep+1], Source: src}, nil
}

// unescapeOctal undoes the kernel's escaping of space, tab, newline and
// backslash as \040, \011, \012 and \134.
func unescapeOctal(s string) (string, error) {
	if !strings.Contains(s, `\`) {
		return s, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' {
			b.WriteByte(s[i])
			continue
		}
		if i+4 > len(s) {
			return "", fmt.Errorf("%q: short escape at byte %d", s, i)
		}
		v, err := strconv.ParseUint(s[i+1:i+4], 8, 8)
		if err != nil {
			return "", fmt.Errorf("%q: bad escape at byte %d", s, i)
		}
		b.WriteByte(byte(v))
		i += 3
	}
	return b.String(), nil
}
