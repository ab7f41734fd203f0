package dsp

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/tipring/tipring/boards"
	"github.com/tipring/tipring/boards/region"
)

// lsnRun feeds audio to l frame by frame and returns what it heard after
// each frame.
func lsnRun(l *Listener, audio []int16) []Hearing {
	var out []Hearing
	for _, f := range sigFrames(audio) {
		l.Process(&f)
		out = append(out, l.Hearing())
	}
	return out
}

func lsnSilence(d time.Duration) []int16 { return make([]int16, sigSamples(d)) }

// toneFreqs lists a tone's distinct frequencies, ascending.
func toneFreqs(t boards.Tone) []float64 {
	var fs []float64
	for _, s := range t.Segments {
		for _, f := range s.Freqs {
			if !slices.Contains(fs, f) {
				fs = append(fs, f)
			}
		}
	}
	slices.Sort(fs)
	return fs
}

// freqsMatch reports whether got has the frequencies of want, each within
// 0.5 % (or 1 Hz).
func freqsMatch(got, want []float64) bool {
	if len(got) != len(want) {
		return false
	}
	for i := range got {
		if math.Abs(got[i]-want[i]) > max(0.005*want[i], 1) {
			return false
		}
	}
	return true
}

// longestGap is a tone's longest silent segment.
func longestGap(t boards.Tone) time.Duration {
	var g time.Duration
	for _, s := range t.Segments {
		if len(s.Freqs) == 0 {
			g = max(g, s.Duration)
		}
	}
	return g
}

// TestListenerRegionTones plays every tone of every region, after some
// silence, and checks the listener names it within 1.3 s, keeps naming it
// (with the right frequencies) while it plays and through its gaps, and
// hears silence once the tone has stopped for longer than its longest gap.
func TestListenerRegionTones(t *testing.T) {
	const frame = boards.FrameDuration
	for _, code := range region.Codes() {
		r, err := region.Lookup(code)
		if err != nil {
			t.Fatal(err)
		}
		for i, tone := range r.Tones() {
			t.Run(fmt.Sprintf("%s/%d-%s", code, i, tone.Name), func(t *testing.T) {
				lead := 300 * time.Millisecond
				play := 8 * time.Second
				if !tone.Continuous() {
					play = 0
					for _, s := range tone.Segments {
						play += s.Duration
					}
				}
				if len(tone.Segments) > 0 && tone.Segments[len(tone.Segments)-1].Duration == 0 && len(tone.Segments[len(tone.Segments)-1].Freqs) == 0 {
					// Ends in endless silence (US SIT): it sounds until then.
					play = 0
					for _, s := range tone.Segments {
						play += s.Duration
					}
				}
				var audio []int16
				audio = append(audio, lsnSilence(lead)...)
				audio = append(audio, AppendTone(nil, tone, play)...)
				audio = append(audio, lsnSilence(7*time.Second)...)
				hs := lsnRun(NewListener(r.Tones()), audio)

				start := int(lead / frame)
				stop := start + int(play/frame)
				first := -1
				for k := start; k < stop; k++ {
					if hs[k].Name == tone.Name {
						first = k
						break
					}
				}
				if first < 0 || time.Duration(first-start+1)*frame > 1300*time.Millisecond {
					t.Fatalf("named %q only after %v; heard: %s", tone.Name, time.Duration(first-start+1)*frame, lsnStory(hs[start:stop]))
				}
				want := toneFreqs(tone)
				for k := first; k < stop; k++ {
					if hs[k].Name != tone.Name {
						t.Fatalf("at %v heard %q, want %q; heard: %s", time.Duration(k-start+1)*frame, hs[k].Name, tone.Name, lsnStory(hs[start:]))
					}
				}
				// Frequencies: after a second, all of them have sounded in
				// the last second (later, SIT's first tone is older).
				if k := min(stop, start+int(time.Second/frame)) - 1; !freqsMatch(hs[k].FreqsHz, want) {
					t.Errorf("frequencies %v, want %v", hs[k].FreqsHz, want)
				}
				// After the last sound the name is kept through the tone's
				// gap, or for a second if it has stopped, and no longer.
				lastSound := len(audio) - 1
				for audio[lastSound] == 0 {
					lastSound--
				}
				quiet := lastSound/boards.FrameSamples + 1 // first frame without sound
				gap := max(time.Second, time.Duration(float64(longestGap(tone))*1.15)+35*time.Millisecond)
				end := quiet + int((gap+100*time.Millisecond)/frame)
				if end >= len(hs) {
					t.Fatalf("test audio too short for a gap of %v", gap)
				}
				for k := end; k < len(hs); k++ {
					if hs[k].Name != "silence" || len(hs[k].FreqsHz) != 0 {
						t.Fatalf("%v after the last sound: heard %+v, want silence", time.Duration(k-quiet+1)*frame, hs[k])
					}
				}
				for k := quiet; k < quiet+int(950*time.Millisecond/frame); k++ {
					if hs[k].Name != tone.Name {
						t.Fatalf("%v after the last sound: heard %q, want %q still", time.Duration(k-quiet+1)*frame, hs[k].Name, tone.Name)
					}
				}
			})
		}
	}
}

