package sim

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tipring/tipring/boards"
	"github.com/tipring/tipring/boards/dsp"
)

func (r *rig) lineTest(n int) boards.LineTest {
	r.t.Helper()
	lt, ok := r.port(n).(boards.LineTester)
	if !ok {
		r.t.Fatalf("port %d is not a boards.LineTester", n)
	}
	res, err := lt.LineTest(r.ctx)
	if err != nil {
		r.t.Fatalf("LineTest(%d): %v", n, err)
	}
	return res
}

func (r *rig) lineStats(n int) boards.LineObservations {
	r.t.Helper()
	ls, ok := r.port(n).(boards.LineStats)
	if !ok {
		r.t.Fatalf("port %d is not a boards.LineStats", n)
	}
	return ls.LineStats()
}

// failing lists the checks a line test failed.
func failing(t boards.LineTest) []string {
	var out []string
	for _, v := range t.Verdicts {
		if !v.Pass {
			out = append(out, v.Check)
		}
	}
	return out
}

// TestLineTestMeasuresTheDevice sets each kind of device and fault through
// the control API and checks what the port's line test measures and
// concludes.
func TestLineTestMeasuresTheDevice(t *testing.T) {
	type rng struct{ lo, hi float64 }
	for _, tc := range []struct {
		name      string
		dev       Device
		lift      bool // the phone's handset is lifted through the hook call
		hook      string
		ren       rng
		ma        rng
		dc, ac    rng
		kohm      rng
		fail      []string
		meansWhat string
	}{
		{name: "one phone", dev: DefaultDevice(), hook: "on",
			ren: rng{0.97, 1.03}, ma: rng{0, 0.1}, dc: rng{-0.3, 0.3}, ac: rng{0, 0.3}, kohm: rng{9000, 11000}},
		{name: "phone in use", dev: DefaultDevice(), lift: true, hook: "off",
			ren: rng{0.97, 1.03}, ma: rng{24, 26}, dc: rng{-0.3, 0.3}, ac: rng{0, 0.3}, kohm: rng{9000, 11000}},
		{name: "nothing attached", dev: Device{Attached: false, REN: 1, Fault: FaultNone}, hook: "on",
			ren: rng{0, 0.01}, ma: rng{0, 0.1}, dc: rng{-0.3, 0.3}, ac: rng{0, 0.3}, kohm: rng{9000, 11000},
			fail: []string{boards.CheckRingerLoad}, meansWhat: "no telephone seems to be connected"},
		{name: "too many phones", dev: Device{Attached: true, REN: 6, Fault: FaultNone}, hook: "on",
			ren: rng{5.8, 6.2}, ma: rng{0, 0.1}, dc: rng{-0.3, 0.3}, ac: rng{0, 0.3}, kohm: rng{9000, 11000},
			fail: []string{boards.CheckRingerLoad}, meansWhat: "too many telephones"},
		{name: "receiver off hook", dev: Device{Attached: true, REN: 1, Fault: FaultReceiverOffHook}, hook: "on",
			ren: rng{0.97, 1.03}, ma: rng{24, 26}, dc: rng{-0.3, 0.3}, ac: rng{0, 0.3}, kohm: rng{9000, 11000},
			fail: []string{boards.CheckReceiverOffHook}, meansWhat: "left off the hook"},
		{name: "foreign voltage", dev: Device{Attached: true, REN: 1, Fault: FaultForeignVoltage}, hook: "on",
			ren: rng{0.97, 1.03}, ma: rng{0, 0.1}, dc: rng{11.5, 12.5}, ac: rng{0, 0.3}, kohm: rng{9000, 11000},
			fail: []string{boards.CheckForeignVoltage}, meansWhat: "voltage on the line from outside"},
		{name: "hazardous voltage", dev: Device{Attached: true, REN: 1, Fault: FaultHazardousVoltage}, hook: "on",
			ren: rng{0.97, 1.03}, ma: rng{0, 0.1}, dc: rng{146, 154}, ac: rng{58, 62}, kohm: rng{9000, 11000},
			fail: []string{boards.CheckHazardousVoltage, boards.CheckForeignVoltage}, meansWhat: "dangerous voltage"},
		{name: "resistive fault", dev: Device{Attached: true, REN: 1, Fault: FaultResistive}, hook: "on",
			ren: rng{0.97, 1.03}, ma: rng{0.5, 0.7}, dc: rng{-0.3, 0.3}, ac: rng{0, 0.3}, kohm: rng{78, 82},
			fail: []string{boards.CheckResistiveFault}, meansWhat: "leak"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t, "us")
			if err := r.client.SetDevice(r.ctx, 1, tc.dev); err != nil {
				t.Fatalf("SetDevice: %v", err)
			}
			if tc.lift {
				r.hook(1, true)
				r.step(40 * ms)
			}
			res := r.lineTest(1)
			if res.Hook != tc.hook {
				t.Errorf("hook %q, want %q", res.Hook, tc.hook)
			}
			if st := r.state(1); tc.dev.Fault == FaultReceiverOffHook && st.Hook != "on" {
				t.Errorf("the phone's own hook says %q: the fault must not lift it", st.Hook)
			}
			for _, m := range []struct {
				name string
				got  float64
				want rng
			}{
				{"REN", res.RingerREN, tc.ren},
				{"loop current mA", res.LoopCurrentMA, tc.ma},
				{"DC volts", res.DCVolts, tc.dc},
				{"AC volts", res.ACVolts, tc.ac},
				{"leakage kΩ", res.LeakageKOhm, tc.kohm},
			} {
				if m.got < m.want.lo || m.got > m.want.hi {
					t.Errorf("%s = %.3f, want %.3f-%.3f", m.name, m.got, m.want.lo, m.want.hi)
				}
			}
			if got := failing(res); !slices.Equal(got, tc.fail) {
				t.Errorf("failing checks %v, want %v; verdicts %+v", got, tc.fail, res.Verdicts)
			}
			if tc.meansWhat != "" {
				var said bool
				for _, v := range res.Verdicts {
					said = said || (!v.Pass && strings.Contains(v.Meaning, tc.meansWhat))
				}
				if !said {
					t.Errorf("no failing verdict says %q: %+v", tc.meansWhat, res.Verdicts)
				}
			}
			if !res.At.Equal(r.clock.Now()) {
				t.Errorf("measured at %v, want the board's time %v", res.At, r.clock.Now())
			}
			// The other port's line is untouched.
			if got := failing(r.lineTest(2)); len(got) != 0 {
				t.Errorf("port 2 fails %v", got)
			}
		})
	}
}

