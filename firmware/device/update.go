package device

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"

	"github.com/tipring/tipring/firmware/api"
	"github.com/tipring/tipring/firmware/update"
)

// ErrReboot ends Run when the device stops to boot a new image; the boot
// loop (tipring boot) finds the reboot flag and starts the new slot.
var ErrReboot = errors.New("rebooting into the new firmware")

// updater is made per use: it holds no state of its own beyond options,
// and installs exclude each other with a lock file in the data dir.
func (d *Device) updater() (*update.Updater, error) {
	keys, err := update.TrustedKeys(d.opts.Version, d.cfg.Device.DataDir)
	if err != nil {
		return nil, err
	}
	return update.New(update.Options{
		DataDir: d.cfg.Device.DataDir,
		Board:   d.cfg.Device.Board,
		Trusted: keys,
		Logger:  d.log.With("room", "update"),
	})
}

// runningSlot is the slot tipring boot started this firmware from, or ""
// when it was started by hand.
func runningSlot() string { return os.Getenv(update.SlotEnv) }

// startUpdates starts the health confirmation of a new image and the
// scheduled pull of [update] url. Call it once the lines exist.
func (d *Device) startUpdates(start func(string, func(context.Context) error)) {
	if slot := runningSlot(); slot != "" {
		start("update confirmation", func(ctx context.Context) error { return d.confirmHealth(ctx, slot) })
	}
	if d.cfg.Update.URL != "" {
		start("update pull", d.pullUpdates)
	}
}

// confirmHealth confirms a trial image once every line has registered, or
// once it has run [update] confirm_after (the provider may be down; the
// image itself is fine). An image that crashes before either is rolled
// back by the boot loop after a few tries.
func (d *Device) confirmHealth(ctx context.Context, slot string) error {
	u, err := d.updater()
	if err != nil {
		return err
	}
	st, err := u.State()
	if err != nil || st.Trial != slot {
		return nil // nothing on trial: nothing to confirm
	}
	deadline := time.Now().Add(d.cfg.Update.ConfirmWait())
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		why := ""
		if d.allRegistered() {
			why = "every line registered"
		} else if !time.Now().Before(deadline) {
			why = "ran " + d.cfg.Update.ConfirmWait().String()
		}
		if why != "" {
			ok, err := u.Confirm(slot)
			if err != nil {
				d.log.Error("update: confirm", "err", err)
				return nil
			}
			if ok {
				d.log.Info("update: new firmware confirmed healthy", "slot", slot, "version", d.opts.Version, "because", why)
			}
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

func (d *Device) allRegistered() bool {
	st := d.Status()
	if len(st.Lines) == 0 {
		return false
	}
	for _, l := range st.Lines {
		if !l.Registered {
			return false
		}
	}
	return true
}

// pullUpdates checks [update] url at start and every interval, installs a
// newer image and reboots into it.
func (d *Device) pullUpdates(ctx context.Context) error {
	hc := &http.Client{Timeout: 10 * time.Minute}
	tick := time.NewTicker(d.cfg.Update.PullInterval())
	defer tick.Stop()
	for {
		if u, err := d.updater(); err != nil {
			d.log.Warn("update: pull", "err", err)
		} else if res, ok, err := u.Pull(ctx, hc, d.cfg.Update.URL); err != nil {
			d.log.Warn("update: pull failed; trying again later", "url", d.cfg.Update.URL, "err", err)
		} else if ok {
			if runningSlot() != "" {
				d.Reboot(fmt.Sprintf("pulled version %s into slot %s", res.Manifest.Version, res.Slot))
				return nil
			}
			d.log.Warn("update: installed, but this firmware was not started by tipring boot: start the new slot yourself", "slot", res.Slot)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

// InstallUpdate implements api.Updater.
func (d *Device) InstallUpdate(ctx context.Context, body io.Reader, opts api.UpdateOptions) (api.UpdateResult, error) {
	u, err := d.updater()
	if err != nil {
		return api.UpdateResult{}, err
	}
	res, err := u.Install(ctx, body, opts.Force)
	if err != nil {
		return api.UpdateResult{}, err
	}
	out := api.UpdateResult{Result: res}
	v := res.Manifest.Version
	switch {
	case runningSlot() == "":
		out.Message = fmt.Sprintf("installed version %s in slot %s; this firmware was not started by tipring boot, so start that slot to run it", v, res.Slot)
	case opts.NoReboot:
		out.Message = fmt.Sprintf("installed version %s in slot %s; it runs at the next reboot", v, res.Slot)
	default:
		out.Reboot = true
		out.Message = fmt.Sprintf("installed version %s in slot %s; rebooting into it now: it must confirm its health or the device goes back to version %s", v, res.Slot, d.opts.Version)
	}
	return out, nil
}

// Reboot implements api.Updater: it leaves the reboot flag for the boot
// loop and stops the device.
func (d *Device) Reboot(reason string) {
	if err := update.RequestReboot(d.cfg.Device.DataDir, reason); err != nil {
		d.log.Error("update: cannot reboot", "err", err)
		return
	}
	if d.stop != nil {
		d.stop(fmt.Errorf("%s: %w", reason, ErrReboot))
	}
}

// UpdateStatus implements api.Updater.
func (d *Device) UpdateStatus() (api.UpdateStatus, error) {
	st, err := update.LoadState(d.cfg.Device.DataDir)
	if err != nil && !errors.Is(err, update.ErrNoState) {
		return api.UpdateStatus{}, err
	}
	return api.UpdateStatus{RunningSlot: runningSlot(), State: st}, nil
}
