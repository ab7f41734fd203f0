package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/tipring/tipring/firmware/api"
	"github.com/tipring/tipring/firmware/config"
	"github.com/tipring/tipring/firmware/update"
)

// updateCmd installs an image: through the running firmware's management
// API, or with --offline straight into the slots of a data dir (an
// installer's bench, or a device whose firmware does not run).
func updateCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cmd := newAPICommand("update", "print the answer as JSON", stderr)
	force := cmd.fs.Bool("force", false, "accept a version older than the running one or the device's minimum")
	noReboot := cmd.fs.Bool("no-reboot", false, "install, but run the new image only at the next reboot")
	offline := cmd.fs.Bool("offline", false, "install into --data without a running firmware")
	data := cmd.fs.String("data", "", "with --offline or --status: the data dir (default: [device] data_dir of --config)")
	board := cmd.fs.String("board", "", "with --offline: this device's board (default: [device] board of --config)")
	status := cmd.fs.Bool("status", false, "show the boot state (slots, versions, trial, last rollback) instead of installing")
	rest, err := parseInterleaved(cmd.fs, args)
	if err != nil {
		return err
	}
	if *status {
		return updateStatus(ctx, cmd, *offline, *data, stdout)
	}
	if len(rest) != 1 {
		return usageErr("want: tipring update [--force] [--no-reboot] IMAGE, or tipring update --offline --data DIR [--board NAME] IMAGE")
	}
	f, err := os.Open(rest[0])
	if err != nil {
		return fmt.Errorf("image: %w", err)
	}
	defer f.Close()
	start := time.Now()
	if *offline {
		return updateOffline(ctx, cmd, f, *data, *board, *force, stdout)
	}
	c, err := cmd.client()
	if err != nil {
		return err
	}
	res, err := c.Update(ctx, f, api.UpdateOptions{Force: *force, NoReboot: *noReboot})
	if err != nil {
		return err
	}
	if *cmd.json {
		return writeJSONOut(stdout, res)
	}
	m := res.Manifest
	fmt.Fprintf(stdout, "image %s for board %s (%d files, built %s%s) verified and written in %v\n%s\n",
		m.Version, m.Board, len(m.Files), m.Built.Format(time.DateOnly), devNote(m.DevSigned), time.Since(start).Round(time.Millisecond), res.Message)
	return nil
}

// updateOffline installs without a running firmware.
func updateOffline(ctx context.Context, cmd *apiCommand, img io.Reader, data, board string, force bool, stdout io.Writer) error {
	if data == "" || board == "" {
		cfg, err := config.Load(*cmd.config)
		if err != nil {
			return fmt.Errorf("--offline needs --data and --board, or a configuration to read them from: %w", err)
		}
		if data == "" {
			data = cfg.Device.DataDir
		}
		if board == "" {
			board = cfg.Device.Board
		}
	}
	keys, err := update.TrustedKeys(version, data)
	if err != nil {
		return err
	}
	u, err := update.New(update.Options{DataDir: data, Board: board, Trusted: keys})
	if err != nil {
		return err
	}
	res, err := u.Install(ctx, img, force)
	if err != nil {
		return err
	}
	if *cmd.json {
		return writeJSONOut(stdout, res)
	}
	how := "it is the active image"
	if res.Trial {
		how = "it runs on trial at the next boot and must confirm its health"
	}
	fmt.Fprintf(stdout, "installed version %s for board %s in slot %s of %s%s; %s\n", res.Manifest.Version, res.Manifest.Board, res.Slot, data, devNote(res.Manifest.DevSigned), how)
	return nil
}

func updateStatus(ctx context.Context, cmd *apiCommand, offline bool, data string, stdout io.Writer) error {
	var st api.UpdateStatus
	if offline {
		if data == "" {
			cfg, err := config.Load(*cmd.config)
			if err != nil {
				return fmt.Errorf("--offline --status needs --data or a configuration: %w", err)
			}
			data = cfg.Device.DataDir
		}
		s, err := update.LoadState(data)
		if err != nil {
			return err
		}
		st.State = s
	} else {
		c, err := cmd.client()
		if err != nil {
			return err
		}
		if st, err = c.UpdateStatus(ctx); err != nil {
			return err
		}
	}
	if *cmd.json {
		return writeJSONOut(stdout, st)
	}
	s := st.State
	for _, name := range []string{update.SlotA, update.SlotB} {
		info := s.Slots[name]
		var marks []string
		if name == s.Active {
			marks = append(marks, "active")
		}
		if name == s.Trial {
			marks = append(marks, fmt.Sprintf("on trial, %d boots so far", s.Tries))
		}
		if name == st.RunningSlot {
			marks = append(marks, "running")
		}
		fmt.Fprintf(stdout, "slot %s: %-8s %-12s %v\n", name, dash(info.State), dash(info.Version), marks)
	}
	if s.Floor != "" {
		fmt.Fprintf(stdout, "minimum version accepted: %s\n", s.Floor)
	}
	if s.LastRollback != "" {
		fmt.Fprintf(stdout, "last rollback: %s\n", s.LastRollback)
	}
	return nil
}

func devNote(dev bool) string {
	if dev {
		return ", DEV-SIGNED: for tests only"
	}
	return ""
}

// parseInterleaved parses flags that may come before or after the
// positional arguments ("tipring update FILE --force").
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var rest []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return rest, nil
		}
		if args[0] == "--" {
			return append(rest, args[1:]...), nil
		}
		rest = append(rest, args[0])
		args = args[1:]
	}
}
