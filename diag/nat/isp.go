package nat

import "strings"

// ispSuffixes maps reverse-DNS domains of customer address pools to the
// ISP that names its customers' addresses under them. Curated by hand from
// the ISPs' well-known naming; a domain is matched only on a label
// boundary and the longest match wins.
var ispSuffixes = map[string]string{
	// Germany
	"t-ipconnect.de":       "Deutsche Telekom",
	"telekom.de":           "Deutsche Telekom",
	"versanet.de":          "1&1 Versatel",
	"vodafone-ip.de":       "Vodafone Germany",
	"kabel-deutschland.de": "Vodafone Germany (cable)",
	"unitymediagroup.de":   "Vodafone Germany (cable, ex Unitymedia)",
	"netcologne.de":        "NetCologne",
	"m-online.net":         "M-net",
	// Switzerland
	"bluewin.ch":  "Swisscom",
	"swisscom.ch": "Swisscom",
	// United Kingdom
	"btcentralplus.com": "BT",
	"virginm.net":       "Virgin Media",
	// France, Belgium, Netherlands
	"wanadoo.fr": "Orange",
	"orange.fr":  "Orange",
	"proxad.net": "Free",
	"sfr.net":    "SFR",
	"bbox.fr":    "Bouygues Telecom",
	"telenet.be": "Telenet",
	"skynet.be":  "Proximus",
	"ziggo.nl":   "Ziggo",
	"kpn.net":    "KPN",
	// Southern Europe
	"telecomitalia.it": "TIM",
	"fastwebnet.it":    "Fastweb",
	"rima-tde.net":     "Telefónica Spain (Movistar)",
	// North America
	"comcast.net":     "Comcast (Xfinity)",
	"verizon.net":     "Verizon",
	"rr.com":          "Charter (Spectrum)",
	"charter.com":     "Charter (Spectrum)",
	"cox.net":         "Cox",
	"sbcglobal.net":   "AT&T",
	"att.net":         "AT&T",
	"qwest.net":       "CenturyLink (Lumen)",
	"centurylink.net": "CenturyLink (Lumen)",
	"frontiernet.net": "Frontier",
	"optonline.net":   "Optimum (Altice)",
	"mchsi.com":       "Mediacom",
	"shawcable.net":   "Shaw",
	"rogers.com":      "Rogers",
	"videotron.ca":    "Vidéotron",
	// Satellite: worth naming, they explain latency on their own.
	"starlinkisp.net": "Starlink",
	"hughes.net":      "HughesNet",
	"wildblue.net":    "Viasat",
	// Elsewhere
	"bigpond.net.au": "Telstra",
	"ocn.ne.jp":      "NTT OCN",
}

// ISPFromPTR guesses the ISP from the reverse DNS name of the public
// address, e.g. "p5b0c1d2e.dip0.t-ipconnect.de" → "Deutsche Telekom".
// It returns "" when the name matches no known ISP.
func ISPFromPTR(name string) string {
	name = strings.ToLower(strings.TrimSuffix(strings.TrimSpace(name), "."))
	best, bestLen := "", 0
	for suffix, isp := range ispSuffixes {
		if len(suffix) > bestLen && (name == suffix || strings.HasSuffix(name, "."+suffix)) {
			best, bestLen = isp, len(suffix)
		}
	}
	return best
}
