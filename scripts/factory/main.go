// Command factory writes a device's factory data on the production line:
// its serial, its MAC and a fresh per-device secret, into factory.json in
// the device's data directory (mode 0600; on a real board, its read-only
// factory partition), and prints the label line with the admin password
// derived from the secret. It refuses to overwrite: a device's secret is
// written once.
//
//	go run ./scripts/factory --serial TR-000123 --mac 00:11:22:aa:bb:cc --data /mnt/data
package main

import (
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/tipring/tipring/firmware/provision"
)

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr, rand.Reader); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "factory:", err)
		}
		os.Exit(2)
	}
}

func run(args []string, stdout, stderr io.Writer, random io.Reader) error {
	fs := flag.NewFlagSet("factory", flag.ContinueOnError)
	fs.SetOutput(stderr)
	serial := fs.String("serial", "", "the device's serial number (required)")
	mac := fs.String("mac", "", "the device's Ethernet MAC (required)")
	data := fs.String("data", "", "the device's data directory, as mounted on the factory station (required)")
	out := fs.String("o", "", "write the factory file here instead of <data>/factory.json")
	url := fs.String("provision-url", "", "provisioning URL to build in (optional; otherwise DHCP options 160/66)")
	key := fs.String("provision-key", "", "base64 ed25519 key provisioning files must be signed with (optional)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *serial == "" || *mac == "" || (*data == "" && *out == "") {
		return errors.New("--serial, --mac and --data are required")
	}
	f, err := provision.NewFactory(*serial, *mac, random)
	if err != nil {
		return err
	}
	f.ProvisionURL, f.ProvisionKey = *url, *key
	path := *out
	if path == "" {
		if err := os.MkdirAll(*data, 0o700); err != nil {
			return err
		}
		path = filepath.Join(*data, provision.FactoryFile)
	}
	if err := f.Write(path); err != nil {
		return err
	}
	fmt.Fprintln(stdout, f.Label())
	return nil
}