// lsnStory summarises a sequence of hearings as "name@ms ...".
func lsnStory(hs []Hearing) string {
	s, prev := "", ""
	for i, h := range hs {
		if h.Name != prev {
			s += fmt.Sprintf(" %s@%dms%v", h.Name, (i+1)*20, h.FreqsHz)
			prev = h.Name
		}
	}
	return s
}

// TestListenerFrequencies checks the frequencies reported for every
// region's tones, played for long enough to be heard in full.
func TestListenerFrequencies(t *testing.T) {
	for _, code := range region.Codes() {
		r, _ := region.Lookup(code)
		for _, tone := range []boards.Tone{r.Dial, r.Ringback, r.Busy, r.OffHookWarning} {
			l := NewListener(r.Tones())
			hs := lsnRun(l, AppendTone(nil, tone, 2*time.Second+300*time.Millisecond))
			var got []float64
			for _, h := range slices.Backward(hs) {
				if h.Name == tone.Name {
					got = h.FreqsHz
					break
				}
			}
			if want := toneFreqs(tone); !freqsMatch(got, want) {
				t.Errorf("%s %s: frequencies %v, want %v", code, tone.Name, got, want)
			}
		}
	}
}

func TestListenerTestTones(t *testing.T) {
	us, _ := region.Lookup("us")
	for _, c := range []struct {
		hz, dbm0 float64
	}{{1004, -10}, {1000, -10}, {440, -20}, {2600, -6}, {300, -40}, {3400, -16}} {
		t.Run(fmt.Sprint(c.hz), func(t *testing.T) {
			tone := boards.Tone{LoopFrom: -1, Segments: []boards.Segment{{Freqs: []float64{c.hz}, LevelDBm0: c.dbm0}}}
			hs := lsnRun(NewListener(us.Tones()), AppendTone(nil, tone, 2*time.Second))
			for i, h := range hs[len(hs)-50:] {
				if h.Name != "tone" || len(h.FreqsHz) != 1 || math.Abs(h.FreqsHz[0]-c.hz) > 1 || math.Abs(h.LevelDBm0-c.dbm0) > 0.3 {
					t.Fatalf("frame %d of the last second: heard %+v, want a %v Hz tone at %v dBm0", i, h, c.hz, c.dbm0)
				}
			}
		})
	}
	t.Run("cadenced 1004 Hz", func(t *testing.T) {
		tone := boards.Tone{LoopFrom: 0, Segments: []boards.Segment{{Freqs: []float64{1004}, LevelDBm0: -10, Duration: 300 * time.Millisecond}, {Duration: 300 * time.Millisecond}}}
		for _, h := range lsnRun(NewListener(us.Tones()), AppendTone(nil, tone, 4*time.Second))[10:] {
			if h.Name != "tone" {
				t.Fatalf("heard %+v, want tone", h)
			}
		}
	})
}

func TestListenerSilenceAndNoise(t *testing.T) {
	de, _ := region.Lookup("de")
	rng := rand.New(rand.NewPCG(9, 9))
	for _, c := range []struct {
		name  string
		noise float64 // dBm0, or 0 for digital silence
		want  string
	}{
		{"digital silence", 0, "silence"},
		{"quiet line", -65, "silence"},
		{"white noise", -20, "speech"},
		{"loud white noise", -3, "speech"},
	} {
		t.Run(c.name, func(t *testing.T) {
			x := make([]float64, sigSamples(5*time.Second))
			if c.noise != 0 {
				sigNoise(x, c.noise, rng)
			}
			hs := lsnRun(NewListener(de.Tones()), sigQuantize(x))
			for _, h := range hs[5:] {
				if h.Name != c.want || len(h.FreqsHz) != 0 {
					t.Fatalf("heard %+v, want %s", h, c.want)
				}
			}
			h := hs[len(hs)-1]
			if want := c.noise; want == 0 && h.LevelDBm0 != FloorDBm0 || want != 0 && math.Abs(h.LevelDBm0-want) > 0.3 {
				t.Errorf("level %v, want %v", h.LevelDBm0, want)
			}
		})
	}
}

