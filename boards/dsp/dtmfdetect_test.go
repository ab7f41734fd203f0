package dsp

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/tipring/tipring/boards"
)

// dtmfSpec describes a generated DTMF digit sequence.
type dtmfSpec struct {
	on, off         time.Duration
	low, high       float64 // dBm0 of each tone
	devLow, devHigh float64 // relative frequency error
	snrDB           float64 // 0: no noise; else white noise this far below the two tones
	lead            int     // samples of silence before the first digit
	onlyLow, onlyHi bool    // send a single tone
}

func dtmfAudio(digits string, s dtmfSpec, rng *rand.Rand) []int16 {
	on, off := sigSamples(s.on), sigSamples(s.off)
	n := s.lead + len(digits)*(on+off) + 2*boards.FrameSamples
	x := make([]float64, n)
	for i := range len(digits) {
		lo, hi, ok := DTMFFreqs(digits[i])
		if !ok {
			panic("bad digit in test")
		}
		start := s.lead + i*(on+off)
		if !s.onlyHi {
			sigAddSine(x, start, on, lo*(1+s.devLow), s.low, rng.Float64()*2*math.Pi)
		}
		if !s.onlyLow {
			sigAddSine(x, start, on, hi*(1+s.devHigh), s.high, rng.Float64()*2*math.Pi)
		}
	}
	if s.snrDB != 0 {
		total := 10 * math.Log10(dbRatio(s.low)+dbRatio(s.high))
		sigNoise(x, total-s.snrDB, rng)
	}
	return sigQuantize(x)
}

// dtmfRun feeds audio to a fresh detector and returns every event.
func dtmfDetect(audio []int16) []boards.Event {
	d := NewDTMFDetector()
	var evs []boards.Event
	t0 := time.Unix(1000, 0)
	for i, f := range sigFrames(audio) {
		if ev, ok := d.Process(&f, t0.Add(time.Duration(i)*boards.FrameDuration)); ok {
			evs = append(evs, ev)
		}
	}
	return evs
}

func dtmfDigits(evs []boards.Event) string {
	var b strings.Builder
	for _, e := range evs {
		b.WriteByte(e.Digit)
	}
	return b.String()
}

const dtmfAll = "123A456B789C*0#D"

