package image

import (
	"bufio"
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"strings"
)

// DevPublicKey is the public half of the development signing key in
// scripts/keys/dev.key. That key is in the repository, so anyone can sign
// with it: only development builds trust it (see firmware/update).
const DevPublicKey = "R0nJxxCFwy8Z4m7FtwL6+1dP4n8BHuCGXz/U5lARMyk="

// PublicKey is a key that images may be signed with.
type PublicKey struct {
	ID  string
	Key ed25519.PublicKey
}

// KeyID names a public key in manifests and messages: the first 8 bytes of
// its SHA-256, in hex.
func KeyID(pub ed25519.PublicKey) string {
	sum := sha256.Sum256(pub)
	return hex.EncodeToString(sum[:8])
}

// ParsePublicKey reads a base64 ed25519 public key (32 bytes).
func ParsePublicKey(s string) (PublicKey, error) {
	b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(s))
	if err != nil || len(b) != ed25519.PublicKeySize {
		return PublicKey{}, fmt.Errorf("public key %.16q…: want the base64 of a 32-byte ed25519 public key", s)
	}
	return PublicKey{ID: KeyID(b), Key: ed25519.PublicKey(b)}, nil
}

// ReadPublicKeys reads a trusted-keys file: one base64 public key per line,
// optionally followed by a space and a comment; '#' starts a comment line.
func ReadPublicKeys(r io.Reader) ([]PublicKey, error) {
	var keys []PublicKey
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		field, _, _ := strings.Cut(line, " ")
		k, err := ParsePublicKey(field)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", n, err)
		}
		keys = append(keys, k)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read keys: %w", err)
	}
	return keys, nil
}

// ParsePrivateKey reads a signing key: the base64 of an ed25519 seed (32
// bytes) or private key (64 bytes) on one line ('#' lines are comments), or
// a PKCS#8 PEM block as `openssl genpkey -algorithm ed25519` writes it.
func ParsePrivateKey(data []byte) (ed25519.PrivateKey, error) {
	if blk, _ := pem.Decode(data); blk != nil {
		k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
		if err != nil {
			return nil, fmt.Errorf("signing key: PEM block: %w", err)
		}
		ek, ok := k.(ed25519.PrivateKey)
		if !ok {
			return nil, fmt.Errorf("signing key: PEM block holds a %T, want an ed25519 key", k)
		}
		return ek, nil
	}
	var body string
	for line := range strings.SplitSeq(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' {
			continue
		}
		if body != "" {
			return nil, errors.New("signing key: more than one key line")
		}
		body = line
	}
	b, err := base64.StdEncoding.DecodeString(body)
	if err != nil {
		return nil, errors.New("signing key: not base64 (want the base64 of an ed25519 seed, or a PKCS#8 PEM file)")
	}
	switch len(b) {
	case ed25519.SeedSize:
		return ed25519.NewKeyFromSeed(b), nil
	case ed25519.PrivateKeySize:
		k := ed25519.PrivateKey(b)
		// A 64-byte key whose second half is not the seed's public key
		// would sign with one key and claim another's id.
		if !k.Public().(ed25519.PublicKey).Equal(ed25519.NewKeyFromSeed(b[:32]).Public()) {
			return nil, errors.New("signing key: inconsistent 64-byte key")
		}
		return k, nil
	}
	return nil, fmt.Errorf("signing key: %d bytes, want 32 (seed) or 64", len(b))
}

// EncodePrivateKey writes a seed in the format ParsePrivateKey reads.
func EncodePrivateKey(k ed25519.PrivateKey, comment string) []byte {
	var b strings.Builder
	if comment != "" {
		fmt.Fprintf(&b, "# %s\n", comment)
	}
	b.WriteString(base64.StdEncoding.EncodeToString(k.Seed()))
	b.WriteByte('\n')
	return []byte(b.String())
}

// EncodePublicKey is the base64 form ParsePublicKey reads.
func EncodePublicKey(pub ed25519.PublicKey) string {
	return base64.StdEncoding.EncodeToString(pub)
}
