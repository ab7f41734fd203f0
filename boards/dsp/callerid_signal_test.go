package dsp

import (
	"errors"
	"math"
	"math/cmplx"
	"strings"
	"testing"
	"time"

	"github.com/tipring/tipring/boards"
	"github.com/tipring/tipring/boards/region"
)

func TestCallerIDSignalLengthAndFill(t *testing.T) {
	cid := boards.CallerID{Number: "5551234", Name: "Ada", Time: time.Date(2025, 3, 4, 5, 6, 0, 0, time.UTC)}
	msg, err := EncodeMDMF(cid)
	if err != nil {
		t.Fatal(err)
	}
	fskBits := cidSeizureBits + cidMarkBits + 10*len(msg) + cidTrailMarks
	fsk := time.Duration(fskBits) * time.Second / fskBaud
	tests := []struct {
		std  boards.CallerIDStandard
		want time.Duration
	}{
		{boards.CallerIDBell202, fsk},
		{boards.CallerIDETSIFSKAfterRing, fsk},
		{boards.CallerIDETSIFSK, cidDTASLength + cidDTASGap + fsk},
		// "A5551234C": 9 digits and 8 pauses.
		{boards.CallerIDDTMF, 9*cidDTMFOn + 8*cidDTMFOff},
	}
	for _, tt := range tests {
		t.Run(tt.std.String(), func(t *testing.T) {
			s, err := NewCallerIDSignal(tt.std, cid, cidNominalLevel)
			if err != nil {
				t.Fatal(err)
			}
			if d := s.Duration(); d < tt.want-time.Millisecond || d > tt.want+time.Millisecond {
				t.Errorf("Duration = %v, want %v", d, tt.want)
			}
			frames := 0
			var f boards.Frame
			for !s.Fill(&f) {
				frames++
				if frames > 100 {
					t.Fatal("never done")
				}
			}
			frames++
			if want := int((s.Duration() + boards.FrameDuration - 1) / boards.FrameDuration); frames != want {
				t.Errorf("done after %d frames, want %d for %v", frames, want, s.Duration())
			}
			// After the end: silence, and still done.
			for i := range f {
				f[i] = 1
			}
			if !s.Fill(&f) || f != (boards.Frame{}) {
				t.Error("Fill after the end is not silent and done")
			}
		})
	}
}

// The send level is what the caller asked for: GR-30 sends -13.5 dBm0 and
// phones are specified against it.
func TestCallerIDSignalLevel(t *testing.T) {
	for _, level := range []float64{0, -13.5, -40} {
		s, err := NewCallerIDSignal(boards.CallerIDBell202, boards.CallerID{Number: "1"}, level)
		if err != nil {
			t.Fatal(err)
		}
		if got := LevelDBm0(s.samples); math.Abs(got-level) > 0.2 {
			t.Errorf("level %v dBm0: measured %.2f dBm0", level, got)
		}
	}
}

// ETSI before-ring: DT-AS 2130 + 2750 Hz for 100 ms, then silence before
// the FSK.
func TestCallerIDSignalDTAS(t *testing.T) {
	s, err := NewCallerIDSignal(boards.CallerIDETSIFSK, boards.CallerID{Number: "1"}, cidNominalLevel)
	if err != nil {
		t.Fatal(err)
	}
	dtas := s.samples[:int(durationSamples(cidDTASLength))]
	for _, hz := range []float64{cidDTASLowHz, cidDTASHighHz} {
		if got, want := ToneLevelDBm0(dtas, hz), cidNominalLevel-cidDTASToneBelowDB; math.Abs(got-want) > 0.5 {
			t.Errorf("DT-AS %v Hz at %.1f dBm0, want %.1f", hz, got, want)
		}
	}
	if got := ToneLevelDBm0(dtas, fskV23MarkHz); got > -40 {
		t.Errorf("DT-AS carries %.1f dBm0 of the FSK mark tone", got)
	}
	gap := s.samples[len(dtas) : len(dtas)+int(durationSamples(cidDTASGap))]
	if got := LevelDBm0(gap); got > -90 {
		t.Errorf("gap after DT-AS is at %.1f dBm0, not silent", got)
	}
}

