package peers

import (
	"encoding/binary"
	"math"
	"strings"
	"testing"
	"time"
)

func TestToneLevels(t *testing.T) {
	tone := Tone(1004, -10, time.Second)
	if len(tone) != 8000 {
		t.Fatalf("1 s tone has %d samples, want 8000", len(tone))
	}
	if got := ToneDBm0(tone, 1004); math.Abs(got+10) > 0.1 {
		t.Errorf("1004 Hz component %.2f dBm0, want -10", got)
	}
	if got := LevelDBm0(tone); math.Abs(got+10) > 0.1 {
		t.Errorf("total level %.2f dBm0, want -10", got)
	}
	if got := ToneDBm0(tone, 800); got > -40 {
		t.Errorf("800 Hz measured %.1f dBm0 in a 1004 Hz tone, want below -40", got)
	}
	// Through G.711 μ-law and back the level holds within a fraction of a dB.
	if got := ToneDBm0(DecodeUlaw(EncodeUlaw(tone)), 1004); math.Abs(got+10) > 0.3 {
		t.Errorf("after μ-law: %.2f dBm0, want -10", got)
	}
	if !math.IsInf(ToneDBm0(nil, 1004), -1) || !math.IsInf(LevelDBm0(make([]int16, 80)), -1) {
		t.Error("silence should measure -inf")
	}
	// Full scale is +3.17 dBm0 (G.711).
	if got := LevelDBm0(Tone(1000, 3.17, time.Second)); math.Abs(got-3.17) > 0.05 {
		t.Errorf("full-scale sine %.2f dBm0, want 3.17", got)
	}
}

func TestTrimSilence(t *testing.T) {
	tone := Tone(1004, -20, 100*time.Millisecond)
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

func TestWAVRoundTrip(t *testing.T) {
	in := Tone(440, -6, 100*time.Millisecond)
	out, err := ParseWAV(EncodeWAV(in))
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != len(in) {
		t.Fatalf("%d samples back, want %d", len(out), len(in))
	}
	for i := range in {
		if in[i] != out[i] {
			t.Fatalf("sample %d: %d, want %d", i, out[i], in[i])
		}
	}
}

func TestParseWAVTruncatedRecording(t *testing.T) {
	// A recorder stopped mid-call leaves the header's sizes too large.
	b := EncodeWAV(make([]int16, 1000))
	b = b[:44+500*2+1]
	out, err := ParseWAV(b)
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != 500 {
		t.Fatalf("%d samples from a cut recording, want the 500 present", len(out))
	}
}

func TestParseWAVSkipsOtherChunks(t *testing.T) {
	b := EncodeWAV([]int16{1, 2, 3})
	// Insert a LIST chunk with an odd size (padded) between fmt and data.
	list := []byte("LIST\x03\x00\x00\x00abc\x00")
	b = append(append(append([]byte{}, b[:36]...), list...), b[36:]...)
	out, err := ParseWAV(b)
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != 3 || out[2] != 3 {
		t.Fatalf("got %v, want [1 2 3]", out)
	}
}

func TestParseWAVErrors(t *testing.T) {
	good := EncodeWAV([]int16{1, 2})
	stereo := append([]byte(nil), good...)
	binary.LittleEndian.PutUint16(stereo[22:], 2)
	wide := append([]byte(nil), good...)
	binary.LittleEndian.PutUint32(wide[24:], 16000)
	noFmt := append(append([]byte(nil), good[:12]...), good[36:]...)
	longFmt := append([]byte(nil), good...)
	binary.LittleEndian.PutUint32(longFmt[16:], 1000)
	for name, tc := range map[string]struct {
		b    []byte
		want string
	}{
		"empty":       {nil, "not a RIFF/WAVE"},
		"not riff":    {[]byte("RIFX\x00\x00\x00\x00WAVE"), "not a RIFF/WAVE"},
		"stereo":      {stereo, "2 channel"},
		"16 kHz":      {wide, "16000 Hz"},
		"no fmt":      {noFmt, `"data" chunk before "fmt "`},
		"no data":     {good[:36], `no "data" chunk`},
		"fmt too big": {longFmt, "declares 1000 bytes"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := ParseWAV(tc.b)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func FuzzParseWAV(f *testing.F) {
	f.Add(EncodeWAV([]int16{0, 100, -100, 32767, -32768}))
	f.Add([]byte("RIFF\x00\x00\x00\x00WAVE"))
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := ParseWAV(b)
		if err != nil {
			return
		}
		// Whatever parses must round-trip through our own writer.
		again, err := ParseWAV(EncodeWAV(s))
		if err != nil || len(again) != len(s) {
			t.Fatalf("re-encoded %d samples: %d back, %v", len(s), len(again), err)
		}
	})
}
