package peers

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/tipring/tipring/boards/dsp"
)

func TestSineThroughUlaw(t *testing.T) {
	tone := sine(1004, -10, time.Second)
	if len(tone) != 8000 {
		t.Fatalf("1 s tone has %d samples, want 8000", len(tone))
	}
	if got := dsp.ToneLevelDBm0(tone, 1004); math.Abs(got+10) > 0.1 {
		t.Errorf("1004 Hz component %.2f dBm0, want -10", got)
	}
	// Through G.711 μ-law and back the level holds within a fraction of a dB.
	if got := dsp.ToneLevelDBm0(DecodeUlaw(EncodeUlaw(tone)), 1004); math.Abs(got+10) > 0.3 {
		t.Errorf("after μ-law: %.2f dBm0, want -10", got)
	}
}

func TestTrimSilence(t *testing.T) {
	tone := sine(1004, -20, 100*time.Millisecond)
	var in []int16
	in = append(in, make([]int16, 330)...) // 2 frames and a bit of silence
	in = append(in, tone...)
	in = append(in, make([]int16, 500)...)
	out := TrimSilence(in, -50)
	if len(out) < len(tone) || len(out) > len(tone)+2*160 {
		t.Fatalf("trimmed to %d samples, want the %d of the tone (give or take a frame)", len(out), len(tone))
	}
	if TrimSilence(make([]int16, 1000), -50) != nil {
		t.Fatal("silence trimmed to something")
	}
	if got := TrimSilence(nil, -50); got != nil {
		t.Fatalf("nil trimmed to %v", got)
	}
}

func TestAssertTone(t *testing.T) {
	pad := make([]int16, 1000)
	tone := append(append(pad, sine(1004, -10, time.Second)...), pad...)
	AssertTone(t, "clean tone", tone, 1004, -10)
	noisy := append([]int16(nil), tone...)
	for i, v := range sine(300, -12, time.Second) {
		noisy[1000+i] += v
	}
	for name, c := range map[string]struct {
		audio     []int16
		hz, level float64
		want      string
	}{
		"short":       {sine(1004, -10, 400*time.Millisecond), 1004, -10, "want at least half a second"},
		"wrong level": {tone, 1004, -20, "want -20.0 dBm0 ± 3"},
		"wrong tone":  {tone, 800, -10, "want -10.0 dBm0 ± 3"},
		"not alone":   {noisy, 1004, -10, "something else is in there"},
	} {
		t.Run(name, func(t *testing.T) {
			ft := &fatalRecorder{TB: t}
			func() {
				defer func() { _ = recover() }()
				AssertTone(ft, name, c.audio, c.hz, c.level)
			}()
			if !strings.Contains(ft.msg, c.want) {
				t.Errorf("AssertTone failed with %q, want a failure containing %q", ft.msg, c.want)
			}
		})
	}
}
