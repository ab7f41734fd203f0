package diag

import (
	"cmp"
	"fmt"
	"math"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tipring/tipring/diag/nat"
	"github.com/tipring/tipring/diag/netinfo"
	"github.com/tipring/tipring/diag/quality"
	"github.com/tipring/tipring/internal/order"
)

// Finding IDs. They are part of diag.json's schema (docs/diag.md): support
// tools may match on them, so an ID never changes meaning.
const (
	FindingLineFault            = "line-fault"
	FindingHandsetOffHook       = "handset-off-hook"
	FindingNoPhone              = "no-phone"
	FindingAccountSuspended     = "account-suspended"
	FindingNoBalance            = "no-balance"
	FindingRegistrationRejected = "registration-rejected"
	FindingNoGateway            = "no-gateway"
	FindingDNSFailure           = "dns-failure"
	FindingRegistrarUnreachable = "registrar-unreachable"
	FindingSIPALG               = "sip-alg"
	FindingOneWayAudioNAT       = "one-way-audio-nat"
	FindingOneWayAudio          = "one-way-audio"
	FindingDoubleNAT            = "double-nat"
	FindingCGNAT                = "cgnat"
	FindingLANLoss              = "lan-loss"
	FindingISPLoss              = "isp-loss"
	FindingBufferbloat          = "bufferbloat"
	FindingLowBalance           = "low-balance"
	FindingPoorQuality          = "poor-quality"
	FindingRingerOverload       = "ringer-overload"
	FindingCollectorFailed      = "collector-failed"
)

// Line-test check names as the board reports them in Verdict.Check (the
// GR-909 checks of boards.EvaluateGR909; diag may not import boards).
const (
	CheckHazardousVoltage = "hazardous_voltage"
	CheckForeignVoltage   = "foreign_voltage"
	CheckResistiveFault   = "resistive_fault"
	CheckReceiverOffHook  = "receiver_off_hook"
	CheckRingerLoad       = "ringer_load"
)

// Thresholds of the rules. They are judgement, written down where a reader
// can argue with them.
const (
	// minREN and maxREN are GR-909's ringer-load range.
	minREN = 0.175
	maxREN = 5.0
	// poorMOS is where listeners start to complain (G.107 Annex B: R 70,
	// "some users dissatisfied", is MOS 3.6).
	poorMOS = 3.6
	// lossPct is the probe loss worth naming: one probe of a five-probe
	// series is 20 %, so any loss in a normal series counts.
	lossPct = 10.0
	// lanJitter is jitter no cable shows; Wi-Fi under contention does.
	lanJitter = 15 * time.Millisecond
	// wanJitter is jitter a 60 ms jitter buffer starts to lose audio to.
	wanJitter = 30 * time.Millisecond
	// bloatExtra and bloatFactor: a round trip this much above the floor
	// is a queue filling, not distance.
	bloatExtra  = 100 * time.Millisecond
	bloatFactor = 3
	// callsLooked is how many calls the call rules look at.
	callsLooked = 10
)

// rule is one likely-cause check: it looks at the evidence and returns the
// findings it supports, nil when it has nothing to say. Each rule reads
// only evidence and never fails: absent evidence means silence.
type rule struct {
	id    string
	check func(*Evidence) []Finding
}

// rules is the rule table. Within a severity, findings come out in this
// order, so the table runs from the most specific cause (a fault that
// explains everything else) to the most general.
func rules() []rule {
	return []rule{
		{FindingLineFault, lineFault},
		{FindingHandsetOffHook, handsetOffHook},
		{FindingNoPhone, noPhone},
		{FindingAccountSuspended, accountSuspended},
		{FindingNoBalance, noBalance},
		{FindingRegistrationRejected, registrationRejected},
		{FindingNoGateway, noGateway},
		{FindingDNSFailure, dnsFailure},
		{FindingRegistrarUnreachable, registrarUnreachable},
		{FindingSIPALG, sipALG},
		{FindingOneWayAudioNAT, oneWayAudioNAT},
		{FindingOneWayAudio, oneWayAudio},
		{FindingDoubleNAT, doubleNAT},
		{FindingCGNAT, cgNAT},
		{FindingLANLoss, lanLoss},
		{FindingISPLoss, ispLoss},
		{FindingBufferbloat, bufferbloat},
		{FindingLowBalance, lowBalance},
		{FindingPoorQuality, poorQuality},
		{FindingRingerOverload, ringerOverload},
		{FindingCollectorFailed, collectorFailed},
	}
}

