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

// cidImpair is what a real line and a real sender do to caller-ID audio
// that our own generator does not.
type cidImpair struct {
	name      string
	freqErr   float64 // relative error of every tone (0.01 = +1 %)
	baudErr   float64 // relative error of the bit rate
	phase     float64 // starting phase of the carrier, radians
	levelDBm0 float64 // 0: the nominal -13.5 dBm0
	snrDB     float64 // white noise this far below the signal; 0: none
	gapBits   int     // marks between characters (GR-30 allows up to 20)
	noTrail   bool    // stop the carrier right after the last stop bit
	seizure   int     // seizure bits, 0: the standard 300
	marks     int     // mark bits, 0: the standard 180
}

const cidNominalLevel = -13.5

var cidImpairments = []cidImpair{
	{name: "nominal"},
	{name: "phase 2.1 rad", phase: 2.1},
	{name: "tones +1%", freqErr: 0.01},
	{name: "tones -1%", freqErr: -0.01},
	{name: "baud +1%", baudErr: 0.01},
	{name: "baud -1%", baudErr: -0.01},
	{name: "0 dBm0", levelDBm0: -0.001},
	{name: "-5 dBm0", levelDBm0: -5},
	{name: "-40 dBm0", levelDBm0: -40},
	{name: "-35 dBm0", levelDBm0: -35},
	{name: "20 dB SNR", snrDB: 20},
	{name: "-35 dBm0 20 dB SNR", levelDBm0: -35, snrDB: 20},
	{name: "gaps between characters", gapBits: 20},
	{name: "no trailing marks", noTrail: true},
	{name: "SIN 227 shortest preamble", seizure: 96, marks: 55},
	{name: "everything at once", phase: 4, freqErr: -0.01, baudErr: 0.01, levelDBm0: -35, snrDB: 20, gapBits: 7, noTrail: true},
	{name: "everything the other way", phase: 1, freqErr: 0.01, baudErr: -0.01, levelDBm0: -5, snrDB: 20, noTrail: true},
}

var cidCases = []struct {
	name string
	cid  boards.CallerID
}{
	{"number only", boards.CallerID{Number: "01632960123"}},
	{"number and name", boards.CallerID{Number: "2125550123", Name: "Grace Hopper"}},
	{"withheld", boards.CallerID{Withheld: true}},
	{"unavailable", boards.CallerID{Unavailable: true}},
	{"date and time", boards.CallerID{Number: "5550100", Name: "Bob", Time: time.Date(2025, time.December, 24, 18, 45, 10, 0, time.UTC)}},
}

// cidExpect is what a receiver of std should report for cid.
func cidExpect(std boards.CallerIDStandard, cid boards.CallerID) boards.CallerID {
	if std == boards.CallerIDDTMF {
		switch {
		case cid.Withheld:
			return boards.CallerID{Withheld: true}
		case cid.Number != "":
			return boards.CallerID{Number: cid.Number}
		}
		return boards.CallerID{Unavailable: true}
	}
	msg, err := EncodeMDMF(cid)
	if err != nil {
		panic(err)
	}
	want, err := DecodeCallerIDMessage(msg)
	if err != nil {
		panic(err)
	}
	return want
}

func cidSameID(a, b boards.CallerID) bool {
	if !a.Time.Equal(b.Time) {
		return false
	}
	a.Time, b.Time = time.Time{}, time.Time{}
	return a == b
}

