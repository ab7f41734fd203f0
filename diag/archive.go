package diag

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/tipring/tipring/internal/order"
)

// File is one file of a bundle.
type File struct {
	Name string
	Data []byte
}

// Layout is the order of the files in a bundle (DESIGN.md): the summary
// first, so that support reading the archive meets the answers first.
func Layout() []string {
	return []string{"summary.txt", "diag.json", "calls.csv", "registrations.json", "sip-trace.txt", "linetest.json", "log.txt"}
}

// Scrub replaces every occurrence of each secret in every file, the last
// defence after each collector's own redaction. It returns the names of
// the files that held one: a non-empty result is a bug to log loudly.
func Scrub(files []File, secrets []string) []string {
	var leaked []string
	for i := range files {
		for _, s := range secrets {
			// Short secrets would match ordinary text and mangle the
			// bundle; the configuration refuses them anyway.
			if len(s) < 4 || !bytes.Contains(files[i].Data, []byte(s)) {
				continue
			}
			files[i].Data = bytes.ReplaceAll(files[i].Data, []byte(s), []byte("[redacted]"))
			if !slices.Contains(leaked, files[i].Name) {
				leaked = append(leaked, files[i].Name)
			}
		}
	}
	return leaked
}

// WriteArchive writes the files as a tar.gz, in the bundle's layout order
// (files not in the layout follow, by name).
func WriteArchive(w io.Writer, files []File, at time.Time) error {
	layout := Layout()
	sorted := slices.Clone(files)
	order.Stable(sorted, func(a, b File) int {
		ia, ib := slices.Index(layout, a.Name), slices.Index(layout, b.Name)
		switch {
		case ia >= 0 && ib >= 0:
			return ia - ib
		case ia >= 0:
			return -1
		case ib >= 0:
			return 1
		}
		return strings.Compare(a.Name, b.Name)
	})
	gz := gzip.NewWriter(w)
	tw := tar.NewWriter(gz)
	for _, f := range sorted {
		hdr := &tar.Header{Name: f.Name, Mode: 0o644, Size: int64(len(f.Data)), ModTime: at, Typeflag: tar.TypeReg}
		if err := tw.WriteHeader(hdr); err != nil {
			return fmt.Errorf("diag: bundle %s: %w", f.Name, err)
		}
		if _, err := tw.Write(f.Data); err != nil {
			return fmt.Errorf("diag: bundle %s: %w", f.Name, err)
		}
	}
	if err := tw.Close(); err != nil {
		return fmt.Errorf("diag: bundle: %w", err)
	}
	if err := gz.Close(); err != nil {
		return fmt.Errorf("diag: bundle: %w", err)
	}
	return nil
}

// ReadArchive reads a bundle back (tests, and `tipring diag show`).
func ReadArchive(r io.Reader) ([]File, error) {
	gz, err := gzip.NewReader(r)
	if err != nil {
		return nil, fmt.Errorf("diag: bundle: %w", err)
	}
	defer gz.Close()
	tr := tar.NewReader(gz)
	var files []File
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return files, nil
		}
		if err != nil {
			return nil, fmt.Errorf("diag: bundle: %w", err)
		}
		// A bundle is small; a huge member is not ours.
		data, err := io.ReadAll(io.LimitReader(tr, 64<<20))
		if err != nil {
			return nil, fmt.Errorf("diag: bundle %s: %w", hdr.Name, err)
		}
		files = append(files, File{Name: hdr.Name, Data: data})
	}
}
