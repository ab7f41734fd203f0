package meter

import (
	"math"
	"time"
)

// Unlimited is the limit of a call the balance never runs out on (a free
// destination, or credit that outlasts a year of talk).
const Unlimited = 365 * 24 * time.Hour

// Running is a metered call in progress on the shared balance.
type Running struct {
	Rate Rate
	// Elapsed is the talk time so far: 0 for a call about to be dialled
	// or still ringing.
	Elapsed time.Duration
}

// Limits says, for each call, the talk time (total, since its answer) at
// which the shared balance can no longer pay its next pulse, assuming all
// the calls go on. balance is the credit before any of these calls was
// charged: Σ Price(call, limit).Total never exceeds it.
//
// Credit is spent pulse by pulse as each call's Price rises. At the first
// instant T where Σ Price(call_i, Elapsed_i+T).Total would exceed the
// balance, the call whose price rises there is cut: its limit is the end of
// the last pulse it paid, a whole number of seconds (a limit of 95 s means
// Price(95 s) is paid and Price(95.001 s) is not). It drops out with its
// cost frozen and the others go on with what is left. When several calls
// rise at that instant, the one later in the slice is cut first.
//
// A free call (no per-minute rate, no fees) is Unlimited. A call not yet
// answered (Elapsed 0) that the credit cannot carry to its first charge
// gets 0, even if its rate has a grace period: that is the refusal for
// insufficient credit, not a free call. If the calls already cost more than
// the balance, each is cut at the end of the pulse it is in, which costs
// nothing more.
//
// T is found by binary search on whole milliseconds (Price is monotone),
// so the cost does not depend on how many pulses the balance buys.
func Limits(balance Money, calls []Running) []time.Duration {
	limits := make([]time.Duration, len(calls))
	active := make([]int, 0, len(calls))
	for i, c := range calls {
		if max(c.Rate.PerMinute, c.Rate.ConnectFee, c.Rate.AccessFee) <= 0 {
			limits[i] = Unlimited
			continue
		}
		active = append(active, i)
	}
	// cost is call i's price T milliseconds from now.
	cost := func(i int, t int64) Money {
		return Price(calls[i].Rate, addDuration(max(calls[i].Elapsed, 0), time.Duration(t)*time.Millisecond)).Total
	}
	sum := func(t int64) Money {
		var s Money
		for _, i := range active {
			s = addMoney(s, cost(i, t))
		}
		return s
	}
	// cut fixes call i's limit when its price rises at T = t ms; it
	// returns what the call paid.
	cut := func(i int, t int64) Money {
		paid := cost(i, t-1)
		e := max(calls[i].Elapsed, 0)
		if e == 0 && paid == 0 {
			limits[i] = 0
			return 0
		}
		// Price is constant over each second ((k−1 s, k s]), so the
		// end of the paid pulse is the end of that second.
		limits[i] = ceilSecond(addDuration(e, time.Duration(t-1)*time.Millisecond))
		return paid
	}
	horizon := Unlimited.Milliseconds()
	budget := balance

	if sum(0) > budget {
		// Already overdrawn: any rise is unaffordable, so each call ends
		// where its price would next rise.
		for _, i := range active {
			now := cost(i, 0)
			if cost(i, horizon) == now {
				limits[i] = Unlimited
				continue
			}
			cut(i, firstTrue(0, horizon, func(t int64) bool { return cost(i, t) > now }))
		}
		return limits
	}
	lo := int64(0) // sum(lo) fits the budget
	for len(active) > 0 {
		if sum(horizon) <= budget {
			for _, i := range active {
				limits[i] = Unlimited
			}
			break
		}
		t := firstTrue(lo, horizon, func(t int64) bool { return sum(t) > budget })
		// At least one call rises at t, since sum(t-1) fits and sum(t)
		// does not; cut the last one.
		k := len(active) - 1
		for k > 0 && cost(active[k], t) == cost(active[k], t-1) {
			k--
		}
		budget -= cut(active[k], t)
		active = append(active[:k], active[k+1:]...)
		// Without the cut call, sum(t-1) still fits what is left.
		lo = t - 1
	}
	return limits
}

// firstTrue is the least t in (lo, hi] for which f holds, given that f is
// monotone, false at lo and true at hi.
func firstTrue(lo, hi int64, f func(int64) bool) int64 {
	for hi-lo > 1 {
		m := lo + (hi-lo)/2
		if f(m) {
			hi = m
		} else {
			lo = m
		}
	}
	return hi
}

func addDuration(a, b time.Duration) time.Duration {
	if a > math.MaxInt64-b {
		return math.MaxInt64
	}
	return a + b
}

func ceilSecond(d time.Duration) time.Duration {
	if r := d % time.Second; r != 0 {
		return addDuration(d-r, time.Second)
	}
	return d
}
