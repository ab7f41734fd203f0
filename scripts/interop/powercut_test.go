package interop

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math/rand/v2"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tipring/tipring/meter"
	"github.com/tipring/tipring/scripts/devprovider/provider"
	"github.com/tipring/tipring/scripts/peers"
)

// The power-cut test of issue 3: tipring is killed with SIGKILL at random
// moments of calls, restarted on the same data directory, and the ledger
// and the billing back end must still agree on every call and every cent.
const (
	// powercutCheckpoint is [meter] checkpoint: the most talk a cut may
	// lose from a call.
	powercutCheckpoint = time.Second
	// powercutSlack is what a loaded machine adds to the checkpoint bound:
	// the checkpoint ticker firing late (two shared cores, several test
	// processes), and the bbolt commit with its fsync (tens of ms) that
	// stands between computing "billed up to" and it being durable.
	powercutSlack = 500 * time.Millisecond
	// clockSkew allows for the device's wall clock (answered_at) and its
	// monotonic clock (talk_ms) disagreeing by a hair, and for talk_ms
	// being whole milliseconds.
	clockSkew = 20 * time.Millisecond
)

// cutPlan is when, in a call, the power goes.
type cutPlan int

const (
	// cutDialling: 601 (echo, answers at once); the cut lands anywhere
	// from the first digit to the first checkpoint of the call.
	cutDialling cutPlan = iota
	// cutEarly: 604 (early media, then the answer); the cut lands during
	// the early media or just after the answer.
	cutEarly
	// cutTalk: 601; the cut lands 0-3 s into the answered call.
	cutTalk
	// cutHangup: 601; line 1 hangs up first, and the cut lands while its
	// record is in the outbox: the back end is down (one line), or it
	// applies the usage and answers garbage (two lines), so that the
	// record is delivered again after the restart.
	cutHangup
	cutPlans
)

// earlyMedia is how long 604 plays its early tone before answering.
const earlyMedia = 700 * time.Millisecond

func (p cutPlan) String() string {
	return [...]string{"dialling", "early media", "talk", "after hang-up"}[p]
}

func (p cutPlan) number() string {
	if p == cutEarly {
		return provider.NumberEarlyMedia
	}
	return provider.NumberEcho
}

// cut is one iteration: what the test saw before it pulled the plug.
type cut struct {
	n     int
	plan  cutPlan
	lines int
	start time.Time // before any phone went off-hook
	// The SIGKILL was sent between killedAt and killedBy: talk committed
	// by then is at most killedBy − answer, talk lost at least killedAt −
	// answer − talk.
	killedAt, killedBy time.Time
	// seen is every record of this iteration the management API showed
	// before the cut, as last shown: each must survive it.
	seen map[string]meter.Record
	// connected: the line showed "connected" before the cut, so its call
	// was answered and the answer committed.
	connected [3]bool
	hungUp    bool   // line 1 went on-hook before the cut
	log       string // tipring's output up to its death
}

// cutStats is the summary over all iterations.
type cutStats struct {
	records       int
	interrupted   int // answered calls closed by recovery
	unanswered    int // interrupted before any answer
	normal        int // ended by a hang-up before the cut
	undelivered   int // finished before the cut but not yet at the back end
	maxLost       time.Duration
	maxLostRecord string
}

