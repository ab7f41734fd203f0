package dsp

import (
	"testing"
	"time"

	"github.com/tipring/tipring/boards"
)

var cidBenchID = boards.CallerID{Number: "2125550123", Name: "Grace Hopper", Time: time.Date(2025, 12, 24, 18, 45, 0, 0, time.UTC)}

// BenchmarkCallerIDSignalFill is the per-frame cost on the board's audio
// clock; it must not allocate.
func BenchmarkCallerIDSignalFill(b *testing.B) {
	s, err := NewCallerIDSignal(boards.CallerIDETSIFSK, cidBenchID, cidNominalLevel)
	if err != nil {
		b.Fatal(err)
	}
	var f boards.Frame
	b.ReportAllocs()
	for b.Loop() {
		if s.Fill(&f) {
			s.pos = 0
		}
	}
}

func BenchmarkNewCallerIDSignal(b *testing.B) {
	for _, std := range []boards.CallerIDStandard{boards.CallerIDBell202, boards.CallerIDETSIFSK, boards.CallerIDDTMF} {
		b.Run(std.String(), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := NewCallerIDSignal(std, cidBenchID, cidNominalLevel); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkCallerIDReceiverProcess is the per-frame cost of listening for
// caller ID, over audio that repeats a whole caller ID with a second of
// silence between. Steady state does not allocate; each decoded message
// makes the strings of its result (a few allocations per 1.5 s of audio,
// which round to 0 allocs/op).
func BenchmarkCallerIDReceiverProcess(b *testing.B) {
	for _, std := range []boards.CallerIDStandard{boards.CallerIDBell202, boards.CallerIDETSIFSK, boards.CallerIDDTMF} {
		b.Run(std.String(), func(b *testing.B) {
			s, err := NewCallerIDSignal(std, cidBenchID, cidNominalLevel)
			if err != nil {
				b.Fatal(err)
			}
			audio := make([]int16, boards.SampleRate, boards.SampleRate+len(s.samples)+boards.FrameSamples)
			audio = append(audio, s.samples...)
			audio = append(audio, make([]int16, boards.FrameSamples-len(audio)%boards.FrameSamples)...)
			r := NewCallerIDReceiver(std)
			var f boards.Frame
			i, found := 0, 0
			b.ReportAllocs()
			for b.Loop() {
				copy(f[:], audio[i:])
				i = (i + boards.FrameSamples) % len(audio)
				if _, ok := r.Process(&f); ok {
					found++
				}
			}
			if frames := len(audio) / boards.FrameSamples; b.N >= 2*frames && found == 0 {
				b.Fatal("the receiver decoded nothing: the benchmark measures the wrong path")
			}
		})
	}
}

func BenchmarkDecodeCallerIDMessage(b *testing.B) {
	msg, err := EncodeMDMF(cidBenchID)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := DecodeCallerIDMessage(msg); err != nil {
			b.Fatal(err)
		}
	}
}
