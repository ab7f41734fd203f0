package ledger

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
	"go.uber.org/goleak"

	"github.com/tipring/tipring/meter"
)

func TestMain(m *testing.M) {
	if os.Getenv(crashChildEnv) != "" {
		crashChild()
		return
	}
	goleak.VerifyTestMain(m)
}

var t0 = time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)

func openTest(t testing.TB, path string) *Ledger {
	t.Helper()
	l, err := Open(path, Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func newTest(t testing.TB) (*Ledger, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "ledger.db")
	l := openTest(t, path)
	t.Cleanup(func() { _ = l.Close() })
	return l, path
}

func rec(id string, start time.Time) meter.Record {
	return meter.Record{ID: id, Start: start, Port: 1, Direction: "outgoing", Dialled: "0044", Number: "44", Metered: true}
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func balance(t testing.TB, l *Ledger) meter.Money {
	t.Helper()
	b, err := l.Balance()
	must(t, err)
	return b
}

func wantErr(t *testing.T, err error, contains string) {
	t.Helper()
	if err == nil {
		t.Fatalf("want an error containing %q, got nil", contains)
	}
	if !strings.Contains(err.Error(), contains) {
		t.Fatalf("error %q does not contain %q", err, contains)
	}
}

func TestCallLifecycle(t *testing.T) {
	l, _ := newTest(t)
	must(t, l.SaveAccount(meter.Account{Account: "1", Status: meter.Active, Balance: 10 * meter.Unit}, t0))

	r := rec("c1", t0)
	must(t, l.Begin(r))
	wantErr(t, l.Begin(r), `call "c1" already exists`)
	if got, ok, err := l.Call("c1"); err != nil || !ok || got.Disposition != meter.InProgress {
		t.Fatalf("Call after Begin = %+v, %v, %v; want in_progress", got, ok, err)
	}

	// Answer and a checkpoint.
	r.Evidence.AnsweredAt = t0.Add(5 * time.Second)
	r.RingMS = 5000
	r.BilledUpToMS = 10_000
	must(t, l.Update(r))
	open, err := l.Open()
	must(t, err)
	if len(open) != 1 || open[0].BilledUpToMS != 10_000 {
		t.Fatalf("Open = %+v, want c1 billed up to 10 s", open)
	}

	// An update naming an unknown call changes nothing, not even the
	// known one in the same transaction.
	r2 := r
	r2.BilledUpToMS = 20_000
	wantErr(t, l.Update(r2, rec("nope", t0)), `no open call "nope"`)
	if got, _, _ := l.Call("c1"); got.BilledUpToMS != 10_000 {
		t.Fatalf("a failed Update changed c1: billed up to %d", got.BilledUpToMS)
	}
	wantErr(t, l.Update(meter.Record{ID: "c1", Disposition: meter.Answered}), "want \"in_progress\"")

	r.Disposition = meter.Answered
	r.TalkMS = 61_000
	r.Cost = 42 * meter.Unit / 100
	done, err := l.Finish(r)
	must(t, err)
	if want := 10*meter.Unit - r.Cost; done.BalanceAfter != want {
		t.Fatalf("BalanceAfter = %s, want %s", done.BalanceAfter, want)
	}
	if got := balance(t, l); got != done.BalanceAfter {
		t.Fatalf("Balance() = %s, want %s", got, done.BalanceAfter)
	}
	stored, ok, err := l.Call("c1")
	must(t, err)
	if !ok || stored.Disposition != meter.Answered || stored.BalanceAfter != done.BalanceAfter {
		t.Fatalf("stored = %+v", stored)
	}

	// Finishing twice is refused and charges nothing.
	before := l.Stats().Commits
	_, err = l.Finish(r)
	wantErr(t, err, `call "c1" is already finished`)
	if got := balance(t, l); got != done.BalanceAfter {
		t.Fatalf("second Finish moved the balance to %s", got)
	}
	if l.Stats().Commits != before {
		t.Fatal("a refused Finish committed")
	}
	wantErr(t, l.Update(rec("c1", t0)), `call "c1" is already finished`)
	pending, err := l.Pending()
	must(t, err)
	if len(pending) != 1 || pending[0].ID != "c1" {
		t.Fatalf("Pending = %+v, want [c1]", pending)
	}
	_, entries, err := l.Journal(time.Time{}, t0.Add(time.Hour))
	must(t, err)
	calls := 0
	for _, e := range entries {
		if e.Kind == KindCall {
			calls++
			if e.Ref != "c1" || e.Delta != -r.Cost || !e.At.Equal(t0.Add(66*time.Second)) {
				t.Fatalf("call entry %+v", e)
			}
		}
	}
	if calls != 1 {
		t.Fatalf("%d call entries, want 1", calls)
	}
	open, err = l.Open()
	must(t, err)
	if len(open) != 0 {
		t.Fatalf("Open after Finish = %+v", open)
	}
}

func TestRefusesBadRecords(t *testing.T) {
	l, _ := newTest(t)
	wantErr(t, l.Begin(meter.Record{}), "without an ID")
	wantErr(t, l.Begin(meter.Record{ID: strings.Repeat("x", MaxIDLen+1)}), "longer than")
	wantErr(t, l.Begin(meter.Record{ID: "a", Disposition: meter.Busy}), "want \"in_progress\"")
	bad := rec("nan", t0)
	bad.Evidence.JitterMS = zero() / zero()
	wantErr(t, l.Begin(bad), "evidence holds NaN")
	neg := rec("neg", t0)
	must(t, l.Begin(neg))
	neg.Disposition = meter.Answered
	neg.Cost = -1
	_, err := l.Finish(neg)
	wantErr(t, err, "negative cost")
	neg.Cost = 0
	neg.Disposition = meter.InProgress
	_, err = l.Finish(neg)
	wantErr(t, err, "is not final")
}

// zero defeats constant folding so that 0/0 is a run-time NaN.
func zero() float64 { return 0 }

func TestZeroCostCallsStayOutOfTheJournal(t *testing.T) {
	l, _ := newTest(t)
	r := rec("busy", t0)
	must(t, l.Begin(r))
	r.Disposition = meter.Busy
	r.SIPCode = 486
	if _, err := l.Finish(r); err != nil {
		t.Fatal(err)
	}
	_, entries, err := l.Journal(time.Time{}, t0.Add(time.Hour))
	must(t, err)
	if len(entries) != 0 {
		t.Fatalf("journal = %+v, want nothing for a zero-cost call", entries)
	}
	pending, err := l.Pending()
	must(t, err)
	if len(pending) != 1 {
		t.Fatalf("a busy attempt is still usage to deliver: Pending = %+v", pending)
	}
}

func TestCallsOrder(t *testing.T) {
	l, _ := newTest(t)
	// IDs that do not sort like their starts.
	starts := map[string]time.Time{
		"z": t0,
		"a": t0.Add(time.Minute),
		"m": t0.Add(2 * time.Minute),
		"b": t0.Add(2 * time.Minute), // same start as m: ID breaks the tie
		"y": {},                      // a clock never set
	}
	for id, s := range starts {
		must(t, l.Begin(rec(id, s)))
	}
	r := rec("a", t0.Add(time.Minute))
	r.Disposition = meter.Cancelled
	_, err := l.Finish(r)
	must(t, err)

	ids := func(rs []meter.Record) string {
		var s []string
		for _, r := range rs {
			s = append(s, r.ID)
		}
		return strings.Join(s, ",")
	}
	all, err := l.Calls(0)
	must(t, err)
	if got := ids(all); got != "m,b,a,z,y" {
		t.Fatalf("Calls(0) = %s, want m,b,a,z,y", got)
	}
	two, err := l.Calls(2)
	must(t, err)
	if got := ids(two); got != "m,b" {
		t.Fatalf("Calls(2) = %s", got)
	}
	between, err := l.CallsBetween(t0, t0.Add(2*time.Minute))
	must(t, err)
	if got := ids(between); got != "z,a" {
		t.Fatalf("CallsBetween = %s, want z,a (half-open)", got)
	}

	// A corrected start (the clock synchronized during the call) moves
	// the call in the history instead of listing it twice.
	y := rec("y", t0.Add(3*time.Minute))
	y.ClockSynced = true
	must(t, l.Update(y))
	all, err = l.Calls(0)
	must(t, err)
	if got := ids(all); got != "y,m,b,a,z" {
		t.Fatalf("Calls after moving y = %s", got)
	}
	open, err := l.Open()
	must(t, err)
	if got := ids(open); got != "z,b,m,y" {
		t.Fatalf("Open = %s, want by start", got)
	}
}

func TestOutboxAndAcknowledge(t *testing.T) {
	l, path := newTest(t)
	must(t, l.SaveAccount(meter.Account{Account: "1", Status: meter.Active, Balance: 5 * meter.Unit}, t0))
	for i, id := range []string{"c2", "c1"} { // finish order, not ID order
		r := rec(id, t0.Add(time.Duration(i)*time.Minute))
		must(t, l.Begin(r))
		r.Disposition = meter.Answered
		r.Cost = meter.Unit
		_, err := l.Finish(r)
		must(t, err)
	}
	if got := balance(t, l); got != 3*meter.Unit {
		t.Fatalf("Balance = %s, want 3 with two calls pending", got)
	}
	pending, err := l.Pending()
	must(t, err)
	if len(pending) != 2 || pending[0].ID != "c2" || pending[1].ID != "c1" {
		t.Fatalf("Pending = %+v, want c2 then c1", pending)
	}

	// The back end applied c2: 5 − 1 = 4. The device already showed it.
	must(t, l.Acknowledge("c2", 4*meter.Unit, meter.Active, t0.Add(time.Hour)))
	if got := balance(t, l); got != 3*meter.Unit {
		t.Fatalf("Balance after ack = %s, want 3", got)
	}
	// A repeated acknowledgement (a retry whose first answer was lost)
	// must not apply its balance again, nor commit.
	commits := l.Stats().Commits
	must(t, l.Acknowledge("c2", 9*meter.Unit, meter.Suspended, t0.Add(2*time.Hour)))
	must(t, l.Acknowledge("never", 9*meter.Unit, meter.Suspended, t0.Add(2*time.Hour)))
	if l.Stats().Commits != commits {
		t.Fatal("a no-op Acknowledge committed")
	}
	a, synced, ok, err := l.Account()
	must(t, err)
	if !ok || a.Balance != 4*meter.Unit || a.Status != meter.Active || !synced.Equal(t0.Add(time.Hour)) {
		t.Fatalf("Account = %+v at %v", a, synced)
	}

	// The back end answers c1 with a balance 0.10 lower than expected
	// (another device, a fee): the difference is an adjustment.
	must(t, l.Acknowledge("c1", 29*meter.Unit/10, meter.Suspended, t0.Add(3*time.Hour)))
	if got := balance(t, l); got != 29*meter.Unit/10 {
		t.Fatalf("Balance = %s, want 2.9", got)
	}
	_, entries, err := l.Journal(t0.Add(3*time.Hour), t0.Add(4*time.Hour))
	must(t, err)
	if len(entries) != 1 || entries[0].Kind != KindAdjustment || entries[0].Delta != -meter.Unit/10 || entries[0].Ref != "c1" {
		t.Fatalf("entries = %+v, want one adjustment of -0.1 for c1", entries)
	}
	must(t, l.Close())

	l = openTest(t, path)
	defer func() { _ = l.Close() }()
	a, _, _, err = l.Account()
	must(t, err)
	if a.Status != meter.Suspended || balance(t, l) != 29*meter.Unit/10 {
		t.Fatalf("after reopen: %+v", a)
	}
	pending, err = l.Pending()
	must(t, err)
	if len(pending) != 0 {
		t.Fatalf("Pending after acks = %+v", pending)
	}
}

func TestRechargesAndRates(t *testing.T) {
	l, path := newTest(t)
	must(t, l.SaveAccount(meter.Account{Account: "1", Status: meter.Active, Balance: 2 * meter.Unit}, t0))
	must(t, l.AddRecharge(meter.Recharge{ID: "r1", At: t0.Add(time.Hour), Amount: 20 * meter.Unit, Reason: "auto", Result: RechargeApproved, BalanceAfter: 22 * meter.Unit}))
	if got := balance(t, l); got != 22*meter.Unit {
		t.Fatalf("Balance after recharge = %s", got)
	}
	must(t, l.AddRecharge(meter.Recharge{ID: "r2", At: t0.Add(2 * time.Hour), Amount: 20 * meter.Unit, Reason: "manual", Result: RechargeDeclined, Message: "card expired", BalanceAfter: 22 * meter.Unit}))
	if got := balance(t, l); got != 22*meter.Unit {
		t.Fatalf("a declined recharge moved the balance to %s", got)
	}
	wantErr(t, l.AddRecharge(meter.Recharge{ID: "r1", At: t0, Amount: meter.Unit, Result: RechargeApproved, BalanceAfter: 23 * meter.Unit}), `recharge "r1" already recorded`)
	wantErr(t, l.AddRecharge(meter.Recharge{ID: "r3", Amount: meter.Unit, Result: "ok"}), `result "ok"`)
	wantErr(t, l.AddRecharge(meter.Recharge{ID: "r4", Result: RechargeApproved}), "positive amount")

	// The back end's answer is authoritative: it also applied 0.50 of
	// usage from elsewhere.
	must(t, l.AddRecharge(meter.Recharge{ID: "r5", At: t0.Add(3 * time.Hour), Amount: 10 * meter.Unit, Result: RechargeApproved, BalanceAfter: 315 * meter.Unit / 10}))
	opening, entries, err := l.Journal(t0.Add(3*time.Hour), t0.Add(4*time.Hour))
	must(t, err)
	if opening != 22*meter.Unit || len(entries) != 2 ||
		entries[0].Kind != KindRecharge || entries[0].Delta != 10*meter.Unit ||
		entries[1].Kind != KindAdjustment || entries[1].Delta != -meter.Unit/2 || entries[1].BalanceAfter != 315*meter.Unit/10 {
		t.Fatalf("opening %s, entries %+v", opening, entries)
	}

	raw := []byte(`{"version":"v7","rates":[]}`)
	must(t, l.SaveRates(raw, "v7", t0))
	wantErr(t, l.SaveRates(nil, "v8", t0), "empty rate table")
	must(t, l.Close())

	l = openTest(t, path)
	defer func() { _ = l.Close() }()
	rs, err := l.Recharges(t0, t0.Add(3*time.Hour))
	must(t, err)
	if len(rs) != 2 || rs[0].ID != "r1" || rs[1].ID != "r2" || rs[1].Message != "card expired" {
		t.Fatalf("Recharges = %+v", rs)
	}
	got, version, at, ok, err := l.Rates()
	must(t, err)
	if !ok || string(got) != string(raw) || version != "v7" || !at.Equal(t0) {
		t.Fatalf("Rates = %s %q %v %v", got, version, at, ok)
	}
}

func TestEmptyLedger(t *testing.T) {
	l, _ := newTest(t)
	if _, _, ok, err := l.Account(); ok || err != nil {
		t.Fatalf("Account on a new ledger: ok=%v err=%v", ok, err)
	}
	if _, _, _, ok, err := l.Rates(); ok || err != nil {
		t.Fatalf("Rates on a new ledger: ok=%v err=%v", ok, err)
	}
	if _, ok, err := l.Call("x"); ok || err != nil {
		t.Fatalf("Call on a new ledger: ok=%v err=%v", ok, err)
	}
	opening, entries, err := l.Journal(time.Time{}, t0)
	if opening != 0 || len(entries) != 0 || err != nil {
		t.Fatalf("Journal = %s %v %v", opening, entries, err)
	}
	if got := balance(t, l); got != 0 {
		t.Fatalf("Balance = %s", got)
	}
	if l.Stats().Commits != 0 {
		t.Fatal("reads committed")
	}
}

func TestSecondOpenFailsClearly(t *testing.T) {
	l, path := newTest(t)
	_ = l
	start := time.Now()
	_, err := Open(path, Options{NoSync: true, Timeout: 50 * time.Millisecond})
	wantErr(t, err, "in use by another process")
	if time.Since(start) > 5*time.Second {
		t.Fatalf("Open waited %v for a 50 ms timeout", time.Since(start))
	}
}

func TestCreation(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "ledger.db")
	// What a crash during an earlier creation leaves.
	stale := path + tempInfix + "123"
	must(t, os.WriteFile(stale, []byte("half"), 0o600))
	l, err := Open(path, Options{}) // with fsync: the real creation path
	must(t, err)
	must(t, l.Close())
	names, err := os.ReadDir(dir)
	must(t, err)
	if len(names) != 1 || names[0].Name() != "ledger.db" {
		t.Fatalf("directory holds %v, want only ledger.db", names)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("stat = %v, %v", fi, err)
	}

	// A zero-length file is replaced by a proper one.
	empty := filepath.Join(dir, "empty.db")
	must(t, os.WriteFile(empty, nil, 0o600))
	l, err = Open(empty, Options{NoSync: true})
	must(t, err)
	must(t, l.Begin(rec("c", t0)))
	must(t, l.Close())

	// Garbage is an error, not a panic and not a silent re-creation.
	junk := filepath.Join(dir, "junk.db")
	must(t, os.WriteFile(junk, []byte(strings.Repeat("not a database ", 1000)), 0o600))
	if _, err := Open(junk, Options{NoSync: true}); err == nil {
		t.Fatal("Open accepted garbage")
	}
	if fi, _ := os.Stat(junk); fi.Size() != int64(len("not a database "))*1000 {
		t.Fatal("Open changed a file it could not read")
	}

	// A missing directory is an error naming the path.
	_, err = Open(filepath.Join(dir, "no", "such", "ledger.db"), Options{NoSync: true})
	wantErr(t, err, "no/such")
}

// rawPut writes a value with bbolt directly, as a corruption would.
func rawPut(t *testing.T, path, bucket, key string, value []byte) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second, NoSync: true})
	must(t, err)
	defer func() { must(t, db.Close()) }()
	must(t, db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket([]byte(bucket)).Put([]byte(key), value)
	}))
}

