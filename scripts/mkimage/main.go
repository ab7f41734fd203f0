// Command mkimage builds a signed update image for a board (make image):
// it reads boards/<name>/board.toml, cross-builds the firmware for the
// board's architecture, and packs it with the voice prompts and a
// default configuration into bin/tipring-<board>-<version>.img.
//
//	go run ./scripts/mkimage --board rpifxs --version v1.2.0 --key release.key
//	TIPRING_SIGNING_KEY=... go run ./scripts/mkimage --board rpifxs
//	go run ./scripts/mkimage --board sim --dev-key          # test image
//	go run ./scripts/mkimage --genkey release.key           # a new key pair
//
// The firmware in the image trusts the key that signed it (its public
// half is built in), so the next image signed the same way installs; a
// dev-signed image's firmware trusts the development key instead.
package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"text/template"
	"time"

	"github.com/tipring/tipring/boards"
	"github.com/tipring/tipring/firmware/image"
)

// Where things are, relative to the repository.
const (
	devKeyPath = "scripts/keys/dev.key"
	firmware   = "github.com/tipring/tipring/firmware/cmd/tipring"
	updatePkg  = "github.com/tipring/tipring/firmware/update"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "mkimage:", err)
		}
		os.Exit(1)
	}
}

type options struct {
	repo, board, version, minVersion string
	key                              string
	devKey, gzip                     bool
	out, ldflags, goflags, tags      string
	binary, prompts, config          string
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("mkimage", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o options
	fs.StringVar(&o.repo, "repo", ".", "the tipring repository")
	fs.StringVar(&o.board, "board", "", "board name (a folder of boards/)")
	fs.StringVar(&o.version, "version", "dev", "firmware version (git describe output is fine)")
	fs.StringVar(&o.minVersion, "min-version", "", "anti-rollback: once this image is confirmed, the device refuses versions below this without --force")
	fs.StringVar(&o.key, "key", "", "release signing key file (default: $TIPRING_SIGNING_KEY)")
	fs.BoolVar(&o.devKey, "dev-key", false, "sign with the development key in "+devKeyPath+" (test images only)")
	fs.BoolVar(&o.gzip, "gzip", true, "compress the image")
	fs.StringVar(&o.out, "out", "bin", "output directory")
	fs.StringVar(&o.ldflags, "ldflags", "", "go build -ldflags (default -s -w -X main.version=VERSION)")
	fs.StringVar(&o.goflags, "goflags", "", "more go build flags, space-separated (the Makefile's GCFLAGS)")
	fs.StringVar(&o.tags, "tags", "", "go build -tags, comma-separated (the Makefile's TAGS); board_<name> is added")
	fs.StringVar(&o.binary, "binary", "", "pack this firmware binary instead of building one")
	fs.StringVar(&o.prompts, "prompts", "firmware/prompts/data", "voice prompts directory")
	fs.StringVar(&o.config, "config", "", "default configuration to ship (default: boards/<name>/config.toml, else a commented example)")
	genkey := fs.String("genkey", "", "write a new signing key to this file (and its public key to FILE.pub), then exit")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *genkey != "" {
		return genKey(*genkey, stdout)
	}
	if o.board == "" {
		return errors.New("--board is required (a folder of boards/, e.g. sim or rpifxs)")
	}
	key, dev, err := signingKey(o)
	if err != nil {
		return err
	}
	return build(ctx, o, key, dev, stdout, stderr)
}

// signingKey picks the key: --key, then $TIPRING_SIGNING_KEY, then the
// development key only when asked for by name.
func signingKey(o options) (ed25519.PrivateKey, bool, error) {
	env := os.Getenv("TIPRING_SIGNING_KEY")
	switch {
	case o.devKey && (o.key != "" || env != ""):
		return nil, false, errors.New("--dev-key and a release key (--key or TIPRING_SIGNING_KEY) together: pick one")
	case o.key != "":
		b, err := os.ReadFile(o.key)
		if err != nil {
			return nil, false, fmt.Errorf("--key: %w", err)
		}
		k, err := image.ParsePrivateKey(b)
		if err != nil {
			return nil, false, fmt.Errorf("--key %s: %w", o.key, err)
		}
		return k, false, nil
	case env != "":
		k, err := image.ParsePrivateKey([]byte(env))
		if err != nil {
			return nil, false, fmt.Errorf("TIPRING_SIGNING_KEY: %w", err)
		}
		return k, false, nil
	case o.devKey:
		b, err := os.ReadFile(filepath.Join(o.repo, devKeyPath))
		if err != nil {
			return nil, false, fmt.Errorf("development key: %w", err)
		}
		k, err := image.ParsePrivateKey(b)
		if err != nil {
			return nil, false, fmt.Errorf("development key: %w", err)
		}
		return k, true, nil
	}
	return nil, false, errors.New("no signing key: give --key FILE or set TIPRING_SIGNING_KEY for a release image, or --dev-key for a test image (make image ... DEV=1)")
}

func build(ctx context.Context, o options, key ed25519.PrivateKey, dev bool, stdout, stderr io.Writer) error {
	desc, err := boards.LoadDescriptor(filepath.Join(o.repo, "boards", o.board))
	if err != nil {
		return err
	}
	if _, err := image.ParseVersion(o.version); err != nil {
		return fmt.Errorf("--version: %w", err)
	}
	stage, err := os.MkdirTemp("", "mkimage-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(stage)

	bin := filepath.Join(stage, "tipring")
	if o.binary != "" {
		if err := copyFile(o.binary, bin, 0o755); err != nil {
			return fmt.Errorf("--binary: %w", err)
		}
	} else if err := goBuild(ctx, o, desc, key, dev, bin, stderr); err != nil {
		return err
	}
	if err := copyPrompts(filepath.Join(o.repo, o.prompts), filepath.Join(stage, "prompts")); err != nil {
		return err
	}
	cfg, err := defaultConfig(o, desc)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(stage, "config.toml"), cfg, 0o644); err != nil {
		return err
	}

	built := time.Now()
	if s := os.Getenv("SOURCE_DATE_EPOCH"); s != "" {
		sec, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return fmt.Errorf("SOURCE_DATE_EPOCH: %w", err)
		}
		built = time.Unix(sec, 0)
	}
	popts := image.PackOptions{Board: desc.Name, Version: o.version, MinVersion: o.minVersion, Built: built, Key: key, DevSigned: dev}
	if err := os.MkdirAll(o.out, 0o755); err != nil {
		return err
	}
	name := filepath.Join(o.out, fmt.Sprintf("tipring-%s-%s.img", desc.Name, strings.ReplaceAll(o.version, "/", "_")))
	// One Pack (it reads and hashes every file twice already): the tar
	// stream is counted for the report on its way into gzip, compressed
	// here as image.Pack's Gzip option does, so the bytes are the same.
	var img bytes.Buffer
	var raw countWriter
	var dst io.Writer = &img
	var gz *gzip.Writer
	if o.gzip {
		gz, _ = gzip.NewWriterLevel(&img, gzip.BestCompression) // a valid level: cannot fail
		dst = gz
	}
	m, err := image.Pack(io.MultiWriter(&raw, dst), os.DirFS(stage), popts)
	if err != nil {
		return err
	}
	if gz != nil {
		if err := gz.Close(); err != nil {
			return err
		}
	}
	if err := os.WriteFile(name, img.Bytes(), 0o644); err != nil {
		return err
	}
	binSize := int64(0)
	if f, ok := m.File("tipring"); ok {
		binSize = f.Size
	}
	signed := "key " + image.KeyID(key.Public().(ed25519.PublicKey))
	if dev {
		signed += " (DEVELOPMENT KEY: for tests only)"
	}
	fmt.Fprintf(stdout, "%s: board %s (%s/%s%s), version %s, %d files, firmware %d bytes; image %d bytes raw, %d bytes as written (gzip %v); signed with %s\n",
		name, desc.Name, desc.Arch.GOOS, desc.Arch.GOARCH, armNote(desc), o.version, len(m.Files), binSize, raw.n, img.Len(), o.gzip, signed)
	return nil
}

