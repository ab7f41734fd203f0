//go:build board_rpifxs

package device

import (
	"github.com/tipring/tipring/boards"
	"github.com/tipring/tipring/boards/rpifxs"
)

// Boards returns the registry of an image for the Raspberry Pi FXS board.
func Boards() *boards.Registry {
	r := boards.NewRegistry()
	rpifxs.Register(r)
	return r
}