// Findings runs every rule on e and returns the likely causes: problems
// first, then warnings, then information; within a severity the most
// specific first. A nil or empty Evidence gives no findings.
func Findings(e *Evidence) []Finding {
	if e == nil {
		return nil
	}
	type ranked struct {
		f     Finding
		order int
	}
	var all []ranked
	for i, r := range rules() {
		for _, f := range r.check(e) {
			f.ID = r.id // the table names the finding, so the two cannot disagree
			all = append(all, ranked{f, i})
		}
	}
	order.Stable(all, func(a, b ranked) int {
		return cmp.Or(cmp.Compare(severityRank(a.f.Severity), severityRank(b.f.Severity)), cmp.Compare(a.order, b.order))
	})
	out := make([]Finding, len(all))
	for i, r := range all {
		out[i] = r.f
	}
	return out
}

func severityRank(s Severity) int {
	switch s {
	case Problem:
		return 0
	case Warning:
		return 1
	}
	return 2
}

func one(f Finding) []Finding { return []Finding{f} }

// --- the line and the handset ---

// failed returns the line tests' failed verdicts of one check that were
// really measured: a check that could not measure is not a fault.
func failed(e *Evidence, check string) []testVerdict {
	var out []testVerdict
	for _, t := range e.LineTest {
		for _, v := range t.Verdicts {
			if v.Check == check && !v.Pass && !strings.HasPrefix(v.Value, "not measured") {
				out = append(out, testVerdict{t, v})
			}
		}
	}
	return out
}

// testVerdict is one verdict with the test it belongs to.
type testVerdict struct {
	t LineTest
	v Verdict
}

func lineFault(e *Evidence) []Finding {
	f := Finding{Severity: Problem}
	hazardous := map[int]bool{}
	for _, h := range failed(e, CheckHazardousVoltage) {
		hazardous[h.t.Port] = true
		f.Evidence = append(f.Evidence, fmt.Sprintf("port %d: %s on the line from outside (the limit is %s): a dangerous voltage", h.t.Port, h.v.Value, h.v.Limit))
	}
	for _, h := range failed(e, CheckForeignVoltage) {
		if !hazardous[h.t.Port] { // a hazardous voltage is a foreign one too
			f.Evidence = append(f.Evidence, fmt.Sprintf("port %d: %s on the line from outside (the limit is %s)", h.t.Port, h.v.Value, h.v.Limit))
		}
	}
	for _, h := range failed(e, CheckResistiveFault) {
		f.Evidence = append(f.Evidence, fmt.Sprintf("port %d: the wires leak to ground or to each other: %s (the limit is %s)", h.t.Port, h.v.Value, h.v.Limit))
	}
	switch {
	case len(f.Evidence) == 0:
		return nil
	case len(hazardous) > 0:
		f.Title = "Dangerous voltage on the phone line"
		f.Advice = "Ask the customer not to touch the phone wiring, to unplug the phone cord from the " +
			"adapter, and to have an electrician or the installer check the wiring: something is " +
			"feeding a high voltage into it."
	default:
		f.Title = "Fault on the phone line"
		f.Advice = "The wiring between the adapter and the telephone is faulty (a voltage from " +
			"outside, or damp or damaged wires). Ask the customer to plug the telephone straight " +
			"into the adapter with a short cord; if that works, the house wiring needs repair."
	}
	return one(f)
}

func handsetOffHook(e *Evidence) []Finding {
	f := Finding{Severity: Problem, Title: "A handset is off the hook",
		Advice: "Ask the customer to check every telephone on this line and put the handset back " +
			"(and to check that no extension phone is lifted), then try again."}
	flagged := map[int]bool{}
	for _, h := range failed(e, CheckReceiverOffHook) {
		if h.t.Hook != "on" {
			continue // the board could not tell on- from off-hook
		}
		flagged[h.t.Port] = true
		f.Evidence = append(f.Evidence, fmt.Sprintf("port %d: loop current %.1f mA while the hook detector says on-hook "+
			"(a receiver is off the hook somewhere on the line)", h.t.Port, h.t.LoopCurrentMA))
	}
	for _, t := range e.LineTest {
		if t.Hook == "off" && !t.InCall && !flagged[t.Port] {
			f.Evidence = append(f.Evidence, fmt.Sprintf("port %d: the telephone was off the hook with no call going on at %s", t.Port, clock(t.At)))
		}
	}
	if len(f.Evidence) == 0 {
		return nil
	}
	return one(f)
}

