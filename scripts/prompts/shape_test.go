package main

import (
	"errors"
	"math"
	"testing"
)

func TestTrimKeepsTheSoundAndDropsTheSilence(t *testing.T) {
	// 0.3 s silence, 0.5 s tone, 0.4 s silence at 8 kHz.
	x := make([]float64, 2400)
	x = append(x, tone(8000, 440, -10, 0.5)...)
	x = append(x, make([]float64, 3200)...)
	y, err := trim(x)
	if err != nil {
		t.Fatal(err)
	}
	// The tone and at most a margin and a window either side.
	if min, max := 4000, 4000+2*(trimMargin+trimWindow); len(y) < min || len(y) > max {
		t.Errorf("trimmed to %d samples, want %d to %d", len(y), min, max)
	}
	// The ends fade to nothing: no click where the recording was cut.
	if math.Abs(y[0]) > 1 || math.Abs(y[len(y)-1]) > 1 {
		t.Errorf("ends at %.1f and %.1f, want silence", y[0], y[len(y)-1])
	}

	if _, err := trim(make([]float64, 800)); !errors.Is(err, errSilent) {
		t.Errorf("trim(silence): err = %v, want errSilent", err)
	}
}

// A quiet word and a loud phrase come out at the same speech level.
func TestNormalizeSetsSpeechLevel(t *testing.T) {
	for _, dbm0 := range []float64{-40, -16, -3} {
		// Speech-like: bursts with pauses, which must not count.
		var x []float64
		for range 3 {
			x = append(x, tone(8000, 500, dbm0, 0.2)...)
			x = append(x, make([]float64, 1600)...)
		}
		pcm, _, err := normalize(x)
		if err != nil {
			t.Fatal(err)
		}
		if l := activeLevelDBm0(pcm); math.Abs(l-targetDBm0) > 0.1 {
			t.Errorf("input at %.0f dBm0: speech level %.2f dBm0, want %.0f", dbm0, l, targetDBm0)
		}
	}
	// One loud click in quiet sound: the peak limit wins over the level.
	x := tone(8000, 500, -60, 0.5)
	x[100] = 1000
	pcm, _, err := normalize(x)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range pcm {
		if math.Abs(float64(v)) > maxPeak+0.5 {
			t.Fatalf("sample %d beyond the peak limit %.0f", v, maxPeak)
		}
	}
	if _, _, err := normalize(make([]float64, 100)); !errors.Is(err, errSilent) {
		t.Errorf("normalize(silence): err = %v, want errSilent", err)
	}
}
