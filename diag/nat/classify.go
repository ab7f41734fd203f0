package nat

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// Connection types ClassifyRTT can name.
const (
	Satellite    = "satellite"
	DialUp       = "dial-up"
	DSL          = "dsl"
	CableOrFibre = "cable-or-fibre"
)

// ClassifyRTT guesses the access type from round trips to a server on the
// Internet. It reads the floor (the smallest sample), which is propagation
// plus the access link's own delay; queueing only adds to it. The
// signatures: a geostationary satellite hop costs 500–700 ms; analogue
// modems 100–200 ms; ADSL with interleaving keeps a floor near 20 ms;
// cable and fibre go lower. A distant server adds its own distance to the
// floor, so the mid ranges stay unclassified and every answer is a hint
// with a confidence, never a verdict. Jitter larger than the floor
// (queues filling) halves the confidence.
func ClassifyRTT(rtts []time.Duration) (connType string, confidence float64, why string) {
	var s []time.Duration
	for _, r := range rtts {
		if r > 0 {
			s = append(s, r)
		}
	}
	if len(s) == 0 {
		return "", 0, "no round-trip samples"
	}
	slices.Sort(s)
	floor, spread := s[0], s[len(s)-1]-s[0]
	ms := func(d time.Duration) string { return fmt.Sprintf("%d ms", d.Round(time.Millisecond)/time.Millisecond) }
	desc := fmt.Sprintf("floor %s, spread %s over %d samples", ms(floor), ms(spread), len(s))

	var reason []string
	switch {
	case floor >= 480*time.Millisecond && floor <= 750*time.Millisecond:
		connType, confidence = Satellite, 0.8
		reason = append(reason, "a geostationary satellite hop costs 500–700 ms")
	case floor > 750*time.Millisecond:
		connType, confidence = Satellite, 0.4
		reason = append(reason, "beyond even a satellite hop; a saturated link looks the same")
	case floor >= 100*time.Millisecond && floor <= 200*time.Millisecond:
		connType, confidence = DialUp, 0.3
		reason = append(reason, "analogue modems add 100–200 ms; so do mobile links and far servers")
	case floor > 200*time.Millisecond:
		reason = append(reason, "too slow for cable, fibre or DSL, too fast for a geostationary satellite: mobile, congestion or a distant server")
	case floor >= 15*time.Millisecond && floor <= 40*time.Millisecond:
		connType, confidence = DSL, 0.3
		reason = append(reason, "ADSL with interleaving keeps a floor near 20 ms; cable or fibre to a server a few countries away looks the same")
	case floor < 15*time.Millisecond:
		connType, confidence = CableOrFibre, 0.5
		reason = append(reason, "below the floor that DSL interleaving imposes")
	default:
		reason = append(reason, "any access type to a distant server")
	}
	if connType != "" && len(s) > 1 && spread > floor {
		confidence /= 2
		reason = append(reason, "jitter exceeds the floor, so queues are filling and the floor is uncertain")
	}
	return connType, confidence, desc + ": " + strings.Join(reason, "; ")
}
