package prompts

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"slices"
	"strings"

	"github.com/tipring/tipring/boards"
	"github.com/tipring/tipring/sip/media/g711"
)

// GapSamples is the silence Clip puts between two prompts: 120 ms, about
// the pause between words in careful speech, since each recording is
// trimmed to the word itself.
const GapSamples = 120 * boards.SampleRate / 1000

// ErrUnknownPrompt is returned (wrapped, with the key) by Clip for a key
// that is not in Keys.
var ErrUnknownPrompt = errors.New("unknown prompt")

// Set is every prompt, kept as G.711 μ-law (half the memory of PCM) and
// decoded when a clip is made: decoding costs well under a microsecond per
// 20 ms, and prompts are rare. It is not changed after Load and is safe for
// concurrent use.
type Set struct {
	ulaw map[string][]byte
}

// Load reads every prompt once from dir, the recordings made by
// scripts/prompts.sh: <key>.ul, raw G.711 μ-law at 8 kHz. They are files
// beside the firmware rather than embedded in it: an update image carries
// them (so a region's language can change without a new binary), and the
// binary stays inside its flash budget. It fails if a key of Keys has no
// recording, if a recording is empty, or if there is a recording that no
// key names: the data and the list must have been made together.
func Load(dir string) (*Set, error) {
	s, err := load(os.DirFS(dir), ".")
	if err != nil {
		return nil, fmt.Errorf("prompts: %s: %w", dir, err)
	}
	return s, nil
}

func load(fsys fs.FS, dir string) (*Set, error) {
	keys := Keys()
	entries, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", dir, err)
	}
	for _, e := range entries {
		key, ok := strings.CutSuffix(e.Name(), ".ul")
		if ok && !slices.Contains(keys, key) {
			return nil, fmt.Errorf("recording %s has no key in Keys", e.Name())
		}
	}
	s := &Set{ulaw: make(map[string][]byte, len(keys))}
	for _, key := range keys {
		b, err := fs.ReadFile(fsys, path.Join(dir, key+".ul"))
		if err != nil {
			return nil, fmt.Errorf("prompt %q: %w", key, err)
		}
		if len(b) == 0 {
			return nil, fmt.Errorf("prompt %q: empty recording", key)
		}
		s.ulaw[key] = b
	}
	return s, nil
}

// Clip returns the prompts named by keys, one after the other with
// GapSamples of silence between them, as new 8 kHz PCM the caller owns. No
// keys give an empty clip. An unknown key is an error that names it, so a
// typo is found before the caller hears nothing.
func (s *Set) Clip(keys ...string) ([]int16, error) {
	n := 0
	for i, k := range keys {
		u, ok := s.ulaw[k]
		if !ok {
			return nil, fmt.Errorf("prompts: %w %q", ErrUnknownPrompt, k)
		}
		if i > 0 {
			n += GapSamples
		}
		n += len(u)
	}
	clip := make([]int16, n) // zeroed: the gaps are silence
	at := 0
	for i, k := range keys {
		if i > 0 {
			at += GapSamples
		}
		at += g711.UlawDecodeFrame(clip[at:], s.ulaw[k])
	}
	return clip, nil
}