// cidFSKAudio renders the FSK standards' signal the way NewCallerIDSignal
// does, with the impairments applied. TestCidFSKAudioMatchesSignal proves
// that without impairments it is the very same audio.
func cidFSKAudio(t testing.TB, std boards.CallerIDStandard, cid boards.CallerID, imp cidImpair) []int16 {
	t.Helper()
	modem, ok := fskModemFor(std)
	if !ok {
		t.Fatalf("%v is not FSK", std)
	}
	level := cidNominalLevel
	if imp.levelDBm0 != 0 {
		level = imp.levelDBm0
	}
	msg, err := EncodeMDMF(cid)
	if err != nil {
		t.Fatal(err)
	}
	var out []int16
	k := 1 + imp.freqErr
	if std == boards.CallerIDETSIFSK {
		out = cidRenderTones(out, cidDTASLength, level-cidDTASToneBelowDB, cidDTASLowHz*k, cidDTASHighHz*k)
		out = cidRenderTones(out, cidDTASGap, 0)
	}
	modem.markHz *= k
	modem.spaceHz *= k
	modem.baud *= 1 + imp.baudErr
	m := newFSKModulator(modem, AmplitudeForDBm0(level), out)
	m.phase = imp.phase
	seizure, marks := cidSeizureBits, cidMarkBits
	if imp.seizure != 0 {
		seizure, marks = imp.seizure, imp.marks
	}
	m.seizure(seizure)
	m.marks(marks)
	for i, b := range msg {
		m.byte(b)
		if i < len(msg)-1 {
			m.marks(imp.gapBits)
		}
	}
	if !imp.noTrail {
		m.marks(cidTrailMarks)
	}
	return m.out
}

// cidLine puts audio on a line: lead samples of quiet before (not a whole
// number of frames, so the signal starts mid-frame), quiet after, and white
// noise over everything when snrDB is set, relative to a sine at levelDBm0.
func cidLine(audio []int16, lead int, levelDBm0, snrDB float64, seed uint64) []int16 {
	out := make([]int16, lead+len(audio)+8000/2)
	copy(out[lead:], audio)
	if snrDB != 0 {
		rng := rand.New(rand.NewPCG(seed, 7))
		sigma := AmplitudeForDBm0(levelDBm0) / math.Sqrt2 / math.Pow(10, snrDB/20)
		for i := range out {
			out[i] = saturate(float64(out[i]) + rng.NormFloat64()*sigma)
		}
	}
	return out
}

// cidReceive runs audio through a receiver frame by frame and returns every
// caller ID it reported.
func cidReceive(r *CallerIDReceiver, audio []int16) []boards.CallerID {
	var got []boards.CallerID
	var f boards.Frame
	for len(audio) > 0 {
		n := copy(f[:], audio)
		clear(f[n:])
		audio = audio[n:]
		if cid, ok := r.Process(&f); ok {
			got = append(got, cid)
		}
	}
	return got
}

func TestCidFSKAudioMatchesSignal(t *testing.T) {
	for _, std := range []boards.CallerIDStandard{boards.CallerIDBell202, boards.CallerIDETSIFSK, boards.CallerIDETSIFSKAfterRing} {
		cid := cidCases[4].cid
		sig, err := NewCallerIDSignal(std, cid, cidNominalLevel)
		if err != nil {
			t.Fatal(err)
		}
		want := cidFSKAudio(t, std, cid, cidImpair{})
		got := cidDrain(t, sig)
		if len(got) < len(want) || string(cidBytes(got[:len(want)])) != string(cidBytes(want)) {
			t.Fatalf("%v: test renderer and NewCallerIDSignal differ; the impairment tests would not test the real signal", std)
		}
	}
}

func cidBytes(s []int16) []byte {
	b := make([]byte, 0, 2*len(s))
	for _, v := range s {
		b = append(b, byte(v), byte(v>>8))
	}
	return b
}

// cidDrain reads a signal to its end, frame by frame.
func cidDrain(t testing.TB, s *CallerIDSignal) []int16 {
	t.Helper()
	var out []int16
	var f boards.Frame
	for i := 0; ; i++ {
		if i > 500 {
			t.Fatal("signal does not end")
		}
		done := s.Fill(&f)
		out = append(out, f[:]...)
		if done {
			return out
		}
	}
}

func TestCallerIDReceiverFSKRoundTrip(t *testing.T) {
	stds := []boards.CallerIDStandard{boards.CallerIDBell202, boards.CallerIDETSIFSK, boards.CallerIDETSIFSKAfterRing}
	seed := uint64(0)
	for _, std := range stds {
		for _, c := range cidCases {
			for _, imp := range cidImpairments {
				seed++
				t.Run(fmt.Sprintf("%v/%s/%s", std, c.name, imp.name), func(t *testing.T) {
					level := cidNominalLevel
					if imp.levelDBm0 != 0 {
						level = imp.levelDBm0
					}
					audio := cidLine(cidFSKAudio(t, std, c.cid, imp), 1000+int(seed*37%160), level, imp.snrDB, seed)
					got := cidReceive(NewCallerIDReceiver(std), audio)
					want := cidExpect(std, c.cid)
					if len(got) != 1 || !cidSameID(got[0], want) {
						t.Fatalf("received %+v, want exactly [%+v]", got, want)
					}
				})
			}
		}
	}
}

