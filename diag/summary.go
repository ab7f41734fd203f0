package diag

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/tipring/tipring/diag/nat"
	"github.com/tipring/tipring/diag/netinfo"
	"github.com/tipring/tipring/internal/order"
)

// summaryWidth is the widest line of summary.txt: it is read in terminals,
// mail clients and ticket systems that wrap longer lines badly.
const summaryWidth = 100

// Summary renders summary.txt: the likely causes first, then the support
// checklist answered in plain words. Every item the device cannot know says
// so and why. The likely causes are Findings(e), computed here rather than
// read from e.Findings, so that a summary rendered again from an older
// diag.json uses today's rules. The output depends only on e (maps are
// sorted), and no line is wider than 100 columns.
func Summary(e *Evidence) string {
	if e == nil {
		e = &Evidence{}
	}
	var p page
	summaryHeader(&p, e)
	p.blank()
	summaryCauses(&p, Findings(e))
	p.blank()
	p.line(0, "SUPPORT CHECKLIST")
	p.blank()
	p.item("Account number", accountText(e))
	p.item("Problem description", problemText(e))
	p.heading("Recent calls (newest first)")
	callTable(&p, e)
	p.blank()
	p.item("Internet connection", connectionText(e)...)
	p.item("ISP", ispText(e))
	p.item("Router make and model", routerText(e))
	p.item("Telephone make and model", phoneText(e)...)
	p.item("Home network", homeText(e)...)
	registration(&p, e)
	return p.String()
}

func summaryHeader(p *page, e *Evidence) {
	p.line(0, "tipring diagnostics: summary")
	d := e.Device
	dev := fmt.Sprintf("Adapter %s (board %s), firmware %s", cmp.Or(d.Model, "of unknown model"), cmp.Or(d.Board, "unknown"), cmp.Or(d.Firmware, "unknown"))
	if d.Build != "" {
		dev += " (build " + d.Build + ")"
	}
	dev += ", up " + uptime(d.UptimeSeconds)
	if d.Serial != "" {
		dev += ", serial " + d.Serial
	}
	if d.MAC != "" {
		dev += ", MAC " + d.MAC
	}
	if d.Region != "" {
		dev += ", region " + d.Region
	}
	p.line(0, dev+".")
	if e.Created.IsZero() {
		p.line(0, "The bundle does not say when it was made; times are as the adapter's clock showed them.")
	} else {
		p.line(0, fmt.Sprintf("Made %s; all times are the adapter's clock, %s.", e.Created.Format("2006-01-02 15:04:05"), zone(e.Created)))
	}
	p.line(0, fmt.Sprintf("Schema %d. The full evidence is in diag.json.", e.Schema))
	if e.Anonymized {
		p.line(0, "Anonymized: phone numbers are replaced by tokens (num-…); the same number has the same "+
			"token in every file of this bundle.")
	} else {
		p.line(0, "Not anonymized: phone numbers are shown as dialled. Passwords and tokens are always removed.")
	}
}

func summaryCauses(p *page, fs []Finding) {
	p.line(0, "LIKELY CAUSES")
	p.blank()
	problems := 0
	for _, f := range fs {
		if f.Severity == Problem {
			problems++
		}
	}
	if problems == 0 {
		p.line(2, "No problem found: nothing in the evidence explains a failure.")
		if len(fs) > 0 {
			p.line(2, "Worth knowing:")
		}
		p.blank()
	}
	for i, f := range fs {
		p.line(2, fmt.Sprintf("%d. [%s] %s (%s)", i+1, f.Severity, f.Title, f.ID))
		for _, ev := range f.Evidence {
			p.line(7, "- "+ev)
		}
		p.line(5, "Advice: "+f.Advice)
		p.blank()
	}
}

