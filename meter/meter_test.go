package meter_test

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/tipring/tipring/meter"
	"github.com/tipring/tipring/meter/ledger"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// fakeBackend is the billing back end in memory: it keeps the balance,
// applies each usage id once and counts every post.
type fakeBackend struct {
	mu        sync.Mutex
	account   meter.Account
	rates     []byte
	posts     map[string]int
	applied   map[string]meter.Money
	down      bool
	recharge  string // "approve" or "decline"
	recharges int
}

func newFakeBackend(t *testing.T, balance string, rates ...meter.Rate) *fakeBackend {
	t.Helper()
	b, err := meter.ParseMoney(balance)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := json.Marshal(map[string]any{"version": "v1", "currency": "USD", "rates": rates})
	if err != nil {
		t.Fatal(err)
	}
	return &fakeBackend{
		account: meter.Account{Account: "100", Status: meter.Active, Currency: "USD", Balance: b, RatesVersion: "v1"},
		rates:   raw, posts: map[string]int{}, applied: map[string]meter.Money{}, recharge: "approve",
	}
}

var errDown = errors.New("back end unreachable")

func (f *fakeBackend) Account(context.Context) (meter.Account, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.down {
		return meter.Account{}, errDown
	}
	return f.account, nil
}

func (f *fakeBackend) Rates(context.Context) ([]byte, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.down {
		return nil, errDown
	}
	return f.rates, nil
}

func (f *fakeBackend) PostUsage(_ context.Context, r meter.Record) (meter.Money, meter.Status, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.down {
		return 0, "", errDown
	}
	f.posts[r.ID]++
	if _, ok := f.applied[r.ID]; !ok {
		f.applied[r.ID] = r.Cost
		f.account.Balance -= r.Cost
	}
	return f.account.Balance, f.account.Status, nil
}

func (f *fakeBackend) Recharge(_ context.Context, id string, amount meter.Money, reason string) (meter.Recharge, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.recharges++
	if f.recharge != "approve" {
		return meter.Recharge{Result: "declined", Message: "card expired", BalanceAfter: f.account.Balance}, nil
	}
	f.account.Balance += amount
	return meter.Recharge{Result: "approved", BalanceAfter: f.account.Balance}, nil
}

func (f *fakeBackend) set(fn func(f *fakeBackend)) {
	f.mu.Lock()
	fn(f)
	f.mu.Unlock()
}

// rate is a rate for prefix at perMinute, 1/1 increments.
func rate(t *testing.T, prefix, perMinute string) meter.Rate {
	t.Helper()
	p, err := meter.ParseMoney(perMinute)
	if err != nil {
		t.Fatal(err)
	}
	return meter.Rate{Prefix: prefix, Destination: "dest " + prefix, PerMinute: p, FirstIncrement: 1, NextIncrement: 1}
}

type rig struct {
	t    *testing.T
	path string
	led  *ledger.Ledger
	be   *fakeBackend
	m    *meter.Meter
	cfg  meter.Config
}

