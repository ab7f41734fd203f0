package ledger

import (
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/tipring/tipring/meter"
)

// model is what the ledger should hold, kept independently of it.
type model struct {
	confirmed meter.Money
	open      map[string]meter.Record
	pending   []meter.Record // finish order
	costs     meter.Money    // all finished calls
	recharges meter.Money    // all approved recharges
}

func (m *model) balance() meter.Money {
	b := m.confirmed
	for _, r := range m.pending {
		b -= r.Cost
	}
	return b
}

// TestJournalInvariant drives the ledger through random operations, with
// close and reopen between any two of them, and checks after each that the
// balance is what the model says and that the journal adds up: opening −
// Σ costs + Σ recharges + Σ adjustments = closing, over the whole journal
// and over random sub-ranges.
func TestJournalInvariant(t *testing.T) {
	for seed := range uint64(3) {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			runJournalInvariant(t, seed, 200)
		})
	}
}

func runJournalInvariant(t *testing.T, seed uint64, steps int) {
	rng := rand.New(rand.NewPCG(seed, 42))
	path := filepath.Join(t.TempDir(), "ledger.db")
	l := openTest(t, path)
	defer func() { _ = l.Close() }()
	m := &model{open: map[string]meter.Record{}}
	clock := t0
	next := 0
	discrepancy := func() meter.Money {
		if rng.IntN(5) == 0 {
			return meter.Money(rng.IntN(2_000_001) - 1_000_000)
		}
		return 0
	}
	for step := range steps {
		// The clock mostly advances; sometimes it jumps back, as an
		// unsynchronized clock does.
		if rng.IntN(10) == 0 {
			clock = clock.Add(-time.Duration(rng.IntN(3600)) * time.Second)
		} else {
			clock = clock.Add(time.Duration(rng.IntN(600)) * time.Second)
		}
		var op string
		switch n := rng.IntN(100); {
		case n < 20:
			op = "begin"
			next++
			// IDs deliberately not time-sortable.
			r := rec(fmt.Sprintf("%x", rng.Uint32())+fmt.Sprint("-", next), clock)
			must(t, l.Begin(r))
			m.open[r.ID] = r
		case n < 35:
			op = "checkpoint"
			var rs []meter.Record
			for id, r := range m.open {
				r.BilledUpToMS += 10_000
				m.open[id] = r
				rs = append(rs, r)
			}
			must(t, l.Update(rs...))
		case n < 55:
			op = "finish"
			ids := sortedKeys(m.open)
			if len(ids) == 0 {
				continue
			}
			r := m.open[ids[rng.IntN(len(ids))]]
			r.Disposition = []meter.Disposition{meter.Answered, meter.Busy, meter.CutCredit, meter.Interrupted}[rng.IntN(4)]
			r.TalkMS = int64(rng.IntN(600_000))
			if r.Disposition != meter.Busy {
				r.Cost = meter.Money(rng.IntN(3_000_000))
			}
			want := m.balance() - r.Cost
			done, err := l.Finish(r)
			must(t, err)
			if done.BalanceAfter != want {
				t.Fatalf("step %d: BalanceAfter %s, want %s", step, done.BalanceAfter, want)
			}
			if _, err := l.Finish(r); err == nil {
				t.Fatalf("step %d: second Finish accepted", step)
			}
			delete(m.open, r.ID)
			m.pending = append(m.pending, done)
			m.costs += r.Cost
		case n < 72:
			op = "ack"
			if len(m.pending) == 0 {
				continue
			}
			i := rng.IntN(len(m.pending))
			r := m.pending[i]
			answered := m.confirmed - r.Cost + discrepancy()
			must(t, l.Acknowledge(r.ID, answered, meter.Active, clock))
			must(t, l.Acknowledge(r.ID, answered+meter.Unit, meter.Suspended, clock)) // a duplicate: no-op
			m.confirmed = answered
			m.pending = slices.Delete(m.pending, i, i+1)
		case n < 82:
			op = "account"
			m.confirmed += discrepancy()
			must(t, l.SaveAccount(meter.Account{Account: "1", Status: meter.Active, Balance: m.confirmed}, clock))
		case n < 92:
			op = "recharge"
			next++
			r := meter.Recharge{ID: fmt.Sprint("r", next), At: clock, Amount: meter.Money(1+rng.IntN(20)) * meter.Unit, Reason: "auto"}
			if rng.IntN(3) == 0 {
				r.Result = RechargeDeclined
				r.BalanceAfter = m.confirmed
			} else {
				r.Result = RechargeApproved
				m.confirmed += r.Amount + discrepancy()
				r.BalanceAfter = m.confirmed
				m.recharges += r.Amount
			}
			must(t, l.AddRecharge(r))
		default:
			op = "crash"
			must(t, l.Close())
			l = openTest(t, path)
		}
		checkJournal(t, l, m, rng, fmt.Sprintf("step %d (%s)", step, op))
	}
}

