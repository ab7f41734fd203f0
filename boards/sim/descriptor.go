package sim

import (
	_ "embed" // the board's descriptor travels in the binary

	"github.com/tipring/tipring/boards"
)

//go:embed board.toml
var descriptorTOML string

// Descriptor is the sim board's board.toml, as compiled in.
func Descriptor() (boards.Descriptor, error) {
	return boards.ParseDescriptor([]byte(descriptorTOML))
}
