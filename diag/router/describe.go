package router

import (
	"context"
	"fmt"
	"net/url"
	"strings"

	"github.com/huin/goupnp"
)

// descExtra holds the description elements goupnp does not model but that
// some vendors use to state the firmware version: AVM puts
// systemVersion/Display at the root, others add softwareVersion or
// firmwareVersion to the device.
type descExtra struct {
	SystemVersion struct {
		Display string `xml:"Display"`
	} `xml:"systemVersion"`
	Device struct {
		SoftwareVersion string `xml:"softwareVersion"`
		FirmwareVersion string `xml:"firmwareVersion"`
	} `xml:"device"`
}

// fetchDescription reads and parses the root description at loc.
func fetchDescription(ctx context.Context, hc httpClient, loc *url.URL) (*goupnp.RootDevice, descExtra, error) {
	root := new(goupnp.RootDevice)
	body, err := hc.getXML(ctx, loc, goupnp.DeviceXMLNamespace, root)
	if err != nil {
		return nil, descExtra{}, fmt.Errorf("root description: %w", err)
	}
	extra, err := parseDescription(body, root)
	if err != nil {
		return nil, descExtra{}, fmt.Errorf("root description %s: %w", loc, err)
	}
	base := loc
	if root.URLBaseStr != "" {
		// URLBase is deprecated but still sent by old stacks; when it is
		// garbage the location is the better base.
		if u, err := url.Parse(root.URLBaseStr); err == nil && u.Scheme == "http" {
			base = u
		}
	}
	root.SetURLBase(base)
	return root, extra, nil
}

// parseDescription checks the already-decoded root and decodes the extra
// firmware elements from the same body.
func parseDescription(body []byte, root *goupnp.RootDevice) (descExtra, error) {
	var extra descExtra
	if err := decodeXML(body, goupnp.DeviceXMLNamespace, &extra); err != nil {
		return extra, fmt.Errorf("decode: %w", err)
	}
	if root.Device.DeviceType == "" && root.Device.UDN == "" {
		return extra, fmt.Errorf("no <device> element with a deviceType or UDN")
	}
	return extra, nil
}

// describe copies the identity of the root device into rep.
func describe(rep *Report, root *goupnp.RootDevice, extra descExtra) {
	d := &root.Device
	rep.DeviceType = clean(d.DeviceType)
	rep.Manufacturer = clean(d.Manufacturer)
	rep.ModelName = clean(d.ModelName)
	rep.ModelNumber = clean(d.ModelNumber)
	rep.ModelDescription = clean(d.ModelDescription)
	rep.FriendlyName = clean(d.FriendlyName)
	switch {
	case clean(extra.Device.SoftwareVersion) != "":
		rep.Firmware, rep.FirmwareSource = clean(extra.Device.SoftwareVersion), "description softwareVersion"
	case clean(extra.Device.FirmwareVersion) != "":
		rep.Firmware, rep.FirmwareSource = clean(extra.Device.FirmwareVersion), "description firmwareVersion"
	case clean(extra.SystemVersion.Display) != "":
		rep.Firmware, rep.FirmwareSource = clean(extra.SystemVersion.Display), "description systemVersion"
	default:
		if v := serverFirmware(rep.Server, rep.ModelName); v != "" {
			rep.Firmware, rep.FirmwareSource = v, "SSDP SERVER header"
		}
	}
	rep.Stack = stack(rep.Server, rep.Manufacturer, rep.ModelName, rep.ModelDescription)
}

// clean trims and bounds a string that came from the router, so a broken
// description cannot flood the bundle.
func clean(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 128 {
		s = strings.ToValidUTF8(s[:128], "")
	}
	return s
}

// serverFirmware finds the version that follows the model name in an SSDP
// SERVER header, the way AVM writes it:
// "FRITZ!Box 7590 UPnP/1.0 AVM FRITZ!Box 7590 154.07.29".
func serverFirmware(server, model string) string {
	if len(model) < 3 {
		return ""
	}
	i := strings.LastIndex(server, model)
	if i < 0 {
		return ""
	}
	rest := strings.Fields(server[i+len(model):])
	if len(rest) == 0 || !looksLikeVersion(rest[0]) {
		return ""
	}
	return rest[0]
}

func looksLikeVersion(s string) bool {
	if len(s) < 3 || len(s) > 32 || s[0] < '0' || s[0] > '9' || !strings.Contains(s, ".") {
		return false
	}
	for _, c := range s {
		switch {
		case c >= '0' && c <= '9', c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c == '.', c == '-', c == '_':
		default:
			return false
		}
	}
	return true
}

// stack recognises UPnP implementations whose WANAccessType is a constant.
func stack(fields ...string) string {
	all := strings.ToLower(strings.Join(fields, " "))
	switch {
	case strings.Contains(all, "miniupnp"):
		return "miniupnpd"
	case strings.Contains(all, "broadcom"):
		return "broadcom"
	}
	return ""
}
