// Command prompts makes the spoken prompts the firmware embeds
// (firmware/prompts/data): for every key of prompts.Keys it has espeak-ng
// say the key's text, trims the silence at both ends, resamples to 8 kHz
// through a windowed-sinc low-pass, sets the speech level to −16 dBm0 and
// writes <key>.ul, raw G.711 μ-law. VERSION records the espeak-ng version
// and settings: the output is the same byte for byte for the same version.
//
// Run it through scripts/prompts.sh, which installs espeak-ng first:
//
//	go run ./scripts/prompts -out firmware/prompts/data
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/tipring/tipring/firmware/prompts"
	"github.com/tipring/tipring/sip/media/g711"
)

// The voice: US English, a little slower than espeak-ng's default of 175
// words per minute, since the telephone band takes some clarity away. (At
// 150 the prompts come to 430 KB; at 165, 390 KB.)
const (
	voice = "en-us"
	speed = 165
)

func main() {
	out := flag.String("out", "firmware/prompts/data", "directory for the .ul files and VERSION")
	espeak := flag.String("espeak", "espeak-ng", "espeak-ng binary")
	flag.Parse()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	g := generator{espeak: *espeak, log: log}
	if err := g.generate(ctx, *out); err != nil {
		log.Error("prompts", "err", err)
		os.Exit(1)
	}
}

type generator struct {
	espeak string
	log    *slog.Logger
}

// generate writes every prompt and VERSION into dir, and removes .ul files
// that no key names any more.
func (g generator) generate(ctx context.Context, dir string) error {
	ver, err := g.version(ctx)
	if err != nil {
		return err
	}
	table, err := checkedTexts()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("creating %s: %w", dir, err)
	}
	total := 0
	for _, key := range prompts.Keys() {
		ul, err := g.render(ctx, table[key])
		if err != nil {
			return fmt.Errorf("prompt %q: %w", key, err)
		}
		if err := os.WriteFile(filepath.Join(dir, key+".ul"), ul, 0o644); err != nil {
			return fmt.Errorf("prompt %q: %w", key, err)
		}
		total += len(ul)
	}
	old, err := filepath.Glob(filepath.Join(dir, "*.ul"))
	if err != nil {
		return fmt.Errorf("listing %s: %w", dir, err)
	}
	for _, f := range old {
		if _, ok := table[strings.TrimSuffix(filepath.Base(f), ".ul")]; !ok {
			if err := os.Remove(f); err != nil {
				return fmt.Errorf("removing stale prompt: %w", err)
			}
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "VERSION"), []byte(versionFile(ver)), 0o644); err != nil {
		return fmt.Errorf("writing VERSION: %w", err)
	}
	g.log.Info("prompts written", "dir", dir, "prompts", len(table), "bytes", total,
		"seconds", float64(total)/8000, "espeak-ng", ver)
	return nil
}

// checkedTexts is texts, after checking that it speaks exactly the keys the
// firmware asks for.
func checkedTexts() (map[string]string, error) {
	table := texts()
	keys := prompts.Keys()
	for _, k := range keys {
		if strings.TrimSpace(table[k]) == "" {
			return nil, fmt.Errorf("prompt %q has no text", k)
		}
	}
	for _, k := range slices.Sorted(maps.Keys(table)) {
		if !slices.Contains(keys, k) {
			return nil, fmt.Errorf("text for %q, which is not in prompts.Keys", k)
		}
	}
	return table, nil
}

// versionFile is the content of VERSION: what the output depends on.
func versionFile(espeakVersion string) string {
	return "espeak-ng " + espeakVersion + "\n" +
		"voice " + voice + ", " + strconv.Itoa(speed) + " words per minute\n"
}

var versionRE = regexp.MustCompile(`\d+\.\d+(\.\d+)?`)

// version asks espeak-ng its version ("1.51"): the voice data comes with
// the program, so the version pins the sound.
func (g generator) version(ctx context.Context) (string, error) {
	out, err := exec.CommandContext(ctx, g.espeak, "--version").Output()
	if err != nil {
		return "", fmt.Errorf("running %s --version (is espeak-ng installed? scripts/prompts.sh installs it): %w", g.espeak, err)
	}
	v := versionRE.FindString(string(out))
	if v == "" {
		return "", fmt.Errorf("no version in %s --version output %q", g.espeak, out)
	}
	return v, nil
}

// render has espeak-ng say text and returns it as shaped 8 kHz μ-law.
func (g generator) render(ctx context.Context, text string) ([]byte, error) {
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, g.espeak, "-v", voice, "-s", strconv.Itoa(speed), "--stdout", text)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("espeak-ng: %w: %s", err, bytes.TrimSpace(stderr.Bytes()))
	}
	pcm, rate, err := parseWAV(stdout.Bytes())
	if err != nil {
		return nil, fmt.Errorf("espeak-ng output: %w", err)
	}
	shaped, err := shape(pcm, rate)
	if err != nil {
		return nil, err
	}
	if len(shaped) == 0 {
		return nil, errors.New("nothing left after trimming")
	}
	ul := make([]byte, len(shaped))
	g711.UlawEncodeFrame(ul, shaped)
	return ul, nil
}
