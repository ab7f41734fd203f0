package quality

import (
	"math"
	"math/rand/v2"
	"testing"
)

// The worked values below were computed by hand from the G.107 formulas
// (defaults of Table 3, T = Ta, Tr = 2·Ta) and checked against this code.

func TestDefaultConnectionIs93_2(t *testing.T) {
	// The standard's anchor: every parameter at its default, no delay, no
	// loss, gives R = 93.2. It checks Ro, Is and Id together.
	if got := rFactor(0, 0, bplPLC); math.Abs(got-93.2) > 0.05 {
		t.Fatalf("R at G.107 defaults = %.3f, want 93.2", got)
	}
}

func TestIddAt400ms(t *testing.T) {
	// X = log2(4) = 2: Idd = 25·((1+2^6)^(1/6) − 3·(1+(2/3)^6)^(1/6) + 2).
	if got := idd(400); math.Abs(got-24.07) > 0.01 {
		t.Fatalf("Idd(400 ms) = %.3f, want 24.07", got)
	}
	if got := idd(100); got != 0 {
		t.Fatalf("Idd(100 ms) = %v, want 0: delay below 100 ms costs nothing", got)
	}
}

func TestAssessWorkedValues(t *testing.T) {
	answered := func(c Call) Call {
		c.Answered = true
		c.AudioSentMs, c.AudioReceivedMs = 60_000, 60_000
		return c
	}
	tests := []struct {
		name      string
		call      Call
		wantDelay float64
		wantR     float64
		wantMOS   float64
		rating    string
	}{
		// 20 ms is only the packetisation: the best a G.711 call over
		// tipring can be. Echo terms at T = 20 ms (Idte 0.39, Idle 0.43)
		// take it a little under the 93.2 of a zero-delay connection.
		{"clean LAN call", Call{PLC: true}, 20, 92.53, 4.39, RatingExcellent},
		// Ie,eff = 95·1/(1+25.1) = 3.64.
		{"1% loss concealed", Call{LossFraction: 0.01, PLC: true}, 20, 88.89, 4.31, RatingGood},
		// Ie,eff = 95·5/(5+25.1) = 15.78.
		{"5% loss concealed", Call{LossFraction: 0.05, PLC: true}, 20, 76.75, 3.90, RatingFair},
		// Without concealment G.711 is fragile: Bpl = 4.3.
		{"1% loss no PLC", Call{LossFraction: 0.01}, 20, 74.61, 3.81, RatingFair},
		{"5% loss no PLC", Call{LossFraction: 0.05}, 20, 41.46, 2.14, RatingBad},
		// 600/2 + 80 + 20 = 400 ms: Idd 24.07, Idte 5.81, Idle 1.23.
		{"400 ms one way", Call{RTTms: 600, JitterBufferMs: 80, PLC: true}, 400, 62.25, 3.22, RatingPoor},
		// Unknown buffer delay: twice the jitter (2·15) is assumed.
		// Idte(100) 1.97, Idle(200) 0.73, Idd 0.
		{"buffer from jitter", Call{RTTms: 100, JitterMs: 15, PLC: true}, 100, 90.66, 4.35, RatingExcellent},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Assess(answered(tt.call))
			if got.DelayMs != tt.wantDelay {
				t.Errorf("DelayMs = %v, want %v", got.DelayMs, tt.wantDelay)
			}
			if math.Abs(got.R-tt.wantR) > 0.01 {
				t.Errorf("R = %.3f, want %.2f", got.R, tt.wantR)
			}
			if math.Abs(got.MOS-tt.wantMOS) > 0.01 {
				t.Errorf("MOS = %.3f, want %.2f", got.MOS, tt.wantMOS)
			}
			if got.Rating != tt.rating {
				t.Errorf("Rating = %q, want %q", got.Rating, tt.rating)
			}
			if got.OneWay != "" {
				t.Errorf("OneWay = %q for a two-way call", got.OneWay)
			}
		})
	}
}

func TestMOS(t *testing.T) {
	tests := []struct{ r, want float64 }{
		{-5, 1}, {0, 1}, {3, 1}, {10, 1.035}, {50, 2.575}, {93.2, 4.409}, {100, 4.5}, {120, 4.5}, {math.NaN(), 1},
	}
	for _, tt := range tests {
		if got := MOS(tt.r); math.Abs(got-tt.want) > 0.001 {
			t.Errorf("MOS(%v) = %.4f, want %v", tt.r, got, tt.want)
		}
	}
}