func accountText(e *Evidence) string {
	s := e.Device.Account
	if s == "" {
		s = "unknown: no account is configured on the adapter ([meter] account)"
	}
	a := e.Account
	if a == nil {
		return s + "; the balance is unknown: the billing back end was not reached and nothing is cached"
	}
	s += fmt.Sprintf(" (%s, balance %s %s", cmp.Or(a.Status, "status unknown"), cmp.Or(a.Balance, "unknown"), a.Currency)
	s = strings.TrimSpace(s)
	if a.Minutes >= 0 {
		s += fmt.Sprintf(", about %d minutes", a.Minutes)
	}
	if !a.LastSync.IsZero() {
		s += ", as of " + stamp(a.LastSync)
	} else {
		s += ", never synchronised with billing"
	}
	return s + ")"
}

func problemText(e *Evidence) string {
	if strings.TrimSpace(e.Customer.Problem) == "" {
		return "not given: the customer did not describe the problem when the bundle was made"
	}
	return "in the customer's words: \"" + e.Customer.Problem + "\""
}

// callTable lists the recent calls: time, number, result, SIP code and
// reason, duration and quality.
func callTable(p *page, e *Evidence) {
	calls := recentCalls(e.Calls, callsLooked)
	if len(calls) == 0 {
		p.line(2, "none: the call history is empty")
		return
	}
	if len(e.Calls) > len(calls) {
		p.line(2, fmt.Sprintf("the last %d of %d calls; diag.json and calls.csv hold them all", len(calls), len(e.Calls)))
	}
	rows := [][]string{{"time", "number", "result", "SIP answer", "duration", "quality"}}
	for _, c := range calls {
		num := "→ " + c.Number
		if dirWord(c.Direction) == "from" {
			num = "← " + c.Number
		}
		sipText := ""
		if c.SIPCode != 0 {
			sipText = fmt.Sprintf("%d %s", c.SIPCode, c.Reason)
		} else if c.Reason != "" {
			sipText = c.Reason
		}
		rows = append(rows, []string{stamp(c.Start), num, strings.ReplaceAll(cmp.Or(c.Disposition, "unknown"), "_", " "),
			cmp.Or(strings.TrimSpace(sipText), "-"), duration(c), callQuality(c)})
	}
	p.table(2, []int{16, 16, 11, 18, 10, 17}, rows)
	p.line(2, "→ outgoing, ← incoming; duration is talk time, or ringing time for a call not answered")
}

func duration(c Call) string {
	if c.TalkMS > 0 {
		return clockDur(c.TalkMS)
	}
	if c.RingMS > 0 {
		return "rang " + clockDur(c.RingMS)
	}
	return "0:00"
}

// clockDur is m:ss, or h:mm:ss, of a time in milliseconds.
func clockDur(millis int64) string {
	s := millis/1000 + (millis%1000)/500 // rounded to the second
	if s < 0 {
		s = 0
	}
	if s >= 3600 {
		return fmt.Sprintf("%d:%02d:%02d", s/3600, s/60%60, s%60)
	}
	return fmt.Sprintf("%d:%02d", s/60, s%60)
}

func callQuality(c Call) string {
	q := c.Quality
	switch {
	case q.OneWay != "":
		return q.OneWay
	case q.Rating == "":
		return "-"
	}
	return fmt.Sprintf("MOS %.1f %s", q.MOS, q.Rating)
}

// --- Internet connection and ISP ---

var accessNames = map[string]string{
	"dsl":      "DSL",
	"cable":    "cable (DOCSIS)",
	"ethernet": "an Ethernet link to a modem or fibre terminal (the kind beyond it is not visible)",
	"pots":     "dial-up",
	"other":    "another kind of link",

	nat.Satellite:    "satellite",
	nat.DialUp:       "dial-up",
	nat.CableOrFibre: "cable or fibre",
}

// likely puts a confidence (0–1) in words.
func likely(conf float64) string {
	switch {
	case conf >= 0.8:
		return "very likely"
	case conf >= 0.6:
		return "probably"
	case conf >= 0.4:
		return "possibly"
	}
	return "perhaps (a weak hint)"
}

