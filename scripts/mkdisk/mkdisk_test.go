// Package mkdisk tests scripts/mkdisk.sh: the disk image tipring flash
// writes, laid out by a board descriptor.
package mkdisk

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/tipring/tipring/firmware/flash"
)

func need(t *testing.T, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s missing: scripts/install-peers.sh installs it", tool)
		}
	}
}

type partition struct {
	Start int64  `json:"start"`
	Size  int64  `json:"size"`
	Type  string `json:"type"`
}

// label reads an ext4 filesystem's volume label from its superblock
// (1024 bytes in; magic 0xEF53 at 56, label at 120).
func label(t *testing.T, disk []byte, p partition) string {
	t.Helper()
	sb := disk[p.Start*512+1024:]
	if sb[56] != 0x53 || sb[57] != 0xef {
		t.Fatalf("partition at sector %d holds no ext4 filesystem", p.Start)
	}
	return string(bytes.TrimRight(sb[120:136], "\x00"))
}

func TestMkdiskFollowsTheDescriptor(t *testing.T) {
	need(t, "sfdisk", "mkfs.ext4", "debugfs")
	dir := t.TempDir()
	slotA := filepath.Join(dir, "slot-a")
	os.MkdirAll(filepath.Join(slotA, "bin"), 0o755)
	os.WriteFile(filepath.Join(slotA, "bin", "tipring"), []byte("not really a binary\n"), 0o755)
	img := filepath.Join(dir, "rpifxs.img")
	cmd := exec.Command("../mkdisk.sh", "rpifxs", img, slotA)
	cmd.Env = append(os.Environ(), "SLOT_MB=8", "DATA_MB=4", "BOOT_MB=2")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("mkdisk.sh: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "p1=boot p2=slot-a p3=slot-b p4=data") {
		t.Errorf("mkdisk.sh said %q", out)
	}
	js, err := exec.Command("sfdisk", "-J", img).Output()
	if err != nil {
		t.Fatal(err)
	}
	var table struct {
		PartitionTable struct {
			Partitions []partition `json:"partitions"`
		} `json:"partitiontable"`
	}
	if err := json.Unmarshal(js, &table); err != nil {
		t.Fatal(err)
	}
	parts := table.PartitionTable.Partitions
	if len(parts) != 4 || parts[0].Type != "c" || parts[1].Size != 8*2048 || parts[3].Size != 4*2048 {
		t.Fatalf("partitions %+v; want boot, two 8 MiB slots, a 4 MiB data partition (rpifxs: p2, p3, p4)", parts)
	}
	disk, err := os.ReadFile(img)
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range map[int]string{1: "tipring-slot-a", 2: "tipring-slot-b", 3: "tipring-data"} {
		if got := label(t, disk, parts[i]); got != want {
			t.Errorf("partition %d label %q, want %q", i+1, got, want)
		}
	}
	dev := img + "?offset=" + strconv.FormatInt(parts[1].Start*512, 10)
	got, err := exec.Command("debugfs", "-R", "cat /bin/tipring", dev).Output()
	if err != nil || string(got) != "not really a binary\n" {
		t.Errorf("slot A's /bin/tipring: %q, %v", got, err)
	}

	// The image as tipring flash writes it to a card: a loop device.
	if _, err := os.Stat("/dev/loop-control"); err != nil {
		t.Skipf("no loop devices here: %v", err)
	}
	medium := filepath.Join(dir, "card")
	if err := os.WriteFile(medium, make([]byte, len(disk)+1<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	lo, err := exec.Command("losetup", "-f", "--show", medium).CombinedOutput()
	if err != nil {
		t.Skipf("losetup refused: %v: %s", err, lo)
	}
	loop := strings.TrimSpace(string(lo))
	t.Cleanup(func() { exec.Command("losetup", "-d", loop).Run() })
	res, err := flash.Flash(t.Context(), flash.Options{Image: img, Target: loop})
	if err != nil {
		t.Fatal(err)
	}
	if res.Bytes != int64(len(disk)) {
		t.Errorf("flashed %d bytes, want %d", res.Bytes, len(disk))
	}
	js, err = exec.Command("sfdisk", "-J", loop).Output()
	if err != nil || !bytes.Contains(js, []byte(`"type":"c"`)) && !bytes.Contains(js, []byte(`"type": "c"`)) {
		t.Errorf("the card's partition table: %s, %v", js, err)
	}
}

func TestMkdiskRefusesABoardWithoutPartitions(t *testing.T) {
	out, err := exec.Command("../mkdisk.sh", "sim", filepath.Join(t.TempDir(), "sim.img")).CombinedOutput()
	if err == nil || !strings.Contains(string(out), `board sim keeps its storage as "slots/a", not partitions of a disk`) {
		t.Errorf("mkdisk.sh sim: %v: %s", err, out)
	}
}
