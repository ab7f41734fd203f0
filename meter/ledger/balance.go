package ledger

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/tipring/tipring/internal/order"
	"github.com/tipring/tipring/meter"
)

// Journal entry kinds.
const (
	KindCall       = "call"
	KindRecharge   = "recharge"
	KindAdjustment = "adjustment"
)

// Entry is one change of the balance. Every change of Balance() writes one
// in the same transaction, so that for any period
// opening − Σ costs + Σ recharges + Σ adjustments = closing.
type Entry struct {
	// At never goes back from one entry to the next: an earlier clock
	// reading (a clock not yet synchronized) is raised to the previous
	// entry's, so that time order is commit order and statements add up.
	At   time.Time `json:"at"`
	Kind string    `json:"kind"` // KindCall, KindRecharge or KindAdjustment
	// Ref is the call or recharge ID; for an adjustment, the call whose
	// acknowledgement or the account refresh ("account") that revealed it.
	Ref          string      `json:"ref"`
	Delta        meter.Money `json:"delta"`
	BalanceAfter meter.Money `json:"balance_after"`
}

// Recharge results.
const (
	RechargeApproved = "approved"
	RechargeDeclined = "declined"
	RechargeError    = "error"
)

// balance is the device's view: the balance the back end last confirmed
// minus the cost of finished calls it has not acknowledged yet.
func (b *buckets) balance() (meter.Money, error) {
	acct, _, err := b.account()
	if err != nil {
		return 0, err
	}
	bal := acct.Account.Balance
	err = b.outbox.ForEach(func(k, id []byte) error {
		v := b.calls.Get(id)
		if v == nil {
			return corrupt(bucketOutbox, k, fmt.Errorf("call %q is not in %q", id, bucketCalls))
		}
		r, err := decodeRecord(bucketCalls, id, v)
		if err != nil {
			return err
		}
		bal -= r.Cost
		return nil
	})
	return bal, err
}

// Balance is the device's view of the balance: the account balance last
// confirmed by the back end minus the costs of finished calls still in the
// outbox. It is computed from stored state only, so it is right after any
// crash.
func (l *Ledger) Balance() (meter.Money, error) {
	var bal meter.Money
	err := l.view(func(b *buckets) error {
		var err error
		bal, err = b.balance()
		return err
	})
	return bal, err
}

func (b *buckets) account() (storedAccount, bool, error) {
	var a storedAccount
	v := b.cache.Get([]byte(accountKey))
	if v == nil {
		return a, false, nil
	}
	if err := decodeJSON(bucketCache, []byte(accountKey), v, &a); err != nil {
		return storedAccount{}, false, err
	}
	return a, true, nil
}

func (b *buckets) putAccount(a storedAccount) error {
	v, err := json.Marshal(a)
	if err != nil {
		return fmt.Errorf("encode account: %w", err)
	}
	return b.cache.Put([]byte(accountKey), v)
}

// appendEntry writes e to the journal, raising e.At to the last entry's.
func (b *buckets) appendEntry(e Entry) error {
	if k, v := b.journal.Cursor().Last(); k != nil {
		var last Entry
		if err := decodeJSON(bucketJournal, k, v, &last); err != nil {
			return err
		}
		if e.At.Before(last.At) {
			e.At = last.At
		}
	}
	seq, err := b.journal.NextSequence()
	if err != nil {
		return fmt.Errorf("ledger: journal: %w", err)
	}
	v, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("ledger: journal: encode entry: %w", err)
	}
	key := binaryAppendSeq(timeKey(e.At), seq)
	if err := b.journal.Put(key, v); err != nil {
		return fmt.Errorf("ledger: journal: %w", err)
	}
	return nil
}

func binaryAppendSeq(k []byte, seq uint64) []byte {
	return append(k, seqKey(seq)...)
}

// adjust records the difference between what the device expected the
// balance to become and what it became from the back end's answer.
func (b *buckets) adjust(l *Ledger, at time.Time, ref string, expected, got meter.Money) error {
	if expected == got {
		return nil
	}
	l.log.Warn("ledger: back end balance differs from the device's",
		"ref", ref, "expected", expected.String(), "balance", got.String(), "difference", (got - expected).String())
	return b.appendEntry(Entry{At: at, Kind: KindAdjustment, Ref: ref, Delta: got - expected, BalanceAfter: got})
}

