//go:build board_sim

package device

import (
	"github.com/tipring/tipring/boards"
	"github.com/tipring/tipring/boards/sim"
)

// Boards returns the registry of an image for the simulated board.
func Boards() *boards.Registry {
	r := boards.NewRegistry()
	sim.Register(r)
	return r
}