func noPhone(e *Evidence) []Finding {
	f := Finding{Severity: Problem, Title: "No telephone seems to be connected",
		Advice: "Ask the customer to check that the telephone's cord is plugged into the adapter's " +
			"phone port (not the Internet port) and into the telephone; try another cord or another " +
			"telephone. Cordless phones need their base station powered."}
	for _, h := range failed(e, CheckRingerLoad) {
		if h.t.RingerREN < minREN {
			f.Evidence = append(f.Evidence, fmt.Sprintf("port %d: ringer load %s, below the %s a telephone presents", h.t.Port, h.v.Value, h.v.Limit))
		}
	}
	if len(f.Evidence) == 0 {
		return nil
	}
	return one(f)
}

func ringerOverload(e *Evidence) []Finding {
	f := Finding{Severity: Warning, Title: "Too many telephones on one port",
		Advice: "More ringers hang on the line than the adapter can ring: some phones may not ring. " +
			"Ask the customer to unplug some extension phones."}
	for _, h := range failed(e, CheckRingerLoad) {
		if h.t.RingerREN > maxREN {
			f.Evidence = append(f.Evidence, fmt.Sprintf("port %d: ringer load %s, above %s", h.t.Port, h.v.Value, h.v.Limit))
		}
	}
	if len(f.Evidence) == 0 {
		return nil
	}
	return one(f)
}

// --- the account ---

func suspended(a *Account) bool { return a != nil && strings.EqualFold(a.Status, "suspended") }

func accountSuspended(e *Evidence) []Finding {
	if !suspended(e.Account) {
		return nil
	}
	return one(Finding{Severity: Problem, Title: "The account is suspended",
		Evidence: []string{"the billing back end says the account " + accountName(e) + " is suspended" + lastSync(e.Account)},
		Advice: "Calls are refused while the account is suspended. Look up why in billing (payment, " +
			"fraud hold, contract) and reactivate it; nothing needs changing at the customer's end."})
}

// balance parses the account's decimal balance; ok is false when it is
// absent or not a number.
func balance(a *Account) (float64, bool) {
	if a == nil {
		return 0, false
	}
	v, err := strconv.ParseFloat(strings.TrimSpace(a.Balance), 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
		return 0, false
	}
	return v, true
}

func noBalance(e *Evidence) []Finding {
	b, ok := balance(e.Account)
	if !ok || b > 0 {
		return nil
	}
	return one(Finding{Severity: Problem, Title: "No credit left",
		Evidence: []string{fmt.Sprintf("the balance is %s %s%s", e.Account.Balance, e.Account.Currency, lastSync(e.Account))},
		Advice: "Calls other than emergency calls are refused without credit. Help the customer top " +
			"up the account or turn on automatic recharge."})
}

func lowBalance(e *Evidence) []Finding {
	b, ok := balance(e.Account)
	if e.Account == nil || !e.Account.Low || (ok && b <= 0) {
		return nil // no credit at all is the no-balance problem
	}
	ev := fmt.Sprintf("the balance is %s %s", e.Account.Balance, e.Account.Currency)
	if m := e.Account.Minutes; m >= 0 {
		ev += fmt.Sprintf(", about %d minutes at the last call's rate", m)
	}
	return one(Finding{Severity: Warning, Title: "The credit is running low",
		Evidence: []string{ev + lastSync(e.Account)},
		Advice:   "Calls will soon be cut off. Suggest a top-up or automatic recharge."})
}

func accountName(e *Evidence) string {
	if e.Device.Account != "" {
		return e.Device.Account
	}
	return "(number unknown)"
}

func lastSync(a *Account) string {
	if a == nil || a.LastSync.IsZero() {
		return ""
	}
	return " (as of " + stamp(a.LastSync) + ")"
}

// --- registration ---

// codeCount counts a line's REGISTER answers with one of codes, and the
// first time one came.
func codeCount(l Line, codes ...int) (n int, since time.Time) {
	for _, ev := range l.Timeline {
		if slices.Contains(codes, ev.Code) {
			n++
			if since.IsZero() || ev.At.Before(since) {
				since = ev.At
			}
		}
	}
	return n, since
}

func lineName(l Line) string {
	if l.User == "" {
		return fmt.Sprintf("line %d", l.Port)
	}
	return fmt.Sprintf("line %d (%s)", l.Port, l.User)
}

func lineServer(l Line) string {
	if l.Server != "" {
		return l.Server
	}
	for i := len(l.Timeline) - 1; i >= 0; i-- {
		if l.Timeline[i].Server != "" {
			return l.Timeline[i].Server
		}
	}
	return "the registrar"
}

