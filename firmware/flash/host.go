package flash

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// Refusals. Each comes wrapped in a message that names the disk and what
// to do; callers tell them apart with errors.Is.
var (
	ErrMounted    = errors.New("target is mounted")
	ErrInUse      = errors.New("target is in use")
	ErrSystemDisk = errors.New("target holds the running system")
	ErrTooSmall   = errors.New("image is larger than the target")
	ErrNotDisk    = errors.New("target is not a block device")
	ErrVerify     = errors.New("verification failed")
)

// Host is where the safety checks look for the running system's mounts
// (/proc/self/mountinfo) and disks (/sys). Root "" is the real system; a
// test gives the root of a fake tree.
type Host struct {
	Root string
}

func (h Host) path(p string) string {
	if h.Root == "" {
		return p
	}
	return filepath.Join(h.Root, p)
}

// Mounts reads the host's mount table.
func (h Host) Mounts() ([]Mount, error) {
	f, err := os.Open(h.path("/proc/self/mountinfo"))
	if err != nil {
		return nil, fmt.Errorf("read the mount table: %w", err)
	}
	defer f.Close()
	return ParseMountInfo(f)
}

// disk is a whole disk and its partitions, as sysfs shows them.
type disk struct {
	name  string // "sdb"
	dev   Dev
	parts map[Dev]string // partition device number → name ("sdb1")
	dir   string         // its directory under /sys/devices, resolved
}

// diskOf finds the whole disk a device number belongs to: the disk itself
// or the parent of a partition. A device sysfs does not know is a disk of
// its own with no partitions.
func (h Host) diskOf(d Dev) disk {
	dir, err := filepath.EvalSymlinks(h.path("/sys/dev/block/" + d.String()))
	if err != nil {
		return disk{name: d.String(), dev: d}
	}
	if exists(filepath.Join(dir, "partition")) {
		dir = filepath.Dir(dir)
	}
	k := disk{name: filepath.Base(dir), dev: d, parts: map[Dev]string{}, dir: dir}
	if dd, err := readDev(filepath.Join(dir, "dev")); err == nil {
		k.dev = dd
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		sub := filepath.Join(dir, e.Name())
		if !exists(filepath.Join(sub, "partition")) {
			continue
		}
		if pd, err := readDev(filepath.Join(sub, "dev")); err == nil {
			k.parts[pd] = e.Name()
		}
	}
	return k
}

// members is the disk and its partitions by device number.
func (k disk) members() map[Dev]string {
	m := map[Dev]string{k.dev: k.name}
	for d, n := range k.parts {
		m[d] = n
	}
	return m
}

// systemMounts are the mount points whose disks hold the running system.
var systemMounts = []string{"/", "/boot", "/boot/efi", "/usr"}

// Check refuses a block device that must not be overwritten: it or one
// of its partitions is mounted or held by another kernel device (LVM,
// RAID, dm-crypt), or its disk holds the running system.
func (h Host) Check(target Dev) error {
	mounts, err := h.Mounts()
	if err != nil {
		return err
	}
	k := h.diskOf(target)
	members := k.members()
	// The system disk first: it is mounted too, but "this is the disk
	// your computer runs from" is the message that stops a slip.
	for _, m := range mounts {
		if !isSystemMount(m.Point) {
			continue
		}
		for _, sd := range h.backing(h.mountDevs(m)) {
			if _, ok := members[sd]; ok {
				return fmt.Errorf("%w: %s (%s) is the disk behind %s of this computer; pick the SD card or USB reader instead (lsblk lists the disks)", ErrSystemDisk, k.name, target, m.Point)
			}
		}
	}
	for _, m := range mounts {
		for _, md := range h.mountDevs(m) {
			if name, ok := members[md]; ok {
				return fmt.Errorf("%w: %s is mounted on %s; unmount it first (umount %s)", ErrMounted, name, m.Point, shellQuote(m.Point))
			}
		}
	}
	for d, name := range members {
		dir := k.dir
		if d != k.dev {
			dir = filepath.Join(k.dir, name)
		}
		if dir == "" {
			continue
		}
		holders, _ := os.ReadDir(filepath.Join(dir, "holders"))
		if len(holders) > 0 {
			return fmt.Errorf("%w: %s is held by %s (LVM, RAID or an encrypted volume); deactivate that first (dmsetup ls, cat /proc/mdstat)", ErrInUse, name, holders[0].Name())
		}
	}
	return nil
}

func isSystemMount(p string) bool {
	for _, s := range systemMounts {
		if p == s {
			return true
		}
	}
	return false
}

// mountDevs are the device numbers a mount stands on: its st_dev, and the
// device its source names when that is a block device (btrfs and
// friends report an anonymous 0:N st_dev).
func (h Host) mountDevs(m Mount) []Dev {
	out := []Dev{m.Dev}
	if strings.HasPrefix(m.Source, "/dev/") {
		if d, err := blockDev(h.path(m.Source)); err == nil && d != m.Dev {
			out = append(out, d)
		}
	}
	return out
}

// backing follows device-mapper and RAID devices down to the disks (and
// partitions) they are built on, so that a root on LVM still names its
// disk.
func (h Host) backing(devs []Dev) []Dev {
	var out []Dev
	seen := map[Dev]bool{}
	var walk func(d Dev, depth int)
	walk = func(d Dev, depth int) {
		if seen[d] || depth > 8 {
			return
		}
		seen[d] = true
		out = append(out, d)
		dir, err := filepath.EvalSymlinks(h.path("/sys/dev/block/" + d.String()))
		if err != nil {
			return
		}
		slaves, _ := os.ReadDir(filepath.Join(dir, "slaves"))
		for _, s := range slaves {
			sd, err := readDev(filepath.Join(dir, "slaves", s.Name(), "dev"))
			if err == nil {
				walk(sd, depth+1)
			}
		}
	}
	for _, d := range devs {
		walk(d, 0)
	}
	return out
}

func readDev(path string) (Dev, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Dev{}, err
	}
	return parseDev(string(b))
}

// blockDev is the device number of a block special file.
func blockDev(path string) (Dev, error) {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return Dev{}, err
	}
	if st.Mode&unix.S_IFMT != unix.S_IFBLK {
		return Dev{}, fmt.Errorf("%s: %w", path, ErrNotDisk)
	}
	rdev := uint64(st.Rdev)
	return Dev{unix.Major(rdev), unix.Minor(rdev)}, nil
}

func exists(p string) bool {
	_, err := os.Stat(p)
	return err == nil || !errors.Is(err, fs.ErrNotExist)
}

// shellQuote makes a mount point safe to paste into a shell.
func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/._-") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
