package boards

import "errors"

// ErrOffHook is what Port.Ring returns, wrapped, when the phone is
// off-hook: a SLIC trips the ring at once, so the phone would never ring,
// and the line logic must know that the call met a lifted handset.
var ErrOffHook = errors.New("phone is off-hook")

// PortList returns a board's ports as the Port interface, in the order
// given, for Board.Ports.
func PortList[P Port](ports []P) []Port {
	out := make([]Port, len(ports))
	for i, p := range ports {
		out[i] = p
	}
	return out
}