// answered says "answered 403 Forbidden 12 times since 09:14".
func answered(code int, reason string, n int, since time.Time) string {
	s := strings.TrimSpace(fmt.Sprintf("answered %d %s", code, reason))
	if n > 1 {
		s += fmt.Sprintf(" %d times", n)
	}
	if !since.IsZero() {
		s += " since " + clock(since)
	}
	return s
}

func reasonFor(l Line, code int) string {
	for i := len(l.Timeline) - 1; i >= 0; i-- {
		if l.Timeline[i].Code == code && l.Timeline[i].Reason != "" {
			return l.Timeline[i].Reason
		}
	}
	if l.LastCode == code && l.LastReason != "" {
		return l.LastReason
	}
	switch code {
	case 401:
		return "Unauthorized"
	case 403:
		return "Forbidden"
	case 404:
		return "Not Found"
	case 407:
		return "Proxy Authentication Required"
	}
	return ""
}

func registrationRejected(e *Evidence) []Finding {
	var ev []string
	for _, l := range e.Lines {
		if l.Registered {
			continue // a rejection that was fixed is history
		}
		for _, code := range []int{403, 404} {
			n, since := codeCount(l, code)
			if n == 0 && l.LastCode == code {
				n = 1
			}
			if n > 0 {
				ev = append(ev, fmt.Sprintf("%s: REGISTER to %s %s", lineName(l), lineServer(l), answered(code, reasonFor(l, code), n, since)))
			}
		}
		// A challenge is normal; a challenge as the last word means the
		// answer to it was refused too.
		if l.LastCode == 401 || l.LastCode == 407 {
			ev = append(ev, fmt.Sprintf("%s: REGISTER to %s ended with %d %s: the password was not accepted",
				lineName(l), lineServer(l), l.LastCode, reasonFor(l, l.LastCode)))
		}
	}
	if len(ev) == 0 {
		return nil
	}
	f := Finding{Severity: Problem, Evidence: ev}
	switch {
	case suspended(e.Account):
		f.Title = "Registration refused: the account is suspended"
		f.Evidence = append(f.Evidence, "the billing back end says the account is suspended, which explains the refusal")
		f.Advice = "The provider refuses the line because the account is suspended. Reactivate the " +
			"account in billing; the adapter will register again by itself."
	case e.Account == nil:
		f.Title = "Registration refused: wrong SIP password, or a suspended account"
		f.Evidence = append(f.Evidence, "the account's status is unknown, so a suspension cannot be ruled out")
		f.Advice = "Check the account's status in billing. If it is active, the SIP user name or " +
			"password in the adapter is wrong: provision the line again with the right credentials."
	default:
		f.Title = "Registration refused: wrong SIP user name or password"
		f.Evidence = append(f.Evidence, fmt.Sprintf("the account is %s, so it is not a suspension", cmp.Or(e.Account.Status, "not suspended")))
		f.Advice = "The provider does not accept the adapter's SIP credentials. Provision the line " +
			"again with the right user name and password (or reset the SIP password and provision it)."
	}
	return one(f)
}

// dnsWords mark an error as a failure to resolve a name: Go's resolver
// says "lookup X: no such host", "server misbehaving", "i/o timeout" on
// port 53; our SIP layer says "DNS" or "SRV".
var dnsWords = []string{"dns", "no such host", "lookup ", "server misbehaving", "srv ", "resolve"}

func isDNSError(s string) bool {
	s = strings.ToLower(s)
	for _, w := range dnsWords {
		if strings.Contains(s, w) {
			return true
		}
	}
	return false
}

func noGateway(e *Evidence) []Finding {
	n := e.Network
	if n == nil || n.Gateway != nil || n.Gateway6 != nil {
		return nil
	}
	for _, err := range n.Errors {
		if strings.Contains(err, "routes") {
			return nil // the routing table could not be read: unknown, not missing
		}
	}
	return one(Finding{Severity: Problem, Title: "The adapter has no route to the Internet",
		Evidence: []string{"the adapter has no default gateway: it got no address from the router, or its network cable is unplugged"},
		Advice: "Ask the customer to check the cable between the adapter's Internet port and the " +
			"router, then restart the adapter. If the router hands out addresses (DHCP), the adapter " +
			"gets one within a minute."})
}