func connectionText(e *Evidence) []string {
	var out, unknown []string
	r := e.Router
	switch {
	case r == nil && e.Internet != nil && e.Internet.RouterSkipped != "":
		unknown = append(unknown, "the router was not asked: "+e.Internet.RouterSkipped)
	case r == nil:
		unknown = append(unknown, "the router was not asked (see the collector errors)")
	case !r.Found:
		unknown = append(unknown, "the router does not answer UPnP")
	case r.Access == "" || r.AccessConfidence <= 0:
		unknown = append(unknown, "the router does not say how it reaches the Internet")
	default:
		why := ""
		best := -1.0
		for _, ev := range r.AccessEvidence {
			if ev.Access == r.Access && ev.Confidence > best {
				why, best = ev.Why, ev.Confidence
			}
		}
		s := fmt.Sprintf("%s %s (the router says: %s)", likely(r.AccessConfidence), cmp.Or(accessNames[r.Access], r.Access), cmp.Or(why, "no reason given"))
		if r.DownstreamKbps > 0 || r.UpstreamKbps > 0 {
			s += fmt.Sprintf("; link rate %s down, %s up", kbps(r.DownstreamKbps), kbps(r.UpstreamKbps))
		}
		out = append(out, s)
	}
	n := e.NAT
	switch {
	case n == nil && e.Internet != nil && e.Internet.STUNSkipped != "":
		unknown = append(unknown, "no STUN test ran: "+e.Internet.STUNSkipped)
	case n == nil:
		unknown = append(unknown, "no STUN test ran")
	case len(n.RTTs) == 0:
		unknown = append(unknown, "the STUN server gave no round-trip times")
	default:
		kind, conf, why := nat.ClassifyRTT(n.RTTs)
		if kind == "" {
			unknown = append(unknown, "round trips to the STUN server fit no access type ("+why+")")
		} else {
			out = append(out, fmt.Sprintf("round trips suggest: %s %s (%s)", likely(conf), cmp.Or(accessNames[kind], kind), why))
		}
	}
	if in := e.Internet; in != nil && in.CableModem != "" {
		out = append(out, "likely cable (DOCSIS): a cable modem answers at "+in.CableModem)
	}
	if len(out) == 0 {
		out = append(out, "unknown: "+strings.Join(unknown, "; "))
	}
	if n != nil {
		switch {
		case n.Mapped.IsValid():
			out = append(out, fmt.Sprintf("public address as the STUN server sees it: %s", n.Mapped))
		case len(n.Errors) > 0:
			out = append(out, "public address unknown: "+n.Errors[0])
		}
		if n.CGNAT {
			out = append(out, "behind the ISP's carrier-grade NAT (usual on mobile, fixed-wireless and some fibre and cable lines)")
		}
		if n.DoubleNAT {
			out = append(out, "behind two NATs at home or at the ISP (see the likely causes)")
		}
		if b := n.Behaviour; b != nil && !b.NoNAT {
			out = append(out, fmt.Sprintf("NAT mapping %s, filtering %s", b.Mapping, b.Filtering))
		}
	}
	return out
}

func kbps(v uint64) string {
	if v >= 1000 {
		return fmt.Sprintf("%.1f Mbit/s", float64(v)/1000)
	}
	return fmt.Sprintf("%d kbit/s", v)
}

