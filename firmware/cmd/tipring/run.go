package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
	"strings"

	"github.com/tipring/tipring/diag/logtail"
	"github.com/tipring/tipring/firmware/device"
)

func runCmd(ctx context.Context, args []string, _, stderr io.Writer) error {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "/etc/tipring/tipring.toml", "configuration file; when it does not exist, the device provisions itself")
	pf := addProvisionFlags(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	// A call is tens of microseconds of work per 20 ms frame: one processor
	// is plenty, and a second one only adds threads woken for nothing
	// (docs/performance.md measures it). GOMAXPROCS in the environment
	// still wins.
	if os.Getenv("GOMAXPROCS") == "" {
		runtime.GOMAXPROCS(1)
	}
	// The last log lines go into diagnostics bundles (log.txt).
	tail := logtail.New(logLines, logLineBytes)
	// A device restarts in this process when its configuration changed or
	// a factory reset removed it (then it provisions itself again).
	for {
		cfg, po, err := pf.load(ctx, *path, newLogger(io.MultiWriter(stderr, tail), "info"))
		if err != nil && ctx.Err() != nil {
			return nil // stopped while provisioning
		}
		if err != nil {
			return err
		}
		log := newLogger(io.MultiWriter(stderr, tail), cfg.Device.LogLevel)
		d, err := device.New(cfg, device.Options{Version: version, Logger: log, LogTail: tail, Provision: po})
		if err != nil {
			return err
		}
		err = d.Run(ctx)
		if errors.Is(err, device.ErrRestart) && ctx.Err() == nil {
			log.Info("restarting the device", "why", err.Error())
			continue
		}
		if errors.Is(err, device.ErrReboot) {
			// Not a failure: the boot loader (tipring boot) starts the
			// new image.
			log.Info("stopped to reboot into the new firmware")
			return nil
		}
		if err != nil {
			return fmt.Errorf("stopped: %w", err)
		}
		return nil
	}
}

// A bundle's log.txt holds up to logLines lines of up to logLineBytes:
// about the last hour of an ordinary day, in at most 1 MB.
const (
	logLines     = 1000
	logLineBytes = 1024
)

func newLogger(w io.Writer, level string) *slog.Logger {
	var l slog.Level
	switch strings.ToLower(level) {
	case "debug":
		l = slog.LevelDebug
	case "warn":
		l = slog.LevelWarn
	case "error":
		l = slog.LevelError
	default:
		l = slog.LevelInfo
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: l}))
}
