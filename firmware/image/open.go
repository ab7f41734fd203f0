package image

import (
	"archive/tar"
	"bufio"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// Policy is what a device accepts.
type Policy struct {
	// Trusted are the keys an image may be signed with.
	Trusted []PublicKey
	// Board is this device's board; an image for another is refused.
	Board string
	// Current is the version running now ("" on a blank device); Floor
	// the lowest version the device accepts (the min_version of the
	// newest image it confirmed). An image below either is refused
	// unless Force is set.
	Current, Floor string
	Force          bool
}

// Reader reads a verified image.
type Reader struct {
	m    *Manifest
	raw  []byte
	sig  Signature
	tr   *tar.Reader
	done bool
}

// Open reads the manifest and its signature from the start of an image
// and checks them against the policy: signature first (nothing unsigned
// is even parsed), then board, then version. The files are read by
// Extract.
func Open(r io.Reader, p Policy) (*Reader, error) {
	br := bufio.NewReader(r)
	var src io.Reader = br
	if magic, err := br.Peek(2); err == nil && magic[0] == 0x1f && magic[1] == 0x8b {
		gz, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("%w: gzip: %w", ErrFormat, err)
		}
		src = gz
	}
	tr := tar.NewReader(src)
	raw, err := readEntry(tr, ManifestName, MaxManifestSize)
	if err != nil {
		return nil, err
	}
	rawSig, err := readEntry(tr, SignatureName, MaxSignatureSize)
	if err != nil {
		return nil, err
	}
	var sig Signature
	if err := json.Unmarshal(rawSig, &sig); err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrFormat, SignatureName, err)
	}
	if err := Verify(raw, sig, p.Trusted); err != nil {
		return nil, err
	}
	m, err := ParseManifest(raw)
	if err != nil {
		return nil, err
	}
	if err := p.check(m); err != nil {
		return nil, err
	}
	return &Reader{m: m, raw: raw, sig: sig, tr: tr}, nil
}

// check applies the board and version rules to a signed manifest.
func (p Policy) check(m *Manifest) error {
	if m.Board != p.Board {
		return fmt.Errorf("%w: image is for board %s, this device is %s", ErrBoard, m.Board, p.Board)
	}
	v, err := ParseVersion(m.Version)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrFormat, err)
	}
	if p.Force {
		return nil
	}
	if p.Floor != "" {
		floor, err := ParseVersion(p.Floor)
		if err == nil && v.Compare(floor) < 0 {
			return fmt.Errorf("%w: version %s is below the minimum %s this device accepts; use --force to downgrade", ErrVersion, m.Version, p.Floor)
		}
	}
	if p.Current != "" {
		cur, err := ParseVersion(p.Current)
		if err == nil && v.Compare(cur) < 0 {
			return fmt.Errorf("%w: version %s is older than the running %s; use --force to downgrade", ErrVersion, m.Version, p.Current)
		}
	}
	return nil
}

// readEntry reads the next entry, which must be a regular file named name
// of at most limit bytes.
func readEntry(tr *tar.Reader, name string, limit int64) ([]byte, error) {
	hdr, err := tr.Next()
	if err != nil {
		return nil, fmt.Errorf("%w: want %s as the next entry: %w", ErrFormat, name, err)
	}
	if hdr.Name != name || hdr.Typeflag != tar.TypeReg {
		return nil, fmt.Errorf("%w: want %s as the next entry, found %q (unsigned image, or not an image)", ErrFormat, name, hdr.Name)
	}
	if hdr.Size < 0 || hdr.Size > limit {
		return nil, fmt.Errorf("%w: %s is %d bytes, over the %d limit", ErrFormat, name, hdr.Size, limit)
	}
	b := make([]byte, hdr.Size)
	if _, err := io.ReadFull(tr, b); err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrFormat, name, err)
	}
	return b, nil
}

// Manifest is the verified manifest.
func (r *Reader) Manifest() *Manifest { return r.m }

// RawManifest returns the manifest's exact bytes and its signature, for
// storing next to the extracted files.
func (r *Reader) RawManifest() ([]byte, Signature) { return r.raw, r.sig }

// Extract streams every file to put, which must consume content (what it
// leaves is read and hashed anyway). A file's hash is checked after put
// returns, so put writes to a place that is not used until Extract has
// returned nil. Extract fails on a file the manifest does not list, one
// seen twice, one of another size, anything but a regular file, a hash
// mismatch, and a listed file the image lacks.
func (r *Reader) Extract(put func(f File, content io.Reader) error) error {
	if r.done {
		return errors.New("image: Extract called twice")
	}
	r.done = true
	seen := make(map[string]bool, len(r.m.Files))
	for {
		hdr, err := r.tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("%w: reading the archive: %w", ErrContent, err)
		}
		f, ok := r.m.File(hdr.Name)
		switch {
		case !ok:
			return fmt.Errorf("%w: %q is in the archive but not in the manifest", ErrContent, hdr.Name)
		case seen[f.Path]:
			return fmt.Errorf("%w: %s is in the archive twice", ErrContent, f.Path)
		case hdr.Typeflag != tar.TypeReg:
			return fmt.Errorf("%w: %s is not a regular file (links and devices are refused)", ErrContent, f.Path)
		case hdr.Size != f.Size:
			return fmt.Errorf("%w: %s is %d bytes in the archive, %d in the manifest", ErrContent, f.Path, hdr.Size, f.Size)
		}
		seen[f.Path] = true
		h := sha256.New()
		content := io.TeeReader(io.LimitReader(r.tr, f.Size), h)
		if err := put(f, content); err != nil {
			return fmt.Errorf("%s: %w", f.Path, err)
		}
		if _, err := io.Copy(io.Discard, content); err != nil {
			return fmt.Errorf("%w: %s: %w", ErrContent, f.Path, err)
		}
		if got := hex.EncodeToString(h.Sum(nil)); got != f.SHA256 {
			return fmt.Errorf("%w: %s has sha256 %s, the manifest says %s (altered or damaged in transfer)", ErrContent, f.Path, got, f.SHA256)
		}
	}
	for _, f := range r.m.Files {
		if !seen[f.Path] {
			return fmt.Errorf("%w: %s is in the manifest but not in the archive (truncated image?)", ErrContent, f.Path)
		}
	}
	return nil
}

// VerifyFiles checks files already extracted, reading each through open:
// a slot is re-checked this way before it is booted.
func VerifyFiles(m *Manifest, open func(path string) (io.ReadCloser, error)) error {
	for _, f := range m.Files {
		rc, err := open(f.Path)
		if err != nil {
			return fmt.Errorf("%w: %s: %w", ErrContent, f.Path, err)
		}
		h := sha256.New()
		n, err := io.Copy(h, io.LimitReader(rc, f.Size+1))
		rc.Close()
		if err != nil {
			return fmt.Errorf("%w: %s: %w", ErrContent, f.Path, err)
		}
		if n != f.Size || hex.EncodeToString(h.Sum(nil)) != f.SHA256 {
			return fmt.Errorf("%w: %s does not match its manifest (size %d of %d, or changed bytes)", ErrContent, f.Path, n, f.Size)
		}
	}
	return nil
}
