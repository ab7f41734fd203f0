//go:build !linux

package netinfo

import "errors"

func kernelNeighbours(map[int]string) ([]Neighbour, error) {
	return nil, errors.New("neighbour table: only read on Linux")
}
