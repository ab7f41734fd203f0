package meter

import (
	"context"
	"fmt"
	"time"
)

// requestTimeout bounds one request to the back end: a hanging server
// must not hold up delivery for longer than a checkpoint or two.
const requestTimeout = 15 * time.Second

// retryMin and the sync interval bound the back-off after a failed sync.
const retryMin = 5 * time.Second

// Run commits checkpoints and keeps the cache and the back end in step
// (usage delivered, account and rates fetched, automatic recharge) until
// ctx ends.
func (m *Meter) Run(ctx context.Context) error {
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(m.cfg.Checkpoint)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				m.checkpoint()
			}
		}
	}()
	defer func() {
		<-done
		m.checkpoint() // the last word before shutdown
	}()
	if m.cfg.Backend == nil {
		<-ctx.Done()
		return nil
	}
	wait := time.Duration(0)
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-timer.C:
		case <-m.kick:
		}
		if err := m.Sync(ctx); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			wait = min(max(2*wait, retryMin), m.cfg.SyncEvery)
			m.log.Warn("meter: back end sync failed; cached balance and rates stay in use", "err", err, "retry_in", wait)
		} else {
			wait = m.cfg.SyncEvery
		}
		timer.Reset(wait)
	}
}

// Sync delivers pending usage and then, with nothing left to deliver,
// refreshes the account and (when their version changed) the rates. The
// order matters: an account balance fetched while usage is undelivered
// would not include it yet, and the device would count it twice.
func (m *Meter) Sync(ctx context.Context) error {
	if m.cfg.Backend == nil {
		return nil
	}
	pending, err := m.cfg.Ledger.Pending()
	if err != nil {
		return fmt.Errorf("meter: pending usage: %w", err)
	}
	for _, r := range pending {
		rctx, cancel := context.WithTimeout(ctx, requestTimeout)
		balance, status, err := m.cfg.Backend.PostUsage(rctx, r)
		cancel()
		if err != nil {
			// The record stays in the outbox; it goes again next time,
			// and the back end ignores a repeat by its id.
			return fmt.Errorf("meter: deliver call %s: %w", r.ID, err)
		}
		if err := m.cfg.Ledger.Acknowledge(r.ID, balance, status, time.Now()); err != nil {
			return fmt.Errorf("meter: acknowledge call %s: %w", r.ID, err)
		}
		m.mu.Lock()
		m.account.Balance, m.account.Status, m.synced = balance, status, time.Now()
		m.mu.Unlock()
	}
	rctx, cancel := context.WithTimeout(ctx, requestTimeout)
	acct, err := m.cfg.Backend.Account(rctx)
	cancel()
	if err != nil {
		return fmt.Errorf("meter: fetch account: %w", err)
	}
	m.mu.Lock()
	if m.haveAcct && m.account.Currency != "" && acct.Currency != m.account.Currency {
		m.mu.Unlock()
		return fmt.Errorf("meter: the back end's currency changed from %s to %s; keeping the cache", m.account.Currency, acct.Currency)
	}
	m.mu.Unlock()
	now := time.Now()
	if err := m.cfg.Ledger.SaveAccount(acct, now); err != nil {
		return fmt.Errorf("meter: save account: %w", err)
	}
	m.mu.Lock()
	m.account, m.synced, m.haveAcct = acct, now, true
	needRates := m.table == nil || m.table.Version() != acct.RatesVersion
	m.reschedule(now)
	m.mu.Unlock()
	if needRates {
		if err := m.syncRates(ctx); err != nil {
			return err
		}
	}
	return m.autoRecharge(ctx)
}

func (m *Meter) syncRates(ctx context.Context) error {
	rctx, cancel := context.WithTimeout(ctx, requestTimeout)
	raw, err := m.cfg.Backend.Rates(rctx)
	cancel()
	if err != nil {
		return fmt.Errorf("meter: fetch rates: %w", err)
	}
	t, err := ParseRates(raw)
	if err != nil {
		return fmt.Errorf("meter: rates from the back end refused, last good table kept: %w", err)
	}
	m.mu.Lock()
	cur := m.account.Currency
	m.mu.Unlock()
	if cur != "" && t.Currency() != cur {
		return fmt.Errorf("meter: rates in %s for an account in %s refused, last good table kept", t.Currency(), cur)
	}
	if err := m.cfg.Ledger.SaveRates(raw, t.Version(), time.Now()); err != nil {
		return fmt.Errorf("meter: save rates: %w", err)
	}
	m.mu.Lock()
	m.table = t
	m.mu.Unlock()
	m.log.Info("meter: rates updated", "version", t.Version(), "destinations", t.Len())
	return nil
}

