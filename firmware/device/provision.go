package device

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/tipring/tipring/boards"
	"github.com/tipring/tipring/firmware/api"
	"github.com/tipring/tipring/firmware/provision"
	"github.com/tipring/tipring/meter/ledger"
)

// ErrRestart is how Run ends when the device must start again with what is
// on disk now: the provisioning server changed the configuration, or a
// factory reset removed it. `tipring run` starts the device again, into
// provisioning when there is no configuration left.
var ErrRestart = errors.New("restart requested")

// ProvisionOptions tie a running device to its configuration file.
type ProvisionOptions struct {
	// ConfigPath is the file the configuration was loaded from: a refresh
	// from [provision] url replaces it, a factory reset removes it. Empty
	// disables both.
	ConfigPath string
	// MAC names the device's own file on the provisioning server
	// (cfg<mac>.toml).
	MAC string
	// Factory, when known, gives the signature key if [provision]
	// public_key is empty.
	Factory *provision.Factory
	// Client fetches from the provisioning server; nil means one that
	// trusts the system's roots and [provision] ca.
	Client *http.Client
}

// startProvisioning starts the parts that can replace or remove the
// configuration: the refresh from [provision] url and the board's reset
// button.
func (d *Device) startProvisioning(board boards.Board, start func(string, func(context.Context) error)) {
	po := d.opts.Provision
	if d.cfg.Provision.URL != "" && po.ConfigPath != "" {
		start("provisioning", d.resync)
	}
	if b, ok := board.(boards.ResetButton); ok {
		start("reset button", func(ctx context.Context) error { return d.watchResetButton(ctx, b.ResetRequests()) })
	}
}

// resync asks the provisioning server for the configuration at start and
// every [provision] interval. A file that differs, byte for byte, from the
// one on disk and validates replaces it, and the device restarts with it.
// Failures only log: the device keeps running on what it has.
func (d *Device) resync(ctx context.Context) error {
	f, err := d.fetcher()
	if err != nil {
		return err
	}
	path := d.opts.Provision.ConfigPath
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		t.Reset(d.cfg.Provision.Interval.D())
		got, err := f.Fetch(ctx, d.cfg.Provision.URL, d.opts.Provision.MAC)
		if err != nil {
			if ctx.Err() == nil {
				d.log.Warn("provisioning: refresh failed; keeping the configuration in use", "err", err, "retry_in", d.cfg.Provision.Interval.D())
			}
			continue
		}
		cur, err := os.ReadFile(path)
		if err == nil && bytes.Equal(cur, got.Data) {
			d.log.Debug("provisioning: configuration unchanged", "url", got.URL)
			continue
		}
		if err := provision.WriteConfig(path, got.Data); err != nil {
			d.log.Error("provisioning: cannot replace the configuration", "err", err)
			continue
		}
		d.log.Info("provisioning: the configuration changed; restarting with it", "url", got.URL, "file", path)
		return fmt.Errorf("provisioning: %w", ErrRestart)
	}
}

// fetcher trusts what [provision] says, or the factory's key.
func (d *Device) fetcher() (*provision.Fetcher, error) {
	pc := d.cfg.Provision
	hc := d.opts.Provision.Client
	if hc == nil {
		var err error
		if hc, err = provision.Client(pc.CA); err != nil {
			return nil, fmt.Errorf("device: [provision] ca: %w", err)
		}
	}
	key := pc.PublicKey
	if key == "" && d.opts.Provision.Factory != nil {
		key = d.opts.Provision.Factory.ProvisionKey
	}
	f := &provision.Fetcher{Client: hc, AllowHTTP: pc.AllowHTTP, Logger: d.log.With("room", "provision")}
	if key != "" {
		k, err := provision.ParsePublicKey(key)
		if err != nil {
			return nil, fmt.Errorf("device: provisioning key: %w", err)
		}
		f.PublicKey = k
	}
	return f, nil
}

func (d *Device) watchResetButton(ctx context.Context, presses <-chan struct{}) error {
	select {
	case <-ctx.Done():
		return nil
	case _, ok := <-presses:
		if !ok {
			<-ctx.Done()
			return nil
		}
	}
	d.log.Warn("reset button held: factory reset")
	res, err := d.FactoryReset(ctx)
	if err != nil {
		return fmt.Errorf("factory reset from the button: %w", err)
	}
	d.log.Info(res.Message, "kept_calls", res.KeptCalls)
	return nil
}

// FactoryReset implements api.Resetter: the ledger forgets what is
// delivered, the configuration file goes, and the device restarts into
// provisioning.
func (d *Device) FactoryReset(context.Context) (api.ResetResult, error) {
	if d.opts.Provision.ConfigPath == "" {
		return api.ResetResult{}, errors.New("factory reset: the device was started without the path of its configuration file")
	}
	if d.ledger == nil || d.stop == nil {
		return api.ResetResult{}, errors.New("factory reset: the device is not running")
	}
	kept, err := resetData(d.ledger, d.opts.Provision.ConfigPath)
	if err != nil {
		return api.ResetResult{}, err
	}
	d.log.Warn("factory reset done; restarting into provisioning", "kept_calls", kept)
	d.stop(fmt.Errorf("factory reset: %w", ErrRestart))
	return api.ResetResult{KeptCalls: kept, Message: "factory reset: configuration removed; the device restarts into provisioning"}, nil
}

// resetData forgets the ledger's delivered history first and removes the
// configuration last: a power cut in between leaves a configured device
// that a second reset finishes, never a blank one that lost track of it.
func resetData(led *ledger.Ledger, configPath string) (kept int, err error) {
	kept, err = led.ForgetDelivered()
	if err != nil {
		return 0, fmt.Errorf("factory reset: %w", err)
	}
	if err := os.Remove(configPath); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return kept, fmt.Errorf("factory reset: remove the configuration: %w", err)
	}
	return kept, nil
}

// ResetOffline is the factory reset of a device whose firmware is not
// running (`tipring reset --offline`). The ledger's lock tells if it is.
func ResetOffline(dataDir, configPath string, log *slog.Logger) (kept int, err error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	path := filepath.Join(dataDir, ledgerFile)
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		log.Info("factory reset: no ledger to keep calls from", "path", path)
		if err := os.Remove(configPath); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return 0, fmt.Errorf("factory reset: remove the configuration: %w", err)
		}
		return 0, nil
	}
	led, err := ledger.Open(path, ledger.Options{Logger: log})
	if err != nil {
		return 0, fmt.Errorf("factory reset (is tipring running? then reset it without --offline): %w", err)
	}
	kept, err = resetData(led, configPath)
	if cerr := led.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("factory reset: %w", cerr)
	}
	return kept, err
}