func TestCorruptValuesNameBucketAndKey(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ledger.db")
	l := openTest(t, path)
	must(t, l.SaveAccount(meter.Account{Balance: meter.Unit}, t0))
	r := rec("good", t0)
	must(t, l.Begin(r))
	r.Disposition = meter.Answered
	_, err := l.Finish(r)
	must(t, err)
	must(t, l.Close())

	rawPut(t, path, bucketCalls, "good", []byte(`{"id":"good","disposition":"answered","cost":12}`))
	rawPut(t, path, bucketOpen, "other", []byte(`{"id":"else","disposition":"in_progress"}`))
	rawPut(t, path, bucketCache, accountKey, []byte(`{"account":{"balance":1e9}}`))

	l = openTest(t, path)
	defer func() { _ = l.Close() }()
	_, _, err = l.Call("good")
	wantErr(t, err, `bucket "calls" key "good"`)
	_, err = l.Calls(0)
	wantErr(t, err, `bucket "calls" key "good"`)
	_, err = l.Open()
	wantErr(t, err, `bucket "open" key "other": holds call "else"`)
	_, err = l.Balance()
	wantErr(t, err, `bucket "cache" key "account"`)
	_, err = l.Pending()
	wantErr(t, err, `bucket "calls" key "good"`)
}

