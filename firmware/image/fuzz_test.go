package image

import (
	"archive/tar"
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"io"
	"testing"
)

// FuzzParseManifest: any bytes give a manifest that passes Check or an
// error, never a panic; an accepted manifest survives a round trip.
func FuzzParseManifest(f *testing.F) {
	raw, _ := json.Marshal(Manifest{Format: 1, Board: "sim", Version: "1.0.0", Files: []File{{Path: "tipring", Size: 3, Mode: 0o755, SHA256: "2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae"}}})
	f.Add(raw)
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := ParseManifest(data)
		if err != nil {
			return
		}
		again, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ParseManifest(again); err != nil {
			t.Fatalf("accepted manifest does not round-trip: %v", err)
		}
		for _, f := range m.Files {
			if CheckPath(f.Path) != nil {
				t.Fatalf("accepted bad path %q", f.Path)
			}
		}
	})
}

// FuzzOpen feeds whole images (gzip, tar, signature, manifest) to Open
// and Extract.
func FuzzOpen(f *testing.F) {
	f.Add(pack(f, testFiles(), "1.2.0", testKey, false))
	f.Add(pack(f, testFiles(), "1.2.0", testKey, true))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := Open(bytes.NewReader(data), policy())
		if err != nil {
			return
		}
		_ = r.Extract(func(f File, content io.Reader) error {
			n, err := io.Copy(io.Discard, content)
			if n > f.Size {
				t.Fatalf("%s: read %d bytes, manifest says %d", f.Path, n, f.Size)
			}
			return err
		})
	})
}

// FuzzExtract gets past the signature by fixing the (signed) manifest and
// fuzzing the archive that follows it: the tar reader and every check on
// entries.
func FuzzExtract(f *testing.F) {
	img := pack(f, testFiles(), "1.2.0", testKey, false)
	good, err := Open(bytes.NewReader(img), policy())
	if err != nil {
		f.Fatal(err)
	}
	m := good.Manifest()
	// The seed is the tail of the archive after the two leading entries.
	var tail bytes.Buffer
	tw := tar.NewWriter(&tail)
	for _, name := range []string{"tipring", "prompts/VERSION"} {
		data := testFiles()[name].Data
		_ = tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: 0o644, Size: int64(len(data))})
		_, _ = tw.Write(data)
	}
	_ = tw.Close()
	f.Add(tail.Bytes())
	f.Fuzz(func(t *testing.T, data []byte) {
		r := &Reader{m: m, tr: tar.NewReader(bytes.NewReader(data))}
		got := map[string]bool{}
		err := r.Extract(func(f File, content io.Reader) error {
			got[f.Path] = true
			_, err := io.Copy(io.Discard, content)
			return err
		})
		if err == nil && len(got) != len(m.Files) {
			t.Fatalf("Extract succeeded with %d of %d files", len(got), len(m.Files))
		}
	})
}

// FuzzParseVersion: Compare is a total order on whatever parses.
func FuzzParseVersion(f *testing.F) {
	for _, s := range []string{"1.0.0", "v0.3.1-4-gabc1234-dirty", "1.0.0-rc.1", "dev", "f0ba696"} {
		f.Add(s, "1.0.0")
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		va, err1 := ParseVersion(a)
		vb, err2 := ParseVersion(b)
		if err1 != nil || err2 != nil {
			return
		}
		if va.Compare(vb) != -vb.Compare(va) {
			t.Fatalf("Compare(%q, %q) is not antisymmetric", a, b)
		}
		if va.Compare(va) != 0 {
			t.Fatalf("Compare(%q, itself) != 0", a)
		}
	})
}

// FuzzKeys: the key readers refuse what is not a key, without panicking.
func FuzzKeys(f *testing.F) {
	f.Add(EncodePrivateKey(testKey, "k"))
	f.Add([]byte(EncodePublicKey(testKey.Public().(ed25519.PublicKey)) + " comment\n# c\n"))
	f.Add([]byte("-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIAcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcH\n-----END PRIVATE KEY-----\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		if k, err := ParsePrivateKey(data); err == nil && len(k) != ed25519.PrivateKeySize {
			t.Fatalf("accepted a %d-byte key", len(k))
		}
		keys, err := ReadPublicKeys(bytes.NewReader(data))
		if err != nil {
			return
		}
		for _, k := range keys {
			if len(k.Key) != ed25519.PublicKeySize || k.ID != KeyID(k.Key) {
				t.Fatalf("bad key %+v", k)
			}
		}
	})
}