func dnsFailure(e *Evidence) []Finding {
	var ev []string
	unregistered := false
	for _, l := range e.Lines {
		if !l.Registered {
			unregistered = true
		}
		if l.LastError != "" && isDNSError(l.LastError) {
			ev = append(ev, fmt.Sprintf("%s: looking up %s failed: %s", lineName(l), lineServer(l), l.LastError))
		}
	}
	if n := e.Network; n != nil && len(n.DNS) == 0 && !slices.ContainsFunc(n.Errors, func(s string) bool { return strings.HasPrefix(s, "dns") }) {
		ev = append(ev, "the adapter has no DNS server configured")
	}
	if len(ev) == 0 {
		return nil
	}
	f := Finding{Severity: Problem, Title: "Names cannot be looked up (DNS failure)", Evidence: ev,
		Advice: "The adapter cannot find the provider's server by name. Restart the router; if that " +
			"does not help, set the router's DNS servers to the ISP's or a public resolver."}
	if !unregistered {
		f.Severity = Warning
		f.Evidence = append(f.Evidence, "every line is registered for now, so calls still work")
	}
	return one(f)
}

func registrarUnreachable(e *Evidence) []Finding {
	var ev []string
	for _, l := range e.Lines {
		if l.Registered || (l.LastError != "" && isDNSError(l.LastError)) {
			continue
		}
		if n, since := codeCount(l, 0); n > 0 {
			ev = append(ev, fmt.Sprintf("%s: REGISTER to %s got no answer %s", lineName(l), lineServer(l), timesSince(n, since)))
		}
		for _, code := range []int{408, 500, 502, 503, 504} {
			if n, since := codeCount(l, code); n > 0 {
				ev = append(ev, fmt.Sprintf("%s: REGISTER to %s %s", lineName(l), lineServer(l), answered(code, reasonFor(l, code), n, since)))
			}
		}
		if l.LastError != "" {
			ev = append(ev, fmt.Sprintf("%s: the last attempt failed: %s", lineName(l), l.LastError))
		}
		if fo := countFailovers(l); fo > 0 {
			ev = append(ev, fmt.Sprintf("%s: moved to another server %d times", lineName(l), fo))
		}
	}
	if len(ev) == 0 {
		return nil
	}
	if p := probeNamed(e, "sip"); p != nil && p.Sent > 0 && p.Received == 0 {
		ev = append(ev, fmt.Sprintf("none of %d probes to the SIP server %s were answered", p.Sent, p.Target))
	}
	return one(Finding{Severity: Problem, Title: "The provider's server cannot be reached", Evidence: ev,
		Advice: "Ask whether other devices reach the Internet. If they do not, restart the modem and " +
			"router. If they do, a firewall may block SIP (UDP port 5060), or the provider's server " +
			"is down: escalate with this bundle."})
}

func poorCallsSounded(n int) string {
	if n == 1 {
		return "a recent call sounded poor"
	}
	return fmt.Sprintf("%d recent calls sounded poor", n)
}

func timesSince(n int, since time.Time) string {
	s := "once"
	if n > 1 {
		s = fmt.Sprintf("%d times", n)
	}
	if !since.IsZero() {
		s += " since " + clock(since)
	}
	return s
}

func countFailovers(l Line) int {
	n := 0
	for _, ev := range l.Timeline {
		if ev.Failover {
			n++
		}
	}
	return n
}

// --- NAT ---

func sipALG(e *Evidence) []Finding {
	var ev []string
	for _, l := range e.Lines {
		if l.ALGSuspect {
			ev = append(ev, fmt.Sprintf("%s: %s", lineName(l), cmp.Or(l.ALGWhy, "the provider saw the adapter's SIP headers rewritten on the way")))
		}
	}
	if len(ev) == 0 {
		return nil
	}
	return one(Finding{Severity: Problem, Title: "The router rewrites SIP messages (SIP ALG)", Evidence: ev,
		Advice: "The router's \"SIP ALG\" (also called SIP helper or SIP passthrough) changes the " +
			"adapter's messages and breaks calls. Ask the customer to turn it off in the router's " +
			"settings (often under NAT, firewall or advanced), then restart the adapter."})
}

// behindNAT says whether a NAT sits between the adapter and the Internet,
// with the evidence for it, or "" when nothing shows one.
func behindNAT(e *Evidence) string {
	if n := e.NAT; n != nil {
		switch {
		case n.CGNAT || n.DoubleNAT:
			return "the connection is behind more than one NAT"
		case n.Behaviour != nil && n.Behaviour.NoNAT, n.Mapped.IsValid() && n.Local.Addr() == n.Mapped.Addr():
			return ""
		case n.Mapped.IsValid() && !n.Mapped.Addr().IsPrivate():
			return fmt.Sprintf("the STUN server sees the adapter as %s, not at its own address: a NAT is in between", n.Mapped)
		}
	}
	if r := e.Router; r != nil && r.Found {
		return "the home router answers as an Internet gateway (UPnP IGD), which translates addresses (NAT)"
	}
	return ""
}