func TestSchemaVersionChecked(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ledger.db")
	must(t, openTest(t, path).Close())
	rawPut(t, path, bucketMeta, schemaKey, []byte("99"))
	_, err := Open(path, Options{NoSync: true})
	wantErr(t, err, `schema version "99"`)
}

func TestStatsCountCommitsAndBytes(t *testing.T) {
	l, _ := newTest(t)
	s0 := l.Stats()
	r := rec("c", t0)
	must(t, l.Begin(r))
	r.BilledUpToMS = 10_000
	must(t, l.Update(r))
	_ = l.Update() // nothing to write
	_ = l.Begin(r) // refused
	s := l.Stats()
	if s.Commits-s0.Commits != 2 {
		t.Fatalf("Commits grew by %d, want 2", s.Commits-s0.Commits)
	}
	// At least a data page and the meta page per commit, in whole pages.
	if w := s.BytesWritten - s0.BytesWritten; w < 2*2*uint64(s.PageSize) || w%uint64(s.PageSize) != 0 {
		t.Fatalf("BytesWritten grew by %d for 2 commits of %d-byte pages", w, s.PageSize)
	}
	if s.FileSize <= 0 || s.TxTime <= 0 {
		t.Fatalf("Stats = %+v", s)
	}
}

// TestConcurrentUse runs both ports, the back-end sync and a history
// reader at once, as the firmware does; run it with -race.
func TestConcurrentUse(t *testing.T) {
	l, _ := newTest(t)
	must(t, l.SaveAccount(meter.Account{Account: "1", Balance: 100 * meter.Unit}, t0))
	const perPort = 20
	errs := make(chan error, 4)
	done := make(chan struct{})
	for port := 1; port <= 2; port++ {
		go func() {
			errs <- func() error {
				for i := range perPort {
					r := rec(fmt.Sprintf("p%d-%d", port, i), t0.Add(time.Duration(i)*time.Minute))
					r.Port = port
					if err := l.Begin(r); err != nil {
						return err
					}
					r.BilledUpToMS = 10_000
					if err := l.Update(r); err != nil {
						return err
					}
					r.Disposition = meter.Answered
					r.Cost = meter.Unit / 10
					if _, err := l.Finish(r); err != nil {
						return err
					}
				}
				return nil
			}()
		}()
	}
	go func() { // the outbox: acknowledges whatever is pending
		errs <- func() error {
			for acked := 0; acked < 2*perPort; {
				pending, err := l.Pending()
				if err != nil {
					return err
				}
				for _, r := range pending {
					a, _, _, err := l.Account()
					if err != nil {
						return err
					}
					if err := l.Acknowledge(r.ID, a.Balance-r.Cost, meter.Active, t0); err != nil {
						return err
					}
					acked++
				}
				time.Sleep(time.Millisecond)
			}
			return nil
		}()
	}()
	go func() { // the history page and the balance prompt
		errs <- func() error {
			for {
				select {
				case <-done:
					return nil
				default:
				}
				if _, err := l.Calls(10); err != nil {
					return err
				}
				if _, err := l.Balance(); err != nil {
					return err
				}
				_ = l.Stats()
			}
		}()
	}()
	for range 3 {
		must(t, <-errs)
	}
	close(done)
	must(t, <-errs)
	if got, want := balance(t, l), 100*meter.Unit-2*perPort*meter.Unit/10; got != want {
		t.Fatalf("Balance = %s, want %s", got, want)
	}
	_, entries, err := l.Journal(time.Time{}, t0.AddDate(1, 0, 0))
	must(t, err)
	for _, e := range entries[1:] { // after the first account refresh
		if e.Kind == KindAdjustment {
			t.Fatalf("unexpected adjustment %+v", e)
		}
	}
}