// The FSK, bit by bit: 300 seizure bits alternating from 0 (as GR-30's 30
// bytes of 0x55 with their start and stop bits), 180 marks, the message as
// start bit, 8 data bits least significant first, stop bit, then a few marks.
func TestCallerIDSignalFSKBits(t *testing.T) {
	cid := boards.CallerID{Number: "5551234", Name: "Ann"}
	msg, err := EncodeMDMF(cid)
	if err != nil {
		t.Fatal(err)
	}
	var want []bool
	for i := range cidSeizureBits {
		want = append(want, i%2 == 1)
	}
	for range cidMarkBits {
		want = append(want, true)
	}
	for _, b := range msg {
		want = append(want, false)
		for i := range 8 {
			want = append(want, b>>i&1 == 1)
		}
		want = append(want, true)
	}
	for range cidTrailMarks {
		want = append(want, true)
	}
	for _, std := range []boards.CallerIDStandard{boards.CallerIDBell202, boards.CallerIDETSIFSK, boards.CallerIDETSIFSKAfterRing} {
		s, err := NewCallerIDSignal(std, cid, cidNominalLevel)
		if err != nil {
			t.Fatal(err)
		}
		fsk := s.samples
		if std == boards.CallerIDETSIFSK {
			fsk = fsk[int(durationSamples(cidDTASLength+cidDTASGap)):]
		}
		modem, _ := fskModemFor(std)
		bits := cidBitsOf(fsk, modem.markHz, modem.spaceHz)
		if len(bits) != len(want) {
			t.Fatalf("%v: %d bits in the FSK, want %d", std, len(bits), len(want))
		}
		for i := range want {
			if bits[i] != want[i] {
				t.Fatalf("%v: bit %d is %v, want %v", std, i, bits[i], want[i])
			}
		}
	}
}

// cidBitsOf reads FSK bit by bit, knowing where each bit is: for each bit
// the tone with more energy over the bit's samples wins.
func cidBitsOf(x []int16, markHz, spaceHz float64) []bool {
	spb := float64(boards.SampleRate) / fskBaud
	var bits []bool
	for i := 0; ; i++ {
		from, to := int(math.Ceil(float64(i)*spb)), int(math.Ceil(float64(i+1)*spb))
		if to > len(x) {
			return bits
		}
		var m, s complex128
		for n := from; n < to; n++ {
			v := complex(float64(x[n]), 0)
			m += v * cmplx.Rect(1, -2*math.Pi*markHz*float64(n)/boards.SampleRate)
			s += v * cmplx.Rect(1, -2*math.Pi*spaceHz*float64(n)/boards.SampleRate)
		}
		bits = append(bits, cmplx.Abs(m) > cmplx.Abs(s))
	}
}

func TestNewCallerIDSignalErrors(t *testing.T) {
	tests := []struct {
		name  string
		std   boards.CallerIDStandard
		cid   boards.CallerID
		level float64
		is    error
		text  string
	}{
		{"none", boards.CallerIDNone, boards.CallerID{Number: "1"}, -13.5, nil, "sends no caller ID"},
		{"unknown standard", boards.CallerIDStandard(99), boards.CallerID{Number: "1"}, -13.5, nil, "sends no caller ID"},
		{"too loud", boards.CallerIDBell202, boards.CallerID{Number: "1"}, 3, nil, "level 3 dBm0 outside"},
		{"NaN level", boards.CallerIDBell202, boards.CallerID{Number: "1"}, math.NaN(), nil, "level NaN"},
		{"bad number", boards.CallerIDETSIFSK, boards.CallerID{Number: "+44"}, -13.5, ErrCallerIDParameter, "only digits"},
		{"empty", boards.CallerIDBell202, boards.CallerID{}, -13.5, ErrCallerIDEmpty, ""},
		{"DTMF name only", boards.CallerIDDTMF, boards.CallerID{Name: "X"}, -13.5, ErrCallerIDEmpty, "only a number"},
		{"DTMF bad number", boards.CallerIDDTMF, boards.CallerID{Number: "12#"}, -13.5, ErrCallerIDParameter, "only digits"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := NewCallerIDSignal(tt.std, tt.cid, tt.level)
			if err == nil {
				t.Fatalf("no error, signal of %v", s.Duration())
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("error %v is not %v", err, tt.is)
			}
			if !strings.Contains(err.Error(), tt.text) {
				t.Errorf("error %q does not say %q", err, tt.text)
			}
		})
	}
}

