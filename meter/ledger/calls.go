package ledger

import (
	"bytes"
	"cmp"
	"fmt"
	"time"

	"github.com/tipring/tipring/internal/order"
	"github.com/tipring/tipring/meter"
)

// Begin commits a new call attempt, open ("in_progress"), before the line
// dials, so that every attempt has a record even if power goes while it
// rings. An empty Disposition is taken as in_progress. It is an error if a
// call with the same ID exists, open or finished.
func (l *Ledger) Begin(r meter.Record) error {
	if r.Disposition == "" {
		r.Disposition = meter.InProgress
	}
	if err := checkOpenRecord(r); err != nil {
		return fmt.Errorf("ledger: begin: %w", err)
	}
	v, err := encodeRecord(r)
	if err != nil {
		return fmt.Errorf("ledger: begin: %w", err)
	}
	return l.update(func(b *buckets) error {
		id := []byte(r.ID)
		if b.open.Get(id) != nil || b.calls.Get(id) != nil {
			return fmt.Errorf("ledger: begin: call %q already exists", r.ID)
		}
		if err := b.open.Put(id, v); err != nil {
			return fmt.Errorf("ledger: begin %q: %w", r.ID, err)
		}
		if err := b.byStart.Put(startKey(r), nil); err != nil {
			return fmt.Errorf("ledger: begin %q: %w", r.ID, err)
		}
		return nil
	})
}

func checkOpenRecord(r meter.Record) error {
	if err := checkRecord(r); err != nil {
		return err
	}
	if r.Disposition != meter.InProgress {
		return fmt.Errorf("call %q: disposition %q, want %q (Finish closes calls)", r.ID, r.Disposition, meter.InProgress)
	}
	return nil
}

// Update replaces open calls by ID, all in one transaction: the answer,
// and each checkpoint of every call in progress together, so the flash
// sees one commit per checkpoint. An empty Disposition is taken as
// in_progress. If any record is not open, nothing changes.
func (l *Ledger) Update(rs ...meter.Record) error {
	if len(rs) == 0 {
		return nil
	}
	values := make([][]byte, len(rs))
	for i := range rs {
		if rs[i].Disposition == "" {
			rs[i].Disposition = meter.InProgress
		}
		if err := checkOpenRecord(rs[i]); err != nil {
			return fmt.Errorf("ledger: update: %w", err)
		}
		v, err := encodeRecord(rs[i])
		if err != nil {
			return fmt.Errorf("ledger: update: %w", err)
		}
		values[i] = v
	}
	return l.update(func(b *buckets) error {
		for i, r := range rs {
			old, err := b.openRecord(r.ID)
			if err != nil {
				return fmt.Errorf("ledger: update: %w", err)
			}
			if err := b.reindex(old, r); err != nil {
				return fmt.Errorf("ledger: update %q: %w", r.ID, err)
			}
			if err := b.open.Put([]byte(r.ID), values[i]); err != nil {
				return fmt.Errorf("ledger: update %q: %w", r.ID, err)
			}
		}
		return nil
	})
}

// openRecord returns the open call id, or an error that says whether it is
// finished or unknown.
func (b *buckets) openRecord(id string) (meter.Record, error) {
	v := b.open.Get([]byte(id))
	if v == nil {
		if b.calls.Get([]byte(id)) != nil {
			return meter.Record{}, fmt.Errorf("call %q is already finished", id)
		}
		return meter.Record{}, fmt.Errorf("no open call %q", id)
	}
	return decodeRecord(bucketOpen, []byte(id), v)
}

// reindex moves a call's by_start key when its Start changed.
func (b *buckets) reindex(old, r meter.Record) error {
	oldKey, newKey := startKey(old), startKey(r)
	if bytes.Equal(oldKey, newKey) {
		return nil
	}
	if err := b.byStart.Delete(oldKey); err != nil {
		return err
	}
	return b.byStart.Put(newKey, nil)
}

