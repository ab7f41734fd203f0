// Package router collects what the home router says about itself over UPnP
// IGD: who made it, which firmware it runs, how it reaches the Internet and
// which address it has there. It is evidence, not truth: routers answer
// these questions from tables their vendor filled in, and several stacks
// fill them in wrongly, so every claim about the access type carries a
// confidence.
package router

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"net/url"
	"time"
)

// DefaultSearchAddr is the SSDP multicast group and port of UPnP discovery.
const DefaultSearchAddr = "239.255.255.250:1900"

// Options tune Collect. The zero value discovers on the standard SSDP group.
type Options struct {
	// SearchAddr is where M-SEARCH requests go. Tests point it at a unicast
	// responder on loopback; on a device it stays the multicast group.
	SearchAddr string
	// LocalAddr is the IP the SSDP socket binds to; empty means any. On a
	// device with several interfaces it picks the LAN side.
	LocalAddr string
	// Location skips discovery and reads the root description at this URL
	// (for instance one the home-network census already found).
	Location string
	// SearchWait is how long to listen for SSDP answers. SSDP cannot ask for
	// less than one second (MX is in whole seconds); default 1 s. Discovery
	// needs about SearchWait + 0.3 s of the context's time, or it fails.
	SearchWait time.Duration
	// CallTimeout bounds each HTTP request to the router; default 1 s. A
	// router that lets one request time out is not asked again.
	CallTimeout time.Duration
	// Logger receives debug lines; default discards.
	Logger *slog.Logger
}

// Report is what the router said. Fields the router did not answer stay
// zero and the reason, if any, is in Errors.
type Report struct {
	// Found is true once a root description was read.
	Found bool `json:"found"`
	// Location is the URL of the root description.
	Location string `json:"location"`
	// Server is the SSDP SERVER header: OS, UPnP version and the UPnP stack,
	// often the best hint to which software answers.
	Server string `json:"server"`
	// IGDs counts the distinct gateways that answered discovery; more than
	// one on a LAN is a double-NAT hint.
	IGDs int `json:"igds"`
	// DeviceType is the root device's UPnP type (InternetGatewayDevice:1 or :2).
	DeviceType string `json:"device_type"`

	Manufacturer     string `json:"manufacturer"`
	ModelName        string `json:"model_name"`
	ModelNumber      string `json:"model_number"`
	ModelDescription string `json:"model_description"`
	FriendlyName     string `json:"friendly_name"`
	// Firmware is the firmware version when the router states one, and
	// FirmwareSource says where it came from (description element or SSDP
	// SERVER header). UPnP has no standard field for it.
	Firmware       string `json:"firmware"`
	FirmwareSource string `json:"firmware_source"`
	// Stack names a UPnP implementation known to answer WANAccessType with a
	// fixed value ("miniupnpd", "broadcom"); empty when not recognised.
	Stack string `json:"stack"`

	// WANAccessType is WANCommonInterfaceConfig's answer ("DSL", "Cable",
	// "Ethernet", "POTS", "Other"). It is unreliable on its own: see
	// AccessEvidence.
	WANAccessType string `json:"wan_access_type"`
	// PhysicalLinkStatus is "Up", "Down", … from the same call.
	PhysicalLinkStatus string `json:"physical_link_status"`
	// UpstreamKbps and DownstreamKbps are the Layer 1 maximum bit rates.
	UpstreamKbps   uint64 `json:"upstream_kbps"`
	DownstreamKbps uint64 `json:"downstream_kbps"`
	// LinkConfig names the link-config service present: "dsl", "cable",
	// "ethernet", "pots" or "".
	LinkConfig string `json:"link_config"`
	// DSLLinkStatus and DSLLinkType come from WANDSLLinkConfig when present.
	DSLLinkStatus string `json:"dsl_link_status"`
	DSLLinkType   string `json:"dsl_link_type"`

	// Connection is the WAN connection service used ("WANPPPConnection:1",
	// "WANIPConnection:2", …): the one that reported itself connected.
	Connection       string        `json:"connection"`
	ExternalIP       netip.Addr    `json:"external_ip"`
	ConnectionType   string        `json:"connection_type"`
	ConnectionStatus string        `json:"connection_status"`
	Uptime           time.Duration `json:"uptime_ns"`

	// Access is the access type that AccessEvidence supports best
	// ("dsl", "cable", "ethernet", "pots", "other" or "") and
	// AccessConfidence how strongly (0–1).
	Access           string     `json:"access"`
	AccessConfidence float64    `json:"access_confidence"`
	AccessEvidence   []Evidence `json:"access_evidence"`

	Errors []string `json:"errors"`
}

