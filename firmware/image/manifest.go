// Package image is the update image: a tar archive (optionally gzipped)
// whose first entry is manifest.json, the second manifest.sig (an ed25519
// signature over the manifest's exact bytes), and then the files the
// manifest lists with their sizes, modes and SHA-256 sums. Open checks the
// signature, the board and the version before a single file is read, and
// Extract checks every file while it streams, so a device never has to
// hold an image in memory or trust a byte it has not verified.
package image

import (
	"bytes"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"strconv"
	"strings"
	"time"
)

// Names of the two leading entries.
const (
	ManifestName  = "manifest.json"
	SignatureName = "manifest.sig"
)

// FormatVersion is the manifest format this package writes and reads.
const FormatVersion = 1

// Limits that keep a hostile image from exhausting a small device.
const (
	MaxManifestSize  = 1 << 20
	MaxSignatureSize = 4 << 10
	MaxFiles         = 4096
	MaxFileSize      = 256 << 20
	MaxPathLen       = 255
)

// signingContext is prefixed to the manifest before signing, so that a
// signature made for an image cannot be replayed as one for anything else
// signed with the same key.
const signingContext = "tipring image manifest v1\n"

// Manifest describes an image.
type Manifest struct {
	Format  int    `json:"format"`
	Board   string `json:"board"`
	Version string `json:"version"`
	// MinVersion is the anti-rollback floor: once this image is confirmed
	// on a device, the device refuses images older than MinVersion unless
	// the installer forces it.
	MinVersion string    `json:"min_version,omitempty"`
	Built      time.Time `json:"built"`
	// DevSigned marks an image signed with the development key, which
	// only development builds trust.
	DevSigned bool   `json:"dev_signed,omitempty"`
	Files     []File `json:"files"`
}

// File is one file of the image.
type File struct {
	Path   string `json:"path"`
	Size   int64  `json:"size"`
	Mode   Mode   `json:"mode"`
	SHA256 string `json:"sha256"`
}

// Mode is a file's permission bits, written in octal ("0755") in JSON.
type Mode fs.FileMode

// MarshalText implements encoding.TextMarshaler.
func (m Mode) MarshalText() ([]byte, error) {
	return fmt.Appendf(nil, "%04o", uint32(m)), nil
}

// UnmarshalText implements encoding.TextUnmarshaler.
func (m *Mode) UnmarshalText(b []byte) error {
	n, err := strconv.ParseUint(string(b), 8, 32)
	if err != nil || n&^0o777 != 0 {
		return fmt.Errorf("mode %q: want octal permission bits such as \"0644\" (no setuid, no file type)", b)
	}
	*m = Mode(n)
	return nil
}

// Signature is manifest.sig.
type Signature struct {
	KeyID string `json:"key_id"`
	Alg   string `json:"alg"`
	Sig   []byte `json:"sig"`
}

// ParseManifest decodes and checks a manifest. It does not check the
// signature: Open does that first, on the raw bytes.
func ParseManifest(data []byte) (*Manifest, error) {
	if len(data) > MaxManifestSize {
		return nil, fmt.Errorf("%w: manifest is %d bytes, over the %d limit", ErrFormat, len(data), MaxManifestSize)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var m Manifest
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("%w: manifest: %w", ErrFormat, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("%w: manifest: data after the JSON object", ErrFormat)
	}
	if err := m.Check(); err != nil {
		return nil, err
	}
	return &m, nil
}

// Check reports the first thing wrong with m.
func (m *Manifest) Check() error {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w: manifest: %s", ErrFormat, fmt.Sprintf(format, a...))
	}
	if m.Format != FormatVersion {
		return bad("format %d, this firmware reads format %d (install an intermediate release first)", m.Format, FormatVersion)
	}
	if m.Board == "" || len(m.Board) > 64 || strings.ContainsAny(m.Board, "/\\ \x00") {
		return bad("board %q is not a board name", m.Board)
	}
	if _, err := ParseVersion(m.Version); err != nil || m.Version == "" {
		return bad("version %q is not a version", m.Version)
	}
	if m.MinVersion != "" {
		if _, err := ParseVersion(m.MinVersion); err != nil {
			return bad("min_version %q is not a version", m.MinVersion)
		}
	}
	if len(m.Files) == 0 {
		return bad("lists no files")
	}
	if len(m.Files) > MaxFiles {
		return bad("lists %d files, over the %d limit", len(m.Files), MaxFiles)
	}
	seen := make(map[string]bool, len(m.Files))
	var total int64
	for _, f := range m.Files {
		if err := CheckPath(f.Path); err != nil {
			return bad("%v", err)
		}
		if seen[f.Path] {
			return bad("%s is listed twice", f.Path)
		}
		seen[f.Path] = true
		if f.Size < 0 || f.Size > MaxFileSize {
			return bad("%s: size %d is outside 0..%d", f.Path, f.Size, MaxFileSize)
		}
		total += f.Size
		if total > MaxFileSize {
			return bad("files add up to more than %d bytes", MaxFileSize)
		}
		if b, err := hex.DecodeString(f.SHA256); err != nil || len(b) != 32 {
			return bad("%s: sha256 %q is not 64 hex digits", f.Path, f.SHA256)
		}
	}
	// A file that is also a directory of another ("bin" and "bin/x")
	// cannot be extracted; refuse it here rather than half-way.
	for p := range seen {
		for dir := p; ; {
			i := strings.LastIndexByte(dir, '/')
			if i < 0 {
				break
			}
			dir = dir[:i]
			if seen[dir] {
				return bad("%s is a file and the directory of %s", dir, p)
			}
		}
	}
	return nil
}

