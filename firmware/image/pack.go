package image

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"time"
)

// PackOptions say what Pack puts in the manifest and how it signs.
type PackOptions struct {
	Board, Version, MinVersion string
	// Built is the build time; it is also every entry's modification
	// time, so the same inputs make the same image.
	Built     time.Time
	Key       ed25519.PrivateKey
	DevSigned bool
	Gzip      bool
}

// Pack writes a signed image holding every regular file of fsys and
// returns its manifest. Symbolic links and other special files are
// refused: a device extracts regular files only.
func Pack(w io.Writer, fsys fs.FS, opts PackOptions) (*Manifest, error) {
	if len(opts.Key) != ed25519.PrivateKeySize {
		return nil, errors.New("pack: no signing key")
	}
	m := &Manifest{
		Format:     FormatVersion,
		Board:      opts.Board,
		Version:    opts.Version,
		MinVersion: opts.MinVersion,
		Built:      opts.Built.UTC().Truncate(time.Second),
		DevSigned:  opts.DevSigned,
	}
	err := fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			return nil
		}
		if !d.Type().IsRegular() {
			return fmt.Errorf("%s is not a regular file (%v): images carry regular files only", p, d.Type())
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		sum, err := hashFile(fsys, p)
		if err != nil {
			return err
		}
		m.Files = append(m.Files, File{Path: p, Size: info.Size(), Mode: Mode(info.Mode().Perm()), SHA256: sum})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("pack: %w", err)
	}
	if err := m.Check(); err != nil {
		return nil, fmt.Errorf("pack: %w", err)
	}
	raw, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("pack: %w", err)
	}
	sig, err := json.Marshal(Sign(raw, opts.Key))
	if err != nil {
		return nil, fmt.Errorf("pack: %w", err)
	}

	out := w
	var gz *gzip.Writer
	if opts.Gzip {
		gz, _ = gzip.NewWriterLevel(w, gzip.BestCompression)
		out = gz
	}
	tw := tar.NewWriter(out)
	add := func(name string, mode int64, size int64, body io.Reader) error {
		hdr := &tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: mode, Size: size, ModTime: m.Built, Format: tar.FormatPAX}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		n, err := io.Copy(tw, body)
		if err == nil && n != size {
			err = fmt.Errorf("%s changed while packing (%d bytes, was %d)", name, n, size)
		}
		return err
	}
	if err := add(ManifestName, 0o644, int64(len(raw)), bytes.NewReader(raw)); err != nil {
		return nil, fmt.Errorf("pack: %w", err)
	}
	if err := add(SignatureName, 0o644, int64(len(sig)), bytes.NewReader(sig)); err != nil {
		return nil, fmt.Errorf("pack: %w", err)
	}
	for _, f := range m.Files {
		if err := packFile(fsys, f, add); err != nil {
			return nil, fmt.Errorf("pack: %w", err)
		}
	}
	if err := tw.Close(); err != nil {
		return nil, fmt.Errorf("pack: %w", err)
	}
	if gz != nil {
		if err := gz.Close(); err != nil {
			return nil, fmt.Errorf("pack: %w", err)
		}
	}
	return m, nil
}

func packFile(fsys fs.FS, f File, add func(string, int64, int64, io.Reader) error) error {
	r, err := fsys.Open(f.Path)
	if err != nil {
		return err
	}
	defer r.Close()
	// The hash in the manifest was taken in the first pass; a file that
	// changed since then would make an image that fails on every device.
	h := sha256.New()
	if err := add(f.Path, int64(f.Mode), f.Size, io.TeeReader(r, h)); err != nil {
		return err
	}
	if hex.EncodeToString(h.Sum(nil)) != f.SHA256 {
		return fmt.Errorf("%s changed while packing", f.Path)
	}
	return nil
}

func hashFile(fsys fs.FS, p string) (string, error) {
	r, err := fsys.Open(p)
	if err != nil {
		return "", err
	}
	defer r.Close()
	h := sha256.New()
	if _, err := io.Copy(h, r); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
