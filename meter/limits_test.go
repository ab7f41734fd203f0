package meter

import (
	"math/rand/v2"
	"testing"
	"time"
)

func TestLimitsWorkedExamples(t *testing.T) {
	sixty := plan(600_000, 1, 1) // 0.60/min on 1/1
	t.Run("0.95 at 0.60/min buys exactly 95 s", func(t *testing.T) {
		l := Limits(950_000, []Running{{Rate: sixty}})
		if l[0] != 95*time.Second {
			t.Fatalf("limit %v, want 95s", l[0])
		}
		if Price(sixty, l[0]).Total != 950_000 || Price(sixty, l[0]+time.Millisecond).Total <= 950_000 {
			t.Fatal("the limit and Price disagree")
		}
	})
	t.Run("a call 40 s in keeps the same end", func(t *testing.T) {
		l := Limits(950_000, []Running{{Rate: sixty, Elapsed: 40*time.Second + 300*time.Millisecond}})
		if l[0] != 95*time.Second {
			t.Fatalf("limit %v, want 95s", l[0])
		}
	})
	t.Run("two calls share 60 s", func(t *testing.T) {
		calls := []Running{{Rate: sixty}, {Rate: sixty}}
		l := Limits(600_000, calls)
		if l[0] != 30*time.Second || l[1] != 30*time.Second {
			t.Fatalf("limits %v, want 30s each", l)
		}
		if total := Price(sixty, l[0]).Total + Price(sixty, l[1]).Total; total > 600_000 {
			t.Fatalf("together they cost %s, above the balance", total)
		}
	})
	t.Run("odd second goes to the earlier call", func(t *testing.T) {
		// 61 s of credit: at 30.001 s both calls rise and 0.01 is
		// left; the later call is cut first, the earlier one gets it.
		l := Limits(610_000, []Running{{Rate: sixty}, {Rate: sixty}})
		if l[0] != 31*time.Second || l[1] != 30*time.Second {
			t.Fatalf("limits %v, want [31s 30s]", l)
		}
	})
	t.Run("a call 50 s in and a new one", func(t *testing.T) {
		// 100 s of credit, 50 s spent: the two split the 50 s left.
		l := Limits(Unit, []Running{{Rate: sixty, Elapsed: 50 * time.Second}, {Rate: sixty}})
		if l[0] != 75*time.Second || l[1] != 25*time.Second {
			t.Fatalf("limits %v, want [1m15s 25s]", l)
		}
	})
	t.Run("when one call is cut the other gets the rest", func(t *testing.T) {
		dear := plan(6_000_000, 60, 60) // 6.00/min in whole minutes
		l := Limits(7*Unit, []Running{{Rate: dear}, {Rate: sixty, Elapsed: 500 * time.Millisecond}})
		// At 60.001 s the dear call needs 6.00 more, with 6.00 + 0.61
		// already spent: it is cut at 60 s and the cheap call has
		// 7.00 − 6.00 = 1.00, i.e. 100 s.
		if l[0] != 60*time.Second || l[1] != 100*time.Second {
			t.Fatalf("limits %v, want [1m0s 1m40s]", l)
		}
	})
	t.Run("a tie cuts the later call first", func(t *testing.T) {
		// Both rise at 60.001 s; whichever is cut first decides.
		dear := plan(6_000_000, 60, 60)
		l := Limits(7*Unit, []Running{{Rate: sixty}, {Rate: dear}})
		if l[0] != 100*time.Second || l[1] != 60*time.Second {
			t.Fatalf("cheap first: limits %v, want [1m40s 1m0s]", l)
		}
		// The cheap call is cut at 60 s (0.60 paid), and the 6.40 left
		// cannot pay the dear call's second minute either.
		l = Limits(7*Unit, []Running{{Rate: dear}, {Rate: sixty}})
		if l[0] != 60*time.Second || l[1] != 60*time.Second {
			t.Fatalf("dear first: limits %v, want [1m0s 1m0s]", l)
		}
	})
	t.Run("30/6 ends on a pulse", func(t *testing.T) {
		l := Limits(400_000, []Running{{Rate: plan(600_000, 30, 6)}})
		if l[0] != 36*time.Second {
			t.Fatalf("limit %v, want 36s (0.36 paid, 0.42 not)", l[0])
		}
	})
	t.Run("fees come first", func(t *testing.T) {
		r := sixty
		r.ConnectFee, r.AccessFee = 100_000, 200_000
		if l := Limits(950_000, []Running{{Rate: r}}); l[0] != 65*time.Second {
			t.Fatalf("limit %v, want 65s", l[0])
		}
	})
	t.Run("no credit for the first charge refuses", func(t *testing.T) {
		r := plan(600_000, 60, 60)
		if l := Limits(590_000, []Running{{Rate: r}}); l[0] != 0 {
			t.Fatalf("limit %v, want 0", l[0])
		}
		r.Grace = 10
		if l := Limits(0, []Running{{Rate: r}}); l[0] != 0 {
			t.Fatalf("with grace: limit %v, want 0, not a free call", l[0])
		}
		if l := Limits(-Unit, []Running{{Rate: sixty}}); l[0] != 0 {
			t.Fatalf("negative balance: limit %v, want 0", l[0])
		}
	})
	t.Run("an answered call in grace keeps its grace", func(t *testing.T) {
		r := sixty
		r.Grace = 10
		if l := Limits(0, []Running{{Rate: r, Elapsed: 3 * time.Second}}); l[0] != 10*time.Second {
			t.Fatalf("limit %v, want 10s", l[0])
		}
	})
	t.Run("free and nearly free", func(t *testing.T) {
		free := plan(0, 60, 60)
		cheap := plan(1, 1, 1) // one micro-unit a minute
		feeOnly := plan(0, 1, 1)
		feeOnly.ConnectFee = 10_000
		l := Limits(10*Unit, []Running{{Rate: free}, {Rate: cheap}, {Rate: feeOnly}})
		for i, want := range []time.Duration{Unlimited, Unlimited, Unlimited} {
			if l[i] != want {
				t.Errorf("call %d: limit %v, want Unlimited", i, l[i])
			}
		}
		if l := Limits(0, []Running{{Rate: free}}); l[0] != Unlimited {
			t.Errorf("a free call on no credit: limit %v, want Unlimited", l[0])
		}
		if l := Limits(5_000, []Running{{Rate: feeOnly}}); l[0] != 0 {
			t.Errorf("a fee above the balance: limit %v, want 0", l[0])
		}
	})
	t.Run("overdrawn calls end at their paid pulse", func(t *testing.T) {
		// The balance was lowered under two calls already running.
		r := plan(600_000, 60, 60)
		l := Limits(Unit, []Running{{Rate: r, Elapsed: 70 * time.Second}, {Rate: sixty, Elapsed: 20500 * time.Millisecond}, {Rate: sixty}})
		if l[0] != 120*time.Second || l[1] != 21*time.Second || l[2] != 0 {
			t.Fatalf("limits %v, want [2m0s 21s 0s]", l)
		}
	})
	if l := Limits(Unit, nil); len(l) != 0 {
		t.Fatalf("no calls gave %v", l)
	}
}

