package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestFlashCommand(t *testing.T) {
	dir := t.TempDir()
	img := filepath.Join(dir, "disk.img")
	content := bytes.Repeat([]byte("tipring disk "), 200_000)
	if err := os.WriteFile(img, content, 0o644); err != nil {
		t.Fatal(err)
	}
	card := filepath.Join(dir, "card.img")
	small := filepath.Join(dir, "small.img")
	os.WriteFile(small, []byte("tiny"), 0o644)
	logPath := filepath.Join(dir, "flash-log.csv")
	for _, tc := range []struct {
		args   []string
		code   int
		stdout string
		stderr string
	}{
		{[]string{"flash"}, 2, "", "--image FILE is required"},
		{[]string{"flash", "--image", img}, 2, "", "want exactly one --device"},
		{[]string{"flash", "--image", img, "--device", card, "extra"}, 2, "", `unexpected "extra"`},
		{[]string{"flash", "--image", img, "--device", small}, 1, "", "pass --allow-file"},
		{[]string{"flash", "--image", img, "--device", small, "--allow-file"}, 1, "", "image is larger than the target"},
		{[]string{"flash", "--image", img, "--device", card, "--allow-file"}, 0, "wrote and verified 2600000 bytes", "verifying: 100%"},
		{[]string{"flash", "--image", img, "--batch", "--device", filepath.Join(dir, "a.img"), "--device", filepath.Join(dir, "b.img"), "--allow-file", "--log", logPath}, 0, "2 flashed and verified, 0 failed", "ok, sha256"},
		{[]string{"flash", "--image", img, "--batch", "--device", small, "--allow-file", "--log", logPath}, 1, "0 flashed and verified, 1 failed", "1 of 1 disks failed"},
	} {
		code, out, errOut := call(tc.args...)
		if code != tc.code || !strings.Contains(out, tc.stdout) || !strings.Contains(errOut, tc.stderr) {
			t.Errorf("tipring %s: exit %d, stdout %q, stderr %q; want exit %d with %q / %q",
				strings.Join(tc.args, " "), code, out, errOut, tc.code, tc.stdout, tc.stderr)
		}
	}
	if b, _ := os.ReadFile(card); !bytes.Equal(b, content) {
		t.Error("card.img does not hold the image")
	}
	log, _ := os.ReadFile(logPath)
	if lines := strings.Split(strings.TrimSpace(string(log)), "\n"); len(lines) != 4 || !strings.HasPrefix(lines[0], "time,target,serial") {
		t.Errorf("flash log:\n%s\nwant a header and three rows", log)
	}
}

// TestFlashCommandOnLoopDevice runs the installer's command against a
// real block device: a loop device over a file.
func TestFlashCommandOnLoopDevice(t *testing.T) {
	if _, err := os.Stat("/dev/loop-control"); err != nil {
		t.Skipf("no loop devices here (/dev/loop-control: %v)", err)
	}
	dir := t.TempDir()
	img := filepath.Join(dir, "disk.img")
	content := bytes.Repeat([]byte{1, 2, 3, 4, 5, 6, 7}, 300_000)
	os.WriteFile(img, content, 0o644)
	medium := filepath.Join(dir, "medium")
	if err := os.WriteFile(medium, make([]byte, 4<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("losetup", "-f", "--show", medium).CombinedOutput()
	if err != nil {
		t.Skipf("losetup refused (not root, or the container forbids loop devices): %v: %s", err, out)
	}
	dev := strings.TrimSpace(string(out))
	t.Cleanup(func() {
		if out, err := exec.Command("losetup", "-d", dev).CombinedOutput(); err != nil {
			t.Errorf("losetup -d %s: %v: %s", dev, err, out)
		}
	})
	code, stdout, stderr := call("flash", "--image", img, "--device", dev)
	if code != 0 || !strings.Contains(stdout, dev+": wrote and verified 2100000 bytes") {
		t.Fatalf("tipring flash --device %s: exit %d\n%s%s", dev, code, stdout, stderr)
	}
	b, _ := os.ReadFile(medium)
	if !bytes.Equal(b[:len(content)], content) {
		t.Error("the loop device does not hold the image")
	}
}
