package interop

import (
	"context"
	"fmt"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/tipring/tipring/meter"
	"github.com/tipring/tipring/scripts/devbilling/billing"
	"github.com/tipring/tipring/scripts/peers"
)

// Metering on the real binary against Kamailio and SIPp, with the
// development billing back end in this process.

const (
	billingAccount = "100200300"
	billingToken   = "interop-token"
)

// farRate is 0.60 a minute, 1/1: a balance of 0.95 buys exactly 95 s.
func farRate(prefix string) meter.Rate {
	return meter.Rate{Prefix: prefix, Destination: "far end " + prefix, PerMinute: 600_000, FirstIncrement: 1, NextIncrement: 1}
}

// startBilling serves the billing back end on loopback.
func startBilling(t *testing.T, balance meter.Money, rates ...meter.Rate) (*billing.Server, string) {
	t.Helper()
	b, err := billing.New(billing.Config{Account: billingAccount, Token: billingToken, Balance: balance, Rates: rates})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(b.Handler())
	t.Cleanup(srv.Close)
	return b, srv.URL
}

func meterConfig(url string) string {
	return fmt.Sprintf("\n[meter]\nbackend = %q\naccount = %q\ntoken = %q\ncheckpoint = \"2s\"\nsync_interval = \"1s\"\n",
		url, billingAccount, billingToken)
}

// waitSynced waits until the device has the account from the back end.
func (d *device) waitSynced() meter.BalanceInfo {
	d.t.Helper()
	var info meter.BalanceInfo
	d.eventually("the balance from the back end", 10*time.Second, func() bool {
		var err error
		info, err = d.API.Balance(context.Background())
		return err == nil && !info.LastSync.IsZero() && info.RatesVersion != ""
	})
	return info
}

// lastCall waits until the newest record is finished and returns it.
func (d *device) lastCall(timeout time.Duration) meter.Record {
	d.t.Helper()
	var rec meter.Record
	d.eventually("the call's record", timeout, func() bool {
		calls, err := d.API.Calls(context.Background(), 1)
		if err != nil || len(calls) == 0 {
			return false
		}
		rec = calls[0]
		return rec.Disposition != meter.InProgress
	})
	return rec
}

// waitDelivered waits until the back end has every record.
func (d *device) waitDelivered() meter.BalanceInfo {
	d.t.Helper()
	var info meter.BalanceInfo
	d.eventually("usage delivered to the back end", 15*time.Second, func() bool {
		var err error
		info, err = d.API.Balance(context.Background())
		return err == nil && info.UnsyncedCalls == 0
	})
	return info
}

// metered is a device whose lines call SIPp far ends through Kamailio,
// metered against the development billing back end.
type metered struct {
	billing *billing.Server
	far     []*peers.SIPp // one per far user, in order
	d       *device
}

// startMetered starts the back end with balance and a farRate per far
// user, Kamailio with the callers and the far users, a SIPp far end per far
// user (scenario and args), and the device with one line per caller; it
// returns once every line is registered and the balance is synced.
func startMetered(t *testing.T, balance meter.Money, callers, fars []peers.User, scenario string, args ...string) metered {
	t.Helper()
	var rates []meter.Rate
	for _, f := range fars {
		rates = append(rates, farRate(f.Name))
	}
	b, url := startBilling(t, balance, rates...)
	k := peers.StartKamailio(t, append(slices.Clone(callers), fars...))
	m := metered{billing: b}
	for _, f := range fars {
		s := peers.StartSIPp(t, scenario, append([]string{"-m", "1"}, args...)...)
		k.RegisterContact(t, f, s.Addr)
		m.far = append(m.far, s)
	}
	setup := deviceSetup{Region: "us", Extra: meterConfig(url)}
	for _, c := range callers {
		setup.Accounts = append(setup.Accounts, account{User: c.Name, Password: c.Password, Registrar: k.Addr})
	}
	m.d = startDeviceWith(t, setup)
	for i := range callers {
		m.d.waitRegistered(i + 1)
	}
	m.d.waitSynced()
	return m
}

// A balance that covers exactly 95 s: the phone hears the warning about
// 60 s before the end, and the call is cut at 95 s, billed 95 s.
func TestMeterWarnsThenCutsWhenCreditRunsOut(t *testing.T) {
	t.Parallel()
	m := startMetered(t, 950_000, []peers.User{alice}, []peers.User{far}, "uas_echo_until_bye.xml", "-rtp_echo")
	b, s, d := m.billing, m.far[0], m.d
	d.hook(1, true)
	d.dial(1, far.Name)
	d.eventually("the answer", 15*time.Second, func() bool { return d.status().Lines[0].CallState == "connected" })
	answered := time.Now()
	d.send(1, 1004, 120_000) // talk all the way
	d.waitHearing(1, "tone", 1004, 5*time.Second)

	// The warning is spoken over the far end, to the phone only.
	d.waitHearing(1, "speech", 0, 45*time.Second)
	if at := time.Since(answered); at < 30*time.Second || at > 40*time.Second {
		t.Fatalf("warning %v after the answer, want about 35 s (60 s before the 95 s limit)", at.Round(time.Millisecond))
	}
	d.waitHearing(1, "tone", 1004, 10*time.Second) // back to the far end

	rec := d.lastCall(75 * time.Second)
	if rec.Disposition != meter.CutCredit || rec.HungUpBy != "meter" {
		t.Fatalf("record %+v: want cut_credit by the meter", rec)
	}
	t.Logf("cut after %d ms of talk (limit 95 000 ms)", rec.TalkMS)
	if rec.TalkMS < 94_500 || rec.TalkMS > 95_500 {
		t.Fatalf("cut after %d ms of talk, want 95 000 ± 500", rec.TalkMS)
	}
	if rec.BilledSeconds != 95 || rec.Cost != 950_000 || rec.BalanceAfter != 0 {
		t.Fatalf("billed %d s for %s, balance after %s: want 95 s, 0.95, 0", rec.BilledSeconds, rec.Cost, rec.BalanceAfter)
	}
	d.waitHearing(1, "speech", 0, 5*time.Second) // "your credit is exhausted"
	d.waitHearing(1, "reorder", 0, 15*time.Second)
	if code, err := s.Wait(10 * time.Second); err != nil || code != 0 {
		t.Fatalf("SIPp did not see the call end with BYE: exit %d, %v\n%s", code, err, s.Report())
	}
	d.waitDelivered()
	if st := b.State(); st.Balance != 0 || st.Overdraft != 0 {
		t.Fatalf("back end balance %s, overdraft %s: want 0, 0", st.Balance, st.Overdraft)
	}
}