// CheckPath refuses paths that could land outside the slot or clash with
// the image's own entries: absolute paths, "..", empty or "." elements,
// backslashes and control characters.
func CheckPath(p string) error {
	switch {
	case p == ManifestName || p == SignatureName:
		return fmt.Errorf("path %q is reserved for the image's own metadata", p)
	case len(p) > MaxPathLen:
		return fmt.Errorf("path %.32q… is longer than %d bytes", p, MaxPathLen)
	case !fs.ValidPath(p) || p == ".":
		return fmt.Errorf("path %q escapes the slot or is not clean (absolute, .., or empty parts)", p)
	case strings.ContainsAny(p, "\\:"):
		return fmt.Errorf("path %q contains a backslash or colon", p)
	}
	for _, c := range p {
		if c < ' ' || c == 0x7f {
			return fmt.Errorf("path %q contains a control character", p)
		}
	}
	return nil
}

// File returns the manifest's entry for path.
func (m *Manifest) File(path string) (File, bool) {
	for _, f := range m.Files {
		if f.Path == path {
			return f, true
		}
	}
	return File{}, false
}

// Sign signs the manifest bytes.
func Sign(manifest []byte, key ed25519.PrivateKey) Signature {
	pub := key.Public().(ed25519.PublicKey)
	return Signature{KeyID: KeyID(pub), Alg: "ed25519", Sig: ed25519.Sign(key, signed(manifest))}
}

// Verify checks sig over manifest with every trusted key: the key id the
// signature names is a hint for the error message, not a proof, and a
// device trusts a handful of keys at most.
func Verify(manifest []byte, sig Signature, trusted []PublicKey) error {
	if sig.Alg != "ed25519" {
		return fmt.Errorf("%w: algorithm %q, want ed25519", ErrSignature, sig.Alg)
	}
	if len(trusted) == 0 {
		return fmt.Errorf("%w: this device trusts no signing key (add one to its trusted_keys file)", ErrSignature)
	}
	msg := signed(manifest)
	for _, k := range trusted {
		if len(k.Key) == ed25519.PublicKeySize && len(sig.Sig) == ed25519.SignatureSize && ed25519.Verify(k.Key, msg, sig.Sig) {
			return nil
		}
	}
	ids := make([]string, len(trusted))
	for i, k := range trusted {
		ids[i] = k.ID
	}
	return fmt.Errorf("%w: signature does not verify with any trusted key (image key id %s; this device trusts %s)", ErrSignature, sig.KeyID, strings.Join(ids, ", "))
}

func signed(manifest []byte) []byte {
	return append([]byte(signingContext), manifest...)
}

// Reasons an image is refused; every refusal wraps one, with the details
// an installer needs in its message.
var (
	ErrFormat    = errors.New("not a valid update image")
	ErrSignature = errors.New("untrusted image")
	ErrBoard     = errors.New("wrong board")
	ErrVersion   = errors.New("version refused")
	ErrContent   = errors.New("corrupt image")
)