func ispText(e *Evidence) string {
	addr := ""
	switch {
	case e.Internet != nil && e.Internet.PublicAddr.IsValid():
		addr = e.Internet.PublicAddr.String()
	case e.NAT != nil && e.NAT.Mapped.IsValid():
		addr = e.NAT.Mapped.Addr().String()
	case e.Router != nil && e.Router.ExternalIP.IsValid():
		addr = e.Router.ExternalIP.String()
	}
	if addr == "" {
		return "unknown: the public address is unknown, so the ISP cannot be looked up"
	}
	if in := e.Internet; in != nil && in.ISP != "" {
		return fmt.Sprintf("%s (from %s, the reverse-DNS name of the public address %s)", in.ISP, in.PTR, addr)
	}
	if in := e.Internet; in != nil && in.PTR != "" {
		return fmt.Sprintf("unknown: the public address %s is named %s, which names no ISP this device knows; "+
			"look the address up in a WHOIS service", addr, in.PTR)
	}
	if e.Internet == nil {
		return "unknown: the bundle does not hold the reverse-DNS name of the public address " + addr +
			" that would name the ISP; look the address up in a WHOIS service"
	}
	return "unknown: the public address " + addr + " has no reverse-DNS name that would name the ISP; " +
		"look the address up in a WHOIS service"
}

// --- router ---

func routerText(e *Evidence) string {
	r := e.Router
	if r != nil && r.Found && (r.Manufacturer != "" || r.ModelName != "") {
		s := strings.TrimSpace(r.Manufacturer + " " + r.ModelName)
		var more []string
		if r.ModelNumber != "" && !strings.Contains(s, r.ModelNumber) {
			more = append(more, "model number "+r.ModelNumber)
		}
		if r.Firmware != "" {
			more = append(more, "firmware "+r.Firmware)
		}
		if r.FriendlyName != "" && r.FriendlyName != s {
			more = append(more, "named \""+r.FriendlyName+"\"")
		}
		if r.Stack != "" {
			more = append(more, "UPnP by "+r.Stack)
		}
		if len(more) > 0 {
			s += " (" + strings.Join(more, ", ") + ")"
		}
		return s + ", as the router says over UPnP"
	}
	why := "the router does not answer UPnP"
	switch {
	case r == nil:
		why = "the router was not asked"
	case r.Found:
		why = "the router answers UPnP without naming its maker"
	}
	var gw *netinfo.Gateway
	if e.Network != nil {
		gw = e.Network.Gateway
	}
	switch {
	case gw != nil && gw.Vendor != "":
		return fmt.Sprintf("made by %s (from its MAC address %s); model unknown: %s", gw.Vendor, gw.MAC, why)
	case e.Network == nil:
		return "unknown: " + why + ", and the network was not examined"
	case gw == nil:
		return "unknown: " + why + ", and the adapter has no default gateway"
	case gw.MAC == "":
		return "unknown: " + why + ", and the gateway's MAC address is not in the neighbour table"
	}
	return fmt.Sprintf("unknown: %s and its maker is not in the table (MAC %s)", why, gw.MAC)
}

// --- telephone ---

func phoneText(e *Evidence) []string {
	var out []string
	if strings.TrimSpace(e.Customer.Phone) != "" {
		out = append(out, "the customer says: "+e.Customer.Phone)
	} else {
		out = append(out, "not given by the customer; a telephone cannot tell its make or model over the line")
	}
	if len(e.LineTest) == 0 {
		return append(out, "no line test: this board cannot test its phone ports")
	}
	tests := slices.Clone(e.LineTest)
	order.Stable(tests, func(a, b LineTest) int { return cmp.Compare(a.Port, b.Port) })
	for _, t := range tests {
		s := fmt.Sprintf("port %d: ringer load REN %.2f (%s), hook %s, loop current %.1f mA", t.Port, t.RingerREN, renWords(t.RingerREN),
			cmp.Or(t.Hook, "unknown"), t.LoopCurrentMA)
		switch t.DialMode {
		case "dtmf":
			s += ", dials by tones (DTMF)"
		case "pulse":
			s += ", dials by pulses (rotary)"
		case "":
			s += ", no digits dialled yet"
		default:
			s += ", dials by " + t.DialMode
		}
		if len(t.FlashesMS) > 0 {
			s += fmt.Sprintf(", hook flashes of %s ms", joinInts(t.FlashesMS))
		}
		if len(t.Digits) > 0 {
			var lo, hi, tw float64
			for _, d := range t.Digits {
				lo, hi, tw = lo+d.LowDBm0, hi+d.HighDBm0, tw+d.TwistDB
			}
			k := float64(len(t.Digits))
			s += fmt.Sprintf(", DTMF at %.1f/%.1f dBm0 (twist %.1f dB) over %d digits", lo/k, hi/k, tw/k, len(t.Digits))
		}
		var bad []string
		for _, v := range t.Verdicts {
			if !v.Pass {
				bad = append(bad, v.Check+": "+v.Meaning)
			}
		}
		if len(bad) > 0 {
			s += "; line test failed: " + strings.Join(bad, "; ")
		} else if len(t.Verdicts) > 0 {
			s += "; line test passed"
		}
		out = append(out, s)
	}
	return out
}