// TestListenerSpeech: a minute of a synthetic voice (gliding pitch,
// formants, syllables and pauses) is speech throughout, never a tone.
func TestListenerSpeech(t *testing.T) {
	for _, code := range region.Codes() {
		r, _ := region.Lookup(code)
		rng := rand.New(rand.NewPCG(11, 12))
		hs := lsnRun(NewListener(r.Tones()), sigQuantize(sigSpeech(60*time.Second, rng)))
		for i, h := range hs[50:] {
			if h.Name != "speech" {
				t.Fatalf("%s: at %v heard %+v, want speech", code, time.Duration(i+51)*boards.FrameDuration, h)
			}
		}
	}
}

// TestListenerMusic: music (chords of rich notes, glides and pure sweeps)
// is heard as speech, at worst as a tone during a slow pure sweep, never
// as a call-progress tone.
func TestListenerMusic(t *testing.T) {
	us, _ := region.Lookup("us")
	rng := rand.New(rand.NewPCG(13, 14))
	hs := lsnRun(NewListener(us.Tones()), sigQuantize(sigMusic(60*time.Second, rng)))
	speech := 0
	for i, h := range hs[50:] {
		switch h.Name {
		case "speech":
			speech++
		case "tone":
		default:
			t.Fatalf("at %v heard %+v", time.Duration(i+51)*boards.FrameDuration, h)
		}
	}
	if frac := float64(speech) / float64(len(hs)-50); frac < 0.95 {
		t.Errorf("speech only %.1f %% of the time", 100*frac)
	}
}

// TestListenerDialSilenceRingback is a call: dial tone, a pause after
// dialling, then ringback; the listener follows along.
func TestListenerDialSilenceRingback(t *testing.T) {
	for _, code := range region.Codes() {
		t.Run(code, func(t *testing.T) {
			r, _ := region.Lookup(code)
			var audio []int16
			audio = append(audio, AppendTone(nil, r.Dial, 3*time.Second)...)
			audio = append(audio, lsnSilence(2*time.Second)...)
			audio = append(audio, AppendTone(nil, r.Ringback, 8*time.Second)...)
			hs := lsnRun(NewListener(r.Tones()), audio)
			at := func(d time.Duration) Hearing { return hs[int(d/boards.FrameDuration)-1] }
			for _, c := range []struct {
				t    time.Duration
				want string
			}{
				{2900 * time.Millisecond, "dial"},
				{3500 * time.Millisecond, "dial"}, // the last second still had it
				{4200 * time.Millisecond, "silence"},
				{4900 * time.Millisecond, "silence"},
				{7300 * time.Millisecond, "ringback"},
				{9 * time.Second, "ringback"}, // in the gap
				{13 * time.Second, "ringback"},
			} {
				if h := at(c.t); h.Name != c.want {
					t.Errorf("at %v heard %+v, want %s", c.t, h, c.want)
				}
			}
			for i, h := range hs {
				if !slices.Contains([]string{"dial", "silence", "ringback", "tone"}, h.Name) {
					t.Fatalf("at %v heard %q", time.Duration(i+1)*boards.FrameDuration, h.Name)
				}
			}
		})
	}
}

func TestListenerNoAllocation(t *testing.T) {
	uk, _ := region.Lookup("uk")
	l := NewListener(uk.Tones())
	frames := sigFrames(AppendTone(nil, uk.Ringback, 6*time.Second))
	for i := range frames {
		l.Process(&frames[i])
	}
	i := 0
	if n := testing.AllocsPerRun(500, func() {
		l.Process(&frames[i%len(frames)])
		i++
	}); n != 0 {
		t.Errorf("Process allocates %v times per frame", n)
	}
}

func BenchmarkListenerProcess(b *testing.B) {
	us, _ := region.Lookup("us")
	rng := rand.New(rand.NewPCG(1, 2))
	for _, c := range []struct {
		name  string
		audio []int16
	}{
		{"ringback", AppendTone(nil, us.Ringback, 6*time.Second)},
		{"dial", AppendTone(nil, us.Dial, time.Second)},
		{"speech", sigQuantize(sigSpeech(6*time.Second, rng))},
		{"silence", lsnSilence(time.Second)},
	} {
		b.Run(c.name, func(b *testing.B) {
			frames := sigFrames(c.audio)
			l := NewListener(us.Tones())
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				l.Process(&frames[i%len(frames)])
			}
		})
	}
}

func BenchmarkListenerHearing(b *testing.B) {
	us, _ := region.Lookup("us")
	l := NewListener(us.Tones())
	lsnRun(l, AppendTone(nil, us.Ringback, 10*time.Second))
	b.ReportAllocs()
	for b.Loop() {
		l.Hearing()
	}
}