// autoRecharge asks for a top-up once per crossing of the threshold: the
// request is armed again only when the balance is back above it, so a
// declined or failed request never turns into a loop.
func (m *Meter) autoRecharge(ctx context.Context) error {
	balance, err := m.cfg.Ledger.Balance()
	if err != nil {
		return fmt.Errorf("meter: balance: %w", err)
	}
	m.mu.Lock()
	ar := m.account.AutoRecharge
	if !ar.Enabled || ar.Amount <= 0 || m.account.Status != Active {
		m.mu.Unlock()
		return nil
	}
	if balance >= ar.Threshold {
		m.rechargeArmed = true
		m.mu.Unlock()
		return nil
	}
	if !m.rechargeArmed {
		m.mu.Unlock()
		return nil
	}
	m.rechargeArmed = false
	m.mu.Unlock()

	now := time.Now()
	id := "rc-" + newID(now, 0)
	rctx, cancel := context.WithTimeout(ctx, requestTimeout)
	out, err := m.cfg.Backend.Recharge(rctx, id, ar.Amount, "auto")
	cancel()
	out.ID, out.At, out.Amount, out.Reason = id, now, ar.Amount, "auto"
	if err != nil {
		out.Result, out.Message, out.BalanceAfter = "error", err.Error(), balance
	}
	if err := m.cfg.Ledger.AddRecharge(out); err != nil {
		return fmt.Errorf("meter: record recharge: %w", err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	switch out.Result {
	case "approved":
		m.account.Balance = out.BalanceAfter
		m.log.Info("meter: automatic recharge approved", "amount", out.Amount, "balance", out.BalanceAfter)
		m.reschedule(time.Now())
	default:
		m.notice = NoticeRechargeDeclined
		m.log.Warn("meter: automatic recharge not approved", "result", out.Result, "message", out.Message)
	}
	return nil
}

// TakeNotice returns, once, what the user should hear at the next
// off-hook ("" for nothing).
func (m *Meter) TakeNotice() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := m.notice
	m.notice = ""
	return n
}

// BalanceInfo is the meter's view for /api/v1/balance and the balance
// prompt.
type BalanceInfo struct {
	Metering bool      `json:"metering"`
	Balance  Money     `json:"balance"` // confirmed balance less undelivered usage and calls in progress
	Currency string    `json:"currency"`
	Status   Status    `json:"status"`
	LastSync time.Time `json:"last_sync,omitzero"`
	// Unsynced is usage the back end has not acknowledged yet.
	UnsyncedCalls int    `json:"unsynced_calls"`
	UnsyncedCost  Money  `json:"unsynced_cost"`
	InCalls       Money  `json:"in_calls"` // cost so far of calls in progress
	RatesVersion  string `json:"rates_version,omitempty"`
	Stale         bool   `json:"stale"` // past offline_grace: calls are refused
	// LastRate is the last outgoing call's destination, and Minutes how
	// many whole minutes the balance buys there.
	LastDestination string `json:"last_destination,omitempty"`
	Minutes         int    `json:"minutes_at_last_rate"`
}

// Balance reports the cached balance.
func (m *Meter) Balance() (BalanceInfo, error) {
	confirmed, err := m.cfg.Ledger.Balance()
	if err != nil {
		return BalanceInfo{}, fmt.Errorf("meter: balance: %w", err)
	}
	pending, err := m.cfg.Ledger.Pending()
	if err != nil {
		return BalanceInfo{}, fmt.Errorf("meter: pending usage: %w", err)
	}
	now := time.Now()
	m.mu.Lock()
	defer m.mu.Unlock()
	info := BalanceInfo{
		Metering: m.Metering(),
		Currency: m.account.Currency,
		Status:   m.account.Status,
		LastSync: m.synced,
		Stale:    m.haveAcct && now.Sub(m.synced) > m.cfg.OfflineGrace,
	}
	if m.table != nil {
		info.RatesVersion = m.table.Version()
	}
	for _, r := range pending {
		info.UnsyncedCalls++
		info.UnsyncedCost += r.Cost
	}
	for _, c := range m.calls {
		if c.rec.Metered && !c.answered.IsZero() {
			talk := min(c.elapsed(now), c.limit)
			info.InCalls += Price(*c.rec.Rate, talk).Total
		}
	}
	info.Balance = confirmed - info.InCalls
	if m.lastRate != nil {
		info.LastDestination = m.lastRate.Destination
		l := Limits(info.Balance, []Running{{Rate: *m.lastRate}})[0]
		if l >= Unlimited {
			info.Minutes = -1
		} else {
			info.Minutes = int(l / time.Minute)
		}
	}
	return info, nil
}
