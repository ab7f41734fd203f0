// Package provision brings a blank device to a working configuration and
// keeps it there: the factory data every device carries (serial, MAC, a
// per-device secret from which its admin password is derived), fetching a
// configuration file from a provisioning server, and writing one from
// flags for a bench setup.
package provision

import (
	"bytes"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"unicode"

	"github.com/tipring/tipring/firmware/image"
	"github.com/tipring/tipring/internal/durable"
)

// FactoryFile is the factory data's name in the data directory.
const FactoryFile = "factory.json"

// maxFactoryFile bounds what ParseFactory reads: the file holds a handful
// of short fields.
const maxFactoryFile = 4 << 10

// secretLen is the per-device secret's length in bytes.
const secretLen = 32

// Factory is what the factory writes into each device once: who it is and
// the secret its admin password is derived from. It never changes after
// that, and a factory reset keeps it, so the label on the box stays true.
type Factory struct {
	Serial string `json:"serial"`
	// MAC is the device's Ethernet address, 12 lower-case hex digits
	// without separators: the form provisioning file names use.
	MAC string `json:"mac"`
	// Secret is 32 random bytes, hex-encoded.
	Secret string `json:"secret"`
	// ProvisionURL is where the device fetches its configuration when it
	// has none; empty means the DHCP options decide.
	ProvisionURL string `json:"provision_url,omitempty"`
	// ProvisionKey is the base64 ed25519 public key provisioning files
	// must be signed with; empty means signatures are not checked unless
	// the configuration names a key.
	ProvisionKey string `json:"provision_key,omitempty"`
}

// NewFactory makes the factory data of one device, its secret read from
// random (crypto/rand.Reader in production).
func NewFactory(serial, mac string, random io.Reader) (Factory, error) {
	m, err := ParseMAC(mac)
	if err != nil {
		return Factory{}, err
	}
	secret := make([]byte, secretLen)
	if _, err := io.ReadFull(random, secret); err != nil {
		return Factory{}, fmt.Errorf("factory: secret: %w", err)
	}
	f := Factory{Serial: serial, MAC: m, Secret: hex.EncodeToString(secret)}
	if err := f.check(); err != nil {
		return Factory{}, err
	}
	return f, nil
}

// ParseFactory decodes and checks a factory file. Unknown fields are
// refused, as in the configuration: a typo in factory data would
// otherwise live for the device's whole life.
func ParseFactory(data []byte) (Factory, error) {
	if len(data) > maxFactoryFile {
		return Factory{}, fmt.Errorf("factory file: %d bytes, more than the %d a factory file holds", len(data), maxFactoryFile)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var f Factory
	if err := dec.Decode(&f); err != nil {
		return Factory{}, fmt.Errorf("factory file: %w", err)
	}
	if dec.More() {
		return Factory{}, errors.New("factory file: more than one JSON object")
	}
	if err := f.check(); err != nil {
		return Factory{}, err
	}
	return f, nil
}

// LoadFactory reads the factory file at path.
func LoadFactory(path string) (Factory, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Factory{}, fmt.Errorf("factory file: %w", err)
	}
	f, err := ParseFactory(data)
	if err != nil {
		return Factory{}, fmt.Errorf("%s: %w", path, err)
	}
	return f, nil
}

func (f Factory) check() error {
	if f.Serial == "" {
		return errors.New("factory file: serial is missing")
	}
	if len(f.Serial) > 64 || strings.IndexFunc(f.Serial, func(r rune) bool { return !unicode.IsPrint(r) || r == ' ' }) >= 0 {
		return fmt.Errorf("factory file: serial %q: want up to 64 printable characters without spaces", f.Serial)
	}
	if m, err := ParseMAC(f.MAC); err != nil {
		return fmt.Errorf("factory file: %w", err)
	} else if m != f.MAC {
		return fmt.Errorf("factory file: mac %q: write it as %q", f.MAC, m)
	}
	if s, err := hex.DecodeString(f.Secret); err != nil || len(s) != secretLen {
		return fmt.Errorf("factory file: secret: want %d hex digits", 2*secretLen)
	}
	if f.ProvisionURL != "" {
		if _, err := NormalizeURL(f.ProvisionURL); err != nil {
			return fmt.Errorf("factory file: provision_url: %w", err)
		}
	}
	if f.ProvisionKey != "" {
		if _, err := ParsePublicKey(f.ProvisionKey); err != nil {
			return fmt.Errorf("factory file: provision_key: %w", err)
		}
	}
	return nil
}

