package sim

import "testing"

func TestCompiledDescriptor(t *testing.T) {
	d, err := Descriptor()
	if err != nil {
		t.Fatal(err)
	}
	if d.Name != Name || d.Ports != Ports {
		t.Errorf("compiled-in board.toml: name %q ports %d, want %q %d", d.Name, d.Ports, Name, Ports)
	}
}
