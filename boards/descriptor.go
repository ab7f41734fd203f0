package boards

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/pelletier/go-toml/v2"
)

// DescriptorFile is the name of the descriptor in each board's folder.
const DescriptorFile = "board.toml"

// Descriptor is what a board is made of, read from boards/<name>/board.toml:
// the image builder picks the architecture and storage layout from it, and
// the board's driver finds its pins in it at run time. Adding a board means
// adding a folder with a descriptor and a driver, not editing line logic.
type Descriptor struct {
	// Name is the folder name and the [device] board value.
	Name        string `toml:"name"`
	Description string `toml:"description"`
	Arch        Arch   `toml:"arch"`
	// Ports is the number of FXS ports, numbered from 1.
	Ports int `toml:"ports"`
	// SLIC is the line-interface chip and its bus; zero for a board
	// without one (sim).
	SLIC SLIC `toml:"slic"`
	// Ring says how the ring voltage is made.
	Ring RingGen `toml:"ring"`
	LEDs LEDs    `toml:"leds"`
	// ResetButton is the pin of the factory-reset button ("" if none).
	ResetButton string `toml:"reset_button"`
	// Audio is the ALSA device carrying the ports' voice, e.g. "hw:0,0"
	// ("" for a board without one).
	Audio   string  `toml:"audio"`
	Storage Storage `toml:"storage"`
	// Region is the default region ([device] region when the
	// configuration does not set one).
	Region string `toml:"region"`
}

// Arch is the Go build target of the board's firmware.
type Arch struct {
	GOOS   string `toml:"goos"`
	GOARCH string `toml:"goarch"`
	// GOARM is "6" or "7" for GOARCH arm, "" otherwise.
	GOARM string `toml:"goarm"`
	// GOMIPS is "softfloat" or "hardfloat" for GOARCH mips and mipsle,
	// "" otherwise.
	GOMIPS string `toml:"gomips"`
}

// SLIC is the subscriber line interface chip: the part that feeds the
// copper, detects the hook and rings the phone.
type SLIC struct {
	// Chip names the part, e.g. "si32260"; "" for a board without a SLIC.
	Chip string `toml:"chip"`
	// SPIBus and SPIChipSelect name the spidev device
	// (/dev/spidev<bus>.<cs>); SPIHz is the clock to run it at.
	SPIBus        int `toml:"spi_bus"`
	SPIChipSelect int `toml:"spi_cs"`
	SPIHz         int `toml:"spi_hz"`
	// Reset is the pin holding the chip in reset while low; Interrupt the
	// chip's interrupt output (active low).
	Reset     string `toml:"reset"`
	Interrupt string `toml:"interrupt"`
}

// RingGen is how the board makes the ring voltage.
type RingGen struct {
	// Source is "slic" (the SLIC's own ringing generator, switched on and
	// off by the driver for the cadence) or "none" (a simulated line).
	Source string `toml:"source"`
	// Hz and Vrms are the ringing frequency and open-circuit voltage.
	Hz   float64 `toml:"hz"`
	Vrms float64 `toml:"vrms"`
}

// LEDs are the pins of the front-panel lights; "" for a light the board
// does not have.
type LEDs struct {
	Power    string `toml:"power"`
	Internet string `toml:"internet"`
	Phone1   string `toml:"phone1"`
	Phone2   string `toml:"phone2"`
}

// Storage is where the firmware lives: two slots for A/B updates and the
// data partition. On real boards they are block devices; on the sim board,
// directories relative to the data dir.
type Storage struct {
	SlotA string `toml:"slot_a"`
	SlotB string `toml:"slot_b"`
	Data  string `toml:"data"`
}