// oneWayCalls returns the recent calls with one-way audio, and how many
// recent calls there were.
func oneWayCalls(e *Evidence) (oneWay []Call, of int) {
	calls := recentCalls(e.Calls, callsLooked)
	for _, c := range calls {
		if c.Quality.OneWay != "" {
			oneWay = append(oneWay, c)
		}
	}
	return oneWay, len(calls)
}

func oneWayEvidence(calls []Call, of int) []string {
	byKind := map[string]int{}
	for _, c := range calls {
		byKind[c.Quality.OneWay]++
	}
	var ev []string
	for _, k := range sortedKeys(byKind) {
		what := k
		switch k {
		case quality.NoAudioReceived:
			what = "received no audio (the customer heard nothing)"
		case quality.NoAudioSent:
			what = "sent no audio (the other side heard nothing)"
		}
		ev = append(ev, fmt.Sprintf("calls %d of the last %d %s", byKind[k], of, what))
	}
	for _, c := range calls {
		ev = append(ev, fmt.Sprintf("%s %s %s: %s (%d RTP packets sent, %d received)", stamp(c.Start), dirWord(c.Direction), c.Number,
			c.Quality.OneWay, c.RTPSent, c.RTPReceived))
	}
	return ev
}

func oneWayAudioNAT(e *Evidence) []Finding {
	calls, of := oneWayCalls(e)
	why := behindNAT(e)
	if len(calls) == 0 || why == "" {
		return nil
	}
	return one(Finding{Severity: Problem, Title: "One-way audio behind NAT",
		Evidence: append(oneWayEvidence(calls, of), why),
		Advice: "The voice is lost crossing the router's address translation. Ask the customer to " +
			"turn off SIP ALG (SIP helper) in the router and restart the adapter; if it persists, " +
			"forward UDP ports 16384-16482 to the adapter or put it in the router's DMZ."})
}

func oneWayAudio(e *Evidence) []Finding {
	calls, of := oneWayCalls(e)
	if len(calls) == 0 || behindNAT(e) != "" {
		return nil
	}
	return one(Finding{Severity: Problem, Title: "One-way audio",
		Evidence: append(oneWayEvidence(calls, of), "no NAT was seen between the adapter and the Internet"),
		Advice: "The voice went one way only. A firewall between the adapter and the Internet may " +
			"block the voice ports (UDP 16384-16482); if not, the far end's network is likely at " +
			"fault: escalate with the call times."})
}

// natSymptoms says whether the evidence shows the trouble NAT causes:
// one-way audio, a line that will not stay registered, lost keep-alives.
func natSymptoms(e *Evidence) bool {
	if c, _ := oneWayCalls(e); len(c) > 0 {
		return true
	}
	for _, l := range e.Lines {
		if !l.Registered || l.KeepAlivesFailed > 0 {
			return true
		}
	}
	return false
}

func routerExternal(e *Evidence) netip.Addr {
	if e.Router == nil {
		return netip.Addr{}
	}
	return e.Router.ExternalIP.Unmap()
}

func doubleNAT(e *Evidence) []Finding {
	var ev []string
	ext := routerExternal(e)
	if ext.IsValid() && (ext.IsPrivate() || ext.IsLinkLocalUnicast()) {
		ev = append(ev, fmt.Sprintf("router WAN address %s is private → a second router (or the ISP's modem-router) sits in front of it", ext))
	}
	if e.NAT != nil && e.NAT.DoubleNAT && len(ev) == 0 && !nat.InSharedSpace(ext) {
		// The shared-space case is carrier-grade NAT, told by its own rule.
		ev = append(ev, "the NAT test found two NATs between the adapter and the Internet")
	}
	if e.Router != nil && e.Router.IGDs > 1 {
		ev = append(ev, fmt.Sprintf("%d Internet gateways answer on the home network", e.Router.IGDs))
	}
	if len(ev) == 0 {
		return nil
	}
	f := Finding{Severity: Warning, Title: "Two routers in a row (double NAT)", Evidence: ev,
		Advice: "Two routers each translate addresses, which often breaks incoming calls and voice. " +
			"Ask the customer to put the ISP's modem-router in bridge mode, or to plug the adapter " +
			"into the first router rather than the second."}
	if natSymptoms(e) {
		f.Severity = Problem
	}
	return one(f)
}