func TestLineTestFollowsTheDevice(t *testing.T) {
	r := newRig(t, "us")
	if got := failing(r.lineTest(1)); len(got) != 0 {
		t.Fatalf("default line fails %v", got)
	}
	if err := r.client.SetDevice(r.ctx, 1, Device{Attached: true, REN: 1, Fault: FaultResistive}); err != nil {
		t.Fatal(err)
	}
	if got := failing(r.lineTest(1)); !slices.Equal(got, []string{boards.CheckResistiveFault}) {
		t.Fatalf("after a resistive fault: failing %v", got)
	}
	// The fault repaired: the next test says so.
	if err := r.client.SetDevice(r.ctx, 1, DefaultDevice()); err != nil {
		t.Fatal(err)
	}
	if got := failing(r.lineTest(1)); len(got) != 0 {
		t.Errorf("after the repair: failing %v", got)
	}
}

func TestLineTestCancelled(t *testing.T) {
	r := newRig(t, "us")
	ctx, cancel := context.WithCancel(r.ctx)
	cancel()
	_, err := r.port(1).(boards.LineTester).LineTest(ctx)
	if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "port 1") {
		t.Errorf("LineTest with a cancelled context: %v, want context.Canceled naming the port", err)
	}
}

func TestLineStatsDTMFLevels(t *testing.T) {
	r := newRig(t, "us")
	r.hook(1, true)
	r.step(40 * ms)
	if got := r.lineStats(1); got.DialMode != "" || len(got.Digits) != 0 || len(got.Flashes) != 0 {
		t.Fatalf("before any dialling: %+v", got)
	}
	for _, level := range []float64{-4, -12, -22} {
		err := r.during(1, 5*time.Second, func(ctx context.Context) error {
			return r.client.DialWith(ctx, 1, DialRequest{Digits: "159#", LevelDBm0: &level})
		})
		if err != nil {
			t.Fatalf("Dial at %v dBm0: %v", level, err)
		}
		r.step(100 * ms)
		st := r.lineStats(1)
		if st.DialMode != "dtmf" {
			t.Errorf("dial mode %q, want dtmf", st.DialMode)
		}
		if len(st.Digits) < 4 {
			t.Fatalf("%d digits kept, want at least 4", len(st.Digits))
		}
		last := st.Digits[len(st.Digits)-4:]
		if got := string([]byte{last[0].Digit, last[1].Digit, last[2].Digit, last[3].Digit}); got != "159#" {
			t.Errorf("digits %q, want 159#", got)
		}
		for _, d := range last {
			if !near64(d.LowDBm0, level, 1) || !near64(d.HighDBm0, level, 1) || !near64(d.TwistDB, 0, 1) {
				t.Errorf("digit %c dialled at %v dBm0 per tone: measured low %.2f high %.2f twist %.2f", d.Digit, level, d.LowDBm0, d.HighDBm0, d.TwistDB)
			}
			if d.Duration < 95*ms || d.Duration > 105*ms {
				t.Errorf("digit %c lasted %v; the phone sends %d ms", d.Digit, d.Duration, DefaultDTMFOnMs)
			}
		}
	}
}

