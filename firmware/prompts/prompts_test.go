package prompts

import (
	"errors"
	"os"
	"slices"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/tipring/tipring/boards"
	"github.com/tipring/tipring/boards/dsp"
	"github.com/tipring/tipring/sip/media/g711"
)

// maxDataBytes is the budget for all recordings together: they live in
// both slots of a small device's flash, beside the binary. One language
// takes about 450 KB.
const maxDataBytes = 512 << 10

func loadSet(t *testing.T) *Set {
	t.Helper()
	s, err := Load("data")
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	return s
}

func TestKeysAreUniqueAndPlain(t *testing.T) {
	keys := Keys()
	seen := map[string]bool{}
	for _, k := range keys {
		if seen[k] {
			t.Errorf("key %q listed twice", k)
		}
		seen[k] = true
		if k == "" || strings.Trim(k, "abcdefghijklmnopqrstuvwxyz0123456789_") != "" {
			t.Errorf("key %q: want lower case letters, digits and _ (it is a file name)", k)
		}
	}
	keys[0] = "changed"
	if Keys()[0] == "changed" {
		t.Error("Keys returns a shared slice")
	}
}

// The data directory holds exactly one recording per key, within budget.
func TestDataMatchesKeysAndFitsBudget(t *testing.T) {
	entries, err := os.ReadDir("data")
	if err != nil {
		t.Fatal(err)
	}
	keys := Keys()
	var files []string
	total := 0
	for _, e := range entries {
		key, ok := strings.CutSuffix(e.Name(), ".ul")
		if !ok {
			continue
		}
		files = append(files, key)
		info, err := e.Info()
		if err != nil {
			t.Fatal(err)
		}
		total += int(info.Size())
		if !slices.Contains(keys, key) {
			t.Errorf("data/%s has no key in Keys", e.Name())
		}
	}
	for _, k := range keys {
		if !slices.Contains(files, k) {
			t.Errorf("key %q has no data/%s.ul (run scripts/prompts.sh)", k, k)
		}
	}
	t.Logf("%d recordings, %d bytes, %.1f s of audio", len(files), total, float64(total)/boards.SampleRate)
	if total > maxDataBytes {
		t.Errorf("recordings take %d bytes, budget %d", total, maxDataBytes)
	}
}

func TestLoadDecodesEveryPrompt(t *testing.T) {
	s := loadSet(t)
	for _, k := range Keys() {
		clip, err := s.Clip(k)
		if err != nil {
			t.Fatalf("Clip(%q): %v", k, err)
		}
		raw, err := os.ReadFile("data/" + k + ".ul")
		if err != nil {
			t.Fatal(err)
		}
		if len(clip) != len(raw) {
			t.Errorf("%s: %d samples from %d bytes", k, len(clip), len(raw))
		}
		// A word is at least a tenth of a second; the longest sentence a
		// few seconds. Anything else is a broken recording.
		if d := float64(len(clip)) / boards.SampleRate; d < 0.1 || d > 5 {
			t.Errorf("%s lasts %.2f s", k, d)
		}
	}
}

func TestLoadRefusesDataThatDoesNotMatchKeys(t *testing.T) {
	full := fstest.MapFS{}
	for _, k := range Keys() {
		full["d/"+k+".ul"] = &fstest.MapFile{Data: []byte{0x80, 0x00}}
	}
	if _, err := load(full, "d"); err != nil {
		t.Fatalf("complete data: %v", err)
	}

	missing := cloneFS(full)
	delete(missing, "d/"+Dollars+".ul")
	if _, err := load(missing, "d"); err == nil || !strings.Contains(err.Error(), `"dollars"`) {
		t.Errorf("missing dollars.ul: err = %v, want one naming the key", err)
	}

	extra := cloneFS(full)
	extra["d/yen.ul"] = &fstest.MapFile{Data: []byte{1}}
	if _, err := load(extra, "d"); err == nil || !strings.Contains(err.Error(), "yen.ul") {
		t.Errorf("extra yen.ul: err = %v, want one naming the file", err)
	}

	empty := cloneFS(full)
	empty["d/"+Cent+".ul"] = &fstest.MapFile{}
	if _, err := load(empty, "d"); err == nil || !strings.Contains(err.Error(), `"cent"`) {
		t.Errorf("empty cent.ul: err = %v, want one naming the key", err)
	}
}

func cloneFS(m fstest.MapFS) fstest.MapFS {
	c := fstest.MapFS{}
	for k, v := range m {
		c[k] = v
	}
	return c
}