func newRig(t *testing.T, be *fakeBackend, cfg meter.Config) *rig {
	t.Helper()
	r := &rig{t: t, path: filepath.Join(t.TempDir(), "ledger.db"), be: be, cfg: cfg}
	r.open()
	t.Cleanup(func() { r.led.Close() })
	if be != nil {
		if err := r.m.Sync(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	return r
}

// open opens the ledger and the meter on it, as a boot does.
func (r *rig) open() {
	r.t.Helper()
	led, err := ledger.Open(r.path, ledger.Options{NoSync: true})
	if err != nil {
		r.t.Fatal(err)
	}
	cfg := r.cfg
	cfg.Ledger = led
	if r.be != nil {
		cfg.Backend = r.be
	}
	m, err := meter.New(cfg)
	if err != nil {
		r.t.Fatal(err)
	}
	r.led, r.m = led, m
}

// powerCut drops the meter without ending its calls and reopens.
func (r *rig) powerCut() {
	r.t.Helper()
	if err := r.led.Close(); err != nil {
		r.t.Fatal(err)
	}
	r.open()
}

func (r *rig) authorize(port int, number string) *meter.Call {
	r.t.Helper()
	c, err := r.m.Authorize(meter.Attempt{Port: port, Dialled: number, Number: number})
	if err != nil {
		r.t.Fatalf("authorize %s: %v", number, err)
	}
	return c
}

func waitNotice(t *testing.T, c *meter.Call, within time.Duration) meter.Notice {
	t.Helper()
	select {
	case n := <-c.Notices():
		return n
	case <-time.After(within):
		t.Fatalf("no notice within %v", within)
		return meter.Notice{}
	}
}

func TestRefusalsAreRecorded(t *testing.T) {
	be := newFakeBackend(t, "0.005", rate(t, "44", "0.60")) // half a second
	r := newRig(t, be, meter.Config{})
	cases := []struct {
		name   string
		setup  func()
		number string
		want   meter.RefusalReason
	}{
		{"no rate", func() {}, "99", meter.RefusedBlocked},
		{"no credit for the first second", func() {}, "44", meter.RefusedCredit},
		{"suspended", func() {
			be.set(func(f *fakeBackend) { f.account.Status = meter.Suspended; f.account.Balance = 10 * meter.Unit })
			if err := r.m.Sync(context.Background()); err != nil {
				t.Fatal(err)
			}
		}, "44", meter.RefusedSuspended},
	}
	for _, tc := range cases {
		tc.setup()
		_, err := r.m.Authorize(meter.Attempt{Port: 1, Dialled: tc.number, Number: tc.number})
		var ref *meter.Refusal
		if !errors.As(err, &ref) || ref.Reason != tc.want {
			t.Fatalf("%s: err %v, want refusal %q", tc.name, err, tc.want)
		}
	}
	calls, err := r.led.Calls(10)
	if err != nil {
		t.Fatal(err)
	}
	if len(calls) != len(cases) {
		t.Fatalf("%d records, want one per refused attempt (%d)", len(calls), len(cases))
	}
	for _, c := range calls {
		if c.Disposition != meter.Refused || c.Cost != 0 || c.Reason == "" {
			t.Errorf("record %+v: want a free refused record with a reason", c)
		}
	}
}

func TestNoBackEndDataRefusesButEmergencyGoesThrough(t *testing.T) {
	be := newFakeBackend(t, "5.00", rate(t, "1", "0.01"))
	be.down = true
	r := &rig{t: t, path: filepath.Join(t.TempDir(), "l.db"), be: be}
	r.open()
	defer r.led.Close()
	_, err := r.m.Authorize(meter.Attempt{Port: 1, Number: "15551234567"})
	var ref *meter.Refusal
	if !errors.As(err, &ref) || ref.Reason != meter.RefusedRatesUnknown {
		t.Fatalf("err %v, want rates unknown", err)
	}
	c, err := r.m.Authorize(meter.Attempt{Port: 1, Number: "911", Emergency: true})
	if err != nil {
		t.Fatalf("emergency refused: %v", err)
	}
	c.Answered("sip:psap@127.0.0.1")
	rec := c.End(meter.End{Disposition: meter.Answered, HungUpBy: "local"})
	if rec.Disposition != meter.Emergency || rec.Metered || rec.Cost != 0 {
		t.Fatalf("emergency record %+v: want unmetered, free, disposition emergency", rec)
	}
}

// The worked example of the issue: 0.60/min at 1/1 with 0.95 of credit is
// 95 s; here 6.00/min with 0.30 makes it 3 s to keep the test short.
func TestCallIsWarnedThenCutAtTheLimit(t *testing.T) {
	be := newFakeBackend(t, "0.30", rate(t, "44", "6.00"))
	r := newRig(t, be, meter.Config{WarnBefore: []time.Duration{2 * time.Second}})
	c := r.authorize(1, "4420")
	if got := c.Limit(); got != 3*time.Second {
		t.Fatalf("limit %v, want 3s", got)
	}
	c.Answered("sip:far@127.0.0.1")
	start := time.Now()
	if n := waitNotice(t, c, 3*time.Second); n.Kind != meter.Warning {
		t.Fatalf("first notice %+v, want a warning", n)
	}
	if n := waitNotice(t, c, 3*time.Second); n.Kind != meter.Exhausted {
		t.Fatalf("second notice %+v, want exhausted", n)
	}
	if el := time.Since(start); el < 3*time.Second || el > 4*time.Second {
		t.Fatalf("exhausted after %v, want at 3 s", el)
	}
	// The line hangs up a little after the notice: billed to the limit, no
	// further.
	time.Sleep(30 * time.Millisecond)
	rec := c.End(meter.End{Disposition: meter.CutCredit, HungUpBy: "meter", Evidence: meter.Evidence{RTPReceived: 150}})
	if rec.BilledSeconds != 3 || rec.Cost != 300_000 || rec.BalanceAfter != 0 {
		t.Fatalf("record billed %d s, cost %s, balance after %s; want 3 s, 0.30, 0", rec.BilledSeconds, rec.Cost, rec.BalanceAfter)
	}
	if rec.Disposition != meter.CutCredit {
		t.Fatalf("disposition %q", rec.Disposition)
	}
	if err := r.m.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	if be.account.Balance != 0 || be.posts[rec.ID] != 1 {
		t.Fatalf("back end balance %s after %d posts, want 0 after 1", be.account.Balance, be.posts[rec.ID])
	}
}

func TestEarlyMediaIsNotBilled(t *testing.T) {
	be := newFakeBackend(t, "5.00", rate(t, "44", "0.60"))
	r := newRig(t, be, meter.Config{})
	c := r.authorize(1, "447700")
	c.EarlyMedia()
	time.Sleep(1200 * time.Millisecond) // ringing with early media
	c.Answered("sip:far@127.0.0.1")
	time.Sleep(300 * time.Millisecond)
	rec := c.End(meter.End{Disposition: meter.Answered, HungUpBy: "remote", Evidence: meter.Evidence{RTPReceived: 75}})
	if rec.BilledSeconds != 1 || rec.Cost != 10_000 {
		t.Fatalf("billed %d s (%s), want 1 s (0.01): the ringing must not count", rec.BilledSeconds, rec.Cost)
	}
	if !rec.Evidence.EarlyMedia || rec.RingMS < 1200 {
		t.Fatalf("evidence %+v ring %d ms: want early media and the ring time", rec.Evidence, rec.RingMS)
	}
}

func TestAnsweredWithoutAudioIsARefundCandidate(t *testing.T) {
	be := newFakeBackend(t, "5.00", rate(t, "44", "0.60"))
	r := newRig(t, be, meter.Config{})
	c := r.authorize(1, "44")
	c.Answered("sip:far@127.0.0.1")
	time.Sleep(20 * time.Millisecond) // a billable moment
	rec := c.End(meter.End{Disposition: meter.Answered, HungUpBy: "local", Evidence: meter.Evidence{RTPSent: 50}})
	if !rec.RefundCandidate || rec.RefundReason == "" {
		t.Fatalf("record %+v: want a refund candidate with a reason", rec)
	}
}

func TestBusyCostsNothing(t *testing.T) {
	be := newFakeBackend(t, "5.00", rate(t, "44", "0.60"))
	r := newRig(t, be, meter.Config{})
	c := r.authorize(1, "44")
	rec := c.End(meter.End{Disposition: meter.Busy, SIPCode: 486, Reason: "Busy Here", HungUpBy: "remote"})
	if rec.Cost != 0 || rec.Disposition != meter.Busy || rec.BalanceAfter != 5*meter.Unit {
		t.Fatalf("busy record %+v", rec)
	}
}

// Two ports on one balance: neither can spend the other's share, and when
// one call ends the other may use what is left.
func TestTwoCallsShareTheBalance(t *testing.T) {
	be := newFakeBackend(t, "0.60", rate(t, "44", "0.60")) // 60 s of one call
	r := newRig(t, be, meter.Config{})
	a := r.authorize(1, "44")
	a.Answered("sip:a@127.0.0.1")
	b := r.authorize(2, "44")
	b.Answered("sip:b@127.0.0.1")
	la, lb := a.Limit(), b.Limit()
	if la+lb > 61*time.Second || la < 25*time.Second || lb < 25*time.Second {
		t.Fatalf("limits %v and %v: want about 30 s each, together no more than the 60 s the balance buys", la, lb)
	}
	time.Sleep(1100 * time.Millisecond)
	ra := a.End(meter.End{Disposition: meter.Answered, HungUpBy: "local", Evidence: meter.Evidence{RTPReceived: 1}})
	if nb := b.Limit(); nb <= lb {
		t.Fatalf("b's limit %v did not grow after a ended (was %v)", nb, lb)
	}
	if nb, want := b.Limit(), 60*time.Second-time.Duration(ra.BilledSeconds)*time.Second; nb != want {
		t.Fatalf("b's limit %v, want the %v the rest of the balance buys", nb, want)
	}
	rb := b.End(meter.End{Disposition: meter.Answered, HungUpBy: "local", Evidence: meter.Evidence{RTPReceived: 1}})
	if ra.Cost+rb.Cost > 600_000 {
		t.Fatalf("together %s, above the balance", ra.Cost+rb.Cost)
	}
}

// A power cut during a call: at boot the record is closed at its last
// checkpoint, billed once, and delivered once.
func TestPowerCutClosesTheCallAtItsCheckpoint(t *testing.T) {
	be := newFakeBackend(t, "5.00", rate(t, "44", "0.60"))
	r := newRig(t, be, meter.Config{Checkpoint: time.Second})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.m.Run(ctx) }()
	c := r.authorize(1, "44")
	c.Answered("sip:far@127.0.0.1")
	time.Sleep(2500 * time.Millisecond) // two checkpoints
	// The process dies: no End, no last checkpoint.
	cancelRun := func() { cancel(); <-done }
	open, err := r.led.Open()
	if err != nil || len(open) != 1 || open[0].BilledUpToMS < 1000 {
		cancelRun()
		t.Fatalf("open records %+v, %v: want one checkpointed call", open, err)
	}
	billedUpTo := open[0].BilledUpToMS
	cancelRun() // Run's last checkpoint may move it on; a power cut would not
	r.powerCut()
	rec, ok, err := r.led.Call(c.ID())
	if err != nil || !ok {
		t.Fatalf("record lost: %v", err)
	}
	if rec.Disposition != meter.Interrupted || rec.Reason != "interrupted (power loss)" {
		t.Fatalf("after the cut: %q %q", rec.Disposition, rec.Reason)
	}
	if rec.TalkMS < billedUpTo || rec.TalkMS > 3000 {
		t.Fatalf("talk %d ms, want the last checkpoint (≥ %d ms, lost at most one interval)", rec.TalkMS, billedUpTo)
	}
	if err := r.m.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	r.powerCut()
	if err := r.m.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	if be.posts[rec.ID] != 1 || be.account.Balance != 5*meter.Unit-rec.Cost {
		t.Fatalf("posted %d times, back end balance %s; want once and 5.00 − %s", be.posts[rec.ID], be.account.Balance, rec.Cost)
	}
}

func TestBadRatesKeepTheLastGoodTable(t *testing.T) {
	be := newFakeBackend(t, "5.00", rate(t, "44", "0.60"))
	r := newRig(t, be, meter.Config{})
	be.set(func(f *fakeBackend) {
		f.account.RatesVersion = "v2"
		f.rates = []byte(`{"version":"v2","currency":"USD","rates":[{"prefix":"44","destination":"UK","per_minute":"-1"}]}`)
	})
	if err := r.m.Sync(context.Background()); err == nil {
		t.Fatal("a broken rate table was accepted")
	}
	c := r.authorize(1, "44") // still rated by v1
	c.End(meter.End{Disposition: meter.Cancelled})
	info, err := r.m.Balance()
	if err != nil || info.RatesVersion != "v1" {
		t.Fatalf("rates version %q, %v; want v1 kept", info.RatesVersion, err)
	}
}

func TestAutoRechargeOncePerCrossing(t *testing.T) {
	be := newFakeBackend(t, "1.00", rate(t, "44", "60.00"))
	be.account.AutoRecharge = meter.AutoRecharge{Enabled: true, Threshold: 2 * meter.Unit, Amount: 10 * meter.Unit}
	be.recharge = "decline"
	r := newRig(t, be, meter.Config{})
	for range 3 {
		if err := r.m.Sync(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if be.recharges != 1 {
		t.Fatalf("%d recharge requests below the threshold, want exactly 1", be.recharges)
	}
	if n := r.m.TakeNotice(); n != meter.NoticeRechargeDeclined {
		t.Fatalf("notice %q, want the declined notice", n)
	}
	if n := r.m.TakeNotice(); n != "" {
		t.Fatalf("notice %q given twice", n)
	}
	// Back above the threshold (a manual top-up), then below again: one
	// more request, approved this time.
	be.set(func(f *fakeBackend) { f.account.Balance = 3 * meter.Unit; f.recharge = "approve" })
	if err := r.m.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	be.set(func(f *fakeBackend) { f.account.Balance = 1 * meter.Unit })
	if err := r.m.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	info, err := r.m.Balance()
	if err != nil {
		t.Fatal(err)
	}
	if be.recharges != 2 || info.Balance != 11*meter.Unit {
		t.Fatalf("%d requests, balance %s; want 2 and 11.00", be.recharges, info.Balance)
	}
}

// With the back end down, calls go on against the cache; the usage waits in
// the outbox and is delivered once, when the back end is back.
func TestOutageAndRecovery(t *testing.T) {
	be := newFakeBackend(t, "5.00", rate(t, "44", "0.60"))
	r := newRig(t, be, meter.Config{})
	be.set(func(f *fakeBackend) { f.down = true })
	c := r.authorize(1, "44")
	c.Answered("sip:far@127.0.0.1")
	time.Sleep(1100 * time.Millisecond)
	rec := c.End(meter.End{Disposition: meter.Answered, HungUpBy: "local", Evidence: meter.Evidence{RTPReceived: 50}})
	if err := r.m.Sync(context.Background()); err == nil {
		t.Fatal("sync succeeded with the back end down")
	}
	info, err := r.m.Balance()
	if err != nil {
		t.Fatal(err)
	}
	if info.UnsyncedCalls != 1 || info.Balance != 5*meter.Unit-rec.Cost {
		t.Fatalf("during the outage: %+v; want the call pending and counted in the balance", info)
	}
	be.set(func(f *fakeBackend) { f.down = false })
	for range 2 {
		if err := r.m.Sync(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	info, _ = r.m.Balance()
	if info.UnsyncedCalls != 0 || be.posts[rec.ID] != 1 || be.account.Balance != info.Balance {
		t.Fatalf("after recovery: %+v, %d posts, back end %s", info, be.posts[rec.ID], be.account.Balance)
	}
}

// A cache older than offline_grace is not trusted: only emergency calls.
func TestStaleCacheRefusesCalls(t *testing.T) {
	be := newFakeBackend(t, "5.00", rate(t, "44", "0.60"))
	r := newRig(t, be, meter.Config{OfflineGrace: 50 * time.Millisecond})
	be.set(func(f *fakeBackend) { f.down = true })
	time.Sleep(100 * time.Millisecond)
	_, err := r.m.Authorize(meter.Attempt{Port: 1, Number: "44"})
	var ref *meter.Refusal
	if !errors.As(err, &ref) || ref.Reason != meter.RefusedRatesUnknown {
		t.Fatalf("err %v, want rates unknown", err)
	}
	if _, err := r.m.Authorize(meter.Attempt{Port: 1, Number: "911", Emergency: true}); err != nil {
		t.Fatalf("emergency refused: %v", err)
	}
}

// BenchmarkCutOffLateness measures how late the meter says "exhausted"
// after the exact moment the credit runs out, over calls with a 1 s limit
// (10 at a time). The line sends BYE on that notice.
func BenchmarkCutOffLateness(b *testing.B) {
	for b.Loop() {
		be := &fakeBackend{account: meter.Account{Account: "100", Status: meter.Active, Currency: "USD", Balance: 10 * 10_000, RatesVersion: "v1"},
			posts: map[string]int{}, applied: map[string]meter.Money{}}
		be.rates = []byte(`{"version":"v1","currency":"USD","rates":[{"prefix":"44","destination":"UK","per_minute":"0.60","first_increment":1,"next_increment":1}]}`)
		led, err := ledger.Open(filepath.Join(b.TempDir(), "l.db"), ledger.Options{NoSync: true})
		if err != nil {
			b.Fatal(err)
		}
		m, err := meter.New(meter.Config{Ledger: led, Backend: be, WarnBefore: []time.Duration{}})
		if err != nil {
			b.Fatal(err)
		}
		if err := m.Sync(context.Background()); err != nil {
			b.Fatal(err)
		}
		var late []time.Duration
		for range 10 { // 100 calls in 10 rounds of 10
			calls := make([]*meter.Call, 10)
			starts := make([]time.Time, 10)
			for i := range calls {
				c, err := m.Authorize(meter.Attempt{Port: 1, Number: "44"})
				if err != nil {
					b.Fatal(err)
				}
				calls[i] = c
			}
			for i, c := range calls {
				c.Answered("x")
				starts[i] = time.Now()
			}
			for i, c := range calls {
				limit := c.Limit()
				n := <-c.Notices()
				late = append(late, time.Since(starts[i])-limit)
				if n.Kind != meter.Exhausted {
					b.Fatalf("notice %+v", n)
				}
				c.End(meter.End{Disposition: meter.CutCredit})
			}
			// Each round's calls shared 0.10 (1 s each): top up for the next.
			if err := m.Sync(context.Background()); err != nil {
				b.Fatal(err)
			}
			be.set(func(f *fakeBackend) { f.account.Balance = 10 * 10_000 })
			if err := m.Sync(context.Background()); err != nil {
				b.Fatal(err)
			}
		}
		slices.Sort(late)
		b.ReportMetric(float64(late[len(late)/2].Microseconds())/1000, "median-late-ms")
		b.ReportMetric(float64(late[len(late)-1].Microseconds())/1000, "max-late-ms")
		led.Close()
	}
}

// When credit runs out for two calls at once, ending the first must not
// hand the second a pulse it cannot pay (it is already a few ms past its
// limit, waiting to be cut).
func TestCutCallsStayCut(t *testing.T) {
	be := newFakeBackend(t, "0.02", rate(t, "44", "0.60")) // 1 s each for two calls
	r := newRig(t, be, meter.Config{WarnBefore: []time.Duration{}})
	a, b := r.authorize(1, "44"), r.authorize(2, "44")
	a.Answered("x")
	b.Answered("y")
	for _, c := range []*meter.Call{a, b} {
		if n := waitNotice(t, c, 3*time.Second); n.Kind != meter.Exhausted {
			t.Fatalf("notice %+v", n)
		}
	}
	time.Sleep(20 * time.Millisecond) // the line is slow to hang up
	ra := a.End(meter.End{Disposition: meter.CutCredit})
	if l := b.Limit(); l != time.Second {
		t.Fatalf("b's limit became %v after a ended; want it to stay 1 s", l)
	}
	rb := b.End(meter.End{Disposition: meter.CutCredit})
	if ra.Cost+rb.Cost != 20_000 || rb.BalanceAfter != 0 {
		t.Fatalf("costs %s + %s, balance after %s: want 0.01 each and 0", ra.Cost, rb.Cost, rb.BalanceAfter)
	}
}
