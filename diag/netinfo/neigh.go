package netinfo

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strconv"
	"strings"
)

// Neighbour is one entry of the kernel's neighbour table (ARP for IPv4,
// Neighbour Discovery for IPv6): a device the box has talked to on its
// local links.
type Neighbour struct {
	Addr       netip.Addr `json:"addr"`
	MAC        string     `json:"mac,omitempty"` // empty while unresolved
	Interface  string     `json:"interface"`
	State      string     `json:"state"` // reachable, stale, incomplete, failed, permanent, ...
	Vendor     string     `json:"vendor,omitempty"`
	VendorKind string     `json:"vendor_kind,omitempty"`
	// Router is true when the neighbour is the default gateway, announced
	// itself as an IPv6 router, or is made by a vendor of routers.
	Router bool `json:"router"`
	// IsRouter6 is the kernel's NTF_ROUTER flag: the neighbour sent IPv6
	// router advertisements.
	IsRouter6 bool `json:"is_router6,omitempty"`
}

// resolved reports whether the neighbour answered: an entry that never
// resolved is a host the box tried to reach, not one that is there.
func (n Neighbour) resolved() bool {
	return n.MAC != "" && n.State != "incomplete" && n.State != "failed"
}

// ATF_COM from <net/if_arp.h>: the entry is complete (resolved).
const atfCom = 0x02

// ParseARP parses /proc/net/arp.
func ParseARP(r io.Reader) ([]Neighbour, error) {
	sc := bufio.NewScanner(r)
	var out []Neighbour
	line := 0
	for sc.Scan() {
		line++
		f := strings.Fields(sc.Text())
		if len(f) == 0 || (line == 1 && f[0] == "IP") {
			continue
		}
		if len(f) != 6 {
			return nil, fmt.Errorf("arp line %d: %d fields, want 6", line, len(f))
		}
		a, err := netip.ParseAddr(f[0])
		if err != nil || !a.Is4() {
			return nil, fmt.Errorf("arp line %d: %q is not an IPv4 address", line, f[0])
		}
		flags, err := strconv.ParseUint(strings.TrimPrefix(f[2], "0x"), 16, 32)
		if err != nil {
			return nil, fmt.Errorf("arp line %d: flags %q: %w", line, f[2], err)
		}
		hw, err := net.ParseMAC(f[3])
		if err != nil {
			return nil, fmt.Errorf("arp line %d: hardware address %q: %w", line, f[3], err)
		}
		n := Neighbour{Addr: a, Interface: f[5], State: "incomplete"}
		if flags&atfCom != 0 {
			n.MAC = hw.String()
			n.State = "reachable"
			if flags&0x04 != 0 { // ATF_PERM
				n.State = "permanent"
			}
		}
		out = append(out, n)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("arp: %w", err)
	}
	return out, nil
}

// Neighbour states (NUD_*) and flags from <linux/neighbour.h>.
var nudNames = [...]struct {
	bit  uint16
	name string
}{
	{0x01, "incomplete"}, {0x02, "reachable"}, {0x04, "stale"}, {0x08, "delay"},
	{0x10, "probe"}, {0x20, "failed"}, {0x40, "noarp"}, {0x80, "permanent"},
}

const (
	ndmsgLen   = 12 // struct ndmsg
	ndaDst     = 1
	ndaLLAddr  = 2
	ntfRouter  = 0x80
	rtaHdrLen  = 4
	rtaAlignTo = 4
)

// rawNeighbour is a decoded RTM_NEWNEIGH message before the interface index
// is turned into a name.
type rawNeighbour struct {
	Neighbour
	Index int
}

// parseNeighMsg decodes the payload of one RTM_NEWNEIGH netlink message
// (struct ndmsg followed by route attributes), in the machine's byte order
// as netlink is.
func parseNeighMsg(b []byte, order binary.ByteOrder) (rawNeighbour, error) {
	if len(b) < ndmsgLen {
		return rawNeighbour{}, fmt.Errorf("neighbour message: %d bytes, want at least %d", len(b), ndmsgLen)
	}
	var n rawNeighbour
	n.Index = int(int32(order.Uint32(b[4:8])))
	state := order.Uint16(b[8:10])
	n.IsRouter6 = b[10]&ntfRouter != 0
	for _, s := range nudNames {
		if state&s.bit != 0 {
			n.State = s.name
			break
		}
	}
	if n.State == "" {
		n.State = "none"
	}
	attrs := b[ndmsgLen:]
	for len(attrs) >= rtaHdrLen {
		l := int(order.Uint16(attrs[0:2]))
		typ := order.Uint16(attrs[2:4]) &^ 0xc000 // drop NLA_F_NESTED and NLA_F_NET_BYTEORDER
		if l < rtaHdrLen || l > len(attrs) {
			return rawNeighbour{}, fmt.Errorf("neighbour message: attribute length %d out of range", l)
		}
		val := attrs[rtaHdrLen:l]
		switch typ {
		case ndaDst:
			a, ok := netip.AddrFromSlice(val)
			if !ok {
				return rawNeighbour{}, fmt.Errorf("neighbour message: destination of %d bytes", len(val))
			}
			n.Addr = a
		case ndaLLAddr:
			if len(val) == 6 {
				n.MAC = net.HardwareAddr(val).String()
			}
		}
		adv := (l + rtaAlignTo - 1) &^ (rtaAlignTo - 1)
		if adv > len(attrs) {
			break
		}
		attrs = attrs[adv:]
	}
	if !n.Addr.IsValid() {
		return rawNeighbour{}, errors.New("neighbour message: no destination address")
	}
	return n, nil
}

// mergeNeighbours joins the ARP file's entries with the kernel's table,
// keeping the kernel's richer state when both know an address.
func mergeNeighbours(lists ...[]Neighbour) []Neighbour {
	type key struct {
		a   netip.Addr
		dev string
	}
	seen := map[key]int{}
	var out []Neighbour
	for _, l := range lists {
		for _, n := range l {
			k := key{n.Addr, n.Interface}
			if i, ok := seen[k]; ok {
				if n.MAC != "" {
					out[i].MAC = n.MAC
				}
				if n.State != "" {
					out[i].State = n.State
				}
				out[i].IsRouter6 = out[i].IsRouter6 || n.IsRouter6
				continue
			}
			seen[k] = len(out)
			out = append(out, n)
		}
	}
	return out
}

// Census counts what the neighbour table shows: hosts are distinct
// hardware addresses that answered (a device with an IPv4 and an IPv6
// address is one host), routers those among them that look like routers.
func Census(ns []Neighbour) (hosts, routers int) {
	h := map[string]bool{}
	for _, n := range ns {
		if !n.resolved() {
			continue
		}
		h[n.MAC] = h[n.MAC] || n.Router
	}
	for _, r := range h {
		if r {
			routers++
		}
	}
	return len(h), routers
}