// Evidence is one hint about the access type.
type Evidence struct {
	// Access is "dsl", "cable", "ethernet", "pots" or "other".
	Access string `json:"access"`
	// Source names where the hint came from, e.g. "WANAccessType".
	Source string `json:"source"`
	// Confidence is how much this hint alone is worth, 0–1.
	Confidence float64 `json:"confidence"`
	// Why explains the confidence in words for the summary.
	Why string `json:"why"`
}

func (o *Options) defaults() error {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.SearchAddr == "" {
		o.SearchAddr = DefaultSearchAddr
	}
	if o.SearchWait < time.Second {
		o.SearchWait = time.Second
	}
	if o.CallTimeout <= 0 {
		o.CallTimeout = time.Second
	}
	if _, err := netip.ParseAddrPort(o.SearchAddr); err != nil {
		return fmt.Errorf("router: search address %q: %w", o.SearchAddr, err)
	}
	if o.LocalAddr != "" {
		if _, err := netip.ParseAddr(o.LocalAddr); err != nil {
			return fmt.Errorf("router: local address %q: %w", o.LocalAddr, err)
		}
	}
	if o.Location != "" {
		if _, err := parseLocation(o.Location); err != nil {
			return err
		}
	}
	return nil
}

// Collect discovers the gateway (or reads opts.Location) and asks it about
// itself. It returns an error only for bad options or when discovery could
// not even start; a router that is absent, silent or half-broken yields a
// Report with Found false or with Errors filled in. Collect never outlives
// ctx.
func Collect(ctx context.Context, opts Options) (Report, error) {
	if err := opts.defaults(); err != nil {
		return Report{}, err
	}
	var rep Report
	hc := newHTTPClient(opts.CallTimeout)
	defer hc.CloseIdleConnections()

	candidates := []candidate{{location: opts.Location}}
	if opts.Location == "" {
		found, err := discover(ctx, opts)
		if err != nil {
			return rep, err
		}
		candidates = found
		rep.IGDs = countIGDs(found)
		if len(found) == 0 {
			opts.Logger.Debug("no UPnP gateway answered", "search", opts.SearchAddr)
			return rep, nil
		}
	}
	for _, c := range candidates {
		loc, err := parseLocation(c.location)
		if err != nil {
			rep.Errors = append(rep.Errors, err.Error())
			continue
		}
		fctx, cancel := context.WithTimeout(ctx, opts.CallTimeout)
		root, extra, err := fetchDescription(fctx, hc, loc)
		cancel()
		if err != nil {
			rep.Errors = append(rep.Errors, err.Error())
			if ctx.Err() != nil {
				break
			}
			continue
		}
		rep.Found = true
		rep.Location = c.location
		rep.Server = c.server
		describe(&rep, root, extra)
		q := querier{hc: hc, log: opts.Logger, timeout: opts.CallTimeout}
		q.query(ctx, &rep, root, loc)
		break
	}
	weigh(&rep)
	return rep, nil
}

func parseLocation(s string) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil {
		return nil, fmt.Errorf("router: location %q: %w", s, err)
	}
	if u.Scheme != "http" {
		return nil, fmt.Errorf("router: location %q: %w", s, errNotHTTP)
	}
	if err := checkHost(u.Host); err != nil {
		return nil, fmt.Errorf("router: location %q: %w", s, err)
	}
	return u, nil
}

var errNotHTTP = errors.New("UPnP descriptions are served over plain http")
