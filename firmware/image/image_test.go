package image

import (
	"archive/tar"
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"io"
	"os"
	"strings"
	"testing"
	"testing/fstest"
	"time"
)

// testKey is a key made for these tests; otherKey one the device does not
// trust.
var (
	testKey  = ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, 32))
	otherKey = ed25519.NewKeyFromSeed(bytes.Repeat([]byte{9}, 32))
)

func trusted(k ed25519.PrivateKey) []PublicKey {
	pub := k.Public().(ed25519.PublicKey)
	return []PublicKey{{ID: KeyID(pub), Key: pub}}
}

func testFiles() fstest.MapFS {
	return fstest.MapFS{
		"tipring":          {Data: []byte("#!/bin/sh\necho firmware\n"), Mode: 0o755},
		"prompts/VERSION":  {Data: []byte("3\n"), Mode: 0o644},
		"prompts/hello.ul": {Data: bytes.Repeat([]byte{0xff, 0x7f}, 300), Mode: 0o644},
		"config.toml":      {Data: []byte("# example\n"), Mode: 0o644},
	}
}

func pack(t testing.TB, fsys fstest.MapFS, version string, key ed25519.PrivateKey, gz bool) []byte {
	t.Helper()
	var buf bytes.Buffer
	_, err := Pack(&buf, fsys, PackOptions{Board: "sim", Version: version, MinVersion: "1.0.0", Built: time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC), Key: key, Gzip: gz})
	if err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func policy() Policy {
	return Policy{Trusted: trusted(testKey), Board: "sim", Current: "1.1.0", Floor: "1.0.0"}
}

// extract opens and extracts img, returning the files it got.
func extract(img []byte, p Policy) (map[string]string, error) {
	r, err := Open(bytes.NewReader(img), p)
	if err != nil {
		return nil, err
	}
	got := map[string]string{}
	err = r.Extract(func(f File, content io.Reader) error {
		b, err := io.ReadAll(content)
		got[f.Path] = string(b)
		return err
	})
	return got, err
}

func TestGoodImageExtractsEveryFile(t *testing.T) {
	for _, gz := range []bool{false, true} {
		img := pack(t, testFiles(), "1.2.0", testKey, gz)
		got, err := extract(img, policy())
		if err != nil {
			t.Fatalf("gzip=%v: %v", gz, err)
		}
		for name, f := range testFiles() {
			if got[name] != string(f.Data) {
				t.Errorf("gzip=%v: %s = %q, want %q", gz, name, got[name], f.Data)
			}
		}
		if len(got) != len(testFiles()) {
			t.Errorf("gzip=%v: got %d files, want %d", gz, len(got), len(testFiles()))
		}
	}
}

func TestManifestRecordsModesAndBuild(t *testing.T) {
	r, err := Open(bytes.NewReader(pack(t, testFiles(), "1.2.0", testKey, true)), policy())
	if err != nil {
		t.Fatal(err)
	}
	m := r.Manifest()
	f, ok := m.File("tipring")
	if !ok || f.Mode != 0o755 || f.Size != int64(len(testFiles()["tipring"].Data)) {
		t.Errorf("tipring entry = %+v, want mode 0755 and its size", f)
	}
	if m.Board != "sim" || m.Version != "1.2.0" || m.MinVersion != "1.0.0" || m.Built.IsZero() {
		t.Errorf("manifest = %+v", m)
	}
}

func TestRefusals(t *testing.T) {
	good := pack(t, testFiles(), "1.2.0", testKey, false)
	cases := []struct {
		name string
		img  []byte
		pol  func(*Policy)
		want error
		msg  string
	}{
		{name: "altered byte in a file", img: replace(t, good, "echo firmware", "echo f1rmware"), want: ErrContent, msg: "tipring has sha256"},
		{name: "altered byte in a prompt", img: replace(t, good, "3\n", "4\n"), want: ErrContent, msg: "prompts/VERSION"},
		{name: "altered manifest", img: replace(t, good, `"version": "1.2.0"`, `"version": "9.2.0"`), want: ErrSignature, msg: "does not verify with any trusted key"},
		{name: "unsigned", img: rebuild(t, good, func(e []entry) []entry { return append(e[:1:1], e[2:]...) }), want: ErrFormat, msg: "unsigned"},
		{name: "wrong key", img: pack(t, testFiles(), "1.2.0", otherKey, false), want: ErrSignature, msg: "key id " + KeyID(otherKey.Public().(ed25519.PublicKey))},
		{name: "other board", img: good, pol: func(p *Policy) { p.Board = "rpifxs" }, want: ErrBoard, msg: "image is for board sim, this device is rpifxs"},
		{name: "older than running", img: pack(t, testFiles(), "1.0.5", testKey, false), want: ErrVersion, msg: "1.0.5 is older than the running 1.1.0; use --force"},
		{name: "below the floor", img: good, pol: func(p *Policy) { p.Floor = "1.3.0"; p.Current = "" }, want: ErrVersion, msg: "version 1.2.0 is below the minimum 1.3.0 this device accepts; use --force to downgrade"},
		{name: "missing file", img: rebuild(t, good, func(e []entry) []entry { return e[:len(e)-1] }), want: ErrContent, msg: "not in the archive"},
		{name: "file not in manifest", img: rebuild(t, good, func(e []entry) []entry { return append(e, entry{name: "extra", body: "x"}) }), want: ErrContent, msg: `"extra" is in the archive but not in the manifest`},
		{name: "traversal entry", img: rebuild(t, good, func(e []entry) []entry { return append(e, entry{name: "../../etc/passwd", body: "x"}) }), want: ErrContent, msg: "not in the manifest"},
		{name: "duplicate file", img: rebuild(t, good, func(e []entry) []entry { return append(e, e[len(e)-1]) }), want: ErrContent, msg: "twice"},
		{name: "symlink", img: rebuild(t, good, func(e []entry) []entry {
			for i := range e {
				if e[i].name == "tipring" {
					e[i] = entry{name: "tipring", link: "/bin/sh"}
				}
			}
			return e
		}), want: ErrContent, msg: "not a regular file"},
		{name: "not an image", img: []byte("hello, I am a text file"), want: ErrFormat, msg: "manifest.json"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := policy()
			if c.pol != nil {
				c.pol(&p)
			}
			_, err := extract(c.img, p)
			if !errors.Is(err, c.want) || !strings.Contains(err.Error(), c.msg) {
				t.Fatalf("err = %v, want %v naming %q", err, c.want, c.msg)
			}
		})
	}
}