func TestPowerCutKeepsEveryRecordAndCent(t *testing.T) {
	t.Parallel()
	began := time.Now()
	iterations := powercutIterations(t)
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("POWERCUT_SEED"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("POWERCUT_SEED=%q: want a number", s)
		}
		seed = v
	}
	t.Logf("%d power cuts, seed %d (POWERCUT_SEED=%d repeats the same moments)", iterations, seed, seed)
	rng := rand.New(rand.NewPCG(seed, seed^0x5eed))

	// The devprovider's test numbers at 0.60 a minute, 1/1, and a small
	// balance with automatic recharge, so that recharges happen between
	// (and during) the cuts and the statements have some to add.
	initial := mustMoney(t, "1.0000")
	_, url := startBilling(t, initial, farRate("60"))
	bill := newPowercutBilling(t, url)
	bill.post(t, "/dev/state", `{"auto_recharge":{"enabled":true,"threshold":"0.9500","amount":"0.1000"}}`)
	prov := startPowercutProvider(t)

	setup := deviceSetup{
		Region: "us",
		Accounts: []account{
			{User: "1001", Password: "pass1001", Registrar: prov.Addr()},
			{User: "1002", Password: "pass1002", Registrar: prov.Addr()},
		},
		DialPlan: "(60x)",
		DataDir:  t.TempDir(),
		Extra: fmt.Sprintf("\n[meter]\nbackend = %q\naccount = %q\ntoken = %q\ncheckpoint = %q\nsync_interval = \"1s\"\n",
			url+"/", billingAccount, billingToken, powercutCheckpoint.String()),
	}

	var (
		stats    cutStats
		prev     *cut
		everSeen = map[string]bool{}
	)
	for i := range iterations {
		c := &cut{n: i, plan: cutPlan(i/2) % cutPlans, lines: 1 + i%2}
		ok := t.Run(fmt.Sprintf("cut%03d", i), func(t *testing.T) {
			d := startDeviceWith(t, setup)
			if prev != nil {
				checkRecovered(t, d, prev, &stats)
			}
			if i == 0 {
				d.waitSynced()
			}
			for port := 1; port <= c.lines; port++ {
				d.waitRegistered(port)
			}
			runCut(t, d, c, rng, bill, &stats)
		})
		for id := range c.seen {
			everSeen[id] = true
		}
		if !ok {
			t.Fatalf("stopped at power cut %d", i)
		}
		prev = c
	}

	// Power comes back for good.
	d := startDeviceWith(t, setup)
	if prev != nil {
		checkRecovered(t, d, prev, &stats)
		if t.Failed() {
			t.FailNow()
		}
	}
	checkSettled(t, d, bill, everSeen, initial, &stats)

	t.Logf("power cuts: %d in %v; %d records: %d answered calls interrupted (max usage lost %v, record %s), %d interrupted before the answer, %d ended normally (%d of them still undelivered at the cut)",
		iterations, time.Since(began).Round(time.Millisecond), stats.records, stats.interrupted,
		stats.maxLost.Round(time.Millisecond), stats.maxLostRecord, stats.unanswered, stats.normal, stats.undelivered)
}

