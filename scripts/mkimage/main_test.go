package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/tipring/tipring/boards"
	"github.com/tipring/tipring/firmware/config"
	"github.com/tipring/tipring/firmware/image"
)

const repo = "../.."

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func devKey(t *testing.T) image.PublicKey {
	t.Helper()
	k, err := image.ParsePublicKey(image.DevPublicKey)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// fakeFirmware stands in for a cross-built binary, so the tests need no
// build.
func fakeFirmware(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "tipring")
	if err := os.WriteFile(p, []byte("\x7fELF not really"), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

func mkimage(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	err := run(context.Background(), append([]string{"--repo", repo}, args...), &out, &errOut)
	return out.String() + errOut.String(), err
}

// files opens an image with the given trust and returns its manifest and
// contents.
func files(t *testing.T, path, board string, trusted ...image.PublicKey) (*image.Manifest, map[string][]byte, error) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := image.Open(f, image.Policy{Trusted: trusted, Board: board})
	if err != nil {
		return nil, nil, err
	}
	got := map[string][]byte{}
	err = r.Extract(func(f image.File, c io.Reader) error {
		b, err := io.ReadAll(c)
		got[f.Path] = b
		return err
	})
	return r.Manifest(), got, err
}

func TestDevSignedImage(t *testing.T) {
	t.Setenv("TIPRING_SIGNING_KEY", "")
	out := t.TempDir()
	msg, err := mkimage(t, "--board", "sim", "--dev-key", "--binary", fakeFirmware(t), "--version", "v1.2.3-4-gabcdef0", "--out", out)
	if err != nil {
		t.Fatalf("%v\n%s", err, msg)
	}
	if !strings.Contains(msg, "DEVELOPMENT KEY") || !strings.Contains(msg, "bytes raw") {
		t.Errorf("output %q: want the sizes and a dev-key warning", msg)
	}
	path := filepath.Join(out, "tipring-sim-v1.2.3-4-gabcdef0.img")
	m, got, err := files(t, path, "sim", devKey(t))
	if err != nil {
		t.Fatal(err)
	}
	if !m.DevSigned || m.Version != "v1.2.3-4-gabcdef0" || m.Board != "sim" {
		t.Errorf("manifest %+v", m)
	}
	if f, _ := m.File("tipring"); f.Mode != 0o755 {
		t.Errorf("firmware mode %v, want 0755", f.Mode)
	}
	if got["prompts/VERSION"] == nil || len(got) < 10 {
		t.Errorf("image holds %d files; want the firmware, the prompts and VERSION", len(got))
	}
	if _, err := config.Parse("config.toml", got["config.toml"]); err != nil {
		t.Errorf("the shipped config.toml does not load: %v\n%s", err, got["config.toml"])
	}
	// A release device, trusting only its release key, refuses it.
	other := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{1}, 32)).Public().(ed25519.PublicKey)
	if _, _, err := files(t, path, "sim", image.PublicKey{ID: image.KeyID(other), Key: other}); !errors.Is(err, image.ErrSignature) {
		t.Errorf("release device opened a dev-signed image: %v", err)
	}
}

func TestNoKeyNoImage(t *testing.T) {
	t.Setenv("TIPRING_SIGNING_KEY", "")
	out := t.TempDir()
	_, err := mkimage(t, "--board", "sim", "--binary", fakeFirmware(t), "--out", out)
	if err == nil || !strings.Contains(err.Error(), "--key FILE or set TIPRING_SIGNING_KEY") || !strings.Contains(err.Error(), "--dev-key") {
		t.Fatalf("no key: %v", err)
	}
	if entries, _ := os.ReadDir(out); len(entries) != 0 {
		t.Fatalf("wrote %d files without a key", len(entries))
	}
}

