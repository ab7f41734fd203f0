// Package region holds what differs between countries on the copper: the
// call-progress tones, the ring cadence, the caller-ID standard and the
// emergency numbers. Tone names are the words the sim phone uses for what it
// hears ("dial", "ringback", "busy", "reorder", "sit", "stutter", "warning").
package region

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/tipring/tipring/boards"
)

// Region is one country's telephony conventions.
type Region struct {
	Code string
	Name string

	Dial     boards.Tone
	Ringback boards.Tone
	Busy     boards.Tone
	Reorder  boards.Tone
	// SIT is the special information tone (three rising tones) that
	// precedes an intercept; the line follows it with Reorder.
	SIT boards.Tone
	// Stutter is interrupted dial tone (message waiting, special dial tone).
	Stutter boards.Tone
	// NoService is played at off-hook when the line cannot place calls
	// (not registered): never dial tone on a dead line.
	NoService boards.Tone
	// OffHookWarning ("howler") is played when the handset is left off the
	// hook after the call or the dialling timed out.
	OffHookWarning boards.Tone
	// CreditWarning is played into the local phone only, before the
	// prepaid credit runs out.
	CreditWarning boards.Tone

	Ring     boards.Cadence
	CallerID boards.CallerIDStandard
	// Emergency numbers are always allowed and never metered.
	Emergency []string
	// DialPlan is the default digit map for lines that do not set one.
	DialPlan string
}

// Tones lists the region's distinct call-progress tones, for a listener that
// wants to recognise them.
func (r *Region) Tones() []boards.Tone {
	return []boards.Tone{r.Dial, r.Ringback, r.Busy, r.Reorder, r.SIT, r.Stutter, r.NoService, r.OffHookWarning, r.CreditWarning}
}

// Lookup returns the region with the given code.
func Lookup(code string) (*Region, error) {
	mk, ok := regions[strings.ToLower(code)]
	if !ok {
		return nil, fmt.Errorf("unknown region %q (known: %s)", code, strings.Join(Codes(), ", "))
	}
	return mk(), nil
}

// Codes lists the known region codes, sorted.
func Codes() []string {
	c := make([]string, 0, len(regions))
	for k := range regions {
		c = append(c, k)
	}
	sort.Strings(c)
	return c
}

// regions maps codes to constructors; each call builds fresh values, so no
// caller can change another's tones.
var regions = map[string]func() *Region{
	"us": us,
	"uk": uk,
	"de": de,
}

const ms = time.Millisecond

func seg(level float64, d time.Duration, freqs ...float64) boards.Segment {
	return boards.Segment{Freqs: freqs, LevelDBm0: level, Duration: d}
}

func silence(d time.Duration) boards.Segment { return boards.Segment{Duration: d} }

func steady(name string, level float64, freqs ...float64) boards.Tone {
	return boards.Tone{Name: name, Segments: []boards.Segment{seg(level, 0, freqs...)}, LoopFrom: -1}
}

// cadenced builds a looping tone from on/off pairs of one frequency set.
func cadenced(name string, level float64, freqs []float64, onOff ...time.Duration) boards.Tone {
	t := boards.Tone{Name: name, LoopFrom: 0}
	for i, d := range onOff {
		if i%2 == 0 {
			t.Segments = append(t.Segments, seg(level, d, freqs...))
		} else {
			t.Segments = append(t.Segments, silence(d))
		}
	}
	return t
}

// stutter is ten quick interruptions of dial tone, then steady dial tone.
func stutter(level float64, freqs ...float64) boards.Tone {
	t := boards.Tone{Name: "stutter", LoopFrom: -1}
	for range 10 {
		t.Segments = append(t.Segments, seg(level, 100*ms, freqs...), silence(100*ms))
	}
	t.Segments = append(t.Segments, seg(level, 0, freqs...))
	return t
}

// sit is the special information tone: three rising tones, then a pause.
func sit(level float64, f [3]float64, d [3]time.Duration, gap time.Duration) boards.Tone {
	t := boards.Tone{Name: "sit", LoopFrom: -1, Segments: []boards.Segment{
		seg(level, d[0], f[0]), seg(level, d[1], f[1]), seg(level, d[2], f[2]),
	}}
	if gap > 0 { // a zero-length segment would mean "forever"
		t.Segments = append(t.Segments, silence(gap))
	}
	return t
}

