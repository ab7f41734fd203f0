//go:build !linux

package rpifxs

import (
	"errors"

	"github.com/tipring/tipring/boards"
)

func openHardware(boards.Descriptor) (Hardware, error) {
	return Hardware{}, errors.New("the Raspberry Pi FXS board runs on linux only")
}