func TestCallerIDTimingFor(t *testing.T) {
	ms := time.Millisecond
	tests := []struct {
		std            boards.CallerIDStandard
		before, rev    bool
		leadInMin      time.Duration // the standard's minimum
		leadOutMin     time.Duration
		leadOutMax     time.Duration // 0: none
		signalMaxStart time.Duration // 0: none
	}{
		// GR-30: ≥ 500 ms after the first ring, ≥ 200 ms before the second.
		{std: boards.CallerIDBell202, leadInMin: 500 * ms, leadOutMin: 200 * ms},
		{std: boards.CallerIDETSIFSKAfterRing, leadInMin: 500 * ms, leadOutMin: 200 * ms},
		// EN 300 659-1 / SIN 227: ≥ 100 ms from reversal to DT-AS, ≥ 200 ms
		// from the end of the data to the ring.
		{std: boards.CallerIDETSIFSK, before: true, rev: true, leadInMin: 100 * ms, leadOutMin: 200 * ms},
		// DTMF: ≥ 200 ms after the reversal; first ring 200-500 ms after.
		{std: boards.CallerIDDTMF, before: true, rev: true, leadInMin: 200 * ms, leadOutMin: 200 * ms, leadOutMax: 500 * ms},
	}
	for _, tt := range tests {
		got := CallerIDTimingFor(tt.std)
		if got.BeforeFirstRing != tt.before || got.Reverse != tt.rev || got.Restore != tt.rev {
			t.Errorf("%v: %+v, want before=%v reverse=restore=%v", tt.std, got, tt.before, tt.rev)
		}
		if got.LeadIn < tt.leadInMin || got.LeadOut < tt.leadOutMin || (tt.leadOutMax != 0 && got.LeadOut > tt.leadOutMax) {
			t.Errorf("%v: lead-in %v (min %v), lead-out %v (min %v, max %v)", tt.std, got.LeadIn, tt.leadInMin, got.LeadOut, tt.leadOutMin, tt.leadOutMax)
		}
	}
	if got := CallerIDTimingFor(boards.CallerIDNone); got != (CallerIDTiming{}) {
		t.Errorf("none: %+v, want zero", got)
	}
}

// In every region that sends caller ID after the first ring, the longest
// caller ID we send fits in the cadence's silence with the lead-in and
// lead-out: the ring cadence need not be stretched for a normal call.
func TestCallerIDFitsRegionCadence(t *testing.T) {
	longest := boards.CallerID{
		Number: strings.Repeat("9", cidMaxNumberLen),
		Name:   strings.Repeat("N", cidMaxNameLen),
		Time:   time.Date(2025, 12, 31, 23, 59, 0, 0, time.UTC),
	}
	for _, code := range region.Codes() {
		r, err := region.Lookup(code)
		if err != nil {
			t.Fatal(err)
		}
		if r.CallerID == boards.CallerIDNone {
			continue
		}
		s, err := NewCallerIDSignal(r.CallerID, longest, cidNominalLevel)
		if err != nil {
			t.Fatal(err)
		}
		tm := CallerIDTimingFor(r.CallerID)
		need := tm.LeadIn + s.Duration() + tm.LeadOut
		if tm.BeforeFirstRing {
			if need > 2*time.Second {
				t.Errorf("%s: %v before the first ring", code, need)
			}
			continue
		}
		if silence := r.Ring[1]; need > silence {
			t.Errorf("%s: caller ID needs %v after the first ring, the cadence is silent for %v", code, need, silence)
		}
	}
}

func TestCallerIDSignalFillDoesNotAllocate(t *testing.T) {
	s, err := NewCallerIDSignal(boards.CallerIDETSIFSK, boards.CallerID{Number: "5551234", Name: "Ann"}, cidNominalLevel)
	if err != nil {
		t.Fatal(err)
	}
	var f boards.Frame
	if n := testing.AllocsPerRun(100, func() {
		if s.Fill(&f) {
			s.pos = 0
		}
	}); n != 0 {
		t.Errorf("Fill allocates %v times per frame", n)
	}
}

func TestCallerIDReceiverProcessDoesNotAllocate(t *testing.T) {
	for _, std := range []boards.CallerIDStandard{boards.CallerIDBell202, boards.CallerIDETSIFSK, boards.CallerIDDTMF} {
		// Caller-ID audio without its last frames: everything but the
		// decoding of a finished message, which makes the strings of the
		// result.
		s, err := NewCallerIDSignal(std, boards.CallerID{Number: "5551234"}, cidNominalLevel)
		if err != nil {
			t.Fatal(err)
		}
		audio := s.samples[:len(s.samples)-2*boards.FrameSamples]
		audio = audio[:len(audio)-len(audio)%boards.FrameSamples]
		r := NewCallerIDReceiver(std)
		var f boards.Frame
		i := 0
		if n := testing.AllocsPerRun(200, func() {
			copy(f[:], audio[i:])
			i = (i + boards.FrameSamples) % len(audio)
			r.Process(&f)
		}); n != 0 {
			t.Errorf("%v: Process allocates %v times per frame", std, n)
		}
	}
}