func renWords(ren float64) string {
	switch {
	case ren < minREN:
		return "no telephone seen"
	case ren > maxREN:
		return "too many telephones"
	case ren > 1.5:
		return fmt.Sprintf("about %.0f telephones", ren)
	}
	return "a telephone"
}

func joinInts(v []int64) string {
	s := make([]string, len(v))
	for i, x := range v {
		s[i] = fmt.Sprint(x)
	}
	return strings.Join(s, ", ")
}

// --- home network ---

func homeText(e *Evidence) []string {
	n := e.Network
	if n == nil {
		return []string{"unknown: the network was not examined (see the collector errors)"}
	}
	var out []string
	if gw := n.Gateway; gw != nil {
		s := "the adapter reaches the router " + gw.Addr.String()
		for _, it := range n.Interfaces {
			if it.Name != gw.Interface {
				continue
			}
			s += " over " + it.Name
			var about []string
			switch it.Kind {
			case "":
			case "wlan":
				about = append(about, "Wi-Fi")
			default:
				about = append(about, it.Kind)
			}
			if it.SpeedMbps > 0 {
				about = append(about, fmt.Sprintf("%d Mbit/s", it.SpeedMbps))
			}
			for _, a := range it.Addrs {
				if a.Addr().Is4() {
					about = append(about, "address "+a.String())
				}
			}
			if len(about) > 0 {
				s += " (" + strings.Join(about, ", ") + ")"
			}
		}
		out = append(out, s)
	} else {
		out = append(out, "the adapter has no default gateway")
	}
	if n.DHCP != nil {
		s := "address from DHCP"
		if n.DHCP.Server.IsValid() {
			s += " server " + n.DHCP.Server.String()
		}
		if !n.DHCP.Expire.IsZero() {
			s += ", lease until " + stamp(n.DHCP.Expire)
		}
		out = append(out, s)
	} else if n.DHCPNote != "" {
		out = append(out, "DHCP lease "+n.DHCPNote)
	}
	if len(n.DNS) > 0 {
		dns := make([]string, len(n.DNS))
		for i, a := range n.DNS {
			dns[i] = a.String()
		}
		out = append(out, "DNS servers: "+strings.Join(dns, ", "))
	}
	out = append(out, fmt.Sprintf("%d devices answered on the local network, %d of them look like routers or gateways", n.Hosts, n.Routers))
	if v := vendors(n.Neighbours); v != "" {
		out = append(out, "makers seen: "+v)
	}
	if s := ssdpNames(n.SSDP); s != "" {
		out = append(out, "UPnP devices: "+s)
	}
	if s := mdnsNames(n.MDNS); s != "" {
		out = append(out, "mDNS names: "+s)
	}
	var rt []string
	for _, pr := range n.Probes {
		if pr.Received > 0 {
			rt = append(rt, fmt.Sprintf("%s %s (%.0f%% lost, jitter %s)", pr.Name, msText(pr.Avg), pr.LossPct, msText(pr.Jitter)))
		} else {
			rt = append(rt, fmt.Sprintf("%s no answer%s", pr.Name, orEmpty(": ", pr.Error)))
		}
	}
	if len(rt) > 0 {
		out = append(out, "round trips: "+strings.Join(rt, "; "))
	}
	if wifi(e) == "" {
		out = append(out, "Wi-Fi: unknown: the adapter is not on Wi-Fi and cannot see the Wi-Fi network")
	}
	return append(out, "hubs and switches do not answer discovery, and firewalls show only in the likely causes")
}

