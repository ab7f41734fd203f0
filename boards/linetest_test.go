package boards

import (
	"math"
	"strconv"
	"strings"
	"testing"
	"time"
)

// sound is a line with one ordinary telephone on the hook and no fault.
func sound() LineTest {
	return LineTest{Hook: "on", LoopCurrentMA: 0, RingerREN: 1, DCVolts: 0.1, ACVolts: 0.1, LeakageKOhm: math.Inf(1)}
}

func verdict(t *testing.T, vs []LineVerdict, check string) LineVerdict {
	t.Helper()
	for _, v := range vs {
		if v.Check == check {
			return v
		}
	}
	t.Fatalf("no %s verdict in %+v", check, vs)
	return LineVerdict{}
}

func TestEvaluateGR909SoundLinePassesEverything(t *testing.T) {
	vs := EvaluateGR909(sound())
	want := []string{CheckHazardousVoltage, CheckForeignVoltage, CheckResistiveFault, CheckReceiverOffHook, CheckRingerLoad}
	if len(vs) != len(want) {
		t.Fatalf("%d verdicts, want %d: %+v", len(vs), len(want), vs)
	}
	for i, v := range vs {
		if v.Check != want[i] {
			t.Errorf("verdict %d is %s, want %s (worst danger first)", i, v.Check, want[i])
		}
		if !v.Pass {
			t.Errorf("%s fails on a sound line: %+v", v.Check, v)
		}
		if v.Value == "" || v.Limit == "" || v.Meaning == "" {
			t.Errorf("%s leaves something unsaid: %+v", v.Check, v)
		}
	}
}

// TestEvaluateGR909Thresholds walks every limit: just under, at and just
// over it, for both signs of a voltage.
func TestEvaluateGR909Thresholds(t *testing.T) {
	const eps = 0.001
	type tc struct {
		name    string
		set     func(*LineTest)
		check   string
		pass    bool
		meaning string // a phrase the user must read; "" when passing
	}
	var cases []tc
	volt := func(name, check string, dc bool, limit float64, meaning string) {
		for _, sign := range []float64{1, -1} {
			for _, c := range []struct {
				v    float64
				pass bool
			}{{limit - eps, true}, {limit, true}, {limit + eps, false}} {
				v := sign * c.v
				set := func(t *LineTest) { t.ACVolts = v }
				if dc {
					set = func(t *LineTest) { t.DCVolts = v }
				}
				m := ""
				if !c.pass {
					m = meaning
				}
				cases = append(cases, tc{name + "/" + strconv.FormatFloat(v, 'f', -1, 64), set, check, c.pass, m})
			}
		}
	}
	volt("hazardous DC", CheckHazardousVoltage, true, HazardousDCVolts, "dangerous voltage")
	volt("hazardous AC", CheckHazardousVoltage, false, HazardousACVolts, "dangerous voltage")
	volt("foreign DC", CheckForeignVoltage, true, ForeignDCVolts, "voltage on the line from outside — unplug and call the installer")
	volt("foreign AC", CheckForeignVoltage, false, ForeignACVolts, "voltage on the line from outside — unplug and call the installer")
	cases = append(cases,
		tc{"leak just under 150k", func(t *LineTest) { t.LeakageKOhm = ResistiveFaultKOhm - eps }, CheckResistiveFault, false, "leak"},
		tc{"leak at 150k", func(t *LineTest) { t.LeakageKOhm = ResistiveFaultKOhm }, CheckResistiveFault, true, ""},
		tc{"leak just over 150k", func(t *LineTest) { t.LeakageKOhm = ResistiveFaultKOhm + eps }, CheckResistiveFault, true, ""},
		tc{"leak 80k", func(t *LineTest) { t.LeakageKOhm = 80 }, CheckResistiveFault, false, "leak"},
		tc{"leak 10M", func(t *LineTest) { t.LeakageKOhm = 10000 }, CheckResistiveFault, true, ""},
		tc{"leak short", func(t *LineTest) { t.LeakageKOhm = 0 }, CheckResistiveFault, false, "leak"},

		tc{"REN 0", func(t *LineTest) { t.RingerREN = 0 }, CheckRingerLoad, false, "no telephone seems to be connected"},
		tc{"REN just under 0.175", func(t *LineTest) { t.RingerREN = MinRingerREN - eps }, CheckRingerLoad, false, "no telephone seems to be connected"},
		tc{"REN at 0.175", func(t *LineTest) { t.RingerREN = MinRingerREN }, CheckRingerLoad, true, ""},
		tc{"REN just over 0.175", func(t *LineTest) { t.RingerREN = MinRingerREN + eps }, CheckRingerLoad, true, ""},
		tc{"REN just under 5", func(t *LineTest) { t.RingerREN = MaxRingerREN - eps }, CheckRingerLoad, true, ""},
		tc{"REN at 5", func(t *LineTest) { t.RingerREN = MaxRingerREN }, CheckRingerLoad, true, ""},
		tc{"REN just over 5", func(t *LineTest) { t.RingerREN = MaxRingerREN + eps }, CheckRingerLoad, false, "too many telephones"},
		tc{"REN negative", func(t *LineTest) { t.RingerREN = -1 }, CheckRingerLoad, false, "no telephone seems to be connected"},

		tc{"on-hook, just under 5 mA", func(t *LineTest) { t.LoopCurrentMA = OffHookLoopMA - eps }, CheckReceiverOffHook, true, ""},
		tc{"on-hook, at 5 mA", func(t *LineTest) { t.LoopCurrentMA = OffHookLoopMA }, CheckReceiverOffHook, true, ""},
		tc{"on-hook, just over 5 mA", func(t *LineTest) { t.LoopCurrentMA = OffHookLoopMA + eps }, CheckReceiverOffHook, false, "handset has been left off the hook"},
		tc{"on-hook, 25 mA", func(t *LineTest) { t.LoopCurrentMA = 25 }, CheckReceiverOffHook, false, "a telephone is off the hook"},
		tc{"on-hook, reversed 25 mA", func(t *LineTest) { t.LoopCurrentMA = -25 }, CheckReceiverOffHook, false, "a telephone is off the hook"},
		tc{"off-hook, 25 mA", func(t *LineTest) { t.Hook = "off"; t.LoopCurrentMA = 25 }, CheckReceiverOffHook, true, ""},
		tc{"hook unknown", func(t *LineTest) { t.Hook = ""; t.LoopCurrentMA = 25 }, CheckReceiverOffHook, false, "hook state is unknown"},
	)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			lt := sound()
			c.set(&lt)
			vs := EvaluateGR909(lt)
			v := verdict(t, vs, c.check)
			if v.Pass != c.pass {
				t.Fatalf("%s pass = %v, want %v: %+v", c.check, v.Pass, c.pass, v)
			}
			if c.meaning != "" && !strings.Contains(v.Meaning, c.meaning) {
				t.Errorf("meaning %q does not say %q", v.Meaning, c.meaning)
			}
			// One measurement out of limits fails only its own checks.
			for _, o := range vs {
				if o.Check == c.check || o.Pass {
					continue
				}
				// A hazardous voltage is a foreign one too.
				if c.check == CheckHazardousVoltage && o.Check == CheckForeignVoltage {
					continue
				}
				t.Errorf("%s also fails: %+v", o.Check, o)
			}
		})
	}
}