// TestLimitsInvariants checks, on random rates, balances and elapsed
// times, what the enforcer relies on: the limits never spend more than the
// balance, each finite limit is the last pulse the balance could pay at
// the moment it is cut, and limits lie on whole seconds.
func TestLimitsInvariants(t *testing.T) {
	rng := rand.New(rand.NewPCG(21, 22))
	for round := range 3000 {
		n := 1 + rng.IntN(3)
		calls := make([]Running, n)
		for i := range calls {
			calls[i].Rate = randRate(rng)
			if rng.IntN(2) == 0 {
				calls[i].Elapsed = time.Duration(rng.Int64N(600_000)) * time.Millisecond
			}
		}
		balance := Money(rng.Int64N(30 * int64(Unit)))
		limits := Limits(balance, calls)
		checkLimits(t, round, balance, calls, limits)
	}
}

func checkLimits(t *testing.T, round int, balance Money, calls []Running, limits []time.Duration) {
	t.Helper()
	fail := func(format string, args ...any) {
		t.Helper()
		t.Fatalf("round %d, balance %s, calls %+v, limits %v: "+format, append([]any{round, balance, calls, limits}, args...)...)
	}
	// cutAt is when (from now) the call stops; a refused call stops at
	// its first charge, which for a grace rate is past the grace.
	cutAt := make([]time.Duration, len(calls))
	overdrawn := false
	var spent, now Money
	for i, c := range calls {
		l := limits[i]
		spent += Price(c.Rate, min(l, Unlimited)).Total
		now += Price(c.Rate, c.Elapsed).Total
		if l%time.Second != 0 {
			fail("call %d: limit %v is not a whole second", i, l)
		}
		cutAt[i] = l - c.Elapsed
		if l == 0 && c.Elapsed == 0 {
			cutAt[i] = time.Duration(c.Rate.Grace) * time.Second
		}
	}
	if now > balance {
		overdrawn = true // nothing more may be spent: checked below
	}
	if spent > balance && !overdrawn {
		fail("the limits spend %s, more than the balance", spent)
	}
	if overdrawn {
		for i, c := range calls {
			if limits[i] != Unlimited && Price(c.Rate, limits[i]) != Price(c.Rate, c.Elapsed) {
				fail("call %d overdrawn, its limit still costs more than now", i)
			}
		}
		return
	}
	for i, c := range calls {
		l := limits[i]
		if l == Unlimited {
			continue
		}
		// One millisecond more on this call, with the others where they
		// stand at that instant, must not be payable.
		at := cutAt[i] + time.Millisecond
		sum := Price(c.Rate, c.Elapsed+at).Total
		for j, o := range calls {
			if j == i {
				continue
			}
			cutBefore := cutAt[j] < cutAt[i] || (cutAt[j] == cutAt[i] && j > i)
			if cutBefore {
				sum += Price(o.Rate, limits[j]).Total
			} else {
				sum += Price(o.Rate, o.Elapsed+at).Total
			}
		}
		if sum <= balance {
			fail("call %d could have paid %v more: the calls would cost %s", i, time.Millisecond, sum)
		}
	}
	if len(calls) == 1 && limits[0] != Unlimited && !(limits[0] == 0 && calls[0].Elapsed == 0) {
		c := calls[0]
		if Price(c.Rate, limits[0]).Total > balance || Price(c.Rate, limits[0]+time.Millisecond).Total <= balance {
			fail("a single call's limit disagrees with Price")
		}
	}
}