// A DTMF phone, or one without caller ID, shows nothing for FSK. (Bell 202
// and V.23 receivers do read each other's FSK, the tones being 100 Hz
// apart, as multi-standard phones do.)
func TestCallerIDReceiverWrongStandard(t *testing.T) {
	cid := boards.CallerID{Number: "5551234", Name: "X"}
	for _, pair := range [][2]boards.CallerIDStandard{
		{boards.CallerIDBell202, boards.CallerIDDTMF},
		{boards.CallerIDETSIFSK, boards.CallerIDDTMF},
		{boards.CallerIDBell202, boards.CallerIDNone},
	} {
		audio := cidLine(cidFSKAudio(t, pair[0], cid, cidImpair{}), 100, 0, 0, 1)
		if got := cidReceive(NewCallerIDReceiver(pair[1]), audio); len(got) != 0 {
			t.Errorf("%v receiver decoded %v audio: %+v", pair[1], pair[0], got)
		}
	}
}

func TestCallerIDReceiverTwoCalls(t *testing.T) {
	r := NewCallerIDReceiver(boards.CallerIDBell202)
	first := cidLine(cidFSKAudio(t, boards.CallerIDBell202, boards.CallerID{Number: "111"}, cidImpair{}), 500, 0, 0, 0)
	second := cidLine(cidFSKAudio(t, boards.CallerIDBell202, boards.CallerID{Number: "222"}, cidImpair{}), 500, 0, 0, 0)
	got := cidReceive(r, append(first, second...))
	if len(got) != 2 || got[0].Number != "111" || got[1].Number != "222" {
		t.Fatalf("got %+v, want 111 then 222", got)
	}
}

// Reset drops a message half received: the phone went off hook.
func TestCallerIDReceiverReset(t *testing.T) {
	r := NewCallerIDReceiver(boards.CallerIDETSIFSKAfterRing)
	audio := cidFSKAudio(t, boards.CallerIDETSIFSKAfterRing, boards.CallerID{Number: "5551234", Name: "Someone Long Named"}, cidImpair{})
	half := len(audio) - 160*5 // the message ends in the last frames
	half -= half % 160
	if got := cidReceive(r, audio[:half]); len(got) != 0 {
		t.Fatalf("reported before the end: %+v", got)
	}
	r.Reset()
	if got := cidReceive(r, audio[half:]); len(got) != 0 {
		t.Fatalf("reported a message that was reset: %+v", got)
	}
}

// One wrong bit anywhere in the message must cost the whole caller ID: the
// phone shows nothing rather than a wrong number.
func TestCallerIDReceiverRejectsCorruptMessages(t *testing.T) {
	cid := boards.CallerID{Number: "5551234", Name: "Ann"}
	msg, err := EncodeMDMF(cid)
	if err != nil {
		t.Fatal(err)
	}
	modem, _ := fskModemFor(boards.CallerIDBell202)
	for i := range msg {
		for _, flip := range []byte{0x01, 0x80, 0x11} {
			bad := append([]byte(nil), msg...)
			bad[i] ^= flip
			m := newFSKModulator(modem, AmplitudeForDBm0(cidNominalLevel), make([]int16, 400))
			m.seizure(cidSeizureBits)
			m.marks(cidMarkBits)
			for _, b := range bad {
				m.byte(b)
			}
			m.marks(cidTrailMarks)
			got := cidReceive(NewCallerIDReceiver(boards.CallerIDBell202), cidLine(m.out, 0, 0, 0, 0))
			if _, decErr := DecodeCallerIDMessage(bad); decErr == nil {
				continue // flipping two bits can leave a valid message; nothing to assert
			}
			if len(got) != 0 {
				t.Errorf("byte %d ^ %#02x: reported %+v from a corrupt message", i, flip, got)
			}
		}
	}
}

