package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/tipring/tipring/firmware/config"
	"github.com/tipring/tipring/firmware/update"
)

// bootCmd is the sim board's bootloader and init: it picks a slot as a
// bootloader with a boot counter would (update.Updater.Boot), runs that
// slot's firmware, and boots again when the firmware asks for it. A real
// board does the slot choice in U-Boot (docs/boards.md).
func bootCmd(ctx context.Context, args []string, _, stderr io.Writer) error {
	fs := flag.NewFlagSet("boot", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("config", "/etc/tipring/tipring.toml", "configuration file, passed to the firmware")
	data := fs.String("data", "", "data dir holding the slots and the boot state (default: [device] data_dir of --config)")
	tries := fs.Int("tries", 3, "boots a new image gets to confirm its health before the device rolls back")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageErr("unexpected argument %q", fs.Arg(0))
	}
	if *tries < 1 {
		return usageErr("--tries must be at least 1")
	}
	if *data == "" {
		cfg, err := config.Load(*cfgPath)
		if err != nil {
			return fmt.Errorf("--data not given and the configuration cannot say: %w", err)
		}
		*data = cfg.Device.DataDir
	}
	log := newLogger(stderr, "info").With("room", "boot")
	u, err := update.New(update.Options{DataDir: *data, Logger: log})
	if err != nil {
		return err
	}
	// A flag left by a firmware that stopped before a power cut means
	// nothing to this boot.
	if _, err := update.TakeRebootRequest(*data); err != nil {
		return err
	}
	for {
		c, err := u.Boot(*tries)
		if err != nil {
			return err
		}
		if c.RolledBack != "" {
			log.Warn("rolled back", "reason", c.RolledBack)
		}
		log.Info("booting", "slot", c.Slot, "version", c.Version, "trial", c.Trial, "try", c.Try)
		out, _ := stderr.(*os.File)
		if out == nil {
			out = os.Stderr
		}
		runErr := runSlot(ctx, c, *cfgPath, out, log)
		if ctx.Err() != nil {
			return nil
		}
		reboot, err := update.TakeRebootRequest(*data)
		if err != nil {
			return err
		}
		switch {
		case reboot:
			log.Info("firmware asked for a reboot")
		case runErr != nil && c.Trial:
			// A watchdog would reset a board whose new firmware died;
			// this boot counts towards the rollback.
			log.Warn("new firmware failed on trial; rebooting", "slot", c.Slot, "err", runErr)
		case runErr != nil:
			return fmt.Errorf("firmware %s in slot %s: %w", c.Version, c.Slot, runErr)
		default:
			return nil
		}
	}
}

// runSlot runs a slot's firmware until it exits; when ctx ends it is asked
// to stop with SIGTERM, and killed if it has not within 15 s. It uses
// os.StartProcess rather than os/exec, which would add 16 KB to a binary
// that is near its size budget.
func runSlot(ctx context.Context, c update.Choice, cfgPath string, out *os.File, log *slog.Logger) error {
	bin := filepath.Join(c.Dir, "tipring")
	p, err := os.StartProcess(bin, []string{bin, "run", "--config", cfgPath}, &os.ProcAttr{
		Env:   append(os.Environ(), update.SlotEnv+"="+c.Slot),
		Files: []*os.File{os.Stdin, out, out},
	})
	if err != nil {
		return fmt.Errorf("start: %w", err)
	}
	done := make(chan error, 1)
	go func() {
		st, err := p.Wait()
		if err == nil && !st.Success() {
			err = errors.New(st.String())
		}
		done <- err
	}()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
	}
	_ = p.Signal(syscall.SIGTERM)
	select {
	case err := <-done:
		return err
	case <-time.After(15 * time.Second):
		log.Error("firmware did not stop within 15 s of SIGTERM; killing it")
		_ = p.Kill()
		return errors.Join(errors.New("killed"), <-done)
	}
}
