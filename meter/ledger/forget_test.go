package ledger

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/tipring/tipring/meter"
)

// A factory reset forgets the customer's delivered history but keeps what
// the back end has not acknowledged, across a restart, until it is.
func TestForgetDeliveredKeepsWhatIsOwed(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ledger.db")
	l := openTest(t, path)
	must(t, l.SaveAccount(meter.Account{Account: "1", Status: meter.Active, Currency: "USD", Balance: 10 * meter.Unit}, t0))
	for i, id := range []string{"c1", "c2", "c3"} {
		r := rec(id, t0.Add(time.Duration(i)*time.Minute))
		must(t, l.Begin(r))
		r.Disposition, r.Cost, r.TalkMS = meter.Answered, meter.Money(i+1)*meter.Unit, 30_000
		if _, err := l.Finish(r); err != nil {
			t.Fatal(err)
		}
	}
	must(t, l.Begin(rec("c4", t0.Add(5*time.Minute)))) // a call in progress
	must(t, l.AddRecharge(meter.Recharge{ID: "r1", At: t0.Add(time.Hour), Amount: 5 * meter.Unit, Reason: "auto", Result: RechargeApproved, BalanceAfter: 15 * meter.Unit}))
	must(t, l.Acknowledge("c1", 14*meter.Unit, meter.Active, t0.Add(2*time.Hour)))
	before := balance(t, l)

	kept, err := l.ForgetDelivered()
	must(t, err)
	if kept != 3 {
		t.Errorf("kept %d calls, want 3 (c2 and c3 unacknowledged, c4 in progress)", kept)
	}
	must(t, l.Close())
	l = openTest(t, path)
	defer l.Close()

	if got := balance(t, l); got != before {
		t.Errorf("balance %s after the reset, want %s as before", got, before)
	}
	pending, err := l.Pending()
	must(t, err)
	if len(pending) != 2 || pending[0].ID != "c2" || pending[1].ID != "c3" {
		t.Fatalf("pending %v, want c2 and c3", ids(pending))
	}
	calls, err := l.Calls(0)
	must(t, err)
	if got := ids(calls); len(got) != 3 || got[0] != "c4" || got[1] != "c3" || got[2] != "c2" {
		t.Errorf("history %v, want c4 c3 c2 (c1 was delivered and is forgotten)", got)
	}
	if _, ok, _ := l.Call("c1"); ok {
		t.Error("c1, delivered, is still readable after the reset")
	}
	rs, err := l.Recharges(t0.Add(-time.Hour), t0.Add(24*time.Hour))
	must(t, err)
	if len(rs) != 0 {
		t.Errorf("recharges %v survive the reset", rs)
	}
	opening, entries, err := l.Journal(t0.Add(-time.Hour), t0.Add(24*time.Hour))
	must(t, err)
	sum := opening
	for _, e := range entries {
		if e.Kind != KindCall || (e.Ref != "c2" && e.Ref != "c3") {
			t.Errorf("journal keeps %+v", e)
		}
		sum += e.Delta
	}
	if len(entries) != 2 || sum != entries[1].BalanceAfter {
		t.Errorf("journal: opening %s and %d entries do not add up to the last balance", opening, len(entries))
	}

	// Delivered after re-provisioning: the meter posts what Pending lists
	// and acknowledges it.
	must(t, l.Acknowledge("c2", 12*meter.Unit, meter.Active, t0.Add(3*time.Hour)))
	must(t, l.Acknowledge("c3", 9*meter.Unit, meter.Active, t0.Add(3*time.Hour)))
	if pending, _ := l.Pending(); len(pending) != 0 {
		t.Errorf("pending %v after delivery", ids(pending))
	}
}

func ids(rs []meter.Record) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.ID
	}
	return out
}