// creditWarning is three short high beeps, quiet enough not to drown the
// conversation but unlike any call-progress tone.
func creditWarning() boards.Tone {
	return boards.Tone{Name: "warning", LoopFrom: -1, Segments: []boards.Segment{
		seg(-16, 150*ms, 1400), silence(150 * ms),
		seg(-16, 150*ms, 1400), silence(150 * ms),
		seg(-16, 150*ms, 1400), silence(150 * ms),
	}}
}

// us follows ANSI T1.401 and Telcordia GR-506 (precise tone plan).
func us() *Region {
	reorder := cadenced("reorder", -24, []float64{480, 620}, 250*ms, 250*ms)
	noService := reorder
	return &Region{
		Code:      "us",
		Name:      "United States",
		Dial:      steady("dial", -13, 350, 440),
		Ringback:  cadenced("ringback", -19, []float64{440, 480}, 2000*ms, 4000*ms),
		Busy:      cadenced("busy", -24, []float64{480, 620}, 500*ms, 500*ms),
		Reorder:   reorder,
		SIT:       sit(-24, [3]float64{913.8, 1370.6, 1776.7}, [3]time.Duration{380 * ms, 274 * ms, 380 * ms}, 0),
		Stutter:   stutter(-13, 350, 440),
		NoService: noService,
		OffHookWarning: cadenced("warning", -9, []float64{1400, 2060, 2450, 2600},
			100*ms, 100*ms),
		CreditWarning: creditWarning(),
		Ring:          boards.Cadence{2000 * ms, 4000 * ms},
		CallerID:      boards.CallerIDBell202,
		Emergency:     []string{"911"},
		DialPlan:      "(911|1[2-9]xxxxxxxxx|[2-9]xxxxxxxxx|011x.T|*xx)",
	}
}

// etsiSIT is the ITU-T Q.35 / ETSI special information tone.
func etsiSIT(level float64) boards.Tone {
	return sit(level, [3]float64{950, 1400, 1800}, [3]time.Duration{330 * ms, 330 * ms, 330 * ms}, 1000*ms)
}

// uk follows BT SIN 350 and SIN 227.
func uk() *Region {
	congestion := cadenced("reorder", -13, []float64{400}, 400*ms, 350*ms, 225*ms, 525*ms)
	return &Region{
		Code:           "uk",
		Name:           "United Kingdom",
		Dial:           steady("dial", -13, 350, 440),
		Ringback:       cadenced("ringback", -13, []float64{400, 450}, 400*ms, 200*ms, 400*ms, 2000*ms),
		Busy:           cadenced("busy", -13, []float64{400}, 375*ms, 375*ms),
		Reorder:        congestion,
		SIT:            etsiSIT(-13),
		Stutter:        stutter(-13, 350, 440),
		NoService:      congestion,
		OffHookWarning: cadenced("warning", -9, []float64{1400, 2060, 2450, 2600}, 100*ms, 100*ms),
		CreditWarning:  creditWarning(),
		Ring:           boards.Cadence{400 * ms, 200 * ms, 400 * ms, 2000 * ms},
		CallerID:       boards.CallerIDETSIFSK,
		Emergency:      []string{"999", "112"},
		DialPlan:       "(999|112|0[1-9]xxxxxxxxx|00x.T|[1-9]x.T|*xx)",
	}
}

// de follows Deutsche Telekom 1 TR 110.
func de() *Region {
	congestion := cadenced("reorder", -13, []float64{425}, 240*ms, 240*ms)
	return &Region{
		Code:           "de",
		Name:           "Germany",
		Dial:           steady("dial", -13, 425),
		Ringback:       cadenced("ringback", -13, []float64{425}, 1000*ms, 4000*ms),
		Busy:           cadenced("busy", -13, []float64{425}, 480*ms, 480*ms),
		Reorder:        congestion,
		SIT:            etsiSIT(-13),
		Stutter:        stutter(-13, 425),
		NoService:      congestion,
		OffHookWarning: cadenced("warning", -9, []float64{1400, 2060, 2450, 2600}, 100*ms, 100*ms),
		CreditWarning:  creditWarning(),
		Ring:           boards.Cadence{1000 * ms, 4000 * ms},
		CallerID:       boards.CallerIDETSIFSKAfterRing,
		Emergency:      []string{"112", "110"},
		DialPlan:       "(110|112|0[1-9]x.T|00x.T|[1-9]x.T|*xx)",
	}
}
