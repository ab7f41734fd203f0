package netinfo

import (
	"encoding/binary"
	"fmt"
	"syscall"
)

// kernelNeighbours dumps the kernel's neighbour table over rtnetlink, the
// only place the IPv6 table can be read: /proc has no ndisc file. It is a
// request to the local kernel, not network traffic.
func kernelNeighbours(names map[int]string) ([]Neighbour, error) {
	b, err := syscall.NetlinkRIB(syscall.RTM_GETNEIGH, syscall.AF_UNSPEC)
	if err != nil {
		return nil, fmt.Errorf("netlink neighbour dump: %w", err)
	}
	msgs, err := syscall.ParseNetlinkMessage(b)
	if err != nil {
		return nil, fmt.Errorf("netlink neighbour dump: %w", err)
	}
	var out []Neighbour
	for _, m := range msgs {
		if m.Header.Type != syscall.RTM_NEWNEIGH {
			continue
		}
		n, err := parseNeighMsg(m.Data, binary.NativeEndian)
		if err != nil {
			return nil, err
		}
		if n.State == "noarp" || n.Addr.IsMulticast() {
			continue // multicast and point-to-point entries are not devices
		}
		n.Interface = names[n.Index]
		if n.Interface == "" {
			n.Interface = fmt.Sprintf("if%d", n.Index)
		}
		out = append(out, n.Neighbour)
	}
	return out, nil
}