func cgNAT(e *Evidence) []Finding {
	var ev []string
	if n := e.NAT; n != nil && n.CGNAT && n.Mapped.IsValid() && nat.InSharedSpace(n.Mapped.Addr()) {
		ev = append(ev, fmt.Sprintf("the STUN server sees the adapter as %s, in the carriers' shared space 100.64.0.0/10", n.Mapped.Addr()))
	}
	if ext := routerExternal(e); nat.InSharedSpace(ext) {
		ev = append(ev, fmt.Sprintf("router WAN address %s is in the carriers' shared space 100.64.0.0/10", ext))
	}
	if n := e.NAT; len(ev) == 0 && n != nil && n.CGNAT {
		ev = append(ev, "the router's external address differs from the public address the STUN server sees: a NAT beyond the router")
	}
	if len(ev) == 0 {
		return nil
	}
	f := Finding{Severity: Warning, Title: "The ISP shares one public address among customers (carrier-grade NAT)", Evidence: ev,
		Advice: "The ISP's own NAT sits between the customer and the Internet; nothing at home can " +
			"open it. If calls or incoming calls fail, ask the ISP for a public IPv4 address, or use " +
			"SIP over TCP/TLS."}
	if natSymptoms(e) {
		f.Severity = Problem
	}
	return one(f)
}

// --- the network path ---

func probeNamed(e *Evidence, name string) *netinfo.ProbeReport {
	if e.Network == nil {
		return nil
	}
	for i := range e.Network.Probes {
		if e.Network.Probes[i].Name == name {
			return &e.Network.Probes[i]
		}
	}
	return nil
}

// lossy says what is wrong with a probe series that got answers, or "".
// A series with no answer at all says only that the target does not answer
// probes (firewalls drop them), not that the path loses packets.
func lossy(p *netinfo.ProbeReport, jitter time.Duration) string {
	if p == nil || p.Received <= 0 {
		return ""
	}
	var bad []string
	if p.LossPct >= lossPct {
		bad = append(bad, fmt.Sprintf("%d of %d probes lost (%.0f%%)", p.Sent-p.Received, p.Sent, p.LossPct))
	}
	if p.Jitter >= jitter {
		bad = append(bad, "jitter "+msText(p.Jitter))
	}
	return strings.Join(bad, ", ")
}

func poorCalls(e *Evidence) (poor []Call, answeredCalls int) {
	for _, c := range recentCalls(e.Calls, callsLooked) {
		if c.Quality.Rating == "" || c.Quality.OneWay != "" {
			continue // not answered, or one-way (its own finding)
		}
		answeredCalls++
		if c.Quality.MOS < poorMOS {
			poor = append(poor, c)
		}
	}
	return poor, answeredCalls
}

func lanLoss(e *Evidence) []Finding {
	gw := probeNamed(e, "gateway")
	bad := lossy(gw, lanJitter)
	if bad == "" {
		return nil
	}
	ev := []string{fmt.Sprintf("to the router %s: %s", gw.Target.Addr(), bad)}
	if w := wifi(e); w != "" {
		ev = append(ev, w)
	}
	f := Finding{Severity: Warning, Title: "Packets are lost or delayed on the home network", Evidence: ev,
		Advice: "The trouble is between the adapter and the router, inside the home. Connect the " +
			"adapter to the router with a cable (not Wi-Fi or powerline), try another cable and " +
			"router port, and restart the router."}
	if poor, _ := poorCalls(e); len(poor) > 0 {
		f.Severity = Problem
		f.Evidence = append(f.Evidence, poorCallsSounded(len(poor)))
	}
	return one(f)
}

// wifi says whether the adapter reaches its gateway over Wi-Fi.
func wifi(e *Evidence) string {
	n := e.Network
	if n == nil || n.Gateway == nil {
		return ""
	}
	for _, it := range n.Interfaces {
		if it.Name == n.Gateway.Interface && it.Kind == "wlan" {
			return fmt.Sprintf("the adapter reaches the router over Wi-Fi (%s)", it.Name)
		}
	}
	return ""
}