func armNote(d boards.Descriptor) string {
	switch {
	case d.Arch.GOARM != "":
		return " GOARM=" + d.Arch.GOARM
	case d.Arch.GOMIPS != "":
		return " GOMIPS=" + d.Arch.GOMIPS
	}
	return ""
}

// goBuild cross-builds the firmware: static (no cgo), stripped, and with
// the keys it will trust stamped in.
func goBuild(ctx context.Context, o options, d boards.Descriptor, key ed25519.PrivateKey, dev bool, out string, stderr io.Writer) error {
	ld := o.ldflags
	if ld == "" {
		ld = "-s -w"
	}
	if !strings.Contains(ld, "main.version=") {
		ld += " -X main.version=" + o.version
	}
	if dev {
		ld += " -X " + updatePkg + ".devKeyTrust=yes"
	} else {
		ld += " -X " + updatePkg + ".releaseKeys=" + image.EncodePublicKey(key.Public().(ed25519.PublicKey))
	}
	args := []string{"build", "-trimpath", "-ldflags", ld}
	args = append(args, strings.Fields(o.goflags)...)
	// An image carries its own board's driver only (firmware/device's
	// boards_<name>.go).
	tags := "board_" + d.Name
	if o.tags != "" {
		tags = o.tags + "," + tags
	}
	args = append(args, "-tags", tags)
	args = append(args, "-o", out, firmware)
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = o.repo
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS="+d.Arch.GOOS, "GOARCH="+d.Arch.GOARCH, "GOARM="+d.Arch.GOARM, "GOMIPS="+d.Arch.GOMIPS)
	cmd.Stdout, cmd.Stderr = stderr, stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("build the firmware for %s/%s: %w", d.Arch.GOOS, d.Arch.GOARCH, err)
	}
	return nil
}

