package netinfo

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Interface is one network interface of the box.
type Interface struct {
	Name      string         `json:"name"`
	Index     int            `json:"index"`
	MAC       string         `json:"mac,omitempty"`
	MTU       int            `json:"mtu"`
	Flags     []string       `json:"flags"` // up, broadcast, loopback, pointtopoint, multicast, running
	Addrs     []netip.Prefix `json:"addrs,omitempty"`
	Kind      string         `json:"kind,omitempty"`       // ethernet, wlan, bridge, vlan, loopback, ... from sysfs
	OperState string         `json:"oper_state,omitempty"` // up, down, dormant, unknown ... from sysfs
	SpeedMbps int            `json:"speed_mbps,omitempty"` // link speed from sysfs, when the driver knows it
}

// Kernel answers what only the running kernel knows. Collect uses this
// machine's kernel unless a test gives it another.
type Kernel interface {
	Interfaces() ([]Interface, error)
	// Neighbours returns the neighbour table of both address families.
	Neighbours() ([]Neighbour, error)
}

// SystemKernel reads this machine's kernel through the standard library and
// rtnetlink. Nothing it does leaves the box.
type SystemKernel struct{}

// Interfaces lists the interfaces with their addresses.
func (SystemKernel) Interfaces() ([]Interface, error) {
	ifs, err := net.Interfaces()
	if err != nil {
		return nil, fmt.Errorf("interfaces: %w", err)
	}
	out := make([]Interface, 0, len(ifs))
	for _, ifc := range ifs {
		it := Interface{Name: ifc.Name, Index: ifc.Index, MTU: ifc.MTU, MAC: ifc.HardwareAddr.String()}
		if ifc.Flags != 0 {
			it.Flags = strings.Split(ifc.Flags.String(), "|")
		}
		addrs, err := ifc.Addrs()
		if err != nil {
			return nil, fmt.Errorf("interface %s addresses: %w", ifc.Name, err)
		}
		for _, a := range addrs {
			if ipn, ok := a.(*net.IPNet); ok {
				ip, ok := netip.AddrFromSlice(ipn.IP)
				if !ok {
					continue
				}
				ones, _ := ipn.Mask.Size()
				it.Addrs = append(it.Addrs, netip.PrefixFrom(ip.Unmap(), ones))
			}
		}
		out = append(out, it)
	}
	return out, nil
}

// Neighbours dumps the kernel's neighbour table.
func (SystemKernel) Neighbours() ([]Neighbour, error) {
	ifs, err := net.Interfaces()
	if err != nil {
		return nil, fmt.Errorf("interfaces: %w", err)
	}
	names := make(map[int]string, len(ifs))
	for _, ifc := range ifs {
		names[ifc.Index] = ifc.Name
	}
	return kernelNeighbours(names)
}

// sysfsDetails adds what /sys/class/net knows about an interface: the
// kind from uevent's DEVTYPE (wlan tells support the box is on Wi-Fi),
// the operational state and the link speed. Missing files are not errors:
// virtual interfaces lack most of them.
func sysfsDetails(root string, it *Interface) {
	dir := filepath.Join(root, "sys", "class", "net", it.Name)
	if b, err := os.ReadFile(filepath.Join(dir, "operstate")); err == nil {
		it.OperState = strings.TrimSpace(string(b))
	}
	if b, err := os.ReadFile(filepath.Join(dir, "speed")); err == nil {
		// Drivers answer -1 (or fail the read) when the link is down.
		if v, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && v > 0 {
			it.SpeedMbps = v
		}
	}
	it.Kind = ""
	if f, err := os.Open(filepath.Join(dir, "uevent")); err == nil {
		it.Kind = ueventDevtype(f)
		f.Close()
	}
	if it.Kind == "" {
		if b, err := os.ReadFile(filepath.Join(dir, "type")); err == nil {
			// ARPHRD_* from <linux/if_arp.h>.
			switch strings.TrimSpace(string(b)) {
			case "1":
				it.Kind = "ethernet"
			case "772":
				it.Kind = "loopback"
			case "512":
				it.Kind = "ppp"
			case "65534":
				it.Kind = "tunnel"
			}
		}
	}
}

func ueventDevtype(r io.Reader) string {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "DEVTYPE="); ok {
			return strings.TrimSpace(v)
		}
	}
	return ""
}