func TestDTMFDetectorAccepts(t *testing.T) {
	ms := time.Millisecond
	cases := []struct {
		name  string
		level float64 // of the weaker tone
		twist float64 // high minus low
		dev   float64
		snr   float64
		on    time.Duration
	}{
		{"-10 dBm0 60 ms", -10, 0, 0, 0, 60 * ms},
		// Two tones at 0 dBm0 each peak at 2 x 22750 and clip in 16 bits,
		// so the level is checked at -3 dBm0, the loudest that fits.
		{"0 dBm0 40 ms", 0, 0, 0, 0, 40 * ms},
		{"-2.9 dBm0 40 ms", -2.9, 0, 0, 0, 40 * ms},
		{"-25 dBm0 40 ms", -25, 0, 0, 0, 40 * ms},
		{"twist +6", -25, 6, 0, 0, 40 * ms},
		{"twist -6", -25, -6, 0, 0, 40 * ms},
		{"twist +6 loud", -6, 6, 0, 0, 50 * ms},
		{"deviation +1.5%", -20, 0, 0.015, 0, 40 * ms},
		{"deviation -1.5%", -20, 0, -0.015, 0, 40 * ms},
		{"deviation +1.5% twist -6", -25, -6, 0.015, 0, 40 * ms},
		{"deviation -1.5% twist +6", -25, 6, -0.015, 0, 40 * ms},
		{"noise 15 dB", -10, 0, 0, 15, 40 * ms},
		{"noise 15 dB weak", -25, 0, 0, 15, 45 * ms},
		{"noise 15 dB twist +6 dev +1.5%", -25, 6, 0.015, 15, 50 * ms},
		{"noise 15 dB twist -6 dev -1.5%", -25, -6, -0.015, 15, 50 * ms},
		{"long digits", -15, 2, 0, 20, 500 * ms},
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for _, c := range cases {
		for _, lead := range []int{0, 37, 101} {
			t.Run(fmt.Sprintf("%s/lead%d", c.name, lead), func(t *testing.T) {
				lo, hi := c.level, c.level+c.twist
				if c.twist < 0 {
					lo, hi = c.level-c.twist, c.level
				}
				s := dtmfSpec{on: c.on, off: 40 * ms, low: lo, high: hi, devLow: c.dev, devHigh: c.dev, snrDB: c.snr, lead: lead}
				evs := dtmfDetect(dtmfAudio(dtmfAll, s, rng))
				if got := dtmfDigits(evs); got != dtmfAll {
					t.Fatalf("detected %q, want %q", got, dtmfAll)
				}
				for _, e := range evs {
					if e.Kind != boards.Digit || e.Pulse {
						t.Errorf("event %+v: want a DTMF digit", e)
					}
					if want := (lo + hi) / 2; math.Abs(e.LevelDBm0-want) > 1 && c.level < -2.85 {
						t.Errorf("digit %c: level %.2f dBm0, want %.2f ±1", e.Digit, e.LevelDBm0, want)
					}
					if math.Abs(e.TwistDB-(hi-lo)) > 1 && c.level < -2.85 {
						t.Errorf("digit %c: twist %.2f dB, want %.2f ±1", e.Digit, e.TwistDB, hi-lo)
					}
					if e.Duration < 35*ms || e.Duration > c.on+5*ms {
						t.Errorf("digit %c: duration %v for a %v tone", e.Digit, e.Duration, c.on)
					}
				}
			})
		}
	}
}

func TestDTMFDetectorRejects(t *testing.T) {
	ms := time.Millisecond
	cases := []struct {
		name string
		spec dtmfSpec
	}{
		{"deviation +3.5%", dtmfSpec{on: 80 * ms, low: -10, high: -10, devLow: 0.035, devHigh: 0.035}},
		{"deviation -3.5%", dtmfSpec{on: 80 * ms, low: -10, high: -10, devLow: -0.035, devHigh: -0.035}},
		{"low tone +3.5%", dtmfSpec{on: 80 * ms, low: -10, high: -10, devLow: 0.035}},
		{"high tone -3.5%", dtmfSpec{on: 80 * ms, low: -10, high: -10, devHigh: -0.035}},
		{"deviation +5%", dtmfSpec{on: 80 * ms, low: -10, high: -10, devLow: 0.05, devHigh: 0.05}},
		{"level -35 dBm0", dtmfSpec{on: 80 * ms, low: -35, high: -35}},
		{"level -40 dBm0", dtmfSpec{on: 80 * ms, low: -40, high: -40}},
		{"low tone only", dtmfSpec{on: 80 * ms, low: -5, high: -5, onlyLow: true}},
		{"high tone only", dtmfSpec{on: 80 * ms, low: -5, high: -5, onlyHi: true}},
		{"twist +12", dtmfSpec{on: 80 * ms, low: -20, high: -8}},
		{"twist -12", dtmfSpec{on: 80 * ms, low: -8, high: -20}},
		{"20 ms", dtmfSpec{on: 20 * ms, low: -10, high: -10}},
		{"noise only", dtmfSpec{on: 80 * ms, low: -80, high: -80, snrDB: -60}},
	}
	rng := rand.New(rand.NewPCG(3, 4))
	for _, c := range cases {
		for _, lead := range []int{0, 37, 101} {
			t.Run(fmt.Sprintf("%s/lead%d", c.name, lead), func(t *testing.T) {
				s := c.spec
				s.off = 80 * ms
				s.lead = lead
				if got := dtmfDigits(dtmfDetect(dtmfAudio(dtmfAll, s, rng))); got != "" {
					t.Errorf("detected %q, want nothing", got)
				}
			})
		}
	}
}

// TestDTMFDetectorTalkOff plays a minute of speech-like audio and a minute
// of music-like audio (chords, glides and sweeps on the equal-tempered
// scale, whose notes F5 and F#6 lie within 0.2 % of 697 and 1477 Hz): a
// good detector finds no digit in them.
func TestDTMFDetectorTalkOff(t *testing.T) {
	for _, c := range []struct {
		name  string
		audio func(time.Duration, *rand.Rand) []float64
	}{
		{"speech", sigSpeech},
		{"music", sigMusic},
	} {
		t.Run(c.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(5, 6))
			x := c.audio(60*time.Second, rng)
			evs := dtmfDetect(sigQuantize(x))
			for _, e := range evs {
				t.Errorf("false digit %c at %v (level %.1f dBm0, twist %.1f dB)", e.Digit, e.At.Sub(time.Unix(1000, 0)), e.LevelDBm0, e.TwistDB)
			}
		})
	}
}

