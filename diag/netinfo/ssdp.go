package netinfo

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"net/textproto"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"
)

// SSDPGroup is the SSDP destination used on a device (UPnP Device
// Architecture 2.0, §1.3).
const SSDPGroup = "239.255.255.250:1900"

// SSDPResponse is one answer to an M-SEARCH.
type SSDPResponse struct {
	ST       string `json:"st"`
	USN      string `json:"usn"`
	Location string `json:"location,omitempty"`
	Server   string `json:"server,omitempty"`
}

// SSDPDevice gathers the answers of one device (one UUID): a device
// answers ssdp:all once for every device and service type it has.
type SSDPDevice struct {
	UUID     string     `json:"uuid"`
	From     netip.Addr `json:"from"`
	Location string     `json:"location,omitempty"`
	Server   string     `json:"server,omitempty"`
	Types    []string   `json:"types"` // the ST values it answered with
	// From the device description at Location, when it could be read.
	FriendlyName string `json:"friendly_name,omitempty"`
	Manufacturer string `json:"manufacturer,omitempty"`
	ModelName    string `json:"model_name,omitempty"`
	ModelNumber  string `json:"model_number,omitempty"`
	DeviceType   string `json:"device_type,omitempty"`
}

// ParseSSDPResponse parses the HTTP-over-UDP answer to an M-SEARCH.
func ParseSSDPResponse(b []byte) (SSDPResponse, error) {
	tp := textproto.NewReader(bufio.NewReader(bytes.NewReader(b)))
	status, err := tp.ReadLine()
	if err != nil {
		return SSDPResponse{}, fmt.Errorf("ssdp: status line: %w", err)
	}
	proto, rest, _ := strings.Cut(status, " ")
	code, _, _ := strings.Cut(rest, " ")
	if !strings.HasPrefix(strings.ToUpper(proto), "HTTP/1.") || code != "200" {
		return SSDPResponse{}, fmt.Errorf("ssdp: status line %q is not HTTP/1.x 200", trimForError(status))
	}
	h, err := tp.ReadMIMEHeader()
	if err != nil && !errors.Is(err, io.EOF) {
		return SSDPResponse{}, fmt.Errorf("ssdp: headers: %w", err)
	}
	r := SSDPResponse{
		ST:       strings.TrimSpace(h.Get("St")),
		USN:      strings.TrimSpace(h.Get("Usn")),
		Location: strings.TrimSpace(h.Get("Location")),
		Server:   strings.TrimSpace(h.Get("Server")),
	}
	if r.USN == "" {
		return SSDPResponse{}, errors.New("ssdp: answer without USN")
	}
	return r, nil
}

func trimForError(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}

// uuidOf takes the device UUID out of a USN such as
// "uuid:abcd::urn:schemas-upnp-org:service:WANIPConnection:1".
func uuidOf(usn string) string {
	id, _, _ := strings.Cut(usn, "::")
	return strings.TrimPrefix(strings.ToLower(id), "uuid:")
}

// SearchSSDP sends an M-SEARCH for ssdp:all to target (twice, as UDP may
// drop one) and gathers the answers that arrive within wait.
func SearchSSDP(ctx context.Context, target netip.AddrPort, wait time.Duration) ([]SSDPDevice, error) {
	mx := max(1, int(wait/time.Second))
	msg := fmt.Sprintf("M-SEARCH * HTTP/1.1\r\nHOST: %s\r\nMAN: \"ssdp:discover\"\r\nMX: %d\r\nST: ssdp:all\r\n\r\n", target, mx)
	byUUID := map[string]*SSDPDevice{}
	var order []string
	var bad []string
	err := exchange(ctx, target, [][]byte{[]byte(msg), []byte(msg)}, 100*time.Millisecond, wait, func(from netip.AddrPort, b []byte) {
		if bytes.HasPrefix(b, []byte("M-SEARCH")) || bytes.HasPrefix(b, []byte("NOTIFY")) {
			return // another searcher or an announcement, not an answer
		}
		r, err := ParseSSDPResponse(b)
		if err != nil {
			bad = append(bad, fmt.Sprintf("from %s: %v", from.Addr(), err))
			return
		}
		id := uuidOf(r.USN)
		d := byUUID[id]
		if d == nil {
			d = &SSDPDevice{UUID: id, From: from.Addr()}
			byUUID[id] = d
			order = append(order, id)
		}
		d.Location = cmp.Or(d.Location, r.Location)
		d.Server = cmp.Or(d.Server, r.Server)
		if r.ST != "" && !slices.Contains(d.Types, r.ST) {
			d.Types = append(d.Types, r.ST)
		}
	})
	out := make([]SSDPDevice, 0, len(order))
	for _, id := range order {
		out = append(out, *byUUID[id])
	}
	if err != nil {
		return out, fmt.Errorf("ssdp: %w", err)
	}
	if len(out) == 0 && len(bad) > 0 {
		return nil, fmt.Errorf("ssdp: no usable answer: %s", strings.Join(bad, "; "))
	}
	return out, nil
}

