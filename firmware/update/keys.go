package update

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/tipring/tipring/firmware/image"
)

// Build stamps, set by scripts/mkimage with -ldflags -X and never changed
// at run time:
//
//	releaseKeys  the public keys (base64, comma-separated) of release
//	             images: mkimage puts in the key that signs the image, so a
//	             device trusts the next image signed the same way.
//	devKeyTrust  "yes" when the image is dev-signed: the firmware then
//	             trusts the development key in scripts/keys.
var (
	releaseKeys string
	devKeyTrust string
)

// KeysFile is the trusted-keys file in the data dir: more public keys
// (one base64 key per line), for rotating release keys without an image.
const KeysFile = "trusted_keys"

// TrustedKeys are the keys the running firmware accepts images signed
// with: those built in, those in dataDir/trusted_keys, and the
// development key only in a development build (version "dev", as a plain
// `go build` makes, or an image made with mkimage --dev-key).
func TrustedKeys(version, dataDir string) ([]image.PublicKey, error) {
	var keys []image.PublicKey
	for s := range strings.SplitSeq(releaseKeys, ",") {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		k, err := image.ParsePublicKey(s)
		if err != nil {
			return nil, fmt.Errorf("built-in key: %w", err)
		}
		keys = append(keys, k)
	}
	if version == "dev" || devKeyTrust == "yes" {
		k, err := image.ParsePublicKey(image.DevPublicKey)
		if err != nil {
			return nil, err
		}
		keys = append(keys, k)
	}
	if dataDir != "" {
		path := filepath.Join(dataDir, KeysFile)
		f, err := os.Open(path)
		switch {
		case errors.Is(err, fs.ErrNotExist):
		case err != nil:
			return nil, fmt.Errorf("trusted keys: %w", err)
		default:
			more, err := image.ReadPublicKeys(f)
			f.Close()
			if err != nil {
				return nil, fmt.Errorf("%s: %w", path, err)
			}
			keys = append(keys, more...)
		}
	}
	return keys, nil
}
