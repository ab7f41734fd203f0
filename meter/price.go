package meter

import (
	"math"
	"math/bits"
	"time"
)

// Charge is what an answered call costs, line by line as the history shows
// it.
type Charge struct {
	BilledSeconds int
	Usage         Money // the per-minute part
	ConnectFee    Money
	AccessFee     Money
	Total         Money
}

// Price is the one pricing function: the limit granted before dialling,
// the warning, the cut-off and the final charge all come from it, so they
// cannot disagree. talk is the answered talk time (from the 200 OK).
//
// The rules, in order:
//
//  1. The talk time is rounded up to a whole second: 10.001 s is 11 s,
//     exactly 42 s stays 42 s. No talk costs nothing.
//  2. A call no longer than Grace seconds (when Grace > 0) costs nothing at
//     all, fees included: with grace 5, a 5 s call is free and 5.001 s is
//     billed as 6 s.
//  3. Billed seconds are at least MinDuration, then rounded up to the pulse
//     grid: the first FirstIncrement seconds are one pulse, the rest are
//     pulses of NextIncrement. With F/N: 1..F s bill F; s > F bills
//     F + ⌈(s−F)/N⌉·N. An exact multiple is not rounded further:
//     30/6 bills 10 s as 30 s, 31 s as 36 s and 42 s as 42 s (not 48 s, the
//     extra pulse a well-known server meter charges); 60/60 bills 61 s as
//     120 s; min_duration 60 on 1/1 bills 10 s as 60 s.
//  4. Usage = ⌈PerMinute × billed / 60⌉ micro-units, in integer arithmetic.
//     It is rounded once per call, upwards, so the error is below one
//     micro-unit per call (invisible at the four decimals shown) and always
//     in the direction that keeps the device from granting talk time the
//     credit does not cover; rounding per pulse would add up. Example:
//     0.0217/min over 7 s on 1/1 is 21700 × 7 / 60 = 2531.67 → 2532
//     micro-units (0.002532); 0.0213/min over 7 s is exactly 2485.
//  5. ConnectFee and AccessFee are charged once the answered call is
//     billable (past the grace period). Total is the sum.
//
// Price expects a Rate that NewTable accepted; for any other it stays
// defined and monotone rather than panicking: increments below 1 count as
// 1, negative amounts as 0, and sums saturate instead of wrapping.
func Price(r Rate, talk time.Duration) Charge {
	if talk <= 0 {
		return Charge{}
	}
	seconds := int64(talk / time.Second)
	if talk%time.Second != 0 {
		seconds++
	}
	// ⌈talk⌉ ≤ Grace exactly when talk ≤ Grace seconds, and comparing
	// seconds cannot overflow the way Grace × time.Second could.
	if r.Grace > 0 && int64(r.Grace) >= seconds {
		return Charge{}
	}
	billed := max(seconds, int64(r.MinDuration))
	first := max(int64(r.FirstIncrement), 1)
	next := max(int64(r.NextIncrement), 1)
	if billed <= first {
		billed = first
	} else {
		pulses := (billed - first) / next
		if (billed-first)%next != 0 {
			pulses++
		}
		if pulses > (math.MaxInt64-first)/next {
			billed = math.MaxInt64
		} else {
			billed = first + pulses*next
		}
	}
	c := Charge{
		BilledSeconds: int(min(billed, math.MaxInt)),
		Usage:         usage(max(r.PerMinute, 0), billed),
		ConnectFee:    max(r.ConnectFee, 0),
		AccessFee:     max(r.AccessFee, 0),
	}
	c.Total = addMoney(addMoney(c.Usage, c.ConnectFee), c.AccessFee)
	return c
}

// usage is ⌈perMinute × seconds / 60⌉ in 128-bit arithmetic, saturated.
func usage(perMinute Money, seconds int64) Money {
	hi, lo := bits.Mul64(uint64(perMinute), uint64(seconds))
	if hi >= 60 { // the quotient would not fit in 64 bits
		return math.MaxInt64
	}
	q, rem := bits.Div64(hi, lo, 60)
	if rem != 0 {
		q++
	}
	if q > math.MaxInt64 {
		return math.MaxInt64
	}
	return Money(q)
}

// addMoney adds two non-negative amounts, saturating.
func addMoney(a, b Money) Money {
	if a > math.MaxInt64-b {
		return math.MaxInt64
	}
	return a + b
}
