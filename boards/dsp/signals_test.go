package dsp

import (
	"math"
	"math/rand/v2"
	"time"

	"github.com/tipring/tipring/boards"
)

// Test signals shared by the DTMF and listener tests. Everything is
// generated with a seeded generator, so a failure repeats.

func sigSamples(d time.Duration) int { return int(d * boards.SampleRate / time.Second) }

// sigFrames cuts audio into frames, the last one padded with silence.
func sigFrames(x []int16) []boards.Frame {
	fr := make([]boards.Frame, (len(x)+boards.FrameSamples-1)/boards.FrameSamples)
	for i := range fr {
		copy(fr[i][:], x[i*boards.FrameSamples:])
	}
	return fr
}

// sigQuantize rounds and clips float audio to int16.
func sigQuantize(x []float64) []int16 {
	out := make([]int16, len(x))
	for i, v := range x {
		out[i] = saturate(v)
	}
	return out
}

// sigAddSine adds a sine of the given level starting at sample start.
func sigAddSine(x []float64, start, n int, hz, dbm0, phase float64) {
	a := AmplitudeForDBm0(dbm0)
	for i := 0; i < n && start+i < len(x); i++ {
		x[start+i] += a * math.Sin(2*math.Pi*hz*float64(i)/boards.SampleRate+phase)
	}
}

// sigNoise adds white Gaussian noise of the given level (dBm0 of its RMS).
func sigNoise(x []float64, dbm0 float64, rng *rand.Rand) {
	rms := AmplitudeForDBm0(dbm0) / math.Sqrt2
	for i := range x {
		x[i] += rng.NormFloat64() * rms
	}
}

// sigSpeech is a crude voice: a glottal pulse train (harmonics of a pitch
// that glides between 85 and 260 Hz) shaped by three moving formants, cut
// into syllables of 120-350 ms with pauses, with unvoiced (noisy)
// consonants between vowels. Level around -15 dBm0 in voiced parts.
func sigSpeech(d time.Duration, rng *rand.Rand) []float64 {
	n := sigSamples(d)
	x := make([]float64, n)
	var phase, f0, env float64
	f0 = 120 + 80*rng.Float64()
	// Vowel formants (F1, F2, F3) in Hz.
	vowels := [][3]float64{{730, 1090, 2440}, {270, 2290, 3010}, {530, 1840, 2480}, {570, 840, 2410}, {300, 870, 2240}, {660, 1720, 2410}, {490, 1350, 1690}}
	cur := vowels[0]
	next := vowels[1]
	i := 0
	for i < n {
		// One syllable: consonant, vowel; then maybe a pause.
		cons := sigSamples(time.Duration(20+rng.IntN(80)) * time.Millisecond)
		vow := sigSamples(time.Duration(100+rng.IntN(250)) * time.Millisecond)
		pause := 0
		if rng.IntN(3) == 0 {
			pause = sigSamples(time.Duration(50+rng.IntN(300)) * time.Millisecond)
		}
		fricAmp := AmplitudeForDBm0(-25 - 10*rng.Float64())
		for j := 0; j < cons && i < n; j++ {
			x[i] = rng.NormFloat64() * fricAmp * math.Sin(math.Pi*float64(j)/float64(cons))
			i++
		}
		cur, next = next, vowels[rng.IntN(len(vowels))]
		target := 85 + 175*rng.Float64()
		slope := (target - f0) / float64(vow)
		vib := 3 + 4*rng.Float64()
		for j := 0; j < vow && i < n; j++ {
			t := float64(j) / float64(vow)
			f0 += slope
			f := f0 * (1 + 0.03*math.Sin(2*math.Pi*vib*float64(i)/boards.SampleRate))
			phase += 2 * math.Pi * f / boards.SampleRate
			// Syllabic envelope: rise, hold, decay.
			env = math.Sin(math.Pi * t)
			var v float64
			for h := 1; float64(h)*f < 3800; h++ {
				hf := float64(h) * f
				g := 0.0
				for k := range 3 {
					fk := cur[k] + (next[k]-cur[k])*t
					bw := 80.0 + 40*float64(k)
					g += (1 / float64(k+1)) / (1 + sq((hf-fk)/bw))
				}
				v += g / float64(h) * math.Sin(float64(h)*phase)
			}
			x[i] = v * env * AmplitudeForDBm0(-12)
			i++
		}
		i += pause
	}
	return x
}

// sigMusic is music-like audio: chords of instrument notes (each with
// harmonics and a decaying envelope), glides (a note sliding in pitch),
// and pure sweeps; notes from the equal-tempered scale, which lies close to
// several DTMF frequencies.
func sigMusic(d time.Duration, rng *rand.Rand) []float64 {
	n := sigSamples(d)
	x := make([]float64, n)
	note := func(semi int) float64 { return 440 * math.Pow(2, float64(semi)/12) }
	for i := 0; i < n; {
		dur := sigSamples(time.Duration(150+rng.IntN(450)) * time.Millisecond)
		switch rng.IntN(4) {
		case 0, 1: // a chord of 2-4 notes
			root := -14 + rng.IntN(22)
			chord := [][]int{{0, 4, 7}, {0, 3, 7}, {0, 7}, {0, 4, 7, 11}, {0, 5}, {0, 9}, {0, 12, 19}}[rng.IntN(7)]
			harm := 0.3 + 0.6*rng.Float64() // harmonic decay per order
			for _, s := range chord {
				f := note(root + s)
				ph := rng.Float64() * 2 * math.Pi
				for h := 1; float64(h)*f < 3800 && h <= 8; h++ {
					a := AmplitudeForDBm0(-18) * math.Pow(harm, float64(h-1))
					for j := 0; j < dur && i+j < n; j++ {
						e := math.Exp(-3 * float64(j) / float64(dur))
						x[i+j] += a * e * math.Sin(2*math.Pi*float64(h)*f*float64(j)/boards.SampleRate+float64(h)*ph)
					}
				}
			}
		case 2: // a glide with harmonics
			f1, f2 := note(-14+rng.IntN(24)), note(-14+rng.IntN(24))
			var ph float64
			for j := 0; j < dur && i+j < n; j++ {
				f := f1 + (f2-f1)*float64(j)/float64(dur)
				ph += 2 * math.Pi * f / boards.SampleRate
				var v float64
				for h := 1; float64(h)*f < 3800 && h <= 6; h++ {
					v += math.Sin(float64(h)*ph) / float64(h)
				}
				x[i+j] += AmplitudeForDBm0(-15) * v
			}
		case 3: // a pure sweep over the whole voice band
			f1, f2 := 300+3000*rng.Float64(), 300+3000*rng.Float64()
			var ph float64
			for j := 0; j < dur && i+j < n; j++ {
				ph += 2 * math.Pi * (f1 + (f2-f1)*float64(j)/float64(dur)) / boards.SampleRate
				x[i+j] += AmplitudeForDBm0(-12) * math.Sin(ph)
			}
		}
		i += dur
	}
	return x
}
