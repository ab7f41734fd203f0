package flash

import (
	"bytes"
	"errors"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// fakeSys builds a /sys tree of disks under root. Each disk is
// name → {dev, partitions...}; symlinks are relative, as the kernel's.
type fakeDisk struct {
	name  string
	dev   string
	parts map[string]string // name → dev
	extra map[string]string // file under the disk's dir → content
}

func writeFile(t *testing.T, p, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func fakeSys(t *testing.T, root, bus string, disks ...fakeDisk) {
	t.Helper()
	link := func(dev, rel string) {
		p := filepath.Join(root, "sys/dev/block", dev)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.Symlink("../../"+rel, p); err != nil {
			t.Fatal(err)
		}
	}
	for _, d := range disks {
		rel := "devices/" + bus + "/block/" + d.name
		dir := filepath.Join(root, "sys", rel)
		writeFile(t, filepath.Join(dir, "dev"), d.dev+"\n")
		os.MkdirAll(filepath.Join(dir, "holders"), 0o755)
		link(d.dev, rel)
		blk := filepath.Join(root, "sys/block", d.name)
		os.MkdirAll(filepath.Dir(blk), 0o755)
		if err := os.Symlink("../"+rel, blk); err != nil {
			t.Fatal(err)
		}
		for p, dev := range d.parts {
			writeFile(t, filepath.Join(dir, p, "dev"), dev+"\n")
			writeFile(t, filepath.Join(dir, p, "partition"), "1\n")
			os.MkdirAll(filepath.Join(dir, p, "holders"), 0o755)
			link(dev, rel+"/"+p)
		}
		for f, c := range d.extra {
			writeFile(t, filepath.Join(dir, f), c)
		}
	}
}

func TestCheckOnFakeHost(t *testing.T) {
	root := t.TempDir()
	fakeSys(t, root, "pci0000:00",
		fakeDisk{name: "sda", dev: "8:0", parts: map[string]string{"sda1": "8:1", "sda2": "8:2"}},
		fakeDisk{name: "sdb", dev: "8:16", parts: map[string]string{"sdb1": "8:17", "sdb2": "8:18"}},
		fakeDisk{name: "sdc", dev: "8:32", parts: map[string]string{"sdc1": "8:33"}},
		fakeDisk{name: "sdd", dev: "8:48", parts: map[string]string{"sdd1": "8:49"}},
		fakeDisk{name: "nvme0n1", dev: "259:0", parts: map[string]string{"nvme0n1p1": "259:1"}},
		fakeDisk{name: "dm-0", dev: "253:0"},
	)
	// sdd1 is a physical volume under dm-0; dm-0 lives on nvme0n1p1 and
	// holds /usr, so nvme0n1 is a system disk through LVM.
	writeFile(t, filepath.Join(root, "sys/devices/pci0000:00/block/sdd/sdd1/holders/dm-1"), "")
	os.MkdirAll(filepath.Join(root, "sys/devices/pci0000:00/block/dm-0/slaves"), 0o755)
	os.Symlink("../../nvme0n1/nvme0n1p1", filepath.Join(root, "sys/devices/pci0000:00/block/dm-0/slaves/nvme0n1p1"))
	writeFile(t, filepath.Join(root, "proc/self/mountinfo"), strings.Join([]string{
		"22 1 8:2 / / rw,relatime shared:1 - ext4 /dev/sda2 rw",
		"23 22 8:1 / /boot/efi rw - vfat /dev/sda1 rw",
		"24 22 253:0 / /usr rw - ext4 /dev/mapper/vg-usr rw",
		`30 22 8:18 / /media/inst/SD\040CARD rw,nosuid shared:7 - vfat /dev/sdb2 rw`,
		"31 22 0:40 / /tmp rw - tmpfs tmpfs rw",
	}, "\n")+"\n")
	h := Host{Root: root}
	for _, tc := range []struct {
		dev  Dev
		is   error
		text string
	}{
		{Dev{8, 0}, ErrSystemDisk, "sda (8:0) is the disk behind /"},
		{Dev{8, 1}, ErrSystemDisk, "the disk behind /"},
		{Dev{259, 0}, ErrSystemDisk, "behind /usr"},
		{Dev{8, 16}, ErrMounted, `sdb2 is mounted on /media/inst/SD CARD; unmount it first (umount '/media/inst/SD CARD')`},
		{Dev{8, 17}, ErrMounted, "sdb2 is mounted"},
		{Dev{8, 48}, ErrInUse, "sdd1 is held by dm-1"},
		{Dev{8, 32}, nil, ""},
		{Dev{8, 33}, nil, ""},
	} {
		err := h.Check(tc.dev)
		if tc.is == nil {
			if err != nil {
				t.Errorf("Check(%v) = %v; want it allowed", tc.dev, err)
			}
			continue
		}
		if !errors.Is(err, tc.is) || !strings.Contains(err.Error(), tc.text) {
			t.Errorf("Check(%v) = %v; want %v with %q", tc.dev, err, tc.is, tc.text)
		}
	}

	os.WriteFile(filepath.Join(root, "proc/self/mountinfo"), []byte("22 1 8:2 / / rw - ext4\n"), 0o644)
	if err := h.Check(Dev{8, 32}); err == nil || !strings.Contains(err.Error(), "mountinfo line 1") {
		t.Errorf("unreadable mount table: %v; want a refusal naming the line", err)
	}
}

func TestCheckRealSystemDisk(t *testing.T) {
	mounts, err := Host{}.Mounts()
	if err != nil {
		t.Fatal(err)
	}
	var rootDev string
	for _, m := range mounts {
		if m.Point == "/" {
			rootDev = m.Source
		}
	}
	d, err := blockDev(rootDev)
	if err != nil {
		t.Skipf("/ is on %q, not a block device here (a container's overlay?): no system disk to refuse", rootDev)
	}
	k := Host{}.diskOf(d)
	if err := (Host{}).Check(k.dev); !errors.Is(err, ErrSystemDisk) {
		t.Fatalf("Check(%s, the disk behind /) = %v; want ErrSystemDisk", k.name, err)
	}
	img, _ := makeImage(t, 4096)
	_, err = Flash(t.Context(), Options{Image: img, Target: "/dev/" + k.name})
	if !errors.Is(err, ErrSystemDisk) {
		t.Fatalf("flash onto the system disk: %v; want ErrSystemDisk", err)
	}
	t.Logf("refused: %v", err)
}

// loopDevice attaches file to a free loop device and detaches it when
// the test ends. It skips, saying why, where the kernel or the container
// has no loop devices.
func loopDevice(t *testing.T, file string, args ...string) string {
	t.Helper()
	if _, err := os.Stat("/dev/loop-control"); err != nil {
		t.Skipf("no loop devices here (/dev/loop-control: %v)", err)
	}
	out, err := exec.Command("losetup", append(append([]string{"-f", "--show"}, args...), file)...).CombinedOutput()
	if err != nil {
		t.Skipf("losetup refused (not root, or the container forbids loop devices): %v: %s", err, out)
	}
	dev := strings.TrimSpace(string(out))
	t.Cleanup(func() {
		if out, err := exec.Command("losetup", "-d", dev).CombinedOutput(); err != nil {
			t.Errorf("losetup -d %s: %v: %s", dev, err, out)
		}
	})
	return dev
}

func backingFile(t *testing.T, size int64) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "medium")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	f.Close()
	return p
}

