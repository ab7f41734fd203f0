package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
	"strings"

	"github.com/tipring/tipring/firmware/config"
	"github.com/tipring/tipring/firmware/device"
)

func runCmd(ctx context.Context, args []string, _, stderr io.Writer) error {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "/etc/tipring/tipring.toml", "configuration file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := config.Load(*path)
	if err != nil {
		return err
	}
	// A call is tens of microseconds of work per 20 ms frame: one processor
	// is plenty, and a second one only adds threads woken for nothing
	// (docs/performance.md measures it). GOMAXPROCS in the environment
	// still wins.
	if os.Getenv("GOMAXPROCS") == "" {
		runtime.GOMAXPROCS(1)
	}
	log := newLogger(stderr, cfg.Device.LogLevel)
	d, err := device.New(cfg, device.Options{Version: version, Logger: log})
	if err != nil {
		return err
	}
	if err := d.Run(ctx); err != nil {
		return fmt.Errorf("stopped: %w", err)
	}
	return nil
}

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