// FuzzLimits drives the same invariants from the fuzzer, two calls on
// arbitrary plans.
func FuzzLimits(f *testing.F) {
	f.Add(int64(600_000), int64(600_000), 1, 1, 30, 6, int64(0), 0, int64(0), int64(12_000))
	f.Fuzz(func(t *testing.T, balance, perMinute int64, f1, n1, f2, n2 int, fee int64, grace int, e1, e2 int64) {
		r1 := Rate{PerMinute: Money(perMinute % int64(maxRateAmount)), FirstIncrement: 1 + abs(f1)%3600, NextIncrement: 1 + abs(n1)%3600}
		r2 := Rate{PerMinute: Money(perMinute % 7_000_000), FirstIncrement: 1 + abs(f2)%3600, NextIncrement: 1 + abs(n2)%3600,
			ConnectFee: Money(abs64(fee) % int64(maxRateAmount)), Grace: abs(grace) % 120}
		r1.PerMinute = max(r1.PerMinute, -r1.PerMinute)
		r2.PerMinute = max(r2.PerMinute, -r2.PerMinute)
		calls := []Running{
			{Rate: r1, Elapsed: time.Duration(abs64(e1)%86_400_000) * time.Millisecond},
			{Rate: r2, Elapsed: time.Duration(abs64(e2)%86_400_000) * time.Millisecond},
		}
		balance %= 1000 * int64(Unit)
		checkLimits(t, 0, Money(balance), calls, Limits(Money(balance), calls))
	})
}

func abs(v int) int {
	if v < 0 {
		return -(v + 1) // never overflows
	}
	return v
}

func abs64(v int64) int64 {
	if v < 0 {
		return -(v + 1)
	}
	return v
}

func BenchmarkLimits1(b *testing.B) {
	calls := []Running{{Rate: plan(10_000, 1, 1)}} // 20.00 at 0.01/min: 2000 minutes of 1 s pulses
	for b.Loop() {
		Limits(20*Unit, calls)
	}
}

func BenchmarkLimits2(b *testing.B) {
	calls := []Running{{Rate: plan(10_000, 1, 1), Elapsed: 1234 * time.Millisecond}, {Rate: plan(21_300, 30, 6)}}
	for b.Loop() {
		Limits(20*Unit, calls)
	}
}