// powercutIterations is POWERCUT_ITERATIONS, 50 when unset (CI).
func powercutIterations(t *testing.T) int {
	s := os.Getenv("POWERCUT_ITERATIONS")
	if s == "" {
		return 50
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 {
		t.Fatalf("POWERCUT_ITERATIONS=%q: want a positive number", s)
	}
	return n
}

// runCut places the iteration's calls and kills tipring at the moment its
// plan says.
func runCut(t *testing.T, d *device, c *cut, rng *rand.Rand, bill *powercutBilling, stats *cutStats) {
	c.start = time.Now()
	polled := make(chan map[string]meter.Record, 1)
	pollCtx, stopPolling := context.WithCancel(context.Background())
	defer stopPolling()
	go pollRecords(pollCtx, d, c.start, polled)

	for port := 1; port <= c.lines; port++ {
		d.hook(port, true)
	}
	dialled := make(chan error, c.lines)
	dialWaited := false
	dialCtx, stopDialling := context.WithTimeout(context.Background(), 15*time.Second)
	defer stopDialling()
	for port := 1; port <= c.lines; port++ {
		go func() { dialled <- d.Phone.Dial(dialCtx, port, c.plan.number(), "dtmf") }()
	}
	waitDialled := func() {
		t.Helper()
		for range c.lines {
			if err := <-dialled; err != nil {
				t.Fatalf("dialling %s: %v", c.plan.number(), err)
			}
		}
		dialWaited = true
	}
	waitConnected := func() {
		t.Helper()
		d.eventually("every line connected", 10*time.Second, func() bool {
			st := d.status()
			all := true
			for port := 1; port <= c.lines; port++ {
				if st.Lines[port-1].CallState == "connected" {
					c.connected[port] = true
				} else {
					all = false
				}
			}
			return all
		})
	}
	switch c.plan {
	case cutDialling:
		// Three DTMF digits take 600 ms to send and the number is
		// complete about 450 ms in; 601 answers a few ms later.
		time.Sleep(randDuration(rng, 0, 900*time.Millisecond))
	case cutEarly:
		waitDialled()
		time.Sleep(randDuration(rng, 0, earlyMedia+300*time.Millisecond))
	case cutTalk:
		waitDialled()
		waitConnected()
		time.Sleep(randDuration(rng, 0, 3*time.Second))
	case cutHangup:
		waitDialled()
		waitConnected()
		time.Sleep(randDuration(rng, 200*time.Millisecond, 1500*time.Millisecond))
		if c.lines == 1 {
			bill.post(t, "/dev/state", `{"outage":true}`)
		} else {
			bill.post(t, "/dev/state", `{"malformed":true}`)
		}
		defer bill.post(t, "/dev/state", `{"outage":false,"malformed":false}`)
		d.hook(1, false)
		c.hungUp = true
		// The line takes an on-hook for a hook flash until it has lasted
		// long enough; the cut comes after the hang-up and, for the
		// malformed answers, after a delivery attempt.
		d.eventually("line 1 hung up", 5*time.Second, func() bool { return d.status().Lines[0].CallState != "connected" })
		time.Sleep(randDuration(rng, 0, 300*time.Millisecond))
	}
	c.killedAt, c.killedBy = d.powerCut()
	stopPolling()
	c.seen = <-polled
	if !dialWaited {
		for range c.lines {
			<-dialled // the phone died with tipring: an error is expected
		}
	}
	c.log = d.out.String()

	// A record that was finished before the cut and that the back end has
	// not received is what the outbox must deliver after the restart.
	delivered := map[string]bool{}
	for _, u := range bill.usage(t) {
		delivered[u.ID] = true
	}
	for id, r := range c.seen {
		if r.Disposition != meter.InProgress && !delivered[id] {
			stats.undelivered++
		}
	}
	t.Logf("cut %d (%s, %d line(s)) at %s: %d record(s) seen before it",
		c.n, c.plan, c.lines, c.killedAt.Sub(c.start).Round(time.Millisecond), len(c.seen))
}

// pollRecords watches /api/v1/calls until ctx ends and sends the records
// started since from, as last seen. Whatever an answer contains was
// committed before tipring died, however late the answer arrives.
func pollRecords(ctx context.Context, d *device, from time.Time, out chan<- map[string]meter.Record) {
	seen := map[string]meter.Record{}
	defer func() { out <- seen }()
	for {
		recs, err := d.API.Calls(ctx, 10)
		if err == nil {
			for _, r := range recs {
				if !r.Start.Before(from) {
					seen[r.ID] = r
				}
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(30 * time.Millisecond):
		}
	}
}

func randDuration(rng *rand.Rand, lo, hi time.Duration) time.Duration {
	return lo + time.Duration(rng.Int64N(int64(hi-lo)+1))
}

// powerCut kills tipring with SIGKILL, as a power cut would stop it: no
// deferred function runs, no last checkpoint, no clean close of the
// ledger. It returns the moments just before and just after the signal.
func (d *device) powerCut() (before, after time.Time) {
	d.t.Helper()
	before = time.Now()
	sigErr := d.cmd.Process.Signal(syscall.SIGKILL)
	after = time.Now()
	err := <-d.stopped
	d.killed = true
	var exit *exec.ExitError
	if sigErr != nil || !errors.As(err, &exit) || exit.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		d.t.Fatalf("tipring had stopped before the power cut: %v (signal: %v)", err, sigErr)
	}
	return before, after
}

// checkRecovered checks, on the restarted device d, the records of the
// iteration c cut short.
func checkRecovered(t *testing.T, d *device, c *cut, stats *cutStats) {
	t.Helper()
	failed := false
	fail := func(format string, args ...any) {
		t.Helper()
		failed = true
		t.Errorf("after cut %d (%s, %d line(s), at %s): "+format,
			append([]any{c.n, c.plan, c.lines, c.killedAt.Format("15:04:05.000")}, args...)...)
	}
	defer func() {
		if failed {
			t.Logf("--- tipring log of cut %d, up to the SIGKILL ---\n%s", c.n, c.log)
		}
	}()
	recs, err := d.API.Calls(d.ctx(5*time.Second), 50)
	if err != nil {
		t.Fatalf("calls after cut %d: %v", c.n, err)
	}
	var mine []meter.Record
	byID := map[string]meter.Record{}
	for _, r := range recs {
		if !r.Start.Before(c.start) {
			mine = append(mine, r)
			byID[r.ID] = r
		}
	}
	for id, before := range c.seen {
		after, ok := byID[id]
		switch {
		case !ok:
			fail("record %s (%s before the cut) is gone", id, before.Disposition)
		case before.Disposition != meter.InProgress && (after.Disposition != before.Disposition || after.Cost != before.Cost || after.TalkMS != before.TalkMS):
			fail("record %s was finished before the cut (%s, talk %d ms, cost %s) and changed: %s, talk %d ms, cost %s",
				id, before.Disposition, before.TalkMS, before.Cost, after.Disposition, after.TalkMS, after.Cost)
		case !before.Evidence.AnsweredAt.IsZero() && !after.Evidence.AnsweredAt.Equal(before.Evidence.AnsweredAt):
			fail("record %s was answered at %s before the cut, and at %q after it", id,
				before.Evidence.AnsweredAt.Format(time.RFC3339Nano), after.Evidence.AnsweredAt.Format(time.RFC3339Nano))
		}
	}
	perPort := map[int]int{}
	for _, r := range mine {
		t.Logf("  cut %d: record %s port %d %s, ring %d ms, early media %v, talk %d ms, billed %d s, cost %s, answered %s before the cut",
			c.n, r.ID, r.Port, r.Disposition, r.RingMS, r.Evidence.EarlyMedia, r.TalkMS, r.BilledSeconds, r.Cost, sinceAnswer(r, c.killedAt))
		stats.records++
		perPort[r.Port]++
		answered := !r.Evidence.AnsweredAt.IsZero()
		talk := time.Duration(r.TalkMS) * time.Millisecond
		if !r.Metered || r.Rate == nil {
			fail("record %s is not metered (disposition %s, reason %q)", r.ID, r.Disposition, r.Reason)
			continue
		}
		switch r.Disposition {
		case meter.Interrupted:
			if r.Reason != "interrupted (power loss)" {
				fail("record %s: reason %q, want %q", r.ID, r.Reason, "interrupted (power loss)")
			}
			if !answered {
				stats.unanswered++
				if r.TalkMS != 0 || r.Cost != 0 {
					fail("record %s was never answered but has talk %d ms and cost %s", r.ID, r.TalkMS, r.Cost)
				}
				break
			}
			stats.interrupted++
			lost := c.killedAt.Sub(r.Evidence.AnsweredAt) - talk
			if lost > stats.maxLost {
				stats.maxLost, stats.maxLostRecord = lost, r.ID
			}
			if lost > powercutCheckpoint+powercutSlack {
				fail("record %s: answered at %s, cut %v later, billed talk %v: %v of usage lost, want at most %v (checkpoint) + %v (slack)",
					r.ID, r.Evidence.AnsweredAt.Format("15:04:05.000"), c.killedAt.Sub(r.Evidence.AnsweredAt).Round(time.Millisecond),
					talk, lost.Round(time.Millisecond), powercutCheckpoint, powercutSlack)
			}
			if most := c.killedBy.Sub(r.Evidence.AnsweredAt); talk > most+clockSkew {
				fail("record %s: billed talk %v, but the call was answered only %v before the cut: billed beyond the power cut",
					r.ID, talk, most.Round(time.Millisecond))
			}
		case meter.Answered:
			stats.normal++
			if !c.hungUp || r.Port != 1 {
				fail("record %s on port %d ended as %q (hung up by %q), though only port 1 hangs up, and only in the %q plan",
					r.ID, r.Port, r.Disposition, r.HungUpBy, cutHangup)
			}
		default:
			fail("record %s: disposition %q (reason %q, SIP %d): want %q or %q", r.ID, r.Disposition, r.Reason, r.SIPCode, meter.Interrupted, meter.Answered)
		}
		if r.Disposition == meter.InProgress {
			continue
		}
		// A recovered call is priced on its checkpoint, whole
		// milliseconds; a call that ended is priced on its exact talk
		// time, of which talk_ms is the truncation.
		want := meter.Price(*r.Rate, talk)
		if r.Disposition == meter.Answered && r.Cost != want.Total {
			want = meter.Price(*r.Rate, talk+time.Millisecond-1)
		}
		if r.Cost != want.Total || r.BilledSeconds != want.BilledSeconds {
			fail("record %s: talk %v billed %d s for %s; the rate says %d s for %s", r.ID, talk, r.BilledSeconds, r.Cost, want.BilledSeconds, want.Total)
		}
	}
	for port, n := range perPort {
		if n > 1 {
			fail("%d records on port %d for one call", n, port)
		}
	}
	for port := 1; port <= c.lines; port++ {
		if !c.connected[port] {
			continue
		}
		found := false
		for _, r := range mine {
			found = found || (r.Port == port && !r.Evidence.AnsweredAt.IsZero())
		}
		if !found {
			fail("line %d showed \"connected\" before the cut, but no record on port %d was answered", port, port)
		}
	}
}

// checkSettled waits for the restarted device to deliver everything and
// checks the books: the device, its statements and the back end agree.
func checkSettled(t *testing.T, d *device, bill *powercutBilling, everSeen map[string]bool, initial meter.Money, stats *cutStats) {
	t.Helper()
	var info meter.BalanceInfo
	d.eventually("every record delivered and the balance settled", 20*time.Second, func() bool {
		b, err := d.API.Balance(context.Background())
		if err != nil {
			return false
		}
		info = b
		return b.UnsyncedCalls == 0 && b.InCalls == 0 && b.Balance == bill.state(t).Balance
	})
	recs, err := d.API.Calls(d.ctx(10*time.Second), 10000)
	if err != nil {
		t.Fatal(err)
	}
	byID := map[string]meter.Record{}
	var costs meter.Money
	for _, r := range recs {
		byID[r.ID] = r
		costs += r.Cost
		if r.Disposition == meter.InProgress {
			t.Errorf("record %s is still in progress with no call up", r.ID)
		}
	}
	for id := range everSeen {
		if _, ok := byID[id]; !ok {
			t.Errorf("record %s, seen before a cut, is not in the history", id)
		}
	}

	// The back end: every record received, none applied twice.
	reposts := 0
	var applied meter.Money
	usage := bill.usage(t)
	atBackend := map[string]bool{}
	for _, u := range usage {
		atBackend[u.ID] = true
		applied += u.Cost
		r, ok := byID[u.ID]
		switch {
		case !ok:
			t.Errorf("the back end has usage %s (cost %s) that the device has no record of", u.ID, u.Cost)
		case u.Cost != r.Cost:
			t.Errorf("usage %s: the back end applied %s, the device's record says %s", u.ID, u.Cost, r.Cost)
		}
		if u.Conflicts > 0 {
			t.Errorf("usage %s was posted again with another cost %d time(s)", u.ID, u.Conflicts)
		}
		if u.Posts > 1 {
			reposts++
		}
	}
	for id, r := range byID {
		if !atBackend[id] {
			t.Errorf("record %s (%s, cost %s) never reached the back end", id, r.Disposition, r.Cost)
		}
	}
	st := bill.state(t)
	var backendRecharges meter.Money
	approvedAtBackend := map[string]meter.Money{}
	for _, rc := range st.Recharges {
		if rc.Posts != 1 {
			t.Errorf("recharge %s was posted %d times", rc.ID, rc.Posts)
		}
		if rc.Result == "approved" {
			backendRecharges += rc.Amount
			approvedAtBackend[rc.ID] = rc.Amount
		}
	}
	if st.Overdraft != 0 {
		t.Errorf("the back end counts an overdraft of %s: the device spent credit it did not have", st.Overdraft)
	}
	if want := initial - applied + backendRecharges; st.Balance != want {
		t.Errorf("back end balance %s, want %s = %s opening − %s usage + %s recharges: usage applied twice or lost",
			st.Balance, want, initial, applied, backendRecharges)
	}
	if want := initial - costs + backendRecharges; st.Balance != want {
		t.Errorf("back end balance %s, want %s = %s opening − %s (the device's records) + %s recharges",
			st.Balance, want, initial, costs, backendRecharges)
	}
	if info.Balance != st.Balance {
		t.Errorf("the device's balance %s is not the back end's %s", info.Balance, st.Balance)
	}

	// The statements: opening − calls + recharges + adjustments = closing,
	// month by month, and the last closing is the balance.
	months := map[string]bool{time.Now().Format("2006-01"): true}
	for _, r := range recs {
		months[r.Start.Local().Format("2006-01")] = true
	}
	var (
		callCosts, adjustments meter.Money
		recorded               = map[string]meter.Money{} // approved recharges the device knows of
		closing                meter.Money
		statements             []string
	)
	for _, month := range slices.Sorted(maps.Keys(months)) {
		s, err := d.API.Statement(d.ctx(10*time.Second), month)
		if err != nil {
			t.Fatalf("statement %s: %v", month, err)
		}
		statements = append(statements, fmt.Sprintf("%s: opening %s − calls %s + recharges %s + adjustments %s = closing %s",
			month, s.Opening, s.CallCosts, s.RechargesTotal, s.Adjustments, s.Closing))
		if s.Opening-s.CallCosts+s.RechargesTotal+s.Adjustments != s.Closing {
			t.Errorf("statement %s does not add up: opening %s − calls %s + recharges %s + adjustments %s ≠ closing %s",
				month, s.Opening, s.CallCosts, s.RechargesTotal, s.Adjustments, s.Closing)
		}
		if len(statements) > 1 && s.Opening != closing {
			t.Errorf("statement %s opens at %s; the month before closed at %s", month, s.Opening, closing)
		}
		callCosts += s.CallCosts
		adjustments += s.Adjustments
		closing = s.Closing
		for _, rc := range s.Recharges {
			if rc.Result == "approved" {
				recorded[rc.ID] = rc.Amount
			}
		}
	}
	t.Logf("statements: %s", strings.Join(statements, "; "))
	if callCosts != costs {
		t.Errorf("the statements' call costs sum to %s, the records to %s", callCosts, costs)
	}
	if closing != info.Balance {
		t.Errorf("the last statement closes at %s, the balance is %s", closing, info.Balance)
	}
	// The journal starts empty, so the first account refresh is an
	// adjustment of the opening balance. Beyond it, the only change the
	// device may not explain is a recharge the back end approved while the
	// power went before the device could record the answer.
	var lost meter.Money
	lostIDs := 0
	for id, amount := range approvedAtBackend {
		if _, ok := recorded[id]; !ok {
			lost += amount
			lostIDs++
		}
	}
	for id := range recorded {
		if _, ok := approvedAtBackend[id]; !ok {
			t.Errorf("the device records recharge %s as approved; the back end did not approve it", id)
		}
	}
	if want := initial + lost; adjustments != want {
		t.Errorf("adjustments sum to %s, want %s (the opening balance %s + %s of %d recharge(s) approved during a cut): the device corrected its balance for something else — usage counted twice or lost",
			adjustments, want, initial, lost, lostIDs)
	}
	t.Logf("back end: %d usage posts of %d records (%d posted again after a cut, applied once), %d recharges approved (%d cut before the device recorded them), balance %s",
		len(usage), len(recs), reposts, len(approvedAtBackend), lostIDs, st.Balance)
}

// powercutBilling reads and flips the development billing back end's
// switches through its documented /dev/ endpoints (docs/devbilling.md).
type powercutBilling struct {
	url string
	hc  *http.Client
}

func newPowercutBilling(t *testing.T, url string) *powercutBilling {
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	return &powercutBilling{url: url, hc: &http.Client{Transport: tr, Timeout: 10 * time.Second}}
}

// usagePost is an entry of GET /dev/usage (docs/devbilling.md).
type usagePost struct {
	ID        string      `json:"id"`
	Cost      meter.Money `json:"cost"`
	Posts     int         `json:"posts"`
	Conflicts int         `json:"conflicts"`
}

// billingState is what the test reads of GET /dev/state.
type billingState struct {
	Balance   meter.Money `json:"balance"`
	Overdraft meter.Money `json:"overdraft"`
	Recharges []struct {
		ID     string      `json:"id"`
		Amount meter.Money `json:"amount"`
		Result string      `json:"result"`
		Posts  int         `json:"posts"`
	} `json:"recharges"`
}

func (b *powercutBilling) usage(t *testing.T) []usagePost {
	t.Helper()
	var u []usagePost
	b.get(t, "/dev/usage", &u)
	return u
}

func (b *powercutBilling) state(t *testing.T) billingState {
	t.Helper()
	var s billingState
	b.get(t, "/dev/state", &s)
	return s
}

func (b *powercutBilling) get(t *testing.T, path string, v any) {
	t.Helper()
	resp, err := b.hc.Get(b.url + path)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", path, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
}

func (b *powercutBilling) post(t *testing.T, path, body string) {
	t.Helper()
	resp, err := b.hc.Post(b.url+path, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatalf("POST %s: %v", path, err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST %s %s: %s", path, body, resp.Status)
	}
}

// startPowercutProvider runs the development provider on loopback. Its
// test numbers hang up after 8 s (longer than any call of the test), so
// that the calls a cut orphans end by themselves while later iterations
// run, and the provider's RTP ports are not exhausted.
func startPowercutProvider(t *testing.T) *provider.Provider {
	t.Helper()
	logs := &peers.LogBuffer{}
	rtp := peers.FreePort(t, "udp") &^ 1
	p, err := provider.New(provider.Config{
		Listen:     netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(peers.FreePort(t, "sip"))),
		Users:      map[string]string{"1001": "pass1001", "1002": "pass1002"},
		RTPPortMin: rtp, RTPPortMax: rtp + 100,
		Realm:      peers.DefaultRealm,
		EchoHangup: 8 * time.Second,
		ToneHangup: 8 * time.Second,
		EarlyMedia: earlyMedia,
		Logger:     slog.New(slog.NewTextHandler(logs, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	stop, err := p.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := stop(); err != nil {
			t.Errorf("devprovider: %v", err)
		}
		waitInviteHandlers(t)
		if t.Failed() {
			t.Logf("--- devprovider log ---\n%s", logs.String())
		}
	})
	return p
}

// waitInviteHandlers waits for the devprovider's INVITE handlers that
// outlive Run. A cut between the provider's 200 OK and the device's ACK
// leaves the handler retransmitting the 200 (sipgo's RespondSDP waits for
// the ACK); Run's BYE terminates the transaction after 5 s, and the handler
// notices at its next retransmission, up to 4 s after Run has returned —
// longer than goleak in TestMain waits.
func waitInviteHandlers(t *testing.T) {
	t.Helper()
	const handler = "devprovider/provider.(*Provider).serveTestNumber"
	buf := make([]byte, 1<<20)
	began := time.Now()
	deadline := began.Add(15 * time.Second)
	for {
		n := runtime.Stack(buf, true)
		if !strings.Contains(string(buf[:n]), handler) {
			if waited := time.Since(began); waited > 200*time.Millisecond {
				t.Logf("waited %v for a devprovider INVITE handler left waiting for an ACK", waited.Round(time.Millisecond))
			}
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("a devprovider INVITE handler is still running 15 s after the provider stopped:\n%s", buf[:n])
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func mustMoney(t *testing.T, s string) meter.Money {
	t.Helper()
	m, err := meter.ParseMoney(s)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func sinceAnswer(r meter.Record, at time.Time) string {
	if r.Evidence.AnsweredAt.IsZero() {
		return "never"
	}
	return at.Sub(r.Evidence.AnsweredAt).Round(time.Millisecond).String()
}
