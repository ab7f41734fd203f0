package ledger

import (
	"bytes"
	"encoding/json"
	"fmt"

	bolt "go.etcd.io/bbolt"
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
		if err := deleteWhere(b.calls, "calls", func(k, _ []byte) bool {
			return !keep[string(k)]
		}); err != nil {
			return err
		}
		if err := deleteWhere(b.byStart, "call index", func(k, _ []byte) bool {
			return len(k) <= timeKeyLen || !keep[string(k[timeKeyLen:])]
		}); err != nil {
			return err
		}
		if err := deleteWhere(b.journal, "journal", func(_, v []byte) bool {
			var e Entry
			return json.Unmarshal(v, &e) != nil || e.Kind != KindCall || !keep[e.Ref]
		}); err != nil {
			return err
		}
		return deleteWhere(b.rchgs, "recharges", func(_, _ []byte) bool { return true })
	})
	if err != nil {
		return 0, err
	}
	return kept, nil
}

// deleteWhere deletes the keys of bk that drop picks. Deleting while
// iterating a bbolt cursor skips keys, so the keys are collected first.
func deleteWhere(bk *bolt.Bucket, what string, drop func(k, v []byte) bool) error {
	var keys [][]byte
	if err := bk.ForEach(func(k, v []byte) error {
		if drop(k, v) {
			keys = append(keys, bytes.Clone(k))
		}
		return nil
	}); err != nil {
		return err
	}
	for _, k := range keys {
		if err := bk.Delete(k); err != nil {
			return fmt.Errorf("ledger: forget %s: %w", what, err)
		}
	}
	return nil
}