// Lines carry much that is not caller ID; none of it may show a number.
func TestCallerIDReceiverIgnoresNonCallerID(t *testing.T) {
	const seconds = 20
	sources := map[string]func(rng *rand.Rand) []int16{
		"white noise -10 dBm0": func(rng *rand.Rand) []int16 { return cidNoise(rng, seconds, -10) },
		"white noise -40 dBm0": func(rng *rand.Rand) []int16 { return cidNoise(rng, seconds, -40) },
		"mark tone":            func(*rand.Rand) []int16 { return cidRenderTones(nil, seconds*time.Second, -13, fskBell202MarkHz) },
		"V.23 mark tone":       func(*rand.Rand) []int16 { return cidRenderTones(nil, seconds*time.Second, -13, fskV23MarkHz) },
		"dial tone":            func(*rand.Rand) []int16 { return cidRenderTones(nil, seconds*time.Second, -13, 350, 440) },
		"speech-like":          cidSpeechLike,
		// Random characters, correctly framed, after a long mark: the
		// framing is right, so only the message checks stand in the way.
		"random FSK bytes": func(rng *rand.Rand) []int16 {
			var out []int16
			for _, modem := range []boards.CallerIDStandard{boards.CallerIDBell202, boards.CallerIDETSIFSK} {
				mo, _ := fskModemFor(modem)
				for range 40 {
					m := newFSKModulator(mo, AmplitudeForDBm0(-13.5), out)
					m.marks(200)
					first := []byte{cidMsgMDMF, cidMsgSDMF}[rng.IntN(2)]
					m.byte(first)
					for range 2 + rng.IntN(40) {
						m.byte(byte(rng.UintN(256)))
					}
					out = append(m.out, make([]int16, 800)...)
				}
			}
			return out
		},
	}
	for name, src := range sources {
		t.Run(name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(42, uint64(len(name))))
			audio := src(rng)
			for _, std := range []boards.CallerIDStandard{boards.CallerIDBell202, boards.CallerIDETSIFSK, boards.CallerIDDTMF} {
				if got := cidReceive(NewCallerIDReceiver(std), audio); len(got) != 0 {
					t.Errorf("%v receiver reported %+v", std, got)
				}
			}
		})
	}
}

func cidNoise(rng *rand.Rand, seconds int, levelDBm0 float64) []int16 {
	out := make([]int16, seconds*boards.SampleRate)
	sigma := AmplitudeForDBm0(levelDBm0) / math.Sqrt2
	for i := range out {
		out[i] = saturate(rng.NormFloat64() * sigma)
	}
	return out
}

// cidSpeechLike is a crude voice: a glottal-like harmonic series whose pitch
// wanders between 90 and 250 Hz, shaped by moving formants, in syllables
// of varying loudness with pauses.
func cidSpeechLike(rng *rand.Rand) []int16 {
	out := make([]int16, 20*boards.SampleRate)
	var phase float64
	pitch := 120.0
	f1, f2 := 500.0, 1500.0
	env := 0.0
	for i := range out {
		if i%400 == 0 { // every 50 ms
			pitch = min(250, max(90, pitch+rng.NormFloat64()*15))
			f1 = min(900, max(300, f1+rng.NormFloat64()*80))
			f2 = min(2500, max(900, f2+rng.NormFloat64()*150))
		}
		syllable := (i / 1600) % 5 // 200 ms units; one in five is a pause
		target := 0.0
		if syllable != 4 {
			target = AmplitudeForDBm0(-15 + rng.NormFloat64())
		}
		env += (target - env) / 200
		phase += 2 * math.Pi * pitch / boards.SampleRate
		var v float64
		for h := 1.0; h*pitch < 3800; h++ {
			f := h * pitch
			gain := 1/(1+math.Pow((f-f1)/150, 2)) + 0.6/(1+math.Pow((f-f2)/200, 2))
			v += gain * math.Sin(h*phase) / h
		}
		out[i] = saturate(env * v)
	}
	return out
}