// Finish closes an open call with its final disposition (anything but
// in_progress) and, in the same transaction, sets r.BalanceAfter to
// Balance() − r.Cost, writes a journal entry for a non-zero cost and puts
// the call in the outbox. It returns the record as stored. Finishing a
// call that is not open is an error and changes nothing, so a call can
// never be charged twice.
func (l *Ledger) Finish(r meter.Record) (meter.Record, error) {
	if err := checkRecord(r); err != nil {
		return meter.Record{}, fmt.Errorf("ledger: finish: %w", err)
	}
	if r.Disposition == "" || r.Disposition == meter.InProgress {
		return meter.Record{}, fmt.Errorf("ledger: finish %q: disposition %q is not final", r.ID, r.Disposition)
	}
	err := l.update(func(b *buckets) error {
		old, err := b.openRecord(r.ID)
		if err != nil {
			return fmt.Errorf("ledger: finish: %w", err)
		}
		bal, err := b.balance()
		if err != nil {
			return err
		}
		r.BalanceAfter = bal - r.Cost
		if err := checkMoney("call "+r.ID+": balance after", r.BalanceAfter); err != nil {
			return fmt.Errorf("ledger: finish: %w", err)
		}
		v, err := encodeRecord(r)
		if err != nil {
			return fmt.Errorf("ledger: finish: %w", err)
		}
		id := []byte(r.ID)
		if err := b.open.Delete(id); err != nil {
			return fmt.Errorf("ledger: finish %q: %w", r.ID, err)
		}
		if err := b.calls.Put(id, v); err != nil {
			return fmt.Errorf("ledger: finish %q: %w", r.ID, err)
		}
		if err := b.reindex(old, r); err != nil {
			return fmt.Errorf("ledger: finish %q: %w", r.ID, err)
		}
		seq, err := b.outbox.NextSequence()
		if err != nil {
			return fmt.Errorf("ledger: finish %q: %w", r.ID, err)
		}
		if err := b.outbox.Put(seqKey(seq), id); err != nil {
			return fmt.Errorf("ledger: finish %q: %w", r.ID, err)
		}
		if r.Cost == 0 {
			return nil
		}
		return b.appendEntry(Entry{
			At:           callEnd(r),
			Kind:         KindCall,
			Ref:          r.ID,
			Delta:        -r.Cost,
			BalanceAfter: r.BalanceAfter,
		})
	})
	if err != nil {
		return meter.Record{}, err
	}
	return r, nil
}

// callEnd is when the call's charge was incurred: its end.
func callEnd(r meter.Record) time.Time {
	return r.Start.Add(time.Duration(r.RingMS+r.TalkMS) * time.Millisecond)
}

// Open returns the calls still in progress, by Start. At boot these are the
// calls a power cut interrupted.
func (l *Ledger) Open() ([]meter.Record, error) {
	var out []meter.Record
	err := l.view(func(b *buckets) error {
		return b.open.ForEach(func(k, v []byte) error {
			r, err := decodeRecord(bucketOpen, k, v)
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
	order.Sort(out, func(a, b meter.Record) int {
		return cmp.Or(a.Start.Compare(b.Start), cmp.Compare(a.ID, b.ID))
	})
	return out, nil
}

// Calls returns up to limit calls, newest first by Start then ID, open
// ones included. A limit of zero or less returns them all.
func (l *Ledger) Calls(limit int) ([]meter.Record, error) {
	var out []meter.Record
	err := l.view(func(b *buckets) error {
		c := b.byStart.Cursor()
		for k, _ := c.Last(); k != nil; k, _ = c.Prev() {
			if limit > 0 && len(out) >= limit {
				return nil
			}
			r, err := b.indexed(k)
			if err != nil {
				return err
			}
			out = append(out, r)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// CallsBetween returns the calls whose Start is in [from, to), oldest
// first.
func (l *Ledger) CallsBetween(from, to time.Time) ([]meter.Record, error) {
	var out []meter.Record
	if !to.After(from) {
		return out, nil
	}
	end := timeKey(to)
	err := l.view(func(b *buckets) error {
		c := b.byStart.Cursor()
		for k, _ := c.Seek(timeKey(from)); k != nil && bytes.Compare(k, end) < 0; k, _ = c.Next() {
			r, err := b.indexed(k)
			if err != nil {
				return err
			}
			out = append(out, r)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// indexed reads the call a by_start key points to.
func (b *buckets) indexed(k []byte) (meter.Record, error) {
	if len(k) <= timeKeyLen {
		return meter.Record{}, corrupt(bucketByStart, k, fmt.Errorf("key shorter than %d bytes", timeKeyLen+1))
	}
	r, ok, err := b.call(string(k[timeKeyLen:]))
	if err != nil {
		return meter.Record{}, err
	}
	if !ok {
		return meter.Record{}, corrupt(bucketByStart, k, fmt.Errorf("call %q is in neither %q nor %q", k[timeKeyLen:], bucketOpen, bucketCalls))
	}
	return r, nil
}

// call finds a call, open or finished.
func (b *buckets) call(id string) (meter.Record, bool, error) {
	for _, x := range []struct {
		name string
		bk   interface{ Get([]byte) []byte }
	}{{bucketOpen, b.open}, {bucketCalls, b.calls}} {
		if v := x.bk.Get([]byte(id)); v != nil {
			r, err := decodeRecord(x.name, []byte(id), v)
			return r, err == nil, err
		}
	}
	return meter.Record{}, false, nil
}

// Call returns one call, open or finished.
func (l *Ledger) Call(id string) (meter.Record, bool, error) {
	var (
		r  meter.Record
		ok bool
	)
	err := l.view(func(b *buckets) error {
		var err error
		r, ok, err = b.call(id)
		return err
	})
	return r, ok, err
}