func TestOneWayAudio(t *testing.T) {
	tests := []struct {
		name string
		call Call
		want string
	}{
		{"we talk, hear nothing", Call{Answered: true, AudioSentMs: 30_000}, NoAudioReceived},
		{"we hear, send nothing", Call{Answered: true, AudioReceivedMs: 30_000}, NoAudioSent},
		{"both ways", Call{Answered: true, AudioSentMs: 30_000, AudioReceivedMs: 29_000}, ""},
		{"hung up at once", Call{Answered: true, AudioSentMs: 800}, ""},
		{"not answered", Call{AudioSentMs: 30_000}, ""},
		{"packets only, none back", Call{Answered: true, PacketsSent: 1500}, NoAudioReceived},
		{"packets only, none out", Call{Answered: true, PacketsReceived: 1500}, NoAudioSent},
		{"packets both ways", Call{Answered: true, PacketsSent: 1500, PacketsReceived: 1490}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Assess(tt.call).OneWay; got != tt.want {
				t.Fatalf("OneWay = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestNoAudioReceivedRatesBad(t *testing.T) {
	// No received packets means no measured loss; the user still heard
	// nothing, and the rating must not say "excellent".
	got := Assess(Call{Answered: true, AudioSentMs: 30_000, PLC: true})
	if got.R != 0 || got.MOS != 1 || got.Rating != RatingBad {
		t.Fatalf("one-way call rated %+v, want R 0, MOS 1, bad", got)
	}
}

func TestUnansweredCallIsNotRated(t *testing.T) {
	if got := Assess(Call{PacketsSent: 100, LossFraction: 0.5}); got != (Result{}) {
		t.Fatalf("unanswered call got %+v, want the zero Result", got)
	}
}

func TestMoreLossOrDelayNeverRaisesR(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for range 2000 {
		base := Call{
			Answered:        true,
			AudioSentMs:     10_000,
			AudioReceivedMs: 10_000,
			LossFraction:    rng.Float64() * 0.3,
			RTTms:           rng.Float64() * 1500,
			JitterBufferMs:  rng.Float64() * 200,
			PLC:             rng.IntN(2) == 0,
		}
		r0 := Assess(base).R

		moreLoss := base
		moreLoss.LossFraction += rng.Float64() * 0.2
		if r := Assess(moreLoss).R; r > r0 {
			t.Fatalf("loss %.4f → %.4f raised R %.4f → %.4f (%+v)", base.LossFraction, moreLoss.LossFraction, r0, r, base)
		}

		moreDelay := base
		moreDelay.RTTms += rng.Float64() * 500
		if r := Assess(moreDelay).R; r > r0 {
			t.Fatalf("RTT %.1f → %.1f raised R %.4f → %.4f (%+v)", base.RTTms, moreDelay.RTTms, r0, r, base)
		}

		noPLC := base
		noPLC.PLC = false
		if r := Assess(noPLC).R; r > r0 {
			t.Fatalf("dropping PLC raised R %.4f → %.4f (%+v)", r0, r, base)
		}
	}
}

func TestDelayAtEveryMillisecondIsMonotonic(t *testing.T) {
	// The random test above samples; this walks the range where the echo
	// terms and Idd change shape, one millisecond at a time. It starts at
	// the 20 ms packetisation, the least delay Assess can see: below a few
	// milliseconds G.107's Idte dips slightly negative (its "−1" term), a
	// quirk of the standard no real call reaches.
	prev := rFactor(packetisationMs, 0, bplPLC)
	for ta := float64(packetisationMs + 1); ta <= 2000; ta++ {
		r := rFactor(ta, 0, bplPLC)
		if r > prev+1e-9 {
			t.Fatalf("R rose from %.6f to %.6f at %v ms", prev, r, ta)
		}
		prev = r
	}
}

func checkResult(t *testing.T, c Call, got Result) {
	t.Helper()
	for name, v := range map[string]float64{"R": got.R, "MOS": got.MOS, "DelayMs": got.DelayMs} {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			t.Fatalf("%s = %v for %+v", name, v, c)
		}
	}
	if got.Rating == "" {
		if got != (Result{}) {
			t.Fatalf("unrated result carries figures: %+v for %+v", got, c)
		}
		return
	}
	if got.R < 0 || got.R > 100 || got.MOS < 1 || got.MOS > 4.5 || got.DelayMs < packetisationMs || got.DelayMs > maxDelayMs {
		t.Fatalf("out of range: %+v for %+v", got, c)
	}
	switch got.OneWay {
	case "", NoAudioReceived, NoAudioSent:
	default:
		t.Fatalf("OneWay = %q", got.OneWay)
	}
}

func TestOddInputsStayInRange(t *testing.T) {
	inf, nan := math.Inf(1), math.NaN()
	for _, c := range []Call{
		{Answered: true, LossFraction: nan, JitterMs: nan, RTTms: nan, JitterBufferMs: nan},
		{Answered: true, LossFraction: inf, JitterMs: inf, RTTms: inf, JitterBufferMs: inf},
		{Answered: true, LossFraction: -1, JitterMs: -5, RTTms: -100, JitterBufferMs: -1},
		{Answered: true, LossFraction: 7, RTTms: math.MaxFloat64, JitterMs: math.MaxFloat64},
		{Answered: true, PacketsSent: math.MaxUint64, AudioSentMs: math.MinInt64, AudioReceivedMs: -1},
	} {
		checkResult(t, c, Assess(c))
	}
}

func FuzzAssess(f *testing.F) {
	f.Add(uint64(1500), uint64(1490), 0.01, 4.0, 60.0, 40.0, true, int64(30000), int64(29800), true)
	f.Add(uint64(0), uint64(0), math.NaN(), math.Inf(1), -1.0, math.Inf(-1), false, int64(-1), int64(0), true)
	f.Fuzz(func(t *testing.T, sent, recv uint64, loss, jitter, rtt, jb float64, plc bool, audioSent, audioRecv int64, answered bool) {
		c := Call{
			PacketsSent: sent, PacketsReceived: recv, LossFraction: loss,
			JitterMs: jitter, RTTms: rtt, JitterBufferMs: jb, PLC: plc,
			AudioSentMs: audioSent, AudioReceivedMs: audioRecv, Answered: answered,
		}
		checkResult(t, c, Assess(c))
	})
}

func BenchmarkAssess(b *testing.B) {
	c := Call{Answered: true, LossFraction: 0.02, JitterMs: 8, RTTms: 120, PLC: true, AudioSentMs: 60_000, AudioReceivedMs: 60_000}
	for b.Loop() {
		Assess(c)
	}
}
