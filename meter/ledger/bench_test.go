package ledger

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/tipring/tipring/meter"
)

// reportWrites reports what the ledger wrote per operation and how much
// the file grew over the whole run.
func reportWrites(b *testing.B, l *Ledger, before Stats, unit string) {
	after := l.Stats()
	n := float64(b.N)
	b.ReportMetric(float64(after.BytesWritten-before.BytesWritten)/n, "written-B/"+unit)
	b.ReportMetric(float64(after.Commits-before.Commits)/n, "commits/"+unit)
	b.ReportMetric(float64(after.FileSize-before.FileSize), "file-growth-B")
}

// BenchmarkCheckpoint2Calls is one checkpoint of two calls in progress
// (both ports talking): one Update, one commit, with fsync, on a real file
// in the test's temporary directory.
func BenchmarkCheckpoint2Calls(b *testing.B) {
	l := openWithHistory(b, 500)
	defer func() { _ = l.Close() }()
	r1, r2 := rec("p1", t0), rec("p2", t0)
	r2.Port = 2
	must(b, l.Begin(r1))
	must(b, l.Begin(r2))
	before := l.Stats()
	b.ResetTimer()
	for b.Loop() {
		r1.BilledUpToMS += 10_000
		r2.BilledUpToMS += 10_000
		if err := l.Update(r1, r2); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	reportWrites(b, l, before, "op")
}

// BenchmarkCallLifecycle is one answered call of a minute at the default
// 10 s checkpoint: Begin, the answer, 6 checkpoints, Finish and the
// back end's acknowledgement, with fsync.
func BenchmarkCallLifecycle(b *testing.B) {
	l := openWithHistory(b, 500)
	defer func() { _ = l.Close() }()
	must(b, l.SaveAccount(meter.Account{Account: "1", Balance: 1000 * meter.Unit}, t0))
	before := l.Stats()
	n := 0
	b.ResetTimer()
	for b.Loop() {
		n++
		r := rec(fmt.Sprint("call-", n), t0.Add(time.Duration(n)*time.Hour))
		must(b, l.Begin(r))
		r.Evidence.AnsweredAt = r.Start.Add(5 * time.Second)
		must(b, l.Update(r))
		for range 6 {
			r.BilledUpToMS += 10_000
			must(b, l.Update(r))
		}
		r.Disposition = meter.Answered
		r.TalkMS = 60_000
		r.Cost = meter.Unit / 50
		done, err := l.Finish(r)
		must(b, err)
		must(b, l.Acknowledge(r.ID, done.BalanceAfter, meter.Active, r.Start))
	}
	b.StopTimer()
	reportWrites(b, l, before, "call")
}

// openWithHistory opens a ledger, with fsync, holding n finished and
// acknowledged calls, so that its B+trees have more than one page.
func openWithHistory(b *testing.B, n int) *Ledger {
	b.Helper()
	path := filepath.Join(b.TempDir(), "ledger.db")
	l, err := Open(path, Options{NoSync: true}) // seeding need not wait for the disk
	if err != nil {
		b.Fatal(err)
	}
	for i := range n {
		r := rec(fmt.Sprint("old-", i), t0.AddDate(0, -1, 0).Add(time.Duration(i)*time.Minute))
		r.Rate = &meter.Rate{Prefix: "44", Destination: "United Kingdom", PerMinute: meter.Unit / 50, FirstIncrement: 60, NextIncrement: 6}
		must(b, l.Begin(r))
		r.Disposition = meter.Answered
		r.Cost = meter.Unit / 50
		done, err := l.Finish(r)
		must(b, err)
		must(b, l.Acknowledge(r.ID, done.BalanceAfter, meter.Active, r.Start))
	}
	must(b, l.Close())
	l, err = Open(path, Options{})
	if err != nil {
		b.Fatal(err)
	}
	return l
}

// BenchmarkOpen10000Calls is the boot cost of a ledger holding 10,000
// calls: bbolt rebuilds its freelist by scanning the file (NoFreelistSync),
// the price of one page less written per commit.
func BenchmarkOpen10000Calls(b *testing.B) {
	l := openWithHistory(b, 10_000)
	path := l.path
	must(b, l.Close())
	fi, err := os.Stat(path)
	must(b, err)
	b.ResetTimer()
	for b.Loop() {
		l, err := Open(path, Options{})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := l.Open(); err != nil {
			b.Fatal(err)
		}
		must(b, l.Close())
	}
	b.ReportMetric(float64(fi.Size()), "file-B")
}