func TestCallerIDReceiverProcessesAnyAudio(t *testing.T) {
	// Full-scale square waves and clipped extremes must not upset anything.
	var f boards.Frame
	r := NewCallerIDReceiver(boards.CallerIDETSIFSK)
	for i := range 1000 {
		for j := range f {
			if (i*len(f)+j)/3%2 == 0 {
				f[j] = math.MaxInt16
			} else {
				f[j] = math.MinInt16
			}
		}
		if cid, ok := r.Process(&f); ok {
			t.Fatalf("reported %+v from a square wave", cid)
		}
	}
	if s := fmt.Sprint(r.fsk.power); strings.Contains(s, "NaN") || strings.Contains(s, "Inf") {
		t.Fatalf("power estimate broke: %s", s)
	}
}

// cidDTMFAudio renders DTMF caller ID as NewCallerIDSignal does, with every
// tone off by freqErr, at levelDBm0 (0: nominal), with on/off times (0: the
// standard ones).
func cidDTMFAudio(t testing.TB, cid boards.CallerID, freqErr, levelDBm0 float64, on, off time.Duration) []int16 {
	t.Helper()
	digits, err := cidDTMFDigits(cid)
	if err != nil {
		t.Fatal(err)
	}
	if levelDBm0 == 0 {
		levelDBm0 = cidNominalLevel
	}
	if on == 0 {
		on, off = cidDTMFOn, cidDTMFOff
	}
	tone := boards.Tone{LoopFrom: -1}
	for i := range len(digits) {
		low, high, ok := DTMFFreqs(digits[i])
		if !ok {
			t.Fatalf("no DTMF digit %q", digits[i])
		}
		tone.Segments = append(tone.Segments, boards.Segment{
			Freqs: []float64{low * (1 + freqErr), high * (1 + freqErr)}, LevelDBm0: levelDBm0 - cidDTMFToneBelowDB, Duration: on})
		if i < len(digits)-1 {
			tone.Segments = append(tone.Segments, boards.Segment{Duration: off})
		}
	}
	return cidRenderTone(nil, tone)
}

func TestCidDTMFAudioMatchesSignal(t *testing.T) {
	cid := boards.CallerID{Number: "0123456789"}
	sig, err := NewCallerIDSignal(boards.CallerIDDTMF, cid, cidNominalLevel)
	if err != nil {
		t.Fatal(err)
	}
	want := cidDTMFAudio(t, cid, 0, 0, 0, 0)
	if got := cidDrain(t, sig); len(got) < len(want) || string(cidBytes(got[:len(want)])) != string(cidBytes(want)) {
		t.Fatal("test renderer and NewCallerIDSignal differ; the DTMF impairment tests would not test the real signal")
	}
}

func TestCallerIDReceiverDTMFRoundTrip(t *testing.T) {
	// The DTMF detector takes tones from -30 dBm0 each (ITU-T Q.24 asks for
	// -25), so DTMF caller ID is tested down to -25 dBm0 for the pair.
	imps := []struct {
		name           string
		freqErr, level float64
		snrDB          float64
		on, off        time.Duration
	}{
		{name: "nominal"},
		{name: "tones +1%", freqErr: 0.01},
		{name: "tones -1%", freqErr: -0.01},
		{name: "-5 dBm0", level: -5},
		{name: "-25 dBm0", level: -25},
		{name: "20 dB SNR", snrDB: 20},
		{name: "-25 dBm0 20 dB SNR", level: -25, snrDB: 20},
		{name: "50 ms digits and pauses", on: 50 * time.Millisecond, off: 50 * time.Millisecond},
		{name: "everything at once", freqErr: -0.01, level: -25, snrDB: 20, on: 50 * time.Millisecond, off: 50 * time.Millisecond},
	}
	seed := uint64(0)
	for _, c := range cidCases {
		for _, imp := range imps {
			seed++
			t.Run(c.name+"/"+imp.name, func(t *testing.T) {
				level := cidNominalLevel
				if imp.level != 0 {
					level = imp.level
				}
				audio := cidDTMFAudio(t, c.cid, imp.freqErr, imp.level, imp.on, imp.off)
				audio = cidLine(audio, 700+int(seed*53%160), level, imp.snrDB, seed)
				got := cidReceive(NewCallerIDReceiver(boards.CallerIDDTMF), audio)
				want := cidExpect(boards.CallerIDDTMF, c.cid)
				if len(got) != 1 || !cidSameID(got[0], want) {
					t.Fatalf("received %+v, want exactly [%+v]", got, want)
				}
			})
		}
	}
}

