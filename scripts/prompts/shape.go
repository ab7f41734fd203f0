package main

import (
	"errors"
	"fmt"
	"math"

	"github.com/tipring/tipring/boards"
	"github.com/tipring/tipring/boards/dsp"
)

// Shaping of a recording at 8 kHz, after resampling.
const (
	// targetDBm0 is the active speech level of every prompt: −16 dBm0 is a
	// usual level for network announcements, loud enough over a noisy
	// line and well clear of clipping.
	targetDBm0 = -16.0
	// maxPeak keeps the loudest sample below μ-law's largest value (32124)
	// with a little room, whatever the gain.
	maxPeak = 30000.0
	// Trimming: 5 ms windows quieter than the loudest by trimBelowDB are
	// silence at the ends; trimMargin of it is kept so that soft onsets
	// and word endings survive, and fadeSamples of fade in and out make the
	// cut ends click free.
	trimWindow  = 40
	trimBelowDB = 40.0
	trimMargin  = 80 // 10 ms
	fadeSamples = 40 // 5 ms
	// Active speech: 20 ms frames within activeBelowDB of the loudest frame
	// (a simple stand-in for ITU-T P.56), so that pauses inside a phrase do
	// not pull its level down and short words and long phrases sound alike.
	activeBelowDB = 30.0
)

var errSilent = errors.New("recording is silent")

// trim drops the silence at both ends of x.
func trim(x []float64) ([]float64, error) {
	windows := (len(x) + trimWindow - 1) / trimWindow
	power := make([]float64, windows)
	var loudest float64
	for w := range power {
		seg := x[w*trimWindow : min(len(x), (w+1)*trimWindow)]
		var s float64
		for _, v := range seg {
			s += v * v
		}
		power[w] = s / float64(len(seg))
		loudest = max(loudest, power[w])
	}
	if loudest == 0 {
		return nil, errSilent
	}
	threshold := loudest * math.Pow(10, -trimBelowDB/10)
	first, last := -1, -1
	for w, p := range power {
		if p >= threshold {
			if first < 0 {
				first = w
			}
			last = w
		}
	}
	start := max(0, first*trimWindow-trimMargin)
	end := min(len(x), (last+1)*trimWindow+trimMargin)
	y := append([]float64(nil), x[start:end]...)
	fade := min(fadeSamples, len(y)/2)
	for i := range fade {
		g := 0.5 - 0.5*math.Cos(math.Pi*float64(i)/float64(fade))
		y[i] *= g
		y[len(y)-1-i] *= g
	}
	return y, nil
}

// normalize scales x so that its active speech level is targetDBm0 (less
// if its peaks would pass maxPeak) and rounds it to 16 bits. It returns the
// gain applied, in dB.
func normalize(x []float64) ([]int16, float64, error) {
	var peak float64
	for _, v := range x {
		peak = max(peak, math.Abs(v))
	}
	if peak == 0 {
		return nil, 0, errSilent
	}
	// Measured at the loudest gain allowed, so that a quiet recording is
	// not measured on its rounding noise.
	loudest := maxPeak / peak
	level := activeLevelDBm0(quantize(x, loudest))
	gain := loudest * math.Min(1, math.Pow(10, (targetDBm0-level)/20))
	return quantize(x, gain), 20 * math.Log10(gain), nil
}

// activeLevelDBm0 is the level of the 20 ms frames of pcm that hold speech.
func activeLevelDBm0(pcm []int16) float64 {
	frames := make([]float64, 0, len(pcm)/boards.FrameSamples+1)
	for i := 0; i < len(pcm); i += boards.FrameSamples {
		frames = append(frames, dsp.LevelDBm0(pcm[i:min(len(pcm), i+boards.FrameSamples)]))
	}
	loudest := dsp.FloorDBm0
	for _, l := range frames {
		loudest = max(loudest, l)
	}
	active := make([]int16, 0, len(pcm))
	for f, l := range frames {
		if l > dsp.FloorDBm0 && l >= loudest-activeBelowDB {
			i := f * boards.FrameSamples
			active = append(active, pcm[i:min(len(pcm), i+boards.FrameSamples)]...)
		}
	}
	return dsp.LevelDBm0(active)
}

// quantize rounds x·gain to 16-bit samples, saturating.
func quantize(x []float64, gain float64) []int16 {
	pcm := make([]int16, len(x))
	for i, v := range x {
		pcm[i] = int16(math.Round(math.Max(-32768, math.Min(32767, v*gain))))
	}
	return pcm
}

// shape turns a recording at inRate into trimmed, normalized 8 kHz PCM.
func shape(pcm []int16, inRate int) ([]int16, error) {
	r, err := newResampler(inRate, boards.SampleRate)
	if err != nil {
		return nil, err
	}
	x := make([]float64, len(pcm))
	for i, v := range pcm {
		x[i] = float64(v)
	}
	y, err := trim(r.resample(x))
	if err != nil {
		return nil, err
	}
	out, _, err := normalize(y)
	if err != nil {
		return nil, fmt.Errorf("normalizing: %w", err)
	}
	return out, nil
}