// LoadDescriptor reads dir/board.toml and checks that the board's name is
// the folder's.
func LoadDescriptor(dir string) (Descriptor, error) {
	path := filepath.Join(dir, DescriptorFile)
	data, err := os.ReadFile(path)
	if err != nil {
		return Descriptor{}, fmt.Errorf("board descriptor: %w", err)
	}
	d, err := ParseDescriptor(data)
	if err != nil {
		return Descriptor{}, fmt.Errorf("%s: %w", path, err)
	}
	if folder := filepath.Base(filepath.Clean(dir)); d.Name != folder {
		return Descriptor{}, fmt.Errorf("%s: name: %q is not the board's folder %q: the name must be the folder name", path, d.Name, folder)
	}
	return d, nil
}

// ParseDescriptor decodes and checks a board descriptor. It is strict: an
// unknown key or a bad value is an error that names the key.
func ParseDescriptor(data []byte) (Descriptor, error) {
	var d Descriptor
	dec := toml.NewDecoder(bytes.NewReader(data)).DisallowUnknownFields()
	if err := dec.Decode(&d); err != nil {
		return Descriptor{}, descriptorDecodeError(err)
	}
	if err := d.validate(); err != nil {
		return Descriptor{}, err
	}
	return d, nil
}

func descriptorDecodeError(err error) error {
	var strict *toml.StrictMissingError
	if errors.As(err, &strict) {
		errs := make([]error, 0, len(strict.Errors))
		for i := range strict.Errors {
			e := &strict.Errors[i]
			row, _ := e.Position()
			errs = append(errs, fmt.Errorf("line %d: %s: unknown key (docs/boards.md lists the keys)", row, strings.Join(e.Key(), ".")))
		}
		return errors.Join(errs...)
	}
	var de *toml.DecodeError
	if errors.As(err, &de) {
		row, _ := de.Position()
		if k := de.Key(); len(k) > 0 {
			return fmt.Errorf("line %d: %s: %s", row, strings.Join(k, "."), de.Error())
		}
		return fmt.Errorf("line %d: %s", row, de.Error())
	}
	return fmt.Errorf("board descriptor: %w", err)
}

// linuxArches are the GOARCH values Go builds linux binaries for.
var linuxArches = map[string]bool{
	"386": true, "amd64": true, "arm": true, "arm64": true, "loong64": true,
	"mips": true, "mipsle": true, "mips64": true, "mips64le": true,
	"ppc64": true, "ppc64le": true, "riscv64": true, "s390x": true,
}

// maxPorts bounds Ports: far above any ATA, low enough that a typo (or a
// fuzzer) cannot make a driver allocate for millions of ports.
const maxPorts = 64

