package ledger

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// ForgetDelivered is the ledger's part of a factory reset. It removes what
// belongs to the customer and is no longer owed to anyone: finished calls
// the back end has acknowledged, recharges, and journal entries of those.
// It keeps, in one transaction, what the back end has yet to receive:
// calls in progress (a boot finishes them), the outbox with its calls, and
// their journal entries, so that they are still delivered once the device
// is provisioned again and statements still add up. The cached account and
// rates stay too: they are the provider's, and the kept calls' costs are
// counted against that balance until they are acknowledged. kept is the
// number of calls left.
func (l *Ledger) ForgetDelivered() (kept int, err error) {
	err = l.update(func(b *buckets) error {
		keep := map[string]bool{}
		if err := b.open.ForEach(func(k, _ []byte) error {
			keep[string(k)] = true
			return nil
		}); err != nil {
			return err
		}
		if err := b.outbox.ForEach(func(_, id []byte) error {
			keep[string(id)] = true
			return nil
		}); err != nil {
			return err
		}
		kept = len(keep)
		// Deleting while iterating a bbolt cursor skips keys; collect first.
		var drop [][]byte
		if err := b.calls.ForEach(func(k, _ []byte) error {
			if !keep[string(k)] {
				drop = append(drop, bytes.Clone(k))
			}
			return nil
		}); err != nil {
			return err
		}
		if err := deleteKeys(b.calls, drop); err != nil {
			return fmt.Errorf("ledger: forget calls: %w", err)
		}
		drop = drop[:0]
		if err := b.byStart.ForEach(func(k, _ []byte) error {
			if len(k) <= timeKeyLen || !keep[string(k[timeKeyLen:])] {
				drop = append(drop, bytes.Clone(k))
			}
			return nil
		}); err != nil {
			return err
		}
		if err := deleteKeys(b.byStart, drop); err != nil {
			return fmt.Errorf("ledger: forget call index: %w", err)
		}
		drop = drop[:0]
		if err := b.journal.ForEach(func(k, v []byte) error {
			var e Entry
			if err := json.Unmarshal(v, &e); err != nil || e.Kind != KindCall || !keep[e.Ref] {
				drop = append(drop, bytes.Clone(k))
			}
			return nil
		}); err != nil {
			return err
		}
		if err := deleteKeys(b.journal, drop); err != nil {
			return fmt.Errorf("ledger: forget journal: %w", err)
		}
		drop = drop[:0]
		if err := b.rchgs.ForEach(func(k, _ []byte) error {
			drop = append(drop, bytes.Clone(k))
			return nil
		}); err != nil {
			return err
		}
		if err := deleteKeys(b.rchgs, drop); err != nil {
			return fmt.Errorf("ledger: forget recharges: %w", err)
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	return kept, nil
}

func deleteKeys(bk interface{ Delete([]byte) error }, keys [][]byte) error {
	for _, k := range keys {
		if err := bk.Delete(k); err != nil {
			return err
		}
	}
	return nil
}
