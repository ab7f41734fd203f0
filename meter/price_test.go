package meter

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"
)

func plan(perMinute Money, first, next int) Rate {
	return Rate{Prefix: "1", Destination: "test", PerMinute: perMinute, FirstIncrement: first, NextIncrement: next}
}

func secs(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }

// TestPriceWorkedExamples is the table the issue asks for: every increment
// plan, grace, minimum duration, fees and the micro-unit rounding.
func TestPriceWorkedExamples(t *testing.T) {
	const perMin = 600_000 // 0.60 a minute: one second costs exactly 0.01
	withFees := plan(perMin, 60, 6)
	withFees.ConnectFee, withFees.AccessFee = 50_000, 100_000
	graceFees := withFees
	graceFees.Grace = 5
	grace := plan(perMin, 1, 1)
	grace.Grace = 5
	minDur := plan(perMin, 1, 1)
	minDur.MinDuration = 60
	minGrace := plan(perMin, 1, 1)
	minGrace.MinDuration, minGrace.Grace = 60, 5

	for _, c := range []struct {
		name   string
		rate   Rate
		talk   time.Duration
		billed int
		usage  Money
		total  Money
	}{
		{"30/6 bills 10 s as one first pulse", plan(perMin, 30, 6), secs(10), 30, 300_000, 300_000},
		{"30/6 bills 30 s as 30 s", plan(perMin, 30, 6), secs(30), 30, 300_000, 300_000},
		{"30/6 bills 31 s as 36 s", plan(perMin, 30, 6), secs(31), 36, 360_000, 360_000},
		{"30/6 bills exactly 42 s as 42 s, not 48 s", plan(perMin, 30, 6), secs(42), 42, 420_000, 420_000},
		{"30/6 bills 42.001 s as 48 s", plan(perMin, 30, 6), secs(42.001), 48, 480_000, 480_000},
		{"60/60 bills 60 s as 60 s", plan(perMin, 60, 60), secs(60), 60, 600_000, 600_000},
		{"60/60 bills 61 s as 120 s", plan(perMin, 60, 60), secs(61), 120, 1_200_000, 1_200_000},
		{"6/6 bills 1 s as 6 s", plan(perMin, 6, 6), secs(1), 6, 60_000, 60_000},
		{"6/6 bills 13 s as 18 s", plan(perMin, 6, 6), secs(13), 18, 180_000, 180_000},
		{"1/1 bills 10.001 s as 11 s", plan(perMin, 1, 1), secs(10.001), 11, 110_000, 110_000},
		{"1/1 bills 1 ns as 1 s", plan(perMin, 1, 1), 1, 1, 10_000, 10_000},
		{"1/1 bills 95 s as 95 s", plan(perMin, 1, 1), secs(95), 95, 950_000, 950_000},
		{"no talk costs nothing", plan(perMin, 60, 60), 0, 0, 0, 0},
		{"negative talk costs nothing", plan(perMin, 60, 60), -time.Second, 0, 0, 0},
		{"grace 5: 5 s is free", grace, secs(5), 0, 0, 0},
		{"grace 5: 5.001 s bills 6 s", grace, secs(5.001), 6, 60_000, 60_000},
		{"grace 5: 6 s bills 6 s", grace, secs(6), 6, 60_000, 60_000},
		{"grace waives the fees too", graceFees, secs(4), 0, 0, 0},
		{"fees once past grace", graceFees, secs(6), 60, 600_000, 750_000},
		{"fees on the shortest answered call", withFees, secs(0.2), 60, 600_000, 750_000},
		{"min 60 on 1/1 bills 10 s as 60 s", minDur, secs(10), 60, 600_000, 600_000},
		{"min 60 on 1/1 bills 61 s as 61 s", minDur, secs(61), 61, 610_000, 610_000},
		{"min 60 and grace 5: 5 s free", minGrace, secs(5), 0, 0, 0},
		{"min 60 and grace 5: 6 s bills 60 s", minGrace, secs(6), 60, 600_000, 600_000},
		{"0.0213/min over 7 s is exactly 0.002485", plan(21_300, 1, 1), secs(7), 7, 2485, 2485},
		{"0.0217/min over 7 s rounds 2531.67 up to 0.002532", plan(21_700, 1, 1), secs(7), 7, 2532, 2532},
		{"0.0210/min 60/6 over 61 s is 66 s = 0.0231", plan(21_000, 60, 6), secs(61), 66, 23_100, 23_100},
		{"a free rate with a connect fee", Rate{FirstIncrement: 1, NextIncrement: 1, ConnectFee: 20_000}, secs(300), 300, 0, 20_000},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := Price(c.rate, c.talk)
			if got.BilledSeconds != c.billed || got.Usage != c.usage || got.Total != c.total {
				t.Fatalf("Price(%v) = billed %d s, usage %s, total %s; want %d s, %s, %s",
					c.talk, got.BilledSeconds, got.Usage, got.Total, c.billed, c.usage, c.total)
			}
			if got.Total != got.Usage+got.ConnectFee+got.AccessFee {
				t.Fatalf("total %s is not the sum of its lines %+v", got.Total, got)
			}
		})
	}
	fees := Price(withFees, secs(10))
	if fees.ConnectFee != 50_000 || fees.AccessFee != 100_000 {
		t.Fatalf("fees = %s + %s, want 0.05 + 0.10", fees.ConnectFee, fees.AccessFee)
	}
}

