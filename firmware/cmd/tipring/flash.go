package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/tipring/tipring/firmware/flash"
)

// targets collects repeated --device flags.
type targets []string

func (t *targets) String() string { return strings.Join(*t, ",") }
func (t *targets) Set(s string) error {
	*t = append(*t, s)
	return nil
}

func flashCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("flash", flag.ContinueOnError)
	fs.SetOutput(stderr)
	img := fs.String("image", "", "disk image to write: raw or gzip-compressed (from scripts/mkdisk.sh)")
	var devs targets
	fs.Var(&devs, "device", "target: a block device (/dev/sdb, /dev/mmcblk0) or, with --allow-file, a file; repeat in --batch")
	allowFile := fs.Bool("allow-file", false, "let the target be a regular file (an image for an emulator or a later dd)")
	batch := fs.Bool("batch", false, "flash the --device targets one after another, or, without --device, every removable disk plugged in from now on")
	logPath := fs.String("log", "flash-log.csv", "--batch: CSV log of each disk's serial, result and sha256 (appended)")
	count := fs.Int("count", 0, "--batch without --device: stop after this many disks (0: until Ctrl-C)")
	poll := fs.Duration("poll", time.Second, "--batch without --device: how often to look for new disks")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageErr("unexpected %q: want tipring flash --image FILE --device TARGET", fs.Arg(0))
	}
	if *img == "" {
		return usageErr("--image FILE is required")
	}
	o := flash.Options{Image: *img, AllowFile: *allowFile, Progress: stderr, Terminal: isTerminal(stderr)}
	if !*batch {
		if len(devs) != 1 {
			return usageErr("want exactly one --device TARGET (or --batch)")
		}
		o.Target = devs[0]
		fmt.Fprintf(stderr, "writing %s to %s\n", *img, o.Target)
		res, err := flash.Flash(ctx, o)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s: wrote and verified %d bytes in %v, sha256 %s\n", res.Target, res.Bytes, res.Duration.Round(time.Millisecond), res.SHA256)
		return nil
	}
	logf, err := flash.OpenLog(*logPath)
	if err != nil {
		return err
	}
	defer logf.Close()
	sum, err := flash.Batch(ctx, flash.BatchOptions{Options: o, Targets: devs, Log: logf, Poll: *poll, Count: *count, Notify: stderr})
	fmt.Fprintf(stdout, "%d flashed and verified, %d failed; log: %s\n", sum.OK, sum.Failed, *logPath)
	if err != nil {
		return err
	}
	if sum.Failed > 0 {
		return fmt.Errorf("%d of %d disks failed; the log says why", sum.Failed, sum.OK+sum.Failed)
	}
	return nil
}

// isTerminal reports whether w is a terminal, where a redrawn bar reads
// well; into a file or a pipe, plain lines do.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
