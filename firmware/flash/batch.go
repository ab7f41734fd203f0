package flash

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Disk is a disk as /sys/block shows it.
type Disk struct {
	Name      string // "sdb", "mmcblk0"
	Path      string // "/dev/sdb"
	Size      int64  // bytes; 0: no medium in the reader
	Removable bool   // removable flag, on USB, or an SD/eMMC slot
	Serial    string // the medium's serial where the kernel has it (SD/eMMC, NVMe), else the USB reader's
	Model     string // vendor and model, or the SD card's name
}

// key tells one medium from another in the same slot.
func (d Disk) key() string {
	return d.Name + "\x00" + d.Serial + "\x00" + d.Model + "\x00" + strconv.FormatInt(d.Size, 10)
}

// Disks lists the host's disks, skipping the kernel's virtual ones (loop,
// ram, zram, device-mapper, RAID, network block devices) and eMMC boot and
// RPMB areas.
func (h Host) Disks() ([]Disk, error) {
	entries, err := os.ReadDir(h.path("/sys/block"))
	if err != nil {
		return nil, fmt.Errorf("list disks: %w", err)
	}
	var out []Disk
	for _, e := range entries {
		name := e.Name()
		if virtualDisk(name) {
			continue
		}
		out = append(out, h.describe(name))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

func virtualDisk(name string) bool {
	for _, p := range []string{"loop", "ram", "zram", "dm-", "md", "nbd", "sr"} {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return strings.Contains(name, "boot") || strings.Contains(name, "rpmb")
}

// describe reads what sysfs says of one disk; missing files leave fields
// empty, as many readers report little.
func (h Host) describe(name string) Disk {
	dir := h.path("/sys/block/" + name)
	d := Disk{Name: name, Path: h.path("/dev/" + name)}
	if s, err := strconv.ParseInt(readTrim(filepath.Join(dir, "size")), 10, 64); err == nil {
		d.Size = s * 512 // sysfs counts 512-byte sectors whatever the medium's
	}
	real, _ := filepath.EvalSymlinks(dir)
	d.Removable = readTrim(filepath.Join(dir, "removable")) == "1" ||
		strings.Contains(real, "/usb") || strings.HasPrefix(name, "mmcblk")
	dev := filepath.Join(dir, "device")
	d.Serial = readTrim(filepath.Join(dev, "serial"))
	if d.Serial == "" && real != "" {
		// A USB disk's serial lives on the USB device, a few levels up.
		for up := filepath.Dir(real); len(up) > len(h.path("/sys/devices")); up = filepath.Dir(up) {
			if s := readTrim(filepath.Join(up, "serial")); s != "" && exists(filepath.Join(up, "idVendor")) {
				d.Serial = s
				break
			}
		}
	}
	d.Model = strings.TrimSpace(readTrim(filepath.Join(dev, "vendor")) + " " + readTrim(filepath.Join(dev, "model")))
	if d.Model == "" {
		d.Model = readTrim(filepath.Join(dev, "name")) // SD and eMMC
	}
	return d
}

func readTrim(p string) string {
	b, err := os.ReadFile(p)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// BatchOptions drives the installer's bench.
type BatchOptions struct {
	Options // the image and everything but the target

	// Targets, when given, are flashed one after another. When empty,
	// Batch watches for removable disks that were not there when it
	// started and flashes each as it appears.
	Targets []string
	Log     io.Writer     // the CSV log, one row per disk
	Poll    time.Duration // how often to look at /sys/block; 0: 1 s
	Count   int           // watch mode: stop after this many disks; 0: until ctx ends
	Notify  io.Writer     // prompts for the installer ("insert the next card"); nil: none
}

// BatchSummary counts the outcomes.
type BatchSummary struct {
	OK, Failed int
}

// logHeader is the CSV log's first row.
func logHeader() []string {
	return []string{"time", "target", "serial", "model", "bytes", "sha256", "result", "error", "seconds"}
}

// Batch flashes disk after disk and logs each. One disk's failure is
// logged and the bench carries on; an error is returned only when the
// batch itself cannot go on (the log cannot be written, /sys cannot be
// read).
func Batch(ctx context.Context, o BatchOptions) (BatchSummary, error) {
	var sum BatchSummary
	w := csv.NewWriter(o.Log)
	one := func(d Disk) error {
		opt := o.Options
		opt.Target = d.Path
		res, err := Flash(ctx, opt)
		row := []string{time.Now().UTC().Format(time.RFC3339), d.Path, d.Serial, d.Model, "", "", "ok", "", ""}
		if err != nil {
			sum.Failed++
			row[6], row[7] = "failed", err.Error()
			o.say("%s: FAILED: %v", d.Path, err)
		} else {
			sum.OK++
			row[4], row[5], row[8] = strconv.FormatInt(res.Bytes, 10), res.SHA256, fmt.Sprintf("%.1f", res.Duration.Seconds())
			o.say("%s: ok, sha256 %s", d.Path, res.SHA256)
		}
		if werr := w.Write(row); werr != nil {
			return fmt.Errorf("write the flash log: %w", werr)
		}
		w.Flush()
		if werr := w.Error(); werr != nil {
			return fmt.Errorf("write the flash log: %w", werr)
		}
		return nil
	}
	if len(o.Targets) > 0 {
		known := map[string]Disk{}
		if disks, err := o.Host.Disks(); err == nil {
			for _, d := range disks {
				known[d.Path] = d
			}
		}
		for _, t := range o.Targets {
			if ctx.Err() != nil {
				break
			}
			// /dev/disk/by-id/… names are links to the disk's node.
			real := t
			if r, err := filepath.EvalSymlinks(t); err == nil {
				real = r
			}
			d, ok := known[real]
			if !ok {
				d = o.Host.describe(filepath.Base(real))
			}
			d.Path = t
			if err := one(d); err != nil {
				return sum, err
			}
		}
		return sum, nil
	}
	return sum, o.watch(ctx, one, &sum)
}

func (o BatchOptions) say(format string, a ...any) {
	if o.Notify != nil {
		fmt.Fprintf(o.Notify, format+"\n", a...)
	}
}

// watch flashes each new removable medium. A disk present at the start
// is never touched (it may be the installer's own USB stick), so the
// bench starts with its readers empty; a medium that was flashed is not
// flashed again until it is removed.
func (o BatchOptions) watch(ctx context.Context, one func(Disk) error, sum *BatchSummary) error {
	poll := o.Poll
	if poll <= 0 {
		poll = time.Second
	}
	disks, err := o.Host.Disks()
	if err != nil {
		return err
	}
	// A slot that holds a medium now stays off limits all session, even
	// if its medium is swapped; so does a disk with the same serial that
	// reappears under another name.
	beforeName, beforeSerial := map[string]bool{}, map[string]bool{}
	var names []string
	for _, d := range disks {
		if d.Size > 0 {
			beforeName[d.Name] = true
			names = append(names, d.Name)
			if d.Serial != "" {
				beforeSerial[d.Serial] = true
			}
		}
	}
	o.say("watching for new cards and USB disks; left alone, as they were here first: %s; Ctrl-C to stop", strings.Join(names, " "))
	flashed := map[string]bool{}
	tick := time.NewTicker(poll)
	defer tick.Stop()
	for {
		disks, err := o.Host.Disks()
		if err != nil {
			return err
		}
		present := map[string]bool{}
		for _, d := range disks {
			k := d.key()
			present[k] = true
			if d.Size == 0 || !d.Removable || beforeName[d.Name] || beforeSerial[d.Serial] || flashed[k] {
				continue
			}
			flashed[k] = true
			o.say("%s: new disk %q serial %q, %s", d.Path, d.Model, d.Serial, human(d.Size))
			if err := one(d); err != nil {
				return err
			}
			if o.Count > 0 && sum.OK+sum.Failed >= o.Count {
				return nil
			}
			o.say("remove %s and insert the next card", d.Path)
		}
		for k := range flashed {
			if !present[k] {
				delete(flashed, k)
			}
		}
		select {
		case <-ctx.Done():
			if errors.Is(ctx.Err(), context.Canceled) {
				return nil
			}
			return ctx.Err()
		case <-tick.C:
		}
	}
}

// OpenLog opens the CSV log for appending, writing the header when the
// file is new, so one log can span a day of bench sessions.
func OpenLog(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open the flash log: %w", err)
	}
	st, err := f.Stat()
	if err == nil && st.Size() == 0 {
		w := csv.NewWriter(f)
		if err = w.Write(logHeader()); err == nil {
			w.Flush()
			err = w.Error()
		}
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("open the flash log %s: %w", path, err)
	}
	return f, nil
}