func orEmpty(prefix, s string) string {
	if s == "" {
		return ""
	}
	return prefix + s
}

// vendors counts resolved neighbours by maker: "AVM (router), Apple ×2".
func vendors(ns []netinfo.Neighbour) string {
	count := map[string]int{}
	seen := map[string]bool{}
	for _, nb := range ns {
		if nb.MAC == "" || seen[nb.MAC] || nb.Vendor == "" {
			continue
		}
		seen[nb.MAC] = true
		name := nb.Vendor
		if nb.Router {
			name += " (router)"
		}
		count[name]++
	}
	var out []string
	for _, k := range sortedKeys(count) {
		if count[k] > 1 {
			out = append(out, fmt.Sprintf("%s ×%d", k, count[k]))
		} else {
			out = append(out, k)
		}
	}
	return listCap(out, 12)
}

func ssdpNames(ds []netinfo.SSDPDevice) string {
	set := map[string]bool{}
	for _, d := range ds {
		name := cmp.Or(d.FriendlyName, strings.TrimSpace(d.Manufacturer+" "+d.ModelName), d.Server)
		if name == "" {
			continue
		}
		if d.Manufacturer != "" && d.FriendlyName != "" && !strings.Contains(d.FriendlyName, d.Manufacturer) {
			name += " (" + d.Manufacturer + ")"
		}
		set[name] = true
	}
	return listCap(sortedKeys(set), 12)
}

func mdnsNames(ss []netinfo.MDNSService) string {
	set := map[string]bool{}
	for _, s := range ss {
		if s.Instance != "" {
			set[s.Instance+" ("+s.Type+")"] = true
		}
	}
	return listCap(sortedKeys(set), 12)
}

func listCap(items []string, n int) string {
	if len(items) > n {
		return strings.Join(items[:n], ", ") + fmt.Sprintf(" and %d more", len(items)-n)
	}
	return strings.Join(items, ", ")
}

// --- registration ---

func registration(p *page, e *Evidence) {
	p.heading("Registration")
	if len(e.Lines) == 0 {
		p.line(2, "no SIP line is configured")
		return
	}
	lines := slices.Clone(e.Lines)
	order.Stable(lines, func(a, b Line) int { return cmp.Compare(a.Port, b.Port) })
	for _, l := range lines {
		s := fmt.Sprintf("port %d, user %s: ", l.Port, cmp.Or(l.User, "(none)"))
		if l.Registered {
			s += "registered with " + lineServer(l)
		} else {
			s += "NOT registered with " + lineServer(l)
		}
		if l.Transport != "" {
			s += " over " + l.Transport
		}
		if l.LastCode != 0 {
			s += fmt.Sprintf("; last answer %d %s", l.LastCode, l.LastReason)
			s = strings.TrimSpace(s)
		}
		if l.LastError != "" {
			s += "; last error: " + l.LastError
		}
		if l.PublicAddr != "" {
			s += "; the server sees the adapter at " + l.PublicAddr
		}
		s += fmt.Sprintf("; %d failures; keep-alives %d sent, %d failed", l.Failures, l.KeepAlivesSent, l.KeepAlivesFailed)
		if l.ALGSuspect {
			s += "; SIP ALG suspected: " + cmp.Or(l.ALGWhy, "headers rewritten")
		}
		p.line(2, s)
		tl := l.Timeline
		if len(tl) > 5 {
			tl = tl[len(tl)-5:]
		}
		if len(tl) > 0 {
			p.line(4, "last REGISTER attempts:")
		}
		for _, ev := range tl {
			what := "no answer"
			if ev.Code != 0 {
				what = strings.TrimSpace(fmt.Sprintf("%d %s", ev.Code, ev.Reason))
			}
			t := fmt.Sprintf("- %s to %s/%s: %s", stamp(ev.At), cmp.Or(ev.Server, "?"), cmp.Or(ev.Transport, "?"), what)
			if ev.Failover {
				t += " (failed over to this server)"
			}
			p.line(6, t)
		}
	}
}