// Pending lists finished calls not yet acknowledged by the back end, in
// the order they finished.
func (l *Ledger) Pending() ([]meter.Record, error) {
	var out []meter.Record
	err := l.view(func(b *buckets) error {
		return b.outbox.ForEach(func(k, id []byte) error {
			v := b.calls.Get(id)
			if v == nil {
				return corrupt(bucketOutbox, k, fmt.Errorf("call %q is not in %q", id, bucketCalls))
			}
			r, err := decodeRecord(bucketCalls, id, v)
			if err != nil {
				return err
			}
			out = append(out, r)
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Acknowledge records the back end's answer to the usage post of call id:
// it removes id from the outbox and stores the balance and status the back
// end answered, in one transaction, so a crash cannot apply the usage twice
// to the local balance. An id not pending (already acknowledged, or
// unknown) changes nothing.
func (l *Ledger) Acknowledge(id string, balance meter.Money, status meter.Status, at time.Time) error {
	if err := checkMoney("acknowledged balance", balance); err != nil {
		return fmt.Errorf("ledger: acknowledge %q: %w", id, err)
	}
	return l.update(func(b *buckets) error {
		var key []byte
		c := b.outbox.Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			if string(v) == id {
				key = bytes.Clone(k)
				break
			}
		}
		if key == nil {
			return errNoChange
		}
		before, err := b.balance()
		if err != nil {
			return err
		}
		if err := b.outbox.Delete(key); err != nil {
			return fmt.Errorf("ledger: acknowledge %q: %w", id, err)
		}
		acct, _, err := b.account()
		if err != nil {
			return err
		}
		acct.Account.Balance = balance
		if status != "" {
			acct.Account.Status = status
		}
		acct.SyncedAt = at
		if err := b.putAccount(acct); err != nil {
			return fmt.Errorf("ledger: acknowledge %q: %w", id, err)
		}
		after, err := b.balance()
		if err != nil {
			return err
		}
		return b.adjust(l, at, id, before, after)
	})
}

// SaveAccount stores the account as the back end sent it, at is when. Its
// balance becomes the confirmed balance; if Balance() then differs from
// before, the difference is journalled as an adjustment.
func (l *Ledger) SaveAccount(a meter.Account, at time.Time) error {
	if err := checkMoney("account balance", a.Balance); err != nil {
		return fmt.Errorf("ledger: save account: %w", err)
	}
	return l.update(func(b *buckets) error {
		before, err := b.balance()
		if err != nil {
			return err
		}
		if err := b.putAccount(storedAccount{Account: a, SyncedAt: at}); err != nil {
			return fmt.Errorf("ledger: save account: %w", err)
		}
		after, err := b.balance()
		if err != nil {
			return err
		}
		return b.adjust(l, at, accountKey, before, after)
	})
}

// Account returns the cached account and when the back end last confirmed
// its balance; ok is false before the first SaveAccount.
func (l *Ledger) Account() (a meter.Account, syncedAt time.Time, ok bool, err error) {
	err = l.view(func(b *buckets) error {
		var s storedAccount
		s, ok, err = b.account()
		a, syncedAt = s.Account, s.SyncedAt
		return err
	})
	return a, syncedAt, ok, err
}

// SaveRates stores the rate table as the back end sent it; the caller has
// validated it.
func (l *Ledger) SaveRates(raw []byte, version string, at time.Time) error {
	if len(raw) == 0 {
		return errors.New("ledger: save rates: empty rate table")
	}
	meta, err := json.Marshal(ratesMeta{Version: version, At: at})
	if err != nil {
		return fmt.Errorf("ledger: save rates: %w", err)
	}
	return l.update(func(b *buckets) error {
		if err := b.cache.Put([]byte(ratesKey), raw); err != nil {
			return fmt.Errorf("ledger: save rates: %w", err)
		}
		if err := b.cache.Put([]byte(ratesMetaKey), meta); err != nil {
			return fmt.Errorf("ledger: save rates: %w", err)
		}
		return nil
	})
}

// Rates returns the stored rate table; ok is false before the first
// SaveRates.
func (l *Ledger) Rates() (raw []byte, version string, at time.Time, ok bool, err error) {
	err = l.view(func(b *buckets) error {
		v := b.cache.Get([]byte(ratesKey))
		if v == nil {
			return nil
		}
		var m ratesMeta
		mv := b.cache.Get([]byte(ratesMetaKey))
		if mv == nil {
			return corrupt(bucketCache, []byte(ratesMetaKey), errors.New("missing while rates are stored"))
		}
		if err := decodeJSON(bucketCache, []byte(ratesMetaKey), mv, &m); err != nil {
			return err
		}
		raw, version, at, ok = bytes.Clone(v), m.Version, m.At, true
		return nil
	})
	if err != nil {
		return nil, "", time.Time{}, false, err
	}
	return raw, version, at, ok, nil
}

// AddRecharge records a recharge and its outcome. An approved recharge
// moves the balance: a journal entry of +Amount, and the back end's
// answered balance (r.BalanceAfter) becomes the confirmed balance; if that
// is not what the device expected, an adjustment entry records the
// difference. Declined and failed recharges are kept for the history and
// change nothing else. A recharge ID can be added only once.
func (l *Ledger) AddRecharge(r meter.Recharge) error {
	if err := checkRecharge(r); err != nil {
		return fmt.Errorf("ledger: add recharge: %w", err)
	}
	v, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("ledger: add recharge %q: encode: %w", r.ID, err)
	}
	return l.update(func(b *buckets) error {
		id := []byte(r.ID)
		if b.rchgs.Get(id) != nil {
			return fmt.Errorf("ledger: add recharge: recharge %q already recorded", r.ID)
		}
		if err := b.rchgs.Put(id, v); err != nil {
			return fmt.Errorf("ledger: add recharge %q: %w", r.ID, err)
		}
		if r.Result != RechargeApproved {
			return nil
		}
		before, err := b.balance()
		if err != nil {
			return err
		}
		acct, _, err := b.account()
		if err != nil {
			return err
		}
		acct.Account.Balance = r.BalanceAfter
		acct.SyncedAt = r.At
		if err := b.putAccount(acct); err != nil {
			return fmt.Errorf("ledger: add recharge %q: %w", r.ID, err)
		}
		expected := before + r.Amount
		if err := b.appendEntry(Entry{At: r.At, Kind: KindRecharge, Ref: r.ID, Delta: r.Amount, BalanceAfter: expected}); err != nil {
			return err
		}
		after, err := b.balance()
		if err != nil {
			return err
		}
		return b.adjust(l, r.At, r.ID, expected, after)
	})
}

func checkRecharge(r meter.Recharge) error {
	if err := checkID("recharge", r.ID); err != nil {
		return err
	}
	switch r.Result {
	case RechargeApproved:
		if r.Amount <= 0 {
			return fmt.Errorf("approved recharge %q of %s: want a positive amount", r.ID, r.Amount)
		}
	case RechargeDeclined, RechargeError:
	default:
		return fmt.Errorf("recharge %q: result %q, want %q, %q or %q", r.ID, r.Result, RechargeApproved, RechargeDeclined, RechargeError)
	}
	if err := checkMoney("recharge "+r.ID+": amount", r.Amount); err != nil {
		return err
	}
	return checkMoney("recharge "+r.ID+": balance after", r.BalanceAfter)
}

// Recharges returns the recharges made in [from, to), oldest first.
func (l *Ledger) Recharges(from, to time.Time) ([]meter.Recharge, error) {
	var out []meter.Recharge
	err := l.view(func(b *buckets) error {
		return b.rchgs.ForEach(func(k, v []byte) error {
			var r meter.Recharge
			if err := decodeJSON(bucketRecharges, k, v, &r); err != nil {
				return err
			}
			if !r.At.Before(from) && r.At.Before(to) {
				out = append(out, r)
			}
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	order.Sort(out, func(a, b meter.Recharge) int {
		return cmp.Or(a.At.Compare(b.At), cmp.Compare(a.ID, b.ID))
	})
	return out, nil
}

// Journal returns the balance entries with At in [from, to), oldest first,
// and the opening balance: the BalanceAfter of the last entry before from,
// or, when there is none, the balance before the first entry (zero for a
// journal that starts with the first account refresh).
func (l *Ledger) Journal(from, to time.Time) (opening meter.Money, entries []Entry, err error) {
	err = l.view(func(b *buckets) error {
		c := b.journal.Cursor()
		start := timeKey(from)
		k, v := c.Seek(start)
		var pk, pv []byte
		if k == nil {
			pk, pv = c.Last()
		} else {
			pk, pv = c.Prev()
		}
		switch {
		case pk != nil:
			var e Entry
			if err := decodeJSON(bucketJournal, pk, pv, &e); err != nil {
				return err
			}
			opening = e.BalanceAfter
		case k != nil:
			var e Entry
			if err := decodeJSON(bucketJournal, k, v, &e); err != nil {
				return err
			}
			opening = e.BalanceAfter - e.Delta
		}
		if !to.After(from) {
			return nil
		}
		end := timeKey(to)
		for k, v := c.Seek(start); k != nil && bytes.Compare(k, end) < 0; k, v = c.Next() {
			var e Entry
			if err := decodeJSON(bucketJournal, k, v, &e); err != nil {
				return err
			}
			entries = append(entries, e)
		}
		return nil
	})
	if err != nil {
		return 0, nil, err
	}
	return opening, entries, nil
}