func TestReleaseKeyFromFileAndEnvironment(t *testing.T) {
	t.Setenv("TIPRING_SIGNING_KEY", "")
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "release.key")
	if _, err := mkimage(t, "--genkey", keyFile); err != nil {
		t.Fatal(err)
	}
	if _, err := mkimage(t, "--genkey", keyFile); err == nil {
		t.Fatal("--genkey overwrote a signing key")
	}
	pubText, err := os.ReadFile(keyFile + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	pub, err := image.ReadPublicKeys(bytes.NewReader(pubText))
	if err != nil || len(pub) != 1 {
		t.Fatalf("public key file: %v", err)
	}
	if msg, err := mkimage(t, "--board", "rpifxs", "--key", keyFile, "--binary", fakeFirmware(t), "--version", "2.0.0", "--min-version", "1.5.0", "--out", dir); err != nil {
		t.Fatalf("%v\n%s", err, msg)
	}
	m, _, err := files(t, filepath.Join(dir, "tipring-rpifxs-2.0.0.img"), "rpifxs", pub...)
	if err != nil || m.DevSigned || m.MinVersion != "1.5.0" {
		t.Fatalf("release image: %+v, %v", m, err)
	}
	if _, _, err := files(t, filepath.Join(dir, "tipring-rpifxs-2.0.0.img"), "rpifxs", devKey(t)); !errors.Is(err, image.ErrSignature) {
		t.Fatalf("dev device opened a release image signed with another key: %v", err)
	}

	seed, _ := os.ReadFile(keyFile)
	t.Setenv("TIPRING_SIGNING_KEY", string(seed))
	if _, err := mkimage(t, "--board", "rpifxs", "--binary", fakeFirmware(t), "--version", "2.0.1", "--out", dir); err != nil {
		t.Fatal(err)
	}
	if _, _, err := files(t, filepath.Join(dir, "tipring-rpifxs-2.0.1.img"), "rpifxs", pub...); err != nil {
		t.Fatalf("image signed from the environment: %v", err)
	}
	if _, err := mkimage(t, "--board", "rpifxs", "--dev-key", "--binary", fakeFirmware(t), "--out", dir); err == nil {
		t.Fatal("--dev-key with TIPRING_SIGNING_KEY set was accepted")
	}
}

func TestDefaultConfigLoadsForEveryBoard(t *testing.T) {
	entries, err := os.ReadDir(filepath.Join(repo, "boards"))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range entries {
		dir := filepath.Join(repo, "boards", e.Name())
		if _, err := os.Stat(filepath.Join(dir, boards.DescriptorFile)); err != nil {
			continue
		}
		d, err := boards.LoadDescriptor(dir)
		if err != nil {
			t.Fatal(err)
		}
		b, err := defaultConfig(options{repo: repo}, d)
		if err != nil {
			t.Fatal(err)
		}
		c, err := config.Parse(d.Name+"/config.toml", b)
		if err != nil {
			t.Errorf("%s: %v", d.Name, err)
			continue
		}
		if c.Device.Board != d.Name || c.Device.Region != d.Region {
			t.Errorf("%s: config for board %q region %q", d.Name, c.Device.Board, c.Device.Region)
		}
		n++
	}
	if n < 2 {
		t.Fatalf("found %d boards, want sim and rpifxs at least", n)
	}
}

// TestMakeImage runs the installer's command, docs/boards.md's
// `make image BOARD=sim DEV=1`: a real build.
func TestMakeImage(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the firmware")
	}
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("no make")
	}
	t.Setenv("TIPRING_SIGNING_KEY", "")
	out := t.TempDir()
	cmd := exec.Command("make", "-s", "-C", repo, "image", "BOARD=sim", "DEV=1", "VERSION=0.0.1-mktest", "BIN="+out)
	msg, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("make image: %v\n%s", err, msg)
	}
	m, got, err := files(t, filepath.Join(out, "tipring-sim-0.0.1-mktest.img"), "sim", devKey(t))
	if err != nil {
		t.Fatal(err)
	}
	if len(got["tipring"]) < 1<<20 || !bytes.HasPrefix(got["tipring"], []byte("\x7fELF")) || m.Version != "0.0.1-mktest" {
		t.Fatalf("image holds a %d-byte firmware, version %s", len(got["tipring"]), m.Version)
	}
}