func TestCIDDTMFCollector(t *testing.T) {
	tests := []struct {
		digits string
		want   []boards.CallerID
	}{
		{"A5551234C", []boards.CallerID{{Number: "5551234"}}},
		{"D5551234C", []boards.CallerID{{Number: "5551234"}}},
		{"B00C", []boards.CallerID{{Unavailable: true}}},
		{"B10C", []boards.CallerID{{Withheld: true}}},
		{"B99C", nil},       // unknown information code
		{"AC", nil},         // no digits
		{"5551234C", nil},   // no start digit
		{"A555*1234C", nil}, // '*' is not part of a number
		{"A555A1234C", []boards.CallerID{{Number: "1234"}}}, // a start digit starts afresh
		{"A" + strings.Repeat("1", 21) + "C", nil},          // too long
		{"A1C A2C", []boards.CallerID{{Number: "1"}, {Number: "2"}}},
	}
	for _, tt := range tests {
		c := newCIDDTMFCollector()
		var got []boards.CallerID
		for i := range len(tt.digits) {
			if tt.digits[i] == ' ' {
				continue
			}
			if cid, ok := c.digit(tt.digits[i]); ok {
				got = append(got, cid)
			}
		}
		if fmt.Sprint(got) != fmt.Sprint(tt.want) {
			t.Errorf("%s: got %+v, want %+v", tt.digits, got, tt.want)
		}
	}
}

// A caller ID whose digits stop for longer than a second is abandoned: the
// digits after the pause are not glued to those before it.
func TestCallerIDReceiverDTMFPause(t *testing.T) {
	first := cidDTMFAudio(t, boards.CallerID{Number: "555"}, 0, 0, 0, 0)
	first = first[:len(first)-int(durationSamples(cidDTMFOn))] // drop the end digit 'C'
	rest, err := DTMFString("1234C", cidDTMFOn, cidDTMFOff, cidNominalLevel-cidDTMFToneBelowDB)
	if err != nil {
		t.Fatal(err)
	}
	audio := append(first, make([]int16, 2*boards.SampleRate)...)
	audio = cidRenderTone(audio, rest)
	if got := cidReceive(NewCallerIDReceiver(boards.CallerIDDTMF), cidLine(audio, 0, 0, 0, 0)); len(got) != 0 {
		t.Fatalf("reported %+v across a 2 s pause", got)
	}
}

// The margins claimed in CallerIDReceiver's documentation, beyond what the
// standards require.
func TestCallerIDReceiverMargins(t *testing.T) {
	cid := cidCases[1].cid
	margins := []cidImpair{
		{name: "tones +5%", freqErr: 0.05},
		{name: "tones -5%", freqErr: -0.05},
		{name: "baud +4%", baudErr: 0.04},
		{name: "baud -4%", baudErr: -0.04},
		{name: "12 dB SNR", snrDB: 12},
		{name: "-45 dBm0", levelDBm0: -45},
	}
	for _, std := range []boards.CallerIDStandard{boards.CallerIDBell202, boards.CallerIDETSIFSKAfterRing} {
		for _, imp := range margins {
			for seed := range uint64(5) {
				imp.phase = float64(seed)
				level := cidNominalLevel
				if imp.levelDBm0 != 0 {
					level = imp.levelDBm0
				}
				audio := cidLine(cidFSKAudio(t, std, cid, imp), 900+int(seed)*31, level, imp.snrDB, 1000+seed)
				got := cidReceive(NewCallerIDReceiver(std), audio)
				if want := cidExpect(std, cid); len(got) != 1 || !cidSameID(got[0], want) {
					t.Errorf("%v %s seed %d: received %+v, want [%+v]", std, imp.name, seed, got, want)
				}
			}
		}
	}
}