// TestDTMFDetectorPresses checks that a key press is reported once, when
// it is confirmed, however long it is held or however it is interrupted.
func TestDTMFDetectorPresses(t *testing.T) {
	ms := time.Millisecond
	rng := rand.New(rand.NewPCG(7, 8))
	t.Run("held one second", func(t *testing.T) {
		evs := dtmfDetect(dtmfAudio("5", dtmfSpec{on: time.Second, off: 100 * ms, low: -10, high: -8}, rng))
		if got := dtmfDigits(evs); got != "5" {
			t.Fatalf("detected %q, want one 5", got)
		}
		// Confirmed after 40 ms, not when the key is released: the event
		// comes in the third frame (the digit starts with the first).
		if at := evs[0].At.Sub(time.Unix(1000, 0)); at > 2*boards.FrameDuration {
			t.Errorf("reported at %v, want within the first 60 ms", at)
		}
		if d := evs[0].Duration; d < 37*ms || d > 45*ms {
			t.Errorf("duration %v, want the 40 ms it took to confirm", d)
		}
	})
	t.Run("same key twice after 40 ms", func(t *testing.T) {
		s := dtmfSpec{on: 45 * ms, off: 40 * ms, low: -12, high: -10, lead: 50}
		if got := dtmfDigits(dtmfDetect(dtmfAudio("5555", s, rng))); got != "5555" {
			t.Fatalf("detected %q, want 5555", got)
		}
	})
	for _, gap := range []int{40, 80, 160} { // 5, 10, 20 ms
		t.Run(fmt.Sprintf("drop-out of %d samples", gap), func(t *testing.T) {
			x := dtmfAudio("9", dtmfSpec{on: 300 * ms, off: 100 * ms, low: -10, high: -10}, rng)
			clear(x[1200 : 1200+gap])
			if got := dtmfDigits(dtmfDetect(x)); got != "9" {
				t.Errorf("detected %q, want one 9", got)
			}
		})
	}
	t.Run("events carry the frame time", func(t *testing.T) {
		x := dtmfAudio("#", dtmfSpec{on: 100 * ms, off: 100 * ms, low: -10, high: -10, lead: 400}, rng)
		d := NewDTMFDetector()
		base := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
		var got []time.Time
		for i, f := range sigFrames(x) {
			at := base.Add(time.Duration(i) * 20 * ms)
			if ev, ok := d.Process(&f, at); ok {
				got = append(got, ev.At)
				if ev.At != at {
					t.Errorf("At = %v, want the frame's time %v", ev.At, at)
				}
			}
		}
		if len(got) != 1 {
			t.Fatalf("%d events, want 1", len(got))
		}
	})
}

// TestDTMFDetectorReleased checks the length of each key press, reported
// when the press ends.
func TestDTMFDetectorReleased(t *testing.T) {
	ms := time.Millisecond
	rng := rand.New(rand.NewPCG(9, 10))
	type press struct {
		digit byte
		dur   time.Duration
	}
	releases := func(audio []int16) (out []press, events int) {
		d := NewDTMFDetector()
		for _, f := range sigFrames(audio) {
			if _, ok := d.Process(&f, time.Unix(0, 0)); ok {
				events++
			}
			if digit, dur, ok := d.Released(); ok {
				out = append(out, press{digit, dur})
			}
		}
		return out, events
	}
	for _, on := range []time.Duration{45 * ms, 100 * ms, 333 * ms, time.Second} {
		t.Run(on.String(), func(t *testing.T) {
			got, events := releases(dtmfAudio("73", dtmfSpec{on: on, off: 100 * ms, low: -12, high: -9, lead: 37}, rng))
			if len(got) != 2 || events != 2 || got[0].digit != '7' || got[1].digit != '3' {
				t.Fatalf("released %v after %d events, want 7 then 3", got, events)
			}
			for _, p := range got {
				if d := p.dur - on; d < -5*ms || d > 5*ms {
					t.Errorf("%c lasted %v, sent %v", p.digit, p.dur, on)
				}
			}
		})
	}
	t.Run("another digit at once", func(t *testing.T) {
		x := dtmfAudio("12", dtmfSpec{on: 80 * ms, low: -10, high: -10}, rng)
		got, _ := releases(append(x, make([]int16, 800)...))
		if len(got) != 2 || got[0].digit != '1' || got[1].digit != '2' {
			t.Fatalf("released %v, want 1 then 2", got)
		}
		if d := got[0].dur - 80*ms; d < -10*ms || d > 10*ms {
			t.Errorf("1 lasted %v, sent 80ms", got[0].dur)
		}
	})
	t.Run("drop-out bridged", func(t *testing.T) {
		x := dtmfAudio("9", dtmfSpec{on: 300 * ms, off: 100 * ms, low: -10, high: -10}, rng)
		clear(x[1200 : 1200+80])
		got, _ := releases(x)
		if len(got) != 1 || got[0].dur < 295*ms || got[0].dur > 305*ms {
			t.Errorf("released %v, want one 9 of 300ms", got)
		}
	})
	t.Run("nothing before the end", func(t *testing.T) {
		tone := AppendTone(nil, DTMFTone('5', time.Second, 0, -10), time.Second)
		if got, events := releases(tone); len(got) != 0 || events != 1 {
			t.Errorf("released %v with the key still held (%d events)", got, events)
		}
	})
}

