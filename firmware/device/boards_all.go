//go:build !board_sim && !board_rpifxs

package device

import (
	"github.com/tipring/tipring/boards"
	"github.com/tipring/tipring/boards/rpifxs"
	"github.com/tipring/tipring/boards/sim"
)

// Boards returns the registry of every board compiled into this firmware.
// A development build has them all; an image for one board is built with
// its tag (board_NAME, see boards_NAME.go) and carries only that board,
// since every driver costs flash the board itself needs.
func Boards() *boards.Registry {
	r := boards.NewRegistry()
	sim.Register(r)
	rpifxs.Register(r)
	return r
}