// --- small formatting helpers ---

func uptime(s int64) string {
	if s <= 0 {
		return "for an unknown time"
	}
	d := time.Duration(min(s, int64(1<<62)/int64(time.Second))) * time.Second
	switch {
	case d >= 48*time.Hour:
		return fmt.Sprintf("%d days", d/(24*time.Hour))
	case d >= time.Hour:
		return fmt.Sprintf("%d h %d min", d/time.Hour, d%time.Hour/time.Minute)
	}
	return fmt.Sprintf("%d min", d/time.Minute)
}

func zone(t time.Time) string {
	_, off := t.Zone()
	sign := '+'
	if off < 0 {
		sign, off = '-', -off
	}
	return fmt.Sprintf("UTC%c%02d:%02d", sign, off/3600, off%3600/60)
}

// page builds summary.txt: every line sanitized and wrapped to
// summaryWidth columns (runes), so that odd evidence cannot forge lines or
// widen the page.
type page struct{ b strings.Builder }

func (p *page) String() string { return p.b.String() }

func (p *page) blank() { p.b.WriteByte('\n') }

func (p *page) heading(s string) { p.line(0, s+":") }

// item writes a checklist item: its name, then each value indented.
func (p *page) item(name string, values ...string) {
	p.heading(name)
	for _, v := range values {
		p.line(2, v)
	}
	p.blank()
}

// line writes s at indent, wrapped; continuation lines hang two further in.
func (p *page) line(indent int, s string) {
	s = oneLine(s)
	first := true
	for {
		ind := indent
		if !first {
			ind = indent + 2
		}
		room := summaryWidth - ind
		head, rest := cut(s, room)
		p.b.WriteString(strings.Repeat(" ", ind))
		p.b.WriteString(head)
		p.b.WriteByte('\n')
		if rest == "" {
			return
		}
		s, first = rest, false
	}
}

// cut splits s after at most room runes, at a space when there is one.
func cut(s string, room int) (head, rest string) {
	if utf8.RuneCountInString(s) <= room {
		return s, ""
	}
	end, n := 0, 0 // byte offset after room runes
	for i := range s {
		if n == room {
			end = i
			break
		}
		n++
	}
	if sp := strings.LastIndexByte(s[:end+1], ' '); sp > 0 {
		return strings.TrimRight(s[:sp], " "), strings.TrimLeft(s[sp+1:], " ")
	}
	return s[:end], strings.TrimLeft(s[end:], " ")
}

// clean makes s one printable line: control and separator characters become
// spaces, invalid UTF-8 a replacement character, runs of spaces one.
func oneLine(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || r == '\u2028' || r == '\u2029' || (unicode.IsSpace(r) && r != ' ') {
			return ' '
		}
		return r
	}, s)
	return strings.Join(strings.Fields(s), " ")
}

// table writes rows in columns no wider than widths, clipping long cells.
func (p *page) table(indent int, widths []int, rows [][]string) {
	for _, row := range rows {
		var sb strings.Builder
		for i, cell := range row {
			cell = clipRunes(oneLine(cell), widths[i])
			if i < len(row)-1 {
				cell += strings.Repeat(" ", widths[i]-utf8.RuneCountInString(cell)+2)
			}
			sb.WriteString(cell)
		}
		p.b.WriteString(strings.Repeat(" ", indent))
		p.b.WriteString(strings.TrimRight(sb.String(), " "))
		p.b.WriteByte('\n')
	}
}

// clip shortens s to n runes, marking the cut with an ellipsis.
func clipRunes(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}
