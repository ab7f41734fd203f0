package flash

import (
	"bytes"
	"context"
	"encoding/csv"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// notes is a Notify writer the test can read while Batch writes.
type notes struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (n *notes) Write(p []byte) (int, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.b.Write(p)
}

func (n *notes) String() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.b.String()
}

func (n *notes) waitFor(t *testing.T, s string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(n.String(), s) {
		if time.Now().After(deadline) {
			t.Fatalf("batch never said %q; it said:\n%s", s, n.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func readCSV(t *testing.T, b []byte) [][]string {
	t.Helper()
	rows, err := csv.NewReader(bytes.NewReader(b)).ReadAll()
	if err != nil {
		t.Fatalf("the log is not CSV: %v\n%s", err, b)
	}
	return rows
}

func TestBatchWatchFlashesOnlyNewRemovableDisks(t *testing.T) {
	root := t.TempDir()
	usb := "pci0000:00/usb1/1-1/1-1:1.0/host2/target2:0:0/2:0:0:0"
	fakeSys(t, root, "pci0000:00/ata1",
		fakeDisk{name: "sda", dev: "8:0", extra: map[string]string{"size": "1000000\n", "removable": "0\n"}})
	fakeSys(t, root, "pci0000:00/usb2/2-1/2-1:1.0/host1/target1:0:0/1:0:0:0",
		fakeDisk{name: "sdb", dev: "8:16", extra: map[string]string{"size": "8192\n", "removable": "1\n", "device/model": "Stick\n"}})
	fakeSys(t, root, usb,
		fakeDisk{name: "sdc", dev: "8:32", extra: map[string]string{"size": "0\n", "removable": "1\n", "device/vendor": "Generic \n", "device/model": "SD Reader\n"}})
	fakeSys(t, root, "virtual", fakeDisk{name: "loop0", dev: "7:0", extra: map[string]string{"size": "8192\n"}})
	writeFile(t, filepath.Join(root, "sys/devices/pci0000:00/usb1/1-1/serial"), "READER0042\n")
	writeFile(t, filepath.Join(root, "sys/devices/pci0000:00/usb1/1-1/idVendor"), "0bda\n")
	writeFile(t, filepath.Join(root, "proc/self/mountinfo"), "22 1 8:2 / / rw - ext4 /dev/sda2 rw\n")
	stick := bytes.Repeat([]byte("installer's own files "), 1000)
	writeFile(t, filepath.Join(root, "dev/sdb"), string(stick))
	writeFile(t, filepath.Join(root, "dev/sda"), "system")
	writeFile(t, filepath.Join(root, "dev/loop0"), "loop")
	if err := os.WriteFile(filepath.Join(root, "dev/sdc"), make([]byte, 4*chunk), 0o644); err != nil {
		t.Fatal(err)
	}
	img, content := makeImage(t, 2*chunk+77)

	var log bytes.Buffer
	var say notes
	done := make(chan error, 1)
	var got BatchSummary
	go func() {
		var err error
		got, err = Batch(context.Background(), BatchOptions{
			Options: Options{Image: img, Host: Host{Root: root}, AllowFile: true},
			Log:     &log, Notify: &say, Poll: 5 * time.Millisecond, Count: 1,
		})
		done <- err
	}()
	say.waitFor(t, "left alone, as they were here first: sda sdb;")
	// The card goes into the reader.
	writeFile(t, filepath.Join(root, "sys/devices", usb, "block/sdc/size"), "8192\n")
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("batch did not flash the new card; it said:\n%s", say.String())
	}
	if got.OK != 1 || got.Failed != 0 {
		t.Errorf("summary %+v; want one ok", got)
	}
	card, _ := os.ReadFile(filepath.Join(root, "dev/sdc"))
	if !bytes.Equal(card[:len(content)], content) {
		t.Error("the new card does not hold the image")
	}
	if b, _ := os.ReadFile(filepath.Join(root, "dev/sdb")); !bytes.Equal(b, stick) {
		t.Error("the disk present before batch mode was written")
	}
	for _, f := range []string{"sda", "loop0"} {
		if b, _ := os.ReadFile(filepath.Join(root, "dev", f)); len(b) > 10 {
			t.Errorf("%s was written", f)
		}
	}
	rows := readCSV(t, log.Bytes())
	if len(rows) != 1 {
		t.Fatalf("log rows %q; want one", rows)
	}
	r := rows[0]
	if r[1] != filepath.Join(root, "dev/sdc") || r[2] != "READER0042" || r[3] != "Generic SD Reader" || r[4] != "2097229" || r[5] != sum(content) || r[6] != "ok" {
		t.Errorf("log row %q", r)
	}
}

func TestBatchNamedTargetsLogsEachOutcome(t *testing.T) {
	img, content := makeImage(t, chunk+1)
	dir := t.TempDir()
	good := filepath.Join(dir, "good.img")
	small := filepath.Join(dir, "small.img")
	os.WriteFile(small, []byte("tiny"), 0o644)
	logPath := filepath.Join(dir, "flash-log.csv")
	for run := range 2 {
		f, err := OpenLog(logPath)
		if err != nil {
			t.Fatal(err)
		}
		os.Remove(good)
		got, err := Batch(context.Background(), BatchOptions{
			Options: Options{Image: img, AllowFile: true, Host: Host{Root: t.TempDir()}},
			Targets: []string{good, small},
			Log:     f,
		})
		f.Close()
		if err != nil {
			t.Fatalf("run %d: %v", run, err)
		}
		if got.OK != 1 || got.Failed != 1 {
			t.Errorf("run %d: summary %+v; want 1 ok, 1 failed", run, got)
		}
	}
	b, _ := os.ReadFile(logPath)
	rows := readCSV(t, b)
	if len(rows) != 5 || strings.Join(rows[0], ",") != strings.Join(logHeader(), ",") {
		t.Fatalf("log after two runs:\n%s\nwant one header and four rows", b)
	}
	if rows[1][6] != "ok" || rows[1][5] != sum(content) {
		t.Errorf("good row %q", rows[1])
	}
	if rows[2][6] != "failed" || !strings.Contains(rows[2][7], "larger than the target") {
		t.Errorf("small row %q", rows[2])
	}
}