// Two ports at once on a balance that covers 60 s of one call: together
// they never spend more than the balance.
func TestTwoPortsShareOneBalance(t *testing.T) {
	t.Parallel()
	far2 := peers.User{Name: "2001", Password: "pass2001"}
	m := startMetered(t, 600_000, []peers.User{alice, bob}, []peers.User{far, far2}, "uas_echo_until_bye.xml", "-rtp_echo")
	b, d := m.billing, m.d
	d.hook(1, true)
	d.hook(2, true)
	d.dial(1, far.Name)
	d.dial(2, far2.Name)
	d.eventually("both answered", 15*time.Second, func() bool {
		st := d.status()
		return st.Lines[0].CallState == "connected" && st.Lines[1].CallState == "connected"
	})
	var calls []meter.Record
	d.eventually("both calls cut", 60*time.Second, func() bool {
		var err error
		calls, err = d.API.Calls(context.Background(), 2)
		return err == nil && len(calls) == 2 && calls[0].Disposition == meter.CutCredit && calls[1].Disposition == meter.CutCredit
	})
	total := calls[0].Cost + calls[1].Cost
	if total > 600_000 {
		t.Fatalf("the two calls cost %s together, above the 0.60 balance", total)
	}
	for _, c := range calls {
		if c.TalkMS < 25_000 || c.TalkMS > 35_500 {
			t.Errorf("port %d talked %d ms: want about half the 60 s each", c.Port, c.TalkMS)
		}
	}
	d.waitDelivered()
	if st := b.State(); st.Overdraft != 0 || st.Balance != 600_000-total {
		t.Fatalf("back end balance %s, overdraft %s", st.Balance, st.Overdraft)
	}
}

// A busy far end costs nothing and leaves a busy record.
func TestBusyIsRecordedAndFree(t *testing.T) {
	d := startMetered(t, 5*meter.Unit, []peers.User{alice}, []peers.User{far}, "uas_busy.xml").d
	d.hook(1, true)
	d.dial(1, far.Name)
	d.waitHearing(1, "busy", 0, 10*time.Second)
	rec := d.lastCall(5 * time.Second)
	if rec.Disposition != meter.Busy || rec.SIPCode != 486 || rec.Cost != 0 || rec.BalanceAfter != 5*meter.Unit {
		t.Fatalf("record %+v: want busy 486, free", rec)
	}
}

// An emergency number with no credit on a suspended account goes through
// unmetered; an ordinary number is refused with the reason spoken.
func TestEmergencyCallsGoThroughWithoutCredit(t *testing.T) {
	psap := peers.User{Name: "911", Password: "pass911"}
	// The PSAP is rated like any far end; the device must not meter it.
	m := startMetered(t, 0, []peers.User{alice}, []peers.User{psap, far}, "uas_echo_until_bye.xml", "-rtp_echo")
	d := m.d
	suspended := meter.Suspended
	if err := m.billing.Apply(billing.Change{Status: &suspended}); err != nil {
		t.Fatal(err)
	}
	d.eventually("the suspension synced", 10*time.Second, func() bool {
		info, err := d.API.Balance(context.Background())
		return err == nil && info.Status == meter.Suspended
	})

	d.hook(1, true)
	d.dial(1, far.Name)
	d.waitHearing(1, "speech", 0, 10*time.Second) // "your account is suspended …"
	d.waitHearing(1, "reorder", 0, 15*time.Second)
	if rec := d.lastCall(5 * time.Second); rec.Disposition != meter.Refused || rec.Cost != 0 {
		t.Fatalf("record %+v: want refused", rec)
	}
	d.hook(1, false)
	time.Sleep(1200 * time.Millisecond) // longer than a hook flash

	d.hook(1, true)
	d.dial(1, "911")
	d.eventually("the emergency call answered", 15*time.Second, func() bool { return d.status().Lines[0].CallState == "connected" })
	d.send(1, 1004, 3000)
	d.waitHearing(1, "tone", 1004, 5*time.Second)
	time.Sleep(2 * time.Second)
	d.hook(1, false)
	rec := d.lastCall(5 * time.Second)
	if rec.Disposition != meter.Emergency || rec.Metered || rec.Cost != 0 || rec.TalkMS < 2000 {
		t.Fatalf("emergency record %+v: want unmetered, free, talked", rec)
	}
}