// TestLineStatsTwist has the phone send DTMF whose two tones differ in
// level, as a WAV, and checks the twist the line measured.
func TestLineStatsTwist(t *testing.T) {
	r := newRig(t, "us")
	r.hook(1, true)
	r.step(40 * ms)
	for _, tc := range []struct {
		digit     byte
		low, high float64
	}{
		{'8', -10, -6}, // the high group louder: the usual twist
		{'3', -6, -11}, // reverse twist
	} {
		lowHz, highHz, _ := dsp.DTMFFreqs(tc.digit)
		tone := func(hz, level float64) []int16 {
			return dsp.AppendTone(nil, boards.Tone{LoopFrom: -1, Segments: []boards.Segment{
				{Freqs: []float64{hz}, LevelDBm0: level, Duration: 120 * ms},
				{Duration: 100 * ms},
			}}, 220*ms)
		}
		pcm := tone(lowHz, tc.low)
		for i, v := range tone(highHz, tc.high) {
			pcm[i] += v
		}
		if err := r.client.SendWAV(r.ctx, 1, EncodeWAV(pcm)); err != nil {
			t.Fatalf("SendWAV: %v", err)
		}
		r.step(300 * ms)
		st := r.lineStats(1)
		if len(st.Digits) == 0 {
			t.Fatalf("digit %c not detected", tc.digit)
		}
		d := st.Digits[len(st.Digits)-1]
		if d.Digit != tc.digit {
			t.Fatalf("last digit %c, want %c", d.Digit, tc.digit)
		}
		if !near64(d.LowDBm0, tc.low, 1) || !near64(d.HighDBm0, tc.high, 1) || !near64(d.TwistDB, tc.high-tc.low, 1) {
			t.Errorf("digit %c sent low %v high %v dBm0: measured low %.2f high %.2f twist %.2f",
				tc.digit, tc.low, tc.high, d.LowDBm0, d.HighDBm0, d.TwistDB)
		}
	}
}

