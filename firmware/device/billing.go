package device

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/tipring/tipring/firmware/line"
	"github.com/tipring/tipring/meter"
	"github.com/tipring/tipring/meter/backend"
	"github.com/tipring/tipring/meter/ledger"
)

// ledgerFile is the call ledger's name under [device] data_dir.
const ledgerFile = "ledger.db"

// openMeter opens the ledger and the meter on it.
func (d *Device) openMeter() (*meter.Meter, *ledger.Ledger, error) {
	dir := d.cfg.Device.DataDir
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, nil, fmt.Errorf("device: data_dir: %w", err)
	}
	led, err := ledger.Open(filepath.Join(dir, ledgerFile), ledger.Options{Logger: d.log.With("room", "ledger")})
	if err != nil {
		return nil, nil, fmt.Errorf("device: %w", err)
	}
	mc := d.cfg.Meter
	cfg := meter.Config{
		Ledger:       led,
		Checkpoint:   mc.Checkpoint.D(),
		OfflineGrace: mc.OfflineGrace.D(),
		SyncEvery:    mc.SyncInterval.D(),
		ClockSynced:  clockSynced,
		Logger:       d.log.With("room", "meter"),
	}
	if w := mc.WarnBefore.D(); w > 0 {
		cfg.WarnBefore = []time.Duration{w}
		if w > 10*time.Second {
			cfg.WarnBefore = append(cfg.WarnBefore, 10*time.Second)
		}
	}
	if mc.Backend != "" {
		c, err := backend.New(mc.Backend, mc.Account, mc.Token, backend.Options{Logger: d.log.With("room", "billing")})
		if err != nil {
			led.Close()
			return nil, nil, fmt.Errorf("device: %w", err)
		}
		cfg.Backend = billingBackend{c}
	}
	m, err := meter.New(cfg)
	if err != nil {
		led.Close()
		return nil, nil, fmt.Errorf("device: %w", err)
	}
	return m, led, nil
}

// billingBackend adapts the back-end client to what the meter asks of it.
type billingBackend struct{ *backend.Client }

func (b billingBackend) Recharge(ctx context.Context, id string, amount meter.Money, reason string) (meter.Recharge, error) {
	res, err := b.Client.Recharge(ctx, id, amount, reason)
	if err != nil {
		return meter.Recharge{}, err
	}
	out := meter.Recharge{Result: "declined", Message: res.Message, BalanceAfter: res.Balance}
	if res.Approved {
		out.Result = "approved"
	}
	return out, nil
}

// lineMeter gives a line the meter's calls behind the line's interface.
type lineMeter struct{ *meter.Meter }

func (m lineMeter) Authorize(a meter.Attempt) (line.MeteredCall, error) {
	c, err := m.Meter.Authorize(a)
	if err != nil {
		return nil, err // not a typed nil inside the interface
	}
	return c, nil
}

// Balance implements api.Billing.
func (d *Device) Balance() (meter.BalanceInfo, error) { return d.meter.Balance() }

// Calls implements api.Billing.
func (d *Device) Calls(limit int) ([]meter.Record, error) { return d.ledger.Calls(limit) }

// Statement implements api.Billing: month is the first instant of the
// month, in the device's time zone.
func (d *Device) Statement(month time.Time) (meter.Statement, error) {
	from := time.Date(month.Year(), month.Month(), 1, 0, 0, 0, 0, month.Location())
	to := from.AddDate(0, 1, 0)
	records, err := d.ledger.CallsBetween(from, to)
	if err != nil {
		return meter.Statement{}, err
	}
	recharges, err := d.ledger.Recharges(from, to)
	if err != nil {
		return meter.Statement{}, err
	}
	opening, entries, err := d.ledger.Journal(from, to)
	if err != nil {
		return meter.Statement{}, err
	}
	var adjustments meter.Money
	closing := opening
	for _, e := range entries {
		if e.Kind == "adjustment" {
			adjustments += e.Delta
		}
		closing = e.BalanceAfter
	}
	info, err := d.meter.Balance()
	if err != nil {
		return meter.Statement{}, err
	}
	s := meter.BuildStatement(from.Format("2006-01"), info.Currency, opening, records, recharges, adjustments)
	if s.Closing != closing {
		// The journal and the records disagree: show the journal's figure
		// (it is what the balance is) and say so in the log.
		d.log.Error("statement: the records do not add up to the journal", "month", s.Month, "records", s.Closing, "journal", closing)
		s.Closing = closing
	}
	return s, nil
}