func TestEvaluateGR909HazardousIsForeignToo(t *testing.T) {
	lt := sound()
	lt.DCVolts = 150
	vs := EvaluateGR909(lt)
	if verdict(t, vs, CheckHazardousVoltage).Pass || verdict(t, vs, CheckForeignVoltage).Pass {
		t.Errorf("150 V DC passes a voltage check: %+v", vs)
	}
	if v := verdict(t, vs, CheckHazardousVoltage); !strings.Contains(v.Value, "150.0 V DC") {
		t.Errorf("value %q does not show the 150 V measured", v.Value)
	}
}

func TestEvaluateGR909NotMeasuredFails(t *testing.T) {
	nan := math.NaN()
	for _, c := range []struct {
		check string
		set   func(*LineTest)
	}{
		{CheckHazardousVoltage, func(t *LineTest) { t.DCVolts = nan }},
		{CheckForeignVoltage, func(t *LineTest) { t.ACVolts = nan }},
		{CheckResistiveFault, func(t *LineTest) { t.LeakageKOhm = nan }},
		{CheckReceiverOffHook, func(t *LineTest) { t.LoopCurrentMA = nan }},
		{CheckRingerLoad, func(t *LineTest) { t.RingerREN = nan }},
	} {
		lt := sound()
		c.set(&lt)
		v := verdict(t, EvaluateGR909(lt), c.check)
		if v.Pass || v.Value != "not measured" {
			t.Errorf("%s with NaN: %+v, want a failure saying not measured", c.check, v)
		}
	}
}

func TestEvaluateGR909Values(t *testing.T) {
	lt := sound()
	lt.LeakageKOhm = 80
	lt.RingerREN = 1.02
	lt.LoopCurrentMA = 24.6
	vs := EvaluateGR909(lt)
	for check, want := range map[string]string{
		CheckResistiveFault:  "80 kΩ",
		CheckRingerLoad:      "REN 1.02",
		CheckReceiverOffHook: "24.6 mA, hook on",
	} {
		if v := verdict(t, vs, check); v.Value != want {
			t.Errorf("%s value %q, want %q", check, v.Value, want)
		}
	}
	lt.LeakageKOhm = 10000
	if v := verdict(t, EvaluateGR909(lt), CheckResistiveFault); v.Value != "10.0 MΩ" {
		t.Errorf("10 MΩ shown as %q", v.Value)
	}
}

func TestMeasureDigit(t *testing.T) {
	at := time.Unix(100, 0)
	m := MeasureDigit(Event{Kind: Digit, Digit: '5', LevelDBm0: -8, TwistDB: 2, Duration: 90 * time.Millisecond, At: at})
	want := DigitMeasure{Digit: '5', LowDBm0: -9, HighDBm0: -7, TwistDB: 2, Duration: 90 * time.Millisecond, At: at}
	if m != want {
		t.Errorf("MeasureDigit = %+v, want %+v", m, want)
	}
}