// TestListenerLineNoise: a quiet line hiss under the tones (-55 dBm0, 25
// dB or more below them) does not hide their cadence.
func TestListenerLineNoise(t *testing.T) {
	rng := rand.New(rand.NewPCG(21, 22))
	for _, code := range region.Codes() {
		r, _ := region.Lookup(code)
		for _, tone := range []boards.Tone{r.Dial, r.Ringback, r.Busy, r.Reorder, r.Stutter} {
			clean := AppendTone(nil, tone, 7*time.Second)
			x := make([]float64, len(clean))
			for i, v := range clean {
				x[i] = float64(v)
			}
			sigNoise(x, -55, rng)
			hs := lsnRun(NewListener(r.Tones()), sigQuantize(x))
			for i, h := range hs[len(hs)-100:] {
				if h.Name != tone.Name {
					t.Errorf("%s %s: %v before the end heard %+v", code, tone.Name, time.Duration(100-i)*boards.FrameDuration, h)
					break
				}
			}
		}
	}
}

// FuzzListener feeds arbitrary audio: the listener must never panic and
// must always describe it in its own terms.
func FuzzListener(f *testing.F) {
	us, _ := region.Lookup("us")
	f.Add(byte(0), sigBytes(AppendTone(nil, us.Busy, 700*time.Millisecond)))
	f.Add(byte(2), sigBytes(AppendTone(nil, us.SIT, 500*time.Millisecond)))
	f.Add(byte(1), []byte{0xff, 0x7f, 0x00, 0x80})
	names := []string{"silence", "speech", "tone", "dial", "ringback", "busy", "reorder", "sit", "stutter", "warning"}
	f.Fuzz(func(t *testing.T, reg byte, b []byte) {
		codes := region.Codes()
		r, _ := region.Lookup(codes[int(reg)%len(codes)])
		x := make([]int16, len(b)/2)
		for i := range x {
			x[i] = int16(uint16(b[2*i]) | uint16(b[2*i+1])<<8)
		}
		l := NewListener(r.Tones())
		for _, fr := range sigFrames(x) {
			l.Process(&fr)
			h := l.Hearing()
			if !slices.Contains(names, h.Name) {
				t.Fatalf("unknown hearing %q", h.Name)
			}
			if !slices.IsSorted(h.FreqsHz) || (len(h.FreqsHz) > 0) != (h.Name != "silence" && h.Name != "speech") {
				t.Fatalf("frequencies %v for %q", h.FreqsHz, h.Name)
			}
			for _, hz := range h.FreqsHz {
				if !(hz >= lsnLowHz && hz <= lsnHighHz) {
					t.Fatalf("frequency %v out of band", hz)
				}
			}
			if !(h.LevelDBm0 >= FloorDBm0 && h.LevelDBm0 <= 6.2) {
				t.Fatalf("level %v", h.LevelDBm0)
			}
		}
	})
}

// TestListenerModulatedTones: tones built from amplitude-modulated
// segments are recognised like summed ones.
func TestListenerModulatedTones(t *testing.T) {
	ms := time.Millisecond
	ring := boards.Tone{Name: "ringback", LoopFrom: 0, Segments: []boards.Segment{
		{Freqs: []float64{400}, LevelDBm0: -13, ModulateHz: 25, Duration: 400 * ms}, {Duration: 200 * ms},
		{Freqs: []float64{400}, LevelDBm0: -13, ModulateHz: 25, Duration: 400 * ms}, {Duration: 2000 * ms},
	}}
	dial := boards.Tone{Name: "dial", LoopFrom: -1, Segments: []boards.Segment{{Freqs: []float64{600}, LevelDBm0: -13, ModulateHz: 120}}}
	tones := []boards.Tone{ring, dial}
	for _, tone := range tones {
		hs := lsnRun(NewListener(tones), AppendTone(nil, tone, 4*time.Second))
		if h := hs[len(hs)-1]; h.Name != tone.Name {
			t.Errorf("%s: heard %+v; %s", tone.Name, h, lsnStory(hs))
		}
	}
}

// TestListenerIntercept: SIT followed by reorder, as the line plays an
// intercept, is heard as sit, then reorder.
func TestListenerIntercept(t *testing.T) {
	for _, code := range region.Codes() {
		r, _ := region.Lookup(code)
		var sitLen time.Duration
		for _, s := range r.SIT.Segments {
			sitLen += s.Duration
		}
		audio := append(AppendTone(nil, r.SIT, sitLen), AppendTone(nil, r.Reorder, 4*time.Second)...)
		hs := lsnRun(NewListener(r.Tones()), audio)
		if h := hs[int(600*time.Millisecond/boards.FrameDuration)]; h.Name != "sit" {
			t.Errorf("%s: during SIT heard %+v", code, h)
		}
		if h := hs[len(hs)-1]; h.Name != "reorder" {
			t.Errorf("%s: after SIT and 4 s of reorder heard %+v;%s", code, h, lsnStory(hs))
		}
	}
}