// copyPrompts copies the prompt files (the .ul recordings and VERSION).
func copyPrompts(src, dst string) error {
	entries, err := os.ReadDir(src)
	if err != nil {
		return fmt.Errorf("prompts: %w", err)
	}
	if err := os.MkdirAll(dst, 0o755); err != nil {
		return err
	}
	n := 0
	for _, e := range entries {
		if !e.Type().IsRegular() || (!strings.HasSuffix(e.Name(), ".ul") && e.Name() != "VERSION") {
			continue
		}
		if err := copyFile(filepath.Join(src, e.Name()), filepath.Join(dst, e.Name()), 0o644); err != nil {
			return fmt.Errorf("prompts: %w", err)
		}
		n++
	}
	if n == 0 {
		return fmt.Errorf("prompts: %s holds no recordings (make prompts)", src)
	}
	return nil
}

func copyFile(src, dst string, mode os.FileMode) error {
	b, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	return os.WriteFile(dst, b, mode)
}

// defaultConfig is the board's own config.toml, else the commented example.
func defaultConfig(o options, d boards.Descriptor) ([]byte, error) {
	path := o.config
	if path == "" {
		p := filepath.Join(o.repo, "boards", d.Name, "config.toml")
		if _, err := os.Stat(p); err == nil {
			path = p
		}
	}
	if path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("default configuration: %w", err)
		}
		return b, nil
	}
	var b bytes.Buffer
	if err := configTemplate.Execute(&b, d); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

var configTemplate = template.Must(template.New("config").Parse(`# tipring configuration for the {{.Name}} board: {{.Description}}.
# Every key is described in docs/config.md. Before use, set the line's
# account below; the admin password is the one on the device's label
# unless [admin] password sets another.

[device]
board = "{{.Name}}"
region = "{{.Region}}"
data_dir = "/var/lib/tipring"

[sip]
listen = "0.0.0.0:5060"

# One [[line]] per phone port; this board has {{.Ports}}.
[[line]]
port = 1
user = "1001"
password = "change-me"
registrar = "sip.example.net"

[admin]
listen = "0.0.0.0:8080"

# [update]
# url = "https://updates.example.net/tipring"   # looks for <url>/{{.Name}}/latest.json
# interval = "24h"
# confirm_after = "5m"
`))

// genKey writes a new signing key and its public key.
func genKey(path string, stdout io.Writer) error {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return err
	}
	if _, err := os.Stat(path); err == nil {
		return fmt.Errorf("%s exists: not overwriting a signing key", path)
	}
	if err := os.WriteFile(path, image.EncodePrivateKey(priv, "tipring release signing key "+image.KeyID(pub)+": keep it secret"), 0o600); err != nil {
		return err
	}
	if err := os.WriteFile(path+".pub", []byte(image.EncodePublicKey(pub)+" "+image.KeyID(pub)+"\n"), 0o644); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %s (secret) and %s.pub, key id %s\n", path, path, image.KeyID(pub))
	return nil
}

type countWriter struct{ n int64 }

func (c *countWriter) Write(p []byte) (int, error) {
	c.n += int64(len(p))
	return len(p), nil
}