func TestLineStatsPulseAndFlash(t *testing.T) {
	r := newRig(t, "us")
	r.hook(1, true)
	r.step(40 * ms)
	if err := r.during(1, 5*time.Second, func(ctx context.Context) error { return r.client.Dial(ctx, 1, "7", "dtmf") }); err != nil {
		t.Fatalf("DTMF dial: %v", err)
	}
	if err := r.during(1, 10*time.Second, func(ctx context.Context) error { return r.client.Dial(ctx, 1, "42", "pulse") }); err != nil {
		t.Fatalf("pulse dial: %v", err)
	}
	for _, fms := range []int{300, 650} {
		if err := r.during(1, 2*time.Second, func(ctx context.Context) error { return r.client.Flash(ctx, 1, fms) }); err != nil {
			t.Fatalf("Flash %d ms: %v", fms, err)
		}
		// Back on the line a while, or the next break would join this one.
		r.step(300 * ms)
	}
	r.step(100 * ms)
	st := r.lineStats(1)
	if st.DialMode != "pulse" {
		t.Errorf("dial mode %q after pulse dialling, want pulse", st.DialMode)
	}
	if len(st.Digits) != 1 || st.Digits[0].Digit != '7' {
		t.Errorf("DTMF digits %+v, want only the 7: pulse digits have no levels", st.Digits)
	}
	if len(st.Flashes) != 2 {
		t.Fatalf("flashes %v, want 2", st.Flashes)
	}
	for i, want := range []time.Duration{300 * ms, 650 * ms} {
		if d := st.Flashes[i] - want; d < -25*ms || d > 25*ms {
			t.Errorf("flash %d lasted %v, want about %v", i, st.Flashes[i], want)
		}
	}
	// Port 2 saw nothing.
	if o := r.lineStats(2); o.DialMode != "" || len(o.Digits)+len(o.Flashes) != 0 {
		t.Errorf("port 2 observed %+v", o)
	}
}

// TestLineStatsKeepsTheLastDigits dials more digits than are kept.
func TestLineStatsKeepsTheLastDigits(t *testing.T) {
	r := newRig(t, "us")
	r.hook(1, true)
	r.step(40 * ms)
	const digits = "0123456789*#ABCD0123"
	err := r.during(1, 10*time.Second, func(ctx context.Context) error {
		return r.client.DialWith(ctx, 1, DialRequest{Digits: digits, OnMs: 60, OffMs: 60})
	})
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	r.step(100 * ms)
	st := r.lineStats(1)
	var got []byte
	for _, d := range st.Digits {
		got = append(got, d.Digit)
	}
	if want := digits[len(digits)-statsDigits:]; string(got) != want {
		t.Errorf("digits kept %q, want the last %d: %q", got, statsDigits, want)
	}
	// What LineStats returns is a copy.
	st.Digits[0].Digit = 'x'
	if again := r.lineStats(1); again.Digits[0].Digit == 'x' {
		t.Errorf("LineStats shares its memory with the caller")
	}
}

func TestHistoryKeepsTheLastOnes(t *testing.T) {
	h := newHistory[time.Duration](statsFlashes)
	if got := h.items(); len(got) != 0 {
		t.Fatalf("empty history holds %v", got)
	}
	for i := 1; i <= 11; i++ {
		h.add(time.Duration(i))
	}
	want := []time.Duration{4, 5, 6, 7, 8, 9, 10, 11}
	if got := h.items(); !slices.Equal(got, want) {
		t.Errorf("items %v, want %v", got, want)
	}
	*h.newest() = 99
	if got := h.items(); got[len(got)-1] != 99 || got[0] != 4 {
		t.Errorf("after changing the newest: %v", got)
	}
	if e := newHistory[int](2); e.newest() != nil {
		t.Errorf("an empty history has a newest value")
	}
}