// DeviceDescription is the root device of a UPnP description document.
type DeviceDescription struct {
	DeviceType   string `xml:"device>deviceType"`
	FriendlyName string `xml:"device>friendlyName"`
	Manufacturer string `xml:"device>manufacturer"`
	ModelName    string `xml:"device>modelName"`
	ModelNumber  string `xml:"device>modelNumber"`
}

// maxDescription bounds what is read of a description; real ones are a
// few kilobytes.
const maxDescription = 64 << 10

// ParseDeviceDescription reads a UPnP device description's root device.
func ParseDeviceDescription(r io.Reader) (DeviceDescription, error) {
	var doc struct {
		XMLName xml.Name `xml:"root"`
		DeviceDescription
	}
	if err := xml.NewDecoder(io.LimitReader(r, maxDescription)).Decode(&doc); err != nil {
		return DeviceDescription{}, fmt.Errorf("device description: %w", err)
	}
	d := doc.DeviceDescription
	for _, f := range []*string{&d.DeviceType, &d.FriendlyName, &d.Manufacturer, &d.ModelName, &d.ModelNumber} {
		*f = strings.TrimSpace(*f)
	}
	if d.DeviceType == "" && d.FriendlyName == "" {
		return DeviceDescription{}, errors.New("device description: no device type or name")
	}
	return d, nil
}

// describable reports whether loc may be fetched for a device that
// answered from `from`. A spoofed answer could point the box at any URL,
// so only a plain http URL on the answering host itself, on the local
// network, is followed.
func describable(loc string, from netip.Addr) bool {
	u, err := url.Parse(loc)
	if err != nil || u.Scheme != "http" || u.User != nil {
		return false
	}
	a, err := netip.ParseAddr(u.Hostname())
	if err != nil || a.Unmap() != from {
		return false
	}
	return IsLAN(a)
}

// IsLAN reports whether a is on the local side of the network: private,
// loopback or link-local. Any device on the LAN can answer a discovery
// search, so a URL learnt from an answer (an SSDP LOCATION, a UPnP control
// URL) is followed only to such an address; package router applies the
// same rule to the gateway's URLs. a is taken as given: an IPv4-mapped
// address is not local unless the caller unmaps it.
func IsLAN(a netip.Addr) bool {
	return a.IsPrivate() || a.IsLoopback() || a.IsLinkLocalUnicast()
}

// describeSSDP fills in each device's description, a few at a time, each
// fetch bounded by ctx. Failures are returned per device, not fatal.
func describeSSDP(ctx context.Context, client *http.Client, devs []SSDPDevice) []string {
	var (
		mu   sync.Mutex
		errs []string
		wg   sync.WaitGroup
	)
	sem := make(chan struct{}, 4)
	for i := range devs {
		d := &devs[i]
		if d.Location == "" || !describable(d.Location, d.From) {
			continue
		}
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			desc, err := fetchDescription(ctx, client, d.Location)
			if err != nil {
				mu.Lock()
				errs = append(errs, fmt.Sprintf("ssdp %s: %v", d.From, err))
				mu.Unlock()
				return
			}
			d.FriendlyName, d.Manufacturer = desc.FriendlyName, desc.Manufacturer
			d.ModelName, d.ModelNumber, d.DeviceType = desc.ModelName, desc.ModelNumber, desc.DeviceType
		})
	}
	wg.Wait()
	return errs
}

// newDescriptionClient makes the client for device descriptions: no proxy
// (they are on the LAN), no kept connections, and no redirects, which could
// lead anywhere; descriptions are read only from the device that answered.
func newDescriptionClient() *http.Client {
	return &http.Client{
		Transport:     &http.Transport{Proxy: nil, DisableKeepAlives: true},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

func fetchDescription(ctx context.Context, client *http.Client, loc string) (DeviceDescription, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, loc, nil)
	if err != nil {
		return DeviceDescription{}, fmt.Errorf("description request: %w", err)
	}
	resp, err := client.Do(req)
	if err != nil {
		return DeviceDescription{}, fmt.Errorf("description: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return DeviceDescription{}, fmt.Errorf("description: %s answered %s", loc, resp.Status)
	}
	return ParseDeviceDescription(resp.Body)
}
