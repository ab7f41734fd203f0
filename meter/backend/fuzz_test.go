package backend

import (
	"encoding/json"
	"testing"

	"github.com/tipring/tipring/meter"
)

// The decoders never panic, and whatever they accept obeys the contract and
// survives a round trip through its own encoding unchanged. Seeds are in
// testdata/fuzz.

func FuzzAccountAnswer(f *testing.F) {
	f.Add([]byte(goodAccount), "")
	f.Fuzz(func(t *testing.T, b []byte, currency string) {
		if currency != "" && !meter.ValidCurrency(currency) {
			currency = "USD" // New refuses such an expectation
		}
		a, err := decodeAccount(b, testAccount, currency)
		if err != nil {
			if a != (meter.Account{}) {
				t.Fatalf("rejected answer partly returned: %+v", a)
			}
			return
		}
		if a.Account != testAccount || (a.Status != meter.Active && a.Status != meter.Suspended) ||
			!meter.ValidCurrency(a.Currency) || (currency != "" && a.Currency != currency) {
			t.Fatalf("accepted %+v", a)
		}
		for _, m := range []meter.Money{a.Balance, a.AutoRecharge.Threshold, a.AutoRecharge.Amount} {
			if m < 0 || m > MaxBalance {
				t.Fatalf("accepted an amount out of bounds: %+v", a)
			}
		}
		if a.AutoRecharge.Enabled && a.AutoRecharge.Amount == 0 {
			t.Fatalf("accepted an enabled recharge of zero: %+v", a)
		}
		again, err := json.Marshal(a)
		if err != nil {
			t.Fatal(err)
		}
		b2, err := decodeAccount(again, testAccount, currency)
		if err != nil || b2 != a {
			t.Fatalf("round trip of %s: %+v, %v; want %+v", again, b2, err, a)
		}
	})
}

func FuzzUsageAnswer(f *testing.F) {
	f.Add([]byte(`{"balance":"11.0000","status":"active"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		bal, st, err := decodeUsage(b)
		if err != nil {
			if bal != 0 || st != "" {
				t.Fatalf("rejected answer partly returned: %s %q", bal, st)
			}
			return
		}
		if bal < 0 || bal > MaxBalance || (st != meter.Active && st != meter.Suspended) {
			t.Fatalf("accepted %s %q", bal, st)
		}
		again, _ := json.Marshal(map[string]any{"balance": bal, "status": st})
		bal2, st2, err := decodeUsage(again)
		if err != nil || bal2 != bal || st2 != st {
			t.Fatalf("round trip of %s: %s %q %v", again, bal2, st2, err)
		}
	})
}

func FuzzRechargeAnswer(f *testing.F) {
	f.Add([]byte(`{"result":"declined","message":"card declined","balance":"5.0000"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := decodeRecharge(b)
		if err != nil {
			if r != (RechargeResult{}) {
				t.Fatalf("rejected answer partly returned: %+v", r)
			}
			return
		}
		if r.Balance < 0 || r.Balance > MaxBalance || len(r.Message) > maxMessageBytes {
			t.Fatalf("accepted %+v", r)
		}
		result := "declined"
		if r.Approved {
			result = "approved"
		}
		again, _ := json.Marshal(map[string]any{"result": result, "message": r.Message, "balance": r.Balance})
		r2, err := decodeRecharge(again)
		if err != nil || r2 != r {
			t.Fatalf("round trip of %s: %+v %v; want %+v", again, r2, err, r)
		}
	})
}

func FuzzRatesAnswer(f *testing.F) {
	f.Add([]byte(`{"version":"v7","currency":"USD","rates":[]}`), "")
	f.Fuzz(func(t *testing.T, b []byte, currency string) {
		if currency != "" && !meter.ValidCurrency(currency) {
			currency = "USD"
		}
		cur, err := ratesCurrency(b, currency)
		if err != nil {
			if cur != "" {
				t.Fatalf("rejected answer returned currency %q", cur)
			}
			return
		}
		if !meter.ValidCurrency(cur) || (currency != "" && cur != currency) {
			t.Fatalf("accepted currency %q (expected %q)", cur, currency)
		}
	})
}