func sortedKeys(m map[string]meter.Record) []string {
	ids := make([]string, 0, len(m))
	for id := range m {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

func checkJournal(t *testing.T, l *Ledger, m *model, rng *rand.Rand, where string) {
	t.Helper()
	bal := balance(t, l)
	if bal != m.balance() {
		t.Fatalf("%s: Balance %s, model %s", where, bal, m.balance())
	}
	far := t0.AddDate(10, 0, 0)
	opening, entries, err := l.Journal(time.Time{}, far)
	must(t, err)
	if opening != 0 {
		t.Fatalf("%s: opening of the whole journal %s, want 0", where, opening)
	}
	var costs, recharges, adjustments meter.Money
	prev := opening
	for i, e := range entries {
		if e.Delta == 0 {
			t.Fatalf("%s: entry %d has zero delta: %+v", where, i, e)
		}
		if prev+e.Delta != e.BalanceAfter {
			t.Fatalf("%s: entry %d: %s + %s ≠ %s", where, i, prev, e.Delta, e.BalanceAfter)
		}
		if i > 0 && e.At.Before(entries[i-1].At) {
			t.Fatalf("%s: entry %d goes back in time", where, i)
		}
		switch e.Kind {
		case KindCall:
			costs -= e.Delta
		case KindRecharge:
			recharges += e.Delta
		case KindAdjustment:
			adjustments += e.Delta
		default:
			t.Fatalf("%s: entry kind %q", where, e.Kind)
		}
		prev = e.BalanceAfter
	}
	if closing := opening - costs + recharges + adjustments; closing != bal {
		t.Fatalf("%s: opening %s − costs %s + recharges %s + adjustments %s = %s, Balance %s",
			where, opening, costs, recharges, adjustments, closing, bal)
	}
	if costs != m.costs || recharges != m.recharges {
		t.Fatalf("%s: journal costs %s recharges %s, model %s %s", where, costs, recharges, m.costs, m.recharges)
	}
	if len(entries) < 2 {
		return
	}
	// A statement for a random period adds up and hands over to the next.
	a, b := rng.IntN(len(entries)), rng.IntN(len(entries))
	from, to := entries[min(a, b)].At, entries[max(a, b)].At.Add(time.Nanosecond)
	open1, part, err := l.Journal(from, to)
	must(t, err)
	closing := open1
	for _, e := range part {
		closing += e.Delta
		if e.At.Before(from) || !e.At.Before(to) {
			t.Fatalf("%s: entry at %v outside [%v, %v)", where, e.At, from, to)
		}
	}
	if len(part) > 0 && closing != part[len(part)-1].BalanceAfter {
		t.Fatalf("%s: period does not add up", where)
	}
	open2, _, err := l.Journal(to, far)
	must(t, err)
	if open2 != closing {
		t.Fatalf("%s: period closes at %s, next opens at %s", where, closing, open2)
	}
}