// TestPriceExtremes: a rate NewTable would refuse must not panic, wrap
// around to a negative amount, or divide by zero.
func TestPriceExtremes(t *testing.T) {
	huge := Rate{PerMinute: MaxMoney, FirstIncrement: 0, NextIncrement: -3, ConnectFee: MaxMoney, AccessFee: math.MaxInt64, MinDuration: math.MaxInt}
	c := Price(huge, time.Duration(math.MaxInt64))
	if c.Total != math.MaxInt64 || c.Usage < 0 {
		t.Fatalf("saturated price = %+v, want Total = MaxInt64", c)
	}
	neg := Rate{PerMinute: -Unit, ConnectFee: -Unit, FirstIncrement: 1, NextIncrement: 1}
	if c := Price(neg, time.Minute); c.Total != 0 {
		t.Fatalf("negative amounts priced %s, want 0", c.Total)
	}
	free := Rate{Grace: math.MaxInt, PerMinute: Unit, FirstIncrement: 1, NextIncrement: 1}
	// Fifty years: within an endless grace even where int has 32 bits.
	if c := Price(free, 50*365*24*time.Hour); c.Total != 0 {
		t.Fatalf("an endless grace priced %s", c.Total)
	}
}

func randRate(rng *rand.Rand) Rate {
	r := Rate{
		Prefix: "1", Destination: "x",
		PerMinute:      Money(rng.Int64N(5 * int64(Unit))),
		FirstIncrement: []int{1, 6, 30, 60, 1 + rng.IntN(3600)}[rng.IntN(5)],
		NextIncrement:  []int{1, 6, 30, 60, 1 + rng.IntN(3600)}[rng.IntN(5)],
	}
	if rng.IntN(3) == 0 {
		r.ConnectFee = Money(rng.Int64N(int64(Unit)))
	}
	if rng.IntN(3) == 0 {
		r.AccessFee = Money(rng.Int64N(int64(Unit)))
	}
	if rng.IntN(3) == 0 {
		r.MinDuration = rng.IntN(300)
	}
	if rng.IntN(3) == 0 {
		r.Grace = rng.IntN(30)
	}
	return r
}

// TestPriceMonotone: a longer call never costs less, on random rates and
// durations, and each price is a whole number of pulses.
func TestPriceMonotone(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	for range 20_000 {
		r := randRate(rng)
		a := time.Duration(rng.Int64N(int64(3 * time.Hour)))
		b := a + time.Duration(rng.Int64N(int64(10*time.Minute)))
		pa, pb := Price(r, a), Price(r, b)
		if pb.Total < pa.Total || pb.BilledSeconds < pa.BilledSeconds {
			t.Fatalf("rate %+v: %v costs %+v but longer %v costs %+v", r, a, pa, b, pb)
		}
		if s := pa.BilledSeconds; s > 0 {
			if s < r.FirstIncrement || (s-r.FirstIncrement)%r.NextIncrement != 0 || time.Duration(s)*time.Second < a {
				t.Fatalf("rate %+v: %v billed as %d s, off the pulse grid or short", r, a, s)
			}
		}
	}
}

func FuzzPrice(f *testing.F) {
	f.Add(int64(600_000), 30, 6, int64(0), int64(0), 0, 0, int64(42*time.Second), int64(time.Millisecond))
	f.Fuzz(func(t *testing.T, perMinute int64, first, next int, connect, access int64, minDur, grace int, talk, more int64) {
		r := Rate{PerMinute: Money(perMinute), FirstIncrement: first, NextIncrement: next,
			ConnectFee: Money(connect), AccessFee: Money(access), MinDuration: minDur, Grace: grace}
		a := time.Duration(talk)
		b := addDuration(a, time.Duration(max(more, 0)))
		pa, pb := Price(r, a), Price(r, b)
		if pa != Price(r, a) {
			t.Fatal("Price is not deterministic")
		}
		if pb.Total < pa.Total {
			t.Fatalf("rate %+v: %v costs %s, longer %v costs %s", r, a, pa.Total, b, pb.Total)
		}
		if pa.Total < 0 || pa.Usage < 0 || pa.Total < pa.Usage || pa.Total < pa.ConnectFee || pa.Total < pa.AccessFee {
			t.Fatalf("rate %+v, %v: inconsistent charge %+v", r, a, pa)
		}
	})
}

func BenchmarkPrice(b *testing.B) {
	r := plan(21_300, 30, 6)
	r.ConnectFee = 10_000
	for b.Loop() {
		Price(r, 1234567*time.Millisecond)
	}
}