func TestClipConcatenatesWithGaps(t *testing.T) {
	s := loadSet(t)
	a, _ := s.Clip(YouHave)
	b, _ := s.Clip("n_5")
	both, err := s.Clip(YouHave, "n_5")
	if err != nil {
		t.Fatal(err)
	}
	if len(both) != len(a)+GapSamples+len(b) {
		t.Fatalf("clip of 2 prompts: %d samples, want %d+%d+%d", len(both), len(a), GapSamples, len(b))
	}
	if !slices.Equal(both[:len(a)], a) || !slices.Equal(both[len(a)+GapSamples:], b) {
		t.Error("prompts not copied unchanged into the clip")
	}
	if dsp.LevelDBm0(both[len(a):len(a)+GapSamples]) != dsp.FloorDBm0 {
		t.Error("the gap between prompts is not silent")
	}
	// The caller owns the clip: changing it must not change the Set.
	clear(both)
	again, _ := s.Clip(YouHave)
	if !slices.Equal(again, a) {
		t.Error("changing a clip changed the prompt")
	}
	if c, err := s.Clip(); err != nil || len(c) != 0 {
		t.Errorf("Clip() = %d samples, %v; want empty", len(c), err)
	}
}

func TestClipUnknownKey(t *testing.T) {
	s := loadSet(t)
	_, err := s.Clip(BalanceIs, "n_21", Dollars)
	if !errors.Is(err, ErrUnknownPrompt) || !strings.Contains(err.Error(), `"n_21"`) {
		t.Errorf("Clip with n_21: err = %v, want ErrUnknownPrompt naming n_21", err)
	}
}

// activeLevel is the level of the 20 ms frames within 30 dB of the loudest
// one: speech without its pauses.
func activeLevel(pcm []int16) float64 {
	var levels []float64
	for i := 0; i < len(pcm); i += boards.FrameSamples {
		levels = append(levels, dsp.LevelDBm0(pcm[i:min(len(pcm), i+boards.FrameSamples)]))
	}
	loudest := slices.Max(levels)
	var active []int16
	for f, l := range levels {
		if l > dsp.FloorDBm0 && l >= loudest-30 {
			i := f * boards.FrameSamples
			active = append(active, pcm[i:min(len(pcm), i+boards.FrameSamples)]...)
		}
	}
	return dsp.LevelDBm0(active)
}

// Every prompt is at the same speech level, so that words stitched together
// sound like one speaker, and none is clipped.
func TestPromptLevelsAreSpeechLike(t *testing.T) {
	s := loadSet(t)
	maxCode := g711.DecodeUlaw(0x80)
	for _, k := range Keys() {
		pcm, _ := s.Clip(k)
		if l := activeLevel(pcm); l < -19 || l > -13 {
			t.Errorf("%s: speech level %.1f dBm0, want about -16", k, l)
		}
		clipped := 0
		for _, v := range pcm {
			if v >= maxCode || v <= -maxCode {
				clipped++
			}
		}
		if clipped > 0 {
			t.Errorf("%s: %d samples at full scale", k, clipped)
		}
		// Speech peaks far above its average (crest factor), a tone or a
		// buzz does not: measured against a sine of the same level.
		var peak int16
		for _, v := range pcm {
			peak = max(peak, v, -v)
		}
		crest := dsp.DBm0(float64(peak)/1.4142) - dsp.LevelDBm0(pcm)
		if crest < 6 {
			t.Errorf("%s: crest factor %.1f dB, not like speech", k, crest)
		}
	}
}

func TestSentenceClipLevel(t *testing.T) {
	s := loadSet(t)
	pcm, err := s.Clip(BalanceSentence(12_340_000, "USD", 41)...)
	if err != nil {
		t.Fatal(err)
	}
	if d := float64(len(pcm)) / boards.SampleRate; d < 4 || d > 15 {
		t.Errorf("balance sentence lasts %.1f s", d)
	}
	if l := activeLevel(pcm); l < -19 || l > -13 {
		t.Errorf("balance sentence at %.1f dBm0, want about -16", l)
	}
	if l := dsp.LevelDBm0(pcm); l < -30 {
		t.Errorf("balance sentence overall at %.1f dBm0: mostly silence", l)
	}
}

func TestLoadNamesAMissingDirectory(t *testing.T) {
	dir := t.TempDir() + "/no-prompts-here"
	_, err := Load(dir)
	if err == nil || !strings.Contains(err.Error(), dir) {
		t.Fatalf("Load(%q) = %v, want an error naming the directory", dir, err)
	}
}