func ispLoss(e *Evidence) []Finding {
	gw := probeNamed(e, "gateway")
	if lossy(gw, lanJitter) != "" {
		return nil // loss at home shows beyond it too: lan-loss tells it
	}
	var ev []string
	for _, name := range []string{"sip", "dns"} {
		p := probeNamed(e, name)
		if bad := lossy(p, wanJitter); bad != "" {
			ev = append(ev, fmt.Sprintf("to the %s server %s: %s", strings.ToUpper(name), p.Target.Addr(), bad))
		}
	}
	if len(ev) == 0 {
		return nil
	}
	if gw != nil && gw.Received > 0 {
		ev = append(ev, fmt.Sprintf("to the router %s: %d of %d answered, jitter %s: the home network is clean", gw.Target.Addr(), gw.Received, gw.Sent, msText(gw.Jitter)))
	} else {
		ev = append(ev, "the router was not measured, so the home network is not ruled out")
	}
	f := Finding{Severity: Warning, Title: "Packets are lost or delayed beyond the router (the ISP)", Evidence: ev,
		Advice: "The home network is fine; the loss is on the Internet connection. Ask the customer " +
			"to restart the modem, and to report the line to the ISP if it continues."}
	if poor, _ := poorCalls(e); len(poor) > 0 {
		f.Severity = Problem
		f.Evidence = append(f.Evidence, poorCallsSounded(len(poor)))
	}
	return one(f)
}

func bufferbloat(e *Evidence) []Finding {
	var ev []string
	bloated := func(lo, hi time.Duration) bool {
		return lo > 0 && hi > lo+bloatExtra && hi > bloatFactor*lo
	}
	if n := e.Network; n != nil {
		for _, p := range n.Probes {
			if p.Received >= 2 && bloated(p.Min, p.Max) {
				ev = append(ev, fmt.Sprintf("round trips to the %s %s ranged from %s to %s", p.Name, p.Target.Addr(), msText(p.Min), msText(p.Max)))
			}
		}
	}
	if n := e.NAT; n != nil && len(n.RTTs) >= 2 {
		lo, hi := slices.Min(n.RTTs), slices.Max(n.RTTs)
		if bloated(lo, hi) {
			ev = append(ev, fmt.Sprintf("round trips to the STUN server ranged from %s to %s", msText(lo), msText(hi)))
		}
	}
	if len(ev) == 0 {
		return nil
	}
	return one(Finding{Severity: Warning, Title: "Delay grows when the connection is busy (bufferbloat)", Evidence: ev,
		Advice: "Downloads, uploads or video fill the router's queues and delay the voice. Ask whether " +
			"calls are worse while others use the Internet; if so, enable the router's QoS or SQM " +
			"(\"smart queue\") and give the adapter priority."})
}

// --- calls ---

func poorQuality(e *Evidence) []Finding {
	poor, n := poorCalls(e)
	if len(poor) == 0 {
		return nil
	}
	ev := []string{fmt.Sprintf("%d of the last %d answered calls rated below MOS %.1f", len(poor), n, poorMOS)}
	for _, c := range poor {
		ev = append(ev, fmt.Sprintf("%s %s %s: MOS %.1f (loss %.1f %%, jitter %.0f ms, round trip %.0f ms)",
			stamp(c.Start), dirWord(c.Direction), c.Number, c.Quality.MOS, c.LossPercent, c.JitterMS, c.RTTms))
	}
	return one(Finding{Severity: Warning, Title: "Poor call quality", Evidence: ev,
		Advice: "Recent calls had audible loss or delay. See the network findings for where it " +
			"happens; a cable instead of Wi-Fi and a router with QoS usually help."})
}

// --- what is missing ---

func collectorFailed(e *Evidence) []Finding {
	var ev []string
	for _, s := range e.Sections {
		if s.Error != "" {
			ev = append(ev, fmt.Sprintf("%s: %s", s.Name, s.Error))
		}
	}
	if len(ev) == 0 {
		return nil
	}
	return one(Finding{Severity: Info, Title: "Some evidence could not be collected", Evidence: ev,
		Advice: "The rest of the bundle is complete. If the missing part matters, ask the customer " +
			"for a new bundle in a few minutes."})
}

// --- helpers shared with the summary ---

// recent returns up to n calls, newest first.
func recentCalls(calls []Call, n int) []Call {
	out := slices.Clone(calls)
	order.Stable(out, func(a, b Call) int { return b.Start.Compare(a.Start) })
	if len(out) > n {
		out = out[:n]
	}
	return out
}

func dirWord(d string) string {
	if d == "incoming" || d == "in" {
		return "from"
	}
	return "to"
}

func clock(t time.Time) string {
	if t.IsZero() {
		return "an unknown time"
	}
	return t.Format("15:04")
}

func stamp(t time.Time) string {
	if t.IsZero() {
		return "unknown time"
	}
	return t.Format("2006-01-02 15:04")
}

func msText(d time.Duration) string {
	return fmt.Sprintf("%d ms", d.Round(time.Millisecond)/time.Millisecond)
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