// Marshal encodes the factory data as the file holds it.
func (f Factory) Marshal() []byte {
	b, _ := json.MarshalIndent(f, "", "  ") // only strings: cannot fail
	return append(b, '\n')
}

// Write creates the factory file at path, mode 0600, and refuses to
// replace one: a device's secret is written once.
func (f Factory) Write(path string) error {
	if err := f.check(); err != nil {
		return err
	}
	fd, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("factory file: %w (a device's factory data is written once)", err)
	}
	_, werr := fd.Write(f.Marshal())
	serr := fd.Sync()
	cerr := fd.Close()
	if err := errors.Join(werr, serr, cerr); err != nil {
		_ = os.Remove(path)
		return fmt.Errorf("factory file %s: %w", path, err)
	}
	return durable.SyncDir(filepath.Dir(path))
}

// passwordLabel separates the admin password from anything else that may
// one day be derived from the same secret.
const passwordLabel = "tipring admin password v1"

// passwordAlphabet leaves out 0, 1, i, l and o, which a label printer's
// font makes look alike.
const passwordAlphabet = "23456789abcdefghjkmnpqrstuvwxyz"

// passwordLen characters of a 31-symbol alphabet are about 59 bits.
const passwordLen = 12

// AdminPassword is the device's admin password, derived from its secret:
// the same for the device's whole life, different for every device, and
// printed on its label by the factory.
func (f Factory) AdminPassword() string {
	secret, err := hex.DecodeString(f.Secret)
	if err != nil {
		return "" // check refused such a Factory; an empty password is refused by the API
	}
	return DerivePassword(secret)
}

// DerivePassword turns a secret into an admin password: HMAC-SHA256 of a
// fixed label, each character from 16 bits of it modulo the alphabet (the
// bias of 65536 mod 31 is negligible).
func DerivePassword(secret []byte) string {
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(passwordLabel))
	sum := mac.Sum(nil)
	out := make([]byte, passwordLen)
	for i := range out {
		v := binary.BigEndian.Uint16(sum[2*i:])
		out[i] = passwordAlphabet[int(v)%len(passwordAlphabet)]
	}
	return string(out)
}

// Label is the line the factory prints on the device's label.
func (f Factory) Label() string {
	return fmt.Sprintf("serial %s  mac %s  admin password %s", f.Serial, FormatMAC(f.MAC), f.AdminPassword())
}

// ParseMAC accepts a MAC address as 12 hex digits, with or without ':' or
// '-' between the bytes, and returns it lower-case without separators.
func ParseMAC(s string) (string, error) {
	clean := strings.ToLower(strings.NewReplacer(":", "", "-", "").Replace(s))
	b, err := hex.DecodeString(clean)
	if err != nil || len(b) != 6 {
		return "", fmt.Errorf("mac %q: want 6 bytes in hex, like 00:11:22:aa:bb:cc", s)
	}
	return clean, nil
}

// FormatMAC writes a 12-digit MAC with colons, as people read it.
func FormatMAC(m string) string {
	if len(m) != 12 {
		return m
	}
	var b strings.Builder
	for i := 0; i < 12; i += 2 {
		if i > 0 {
			b.WriteByte(':')
		}
		b.WriteString(m[i : i+2])
	}
	return b.String()
}

// ParsePublicKey decodes a base64 ed25519 public key, as image signing
// keys are written: one parser for every key the firmware reads.
func ParsePublicKey(s string) (ed25519.PublicKey, error) {
	k, err := image.ParsePublicKey(s)
	return k.Key, err
}