// TestDTMFStringDetected sends every digit through DTMFString and ToneGen,
// at the shortest timing the standard asks a receiver to accept.
func TestDTMFStringDetected(t *testing.T) {
	ms := time.Millisecond
	tone, err := DTMFString("0123456789*#ABCDabcd", 40*ms, 40*ms, -20)
	if err != nil {
		t.Fatal(err)
	}
	audio := AppendTone(nil, tone, 2*time.Second)
	if got, want := dtmfDigits(dtmfDetect(audio)), "0123456789*#ABCDABCD"; got != want {
		t.Errorf("detected %q, want %q", got, want)
	}
}

// FuzzDTMFDetector feeds arbitrary audio: the detector must never panic and
// may only report well-formed digits.
func FuzzDTMFDetector(f *testing.F) {
	ms := time.Millisecond
	tone, _ := DTMFString("19#", 50*ms, 50*ms, -10)
	f.Add(sigBytes(AppendTone(nil, tone, 400*ms)))
	f.Add([]byte{0x7f, 0xff, 0x80, 0x00})
	f.Add(make([]byte, 700))
	f.Fuzz(func(t *testing.T, b []byte) {
		x := make([]int16, len(b)/2)
		for i := range x {
			x[i] = int16(uint16(b[2*i]) | uint16(b[2*i+1])<<8)
		}
		d := NewDTMFDetector()
		var held byte // the digit reported and not yet released
		for _, f := range sigFrames(x) {
			e, ok := d.Process(&f, time.Unix(0, 0))
			// A press ends before the next one is confirmed, and only a
			// reported one ends.
			if digit, dur, rel := d.Released(); rel {
				if digit != held || dur < dtmfWindowDur+dtmfConfirm*dtmfHop {
					t.Fatalf("released %c after %v; held %q", digit, dur, held)
				}
				held = 0
			}
			if !ok {
				continue
			}
			if e.Kind != boards.Digit || strings.IndexByte(dtmfAll, e.Digit) < 0 {
				t.Fatalf("malformed event %+v", e)
			}
			if math.IsNaN(e.LevelDBm0) || math.IsNaN(e.TwistDB) || e.LevelDBm0 > 10 || math.Abs(e.TwistDB) > dtmfMaxTwistDB {
				t.Fatalf("implausible measurements %+v", e)
			}
			held = e.Digit
		}
	})
}

// sigBytes is audio as little-endian bytes, the fuzzers' input format.
func sigBytes(x []int16) []byte {
	b := make([]byte, 2*len(x))
	for i, v := range x {
		b[2*i], b[2*i+1] = byte(v), byte(uint16(v)>>8)
	}
	return b
}

func BenchmarkDTMFDetect(b *testing.B) {
	tone, _ := DTMFString("159#", 60*time.Millisecond, 60*time.Millisecond, -10)
	frames := sigFrames(AppendTone(nil, tone, 480*time.Millisecond))
	d := NewDTMFDetector()
	at := time.Unix(0, 0)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		d.Process(&frames[i%len(frames)], at)
	}
}
