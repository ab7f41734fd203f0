package boards

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestEveryBoardDescriptor checks what the image builder relies on: every
// board folder's board.toml parses, and its name is its folder's.
func TestEveryBoardDescriptor(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("*", DescriptorFile))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 2 {
		t.Fatalf("found %d board descriptors (%v), want at least sim and rpifxs", len(files), files)
	}
	for _, f := range files {
		dir := filepath.Dir(f)
		d, err := LoadDescriptor(dir)
		if err != nil {
			t.Errorf("%s: %v", f, err)
			continue
		}
		if d.Name != dir {
			t.Errorf("%s: name %q, want the folder name %q", f, d.Name, dir)
		}
	}
}

func TestSimDescriptor(t *testing.T) {
	d, err := LoadDescriptor("sim")
	if err != nil {
		t.Fatal(err)
	}
	if d.Ports != 2 || d.Storage != (Storage{SlotA: "slots/a", SlotB: "slots/b", Data: "."}) {
		t.Errorf("sim descriptor: ports %d, storage %+v", d.Ports, d.Storage)
	}
}

func TestRPiFXSDescriptor(t *testing.T) {
	d, err := LoadDescriptor("rpifxs")
	if err != nil {
		t.Fatal(err)
	}
	if d.Arch != (Arch{GOOS: "linux", GOARCH: "arm", GOARM: "7"}) {
		t.Errorf("arch %+v", d.Arch)
	}
	if d.SLIC.Interrupt == "" || d.SLIC.Reset == "" || d.Audio == "" || d.ResetButton == "" {
		t.Errorf("rpifxs descriptor lacks pins or audio: %+v", d)
	}
}

const goodDescriptor = `
name = "testboard"
ports = 1
region = "de"
audio = "hw:1,0"
reset_button = "GPIO26"
[arch]
goos = "linux"
goarch = "mipsle"
gomips = "softfloat"
[slic]
chip = "si3226x"
spi_hz = 1000000
reset = "GPIO24"
interrupt = "GPIO25"
[ring]
source = "slic"
hz = 25
vrms = 50
[leds]
power = "GPIO5"
[storage]
slot_a = "/dev/mtdblock2"
slot_b = "/dev/mtdblock3"
data = "/dev/mtdblock4"
`

func TestParseDescriptorGood(t *testing.T) {
	d, err := ParseDescriptor([]byte(goodDescriptor))
	if err != nil {
		t.Fatal(err)
	}
	if d.Arch.GOMIPS != "softfloat" || d.Ring.Hz != 25 || d.SLIC.Interrupt != "GPIO25" || d.Region != "de" {
		t.Errorf("parsed %+v", d)
	}
}

// TestParseDescriptorErrors checks that each mistake an installer or board
// author can make is refused with an error naming the key.
func TestParseDescriptorErrors(t *testing.T) {
	cases := []struct {
		name, from, to, key string
	}{
		{"unknown key", `ports = 1`, "ports = 1\nportz = 2", "portz"},
		{"unknown table key", `vrms = 50`, "vrms = 50\nvolts = 3", "ring.volts"},
		{"wrong type", `ports = 1`, `ports = "one"`, "ports"},
		{"no ports", `ports = 1`, `ports = 0`, "ports"},
		{"too many ports", `ports = 1`, `ports = 100000`, "ports"},
		{"arm without goarm", "goarch = \"mipsle\"\ngomips = \"softfloat\"", `goarch = "arm"`, "arch.goarm"},
		{"arm v5", "goarch = \"mipsle\"\ngomips = \"softfloat\"", "goarch = \"arm\"\ngoarm = \"5\"", "arch.goarm"},
		{"mips without gomips", `gomips = "softfloat"`, ``, "arch.gomips"},
		{"gomips on arm64", `goarch = "mipsle"`, `goarch = "arm64"`, "arch.gomips"},
		{"unknown goarch", "goarch = \"mipsle\"\ngomips = \"softfloat\"", `goarch = "z80"`, "arch.goarch"},
		{"not linux", `goos = "linux"`, `goos = "windows"`, "arch.goos"},
		{"no interrupt pin", `interrupt = "GPIO25"`, ``, "slic.interrupt"},
		{"pin used twice", `power = "GPIO5"`, `power = "GPIO25"`, "leds.power"},
		{"bad pin name", `power = "GPIO5"`, `power = "GPIO 5"`, "leds.power"},
		{"ring without slic", `chip = "si3226x"`, ``, "ring.source"},
		{"ring frequency", `hz = 25`, `hz = 2500`, "ring.hz"},
		{"same slots", `slot_b = "/dev/mtdblock3"`, `slot_b = "/dev/mtdblock2"`, "storage.slot_b"},
		{"no data", `data = "/dev/mtdblock4"`, ``, "storage"},
		{"bad region", `region = "de"`, `region = "Germany"`, "region"},
		{"bad name", `name = "testboard"`, `name = "../etc"`, "name"},
		{"not toml", `ports = 1`, `ports = = 1`, "line"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if !strings.Contains(goodDescriptor, c.from) {
				t.Fatalf("test case does not apply: %q not in the descriptor", c.from)
			}
			bad := strings.Replace(goodDescriptor, c.from, c.to, 1)
			_, err := ParseDescriptor([]byte(bad))
			if err == nil {
				t.Fatalf("accepted:\n%s", bad)
			}
			if !strings.Contains(err.Error(), c.key) {
				t.Errorf("error %q does not name %q", err, c.key)
			}
		})
	}
}

func TestLoadDescriptorNameMustBeFolder(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "otherboard")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, DescriptorFile), []byte(goodDescriptor), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := LoadDescriptor(dir)
	if err == nil || !strings.Contains(err.Error(), "folder") {
		t.Fatalf("name testboard in folder otherboard: got %v, want an error about the folder", err)
	}
	if _, err := LoadDescriptor(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Fatal("a folder without board.toml loaded")
	}
}

// FuzzParseDescriptor checks that no input panics and that what parses
// is valid: a second validation passes.
func FuzzParseDescriptor(f *testing.F) {
	f.Add([]byte(goodDescriptor))
	f.Fuzz(func(t *testing.T, data []byte) {
		d, err := ParseDescriptor(data)
		if err != nil {
			return
		}
		if err := d.validate(); err != nil {
			t.Fatalf("parsed descriptor fails validation: %v", err)
		}
		if d.Ports < 1 || d.Ports > maxPorts {
			t.Fatalf("ports %d accepted", d.Ports)
		}
	})
}