func TestForceAllowsADowngrade(t *testing.T) {
	p := policy()
	p.Floor, p.Force = "2.0.0", true
	if _, err := extract(pack(t, testFiles(), "1.0.5", testKey, false), p); err != nil {
		t.Fatalf("forced downgrade: %v", err)
	}
}

func TestSignedManifestWithTraversalIsRefused(t *testing.T) {
	// Even a correctly signed manifest may not name a path outside the
	// slot: the signer's build could have been tampered with.
	for _, bad := range []string{"../tipring", "/etc/passwd", "a/../../b", "manifest.json", `a\b`, "./x", ""} {
		m := Manifest{Format: 1, Board: "sim", Version: "1.0.0", Files: []File{{Path: bad, Size: 1, Mode: 0o644, SHA256: strings.Repeat("0", 64)}}}
		raw, _ := json.Marshal(m)
		if _, err := ParseManifest(raw); !errors.Is(err, ErrFormat) {
			t.Errorf("path %q: err = %v, want ErrFormat", bad, err)
		}
	}
}

// entry is a tar entry for hand-built images.
type entry struct {
	name, body, link string
}

// rebuild reads an uncompressed image's entries, lets edit change them,
// and writes them back: for images a packer would never make.
func rebuild(t *testing.T, img []byte, edit func([]entry) []entry) []byte {
	t.Helper()
	var es []entry
	tr := tar.NewReader(bytes.NewReader(img))
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(tr)
		es = append(es, entry{name: hdr.Name, body: string(b)})
	}
	es = edit(es)
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range es {
		hdr := &tar.Header{Typeflag: tar.TypeReg, Name: e.name, Mode: 0o644, Size: int64(len(e.body))}
		if e.link != "" {
			hdr = &tar.Header{Typeflag: tar.TypeSymlink, Name: e.name, Linkname: e.link, Mode: 0o777}
		}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte(e.body)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// replace changes bytes in place (same length), as a bit flip on the wire
// or a tamperer would.
func replace(t *testing.T, img []byte, old, new string) []byte {
	t.Helper()
	if len(old) != len(new) || bytes.Count(img, []byte(old)) < 1 {
		t.Fatalf("replace %q: not found once, or lengths differ", old)
	}
	return bytes.Replace(img, []byte(old), []byte(new), 1)
}

func TestKeyFormats(t *testing.T) {
	k, err := ParsePrivateKey(EncodePrivateKey(testKey, "test key"))
	if err != nil || !k.Equal(testKey) {
		t.Fatalf("round trip: %v", err)
	}
	// `openssl genpkey -algorithm ed25519` output for a known seed.
	pemKey := "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIAcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcH\n-----END PRIVATE KEY-----\n"
	k, err = ParsePrivateKey([]byte(pemKey))
	if err != nil || !k.Equal(testKey) {
		t.Fatalf("PEM: %v", err)
	}
	for _, bad := range []string{"", "not base64!", "AAAA", "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"} {
		if _, err := ParsePrivateKey([]byte(bad)); err == nil {
			t.Errorf("ParsePrivateKey(%q) accepted", bad)
		}
	}
	keys, err := ReadPublicKeys(strings.NewReader("# trusted\n" + EncodePublicKey(testKey.Public().(ed25519.PublicKey)) + " release 2026\n\n"))
	if err != nil || len(keys) != 1 || keys[0].ID != KeyID(testKey.Public().(ed25519.PublicKey)) {
		t.Fatalf("ReadPublicKeys = %v, %v", keys, err)
	}
	if _, err := ReadPublicKeys(strings.NewReader("garbage\n")); err == nil || !strings.Contains(err.Error(), "line 1") {
		t.Errorf("bad keys file: err = %v, want one naming line 1", err)
	}
}

// The development key in the repository is the one the firmware's
// DevPublicKey names: a mismatch would make every test image untrusted.
func TestDevKeyFilesMatchTheBuiltInKey(t *testing.T) {
	b, err := os.ReadFile("../../scripts/keys/dev.key")
	if err != nil {
		t.Fatal(err)
	}
	k, err := ParsePrivateKey(b)
	if err != nil {
		t.Fatal(err)
	}
	if got := EncodePublicKey(k.Public().(ed25519.PublicKey)); got != DevPublicKey {
		t.Fatalf("scripts/keys/dev.key's public key is %s, DevPublicKey is %s", got, DevPublicKey)
	}
	pub, err := os.ReadFile("../../scripts/keys/dev.pub")
	if err != nil {
		t.Fatal(err)
	}
	keys, err := ReadPublicKeys(bytes.NewReader(pub))
	if err != nil || len(keys) != 1 || EncodePublicKey(keys[0].Key) != DevPublicKey {
		t.Fatalf("scripts/keys/dev.pub = %v, %v", keys, err)
	}
}