func TestFlashLoopDevice(t *testing.T) {
	img, content := makeImage(t, 3*chunk+512)
	medium := backingFile(t, 4*chunk)
	dev := loopDevice(t, medium)
	var logs bytes.Buffer
	res, err := Flash(t.Context(), Options{Image: img, Target: dev, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(logs.String(), "level=WARN") {
		t.Errorf("the read-back may have come from the cache:\n%s", logs.String())
	}
	if res.SHA256 != sum(content) {
		t.Errorf("sha256 %s, want %s", res.SHA256, sum(content))
	}
	b, _ := os.ReadFile(medium)
	if len(b) != 4*chunk || sum(b[:len(content)]) != sum(content) {
		t.Error("the loop device's backing file does not hold the image")
	}

	// Change the medium behind the loop device's back: the read-back
	// sees it only if it comes from the medium, not from the cache of
	// what was just written. The kernel drops a block device's cache on
	// its last close; an opener that stays (udev, a desktop's disk
	// monitor) keeps it, as this one does.
	keep, err := os.Open(dev)
	if err != nil {
		t.Fatal(err)
	}
	defer keep.Close()
	o := Options{Image: img, Target: dev}
	o.corrupt = func(string) error {
		f, err := os.OpenFile(medium, os.O_RDWR, 0)
		if err != nil {
			return err
		}
		defer f.Close()
		_, err = f.WriteAt([]byte{0xff, 0x00, 0xff}, chunk+100)
		return err
	}
	if _, err := Flash(t.Context(), o); !errors.Is(err, ErrVerify) || !strings.Contains(err.Error(), "offset 1048576") {
		t.Errorf("medium changed under the loop device: %v; want ErrVerify at offset 1048576", err)
	}

	big, _ := makeImage(t, 4*chunk+1)
	if _, err := Flash(t.Context(), Options{Image: big, Target: dev}); !errors.Is(err, ErrTooSmall) {
		t.Errorf("image larger than the loop device: %v; want ErrTooSmall", err)
	}
}

func TestFlashRefusesMountedLoopDevice(t *testing.T) {
	img, _ := makeImage(t, chunk)
	medium := backingFile(t, 8*chunk)
	if out, err := exec.Command("mkfs.ext4", "-q", "-F", medium).CombinedOutput(); err != nil {
		t.Skipf("mkfs.ext4: %v: %s", err, out)
	}
	dev := loopDevice(t, medium)
	mnt := t.TempDir()
	if out, err := exec.Command("mount", "-t", "ext4", dev, mnt).CombinedOutput(); err != nil {
		t.Skipf("mount refused here (the container lacks CAP_SYS_ADMIN?): %v: %s", err, out)
	}
	mounted := true
	umount := func() {
		if mounted {
			if out, err := exec.Command("umount", mnt).CombinedOutput(); err != nil {
				t.Errorf("umount: %v: %s", err, out)
			}
			mounted = false
		}
	}
	t.Cleanup(umount)
	_, err := Flash(t.Context(), Options{Image: img, Target: dev})
	if !errors.Is(err, ErrMounted) || !strings.Contains(err.Error(), mnt) {
		t.Fatalf("flash onto a mounted loop device: %v; want ErrMounted naming %s", err, mnt)
	}
	umount()
	if _, err := Flash(t.Context(), Options{Image: img, Target: dev}); err != nil {
		t.Fatalf("after umount: %v", err)
	}
}

// TestFlashRefusesMountedPartition mounts the second partition of a
// partitioned loop device and flashes the whole disk.
func TestFlashRefusesMountedPartition(t *testing.T) {
	if _, err := exec.LookPath("sfdisk"); err != nil {
		t.Skip("sfdisk missing (Debian package fdisk; scripts/install-peers.sh installs it)")
	}
	img, _ := makeImage(t, chunk)
	medium := backingFile(t, 16*chunk)
	cmd := exec.Command("sfdisk", "-q", medium)
	cmd.Stdin = strings.NewReader("label: dos\n,4M,L\n,,L\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("sfdisk: %v: %s", err, out)
	}
	dev := loopDevice(t, medium, "-P")
	part := dev + "p2"
	if _, err := blockDev(part); err != nil {
		// Without udev nobody makes the partition's node: make it from
		// the number sysfs gives.
		sysDev := filepath.Join("/sys/block", filepath.Base(dev), filepath.Base(part), "dev")
		if !exists(sysDev) {
			// Some kernels skip the scan losetup -P asks for; partx
			// adds the partitions from the table.
			exec.Command("partx", "-a", dev).Run()
		}
		pd, err := readDev(sysDev)
		if err != nil {
			t.Skipf("the kernel shows no partitions of %s: %v", dev, err)
		}
		part = filepath.Join(t.TempDir(), filepath.Base(part))
		if err := unix.Mknod(part, unix.S_IFBLK|0o600, int(unix.Mkdev(pd.Major, pd.Minor))); err != nil {
			t.Skipf("mknod %s: %v", part, err)
		}
	}
	if out, err := exec.Command("mkfs.ext4", "-q", "-F", part).CombinedOutput(); err != nil {
		t.Fatalf("mkfs.ext4 %s: %v: %s", part, err, out)
	}
	mnt := t.TempDir()
	if out, err := exec.Command("mount", "-t", "ext4", part, mnt).CombinedOutput(); err != nil {
		t.Skipf("mount refused here: %v: %s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", mnt).CombinedOutput(); err != nil {
			t.Errorf("umount: %v: %s", err, out)
		}
	})
	_, err := Flash(t.Context(), Options{Image: img, Target: dev})
	if !errors.Is(err, ErrMounted) || !strings.Contains(err.Error(), filepath.Base(part)+" is mounted on "+mnt) {
		t.Fatalf("flash onto a disk with a mounted partition: %v", err)
	}
}