func (d *Descriptor) validate() error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", key, fmt.Sprintf(format, args...)))
	}
	if !validBoardName(d.Name) {
		bad("name", "%q is not a board name: use lower-case letters, digits, '-' and '_', as the board's folder is named", d.Name)
	}
	switch {
	case d.Arch.GOOS != "linux":
		bad("arch.goos", "%q: the firmware runs on linux only", d.Arch.GOOS)
	case !linuxArches[d.Arch.GOARCH]:
		bad("arch.goarch", "%q is not an architecture Go builds for linux", d.Arch.GOARCH)
	}
	switch d.Arch.GOARCH {
	case "arm":
		if d.Arch.GOARM != "6" && d.Arch.GOARM != "7" {
			bad("arch.goarm", "%q: arm boards need goarm \"6\" (ARMv6, Raspberry Pi Zero/1) or \"7\" (ARMv7)", d.Arch.GOARM)
		}
	default:
		if d.Arch.GOARM != "" {
			bad("arch.goarm", "set for goarch %q: only arm boards take goarm", d.Arch.GOARCH)
		}
	}
	switch d.Arch.GOARCH {
	case "mips", "mipsle":
		if d.Arch.GOMIPS != "softfloat" && d.Arch.GOMIPS != "hardfloat" {
			bad("arch.gomips", "%q: mips boards need gomips \"softfloat\" (no FPU, most routers) or \"hardfloat\"", d.Arch.GOMIPS)
		}
	default:
		if d.Arch.GOMIPS != "" {
			bad("arch.gomips", "set for goarch %q: only mips and mipsle boards take gomips", d.Arch.GOARCH)
		}
	}
	if d.Ports < 1 || d.Ports > maxPorts {
		bad("ports", "%d: a board has 1 to %d FXS ports", d.Ports, maxPorts)
	}
	if d.SLIC.Chip != "" {
		if d.SLIC.SPIBus < 0 || d.SLIC.SPIChipSelect < 0 || d.SLIC.SPIChipSelect > 255 {
			bad("slic.spi_bus", "bus %d, chip select %d: not a spidev device", d.SLIC.SPIBus, d.SLIC.SPIChipSelect)
		}
		if d.SLIC.SPIHz < 1000 || d.SLIC.SPIHz > 100_000_000 {
			bad("slic.spi_hz", "%d Hz: give the SPI clock, between 1 kHz and 100 MHz", d.SLIC.SPIHz)
		}
		if d.SLIC.Interrupt == "" {
			bad("slic.interrupt", "missing: the driver needs the SLIC's interrupt pin to see the hook")
		}
		if d.SLIC.Reset == "" {
			bad("slic.reset", "missing: the driver needs the SLIC's reset pin")
		}
	}
	switch d.Ring.Source {
	case "slic":
		if d.SLIC.Chip == "" {
			bad("ring.source", "\"slic\" but the board has no [slic] chip")
		}
		if d.Ring.Hz < 15 || d.Ring.Hz > 70 {
			bad("ring.hz", "%g: ringing is 15 to 70 Hz (20 or 25 Hz in most regions)", d.Ring.Hz)
		}
		if d.Ring.Vrms < 20 || d.Ring.Vrms > 100 {
			bad("ring.vrms", "%g: ring voltage is 20 to 100 V rms", d.Ring.Vrms)
		}
	case "none":
	default:
		bad("ring.source", "%q: want \"slic\" or \"none\"", d.Ring.Source)
	}
	d.checkPins(bad)
	if d.Storage.SlotA == "" || d.Storage.SlotB == "" || d.Storage.Data == "" {
		bad("storage", "slot_a, slot_b and data are all needed for A/B updates")
	} else if d.Storage.SlotA == d.Storage.SlotB {
		bad("storage.slot_b", "%q is slot_a too: an update would overwrite the running firmware", d.Storage.SlotB)
	}
	if !validRegionCode(d.Region) {
		bad("region", "%q: give a two-letter region code such as \"us\"", d.Region)
	}
	if strings.ContainsAny(d.Audio, " \t\n") {
		bad("audio", "%q: an ALSA device name has no spaces (e.g. \"hw:0,0\")", d.Audio)
	}
	return errors.Join(errs...)
}

// checkPins reports pins that are not pin names and pins used twice:
// a pin wired to two functions is a wiring mistake.
func (d *Descriptor) checkPins(bad func(key, format string, args ...any)) {
	pins := []struct{ key, name string }{
		{"slic.reset", d.SLIC.Reset},
		{"slic.interrupt", d.SLIC.Interrupt},
		{"leds.power", d.LEDs.Power},
		{"leds.internet", d.LEDs.Internet},
		{"leds.phone1", d.LEDs.Phone1},
		{"leds.phone2", d.LEDs.Phone2},
		{"reset_button", d.ResetButton},
	}
	seen := map[string]string{}
	for _, p := range pins {
		if p.name == "" {
			continue
		}
		if !validPinName(p.name) {
			bad(p.key, "%q is not a pin name (e.g. \"GPIO17\")", p.name)
			continue
		}
		if other, dup := seen[p.name]; dup {
			bad(p.key, "pin %s is already %s", p.name, other)
			continue
		}
		seen[p.name] = p.key
	}
}

func validBoardName(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

func validPinName(s string) bool {
	if len(s) > 64 {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

func validRegionCode(s string) bool {
	return len(s) == 2 && s[0] >= 'a' && s[0] <= 'z' && s[1] >= 'a' && s[1] <= 'z'
}
