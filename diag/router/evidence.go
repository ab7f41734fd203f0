package router

import (
	"strings"
)

// weigh turns what the router said into access-type evidence and picks the
// best-supported access type. The weights are judgement, written down so
// that a reader can argue with them: WANAccessType is vendor-filled and two
// widespread stacks answer a constant, while a link-config service exists
// only where the firmware models that kind of link.
func weigh(rep *Report) {
	rep.AccessEvidence = nil
	if t := rep.WANAccessType; t != "" {
		access := accessKind(t)
		e := Evidence{Access: access, Source: "WANAccessType", Confidence: 0.5,
			Why: "WANAccessType " + t + " is set by the router's vendor and is often wrong"}
		switch {
		case rep.Stack == "miniupnpd" && access == "cable":
			e.Confidence = 0.1
			e.Why = "miniupnpd answers WANAccessType Cable whatever the link is"
		case rep.Stack == "broadcom" && access == "ethernet":
			e.Confidence = 0.1
			e.Why = "Broadcom's reference code answers WANAccessType Ethernet whatever the link is"
		case access == "cable" || access == "ethernet":
			e.Confidence = 0.3
			e.Why = "WANAccessType " + t + " is the constant answer of common UPnP stacks (miniupnpd: Cable, Broadcom: Ethernet)"
		}
		rep.AccessEvidence = append(rep.AccessEvidence, e)
	}
	switch rep.LinkConfig {
	case "dsl":
		e := Evidence{Access: "dsl", Source: "WANDSLLinkConfig", Confidence: 0.7,
			Why: "the router offers a DSL link-config service, so it has a DSL modem (it may still use another WAN port)"}
		if strings.EqualFold(rep.DSLLinkStatus, "Up") {
			e.Confidence = 0.9
			e.Why = "the router's DSL link is up"
		}
		rep.AccessEvidence = append(rep.AccessEvidence, e)
	case "cable":
		rep.AccessEvidence = append(rep.AccessEvidence, Evidence{Access: "cable", Source: "WANCableLinkConfig", Confidence: 0.7,
			Why: "the router offers a cable (DOCSIS) link-config service"})
	case "pots":
		rep.AccessEvidence = append(rep.AccessEvidence, Evidence{Access: "pots", Source: "WANPOTSLinkConfig", Confidence: 0.6,
			Why: "the router offers a dial-up (POTS) link-config service"})
	case "ethernet":
		rep.AccessEvidence = append(rep.AccessEvidence, Evidence{Access: "ethernet", Source: "WANEthernetLinkConfig", Confidence: 0.4,
			Why: "the router's WAN port is Ethernet; the modem or ONT beyond it is not visible"})
	}
	if strings.HasPrefix(rep.Connection, "WANPPPConnection") && rep.ExternalIP.IsValid() {
		rep.AccessEvidence = append(rep.AccessEvidence, Evidence{Access: "dsl", Source: "WANPPPConnection", Confidence: 0.3,
			Why: "the Internet connection runs over PPP, typical of DSL (some fibre and dial-up use it too)"})
	}
	rep.Access, rep.AccessConfidence = combine(rep.AccessEvidence)
}

// combine adds up independent hints per access type (noisy-or) and returns
// the best supported one. Confidence stays below 0.95: nothing a router says
// over UPnP is certain.
func combine(ev []Evidence) (string, float64) {
	miss := map[string]float64{}
	var order []string
	for _, e := range ev {
		if _, ok := miss[e.Access]; !ok {
			miss[e.Access] = 1
			order = append(order, e.Access)
		}
		miss[e.Access] *= 1 - e.Confidence
	}
	best, conf := "", 0.0
	for _, a := range order {
		if c := 1 - miss[a]; c > conf {
			best, conf = a, c
		}
	}
	return best, min(conf, 0.95)
}

func accessKind(t string) string {
	switch strings.ToLower(strings.TrimSpace(t)) {
	case "dsl":
		return "dsl"
	case "cable":
		return "cable"
	case "ethernet":
		return "ethernet"
	case "pots":
		return "pots"
	}
	return "other"
}
