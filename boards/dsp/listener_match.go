package dsp

import (
	"math"
	"slices"

	"github.com/tipring/tipring/boards"
	"github.com/tipring/tipring/internal/order"
)

// lsnPattern is a tone as the listener expects to observe it: sounding and
// silent segments with their frequencies and lengths in samples.
type lsnPattern struct {
	name string
	segs []lsnPatSeg
	loop int // index to go back to after the last segment; -1: the tone ends
}

type lsnPatSeg struct {
	on    bool
	freqs []float64 // ascending
	dur   int64     // samples; 0 lasts until the tone is stopped
}

// newPattern turns a tone into what the listener can observe of it:
// consecutive silent segments merge (they cannot be told apart), nothing
// after a segment that lasts for ever is reachable, and a modulated
// segment is heard as its carriers plus, when the modulation is fast
// enough to resolve (40 Hz and up), its two side tones. Tones with no
// sound, or with more frequencies than the listener tracks, are not
// patterns.
func newPattern(t boards.Tone) (lsnPattern, bool) {
	p := lsnPattern{name: t.Name, loop: -1}
	sound := false
	for i, s := range t.Segments {
		if s.Duration < 0 {
			continue
		}
		ps := lsnPatSeg{dur: durationSamples(s.Duration)}
		if s.Duration > 0 {
			ps.dur = max(ps.dur, 1)
		}
		for _, f := range s.Freqs {
			if !(f >= lsnLowHz && f <= lsnHighHz) {
				continue
			}
			ps.freqs = append(ps.freqs, f)
			if m := s.ModulateHz; m >= 40 && m < f {
				ps.freqs = append(ps.freqs, f-m, f+m)
			}
		}
		slices.Sort(ps.freqs)
		ps.freqs = slices.CompactFunc(ps.freqs, freqNear)
		ps.on = len(ps.freqs) > 0
		if len(ps.freqs) > lsnMaxFreqs {
			return lsnPattern{}, false
		}
		sound = sound || ps.on
		// As in ToneGen, a LoopFrom naming a skipped segment loops from
		// the next one kept.
		isLoop := t.LoopFrom >= 0 && i >= t.LoopFrom && p.loop < 0
		if n := len(p.segs); n > 0 && !ps.on && !p.segs[n-1].on && !isLoop {
			if ps.dur == 0 {
				p.segs[n-1].dur = 0
			} else if p.segs[n-1].dur != 0 {
				p.segs[n-1].dur += ps.dur
			}
		} else {
			if isLoop {
				p.loop = len(p.segs)
			}
			p.segs = append(p.segs, ps)
		}
		if p.segs[len(p.segs)-1].dur == 0 {
			break // nothing after this is ever played
		}
	}
	if !sound {
		return lsnPattern{}, false
	}
	if p.segs[len(p.segs)-1].dur == 0 {
		p.loop = -1 // the tone never gets to loop
	}
	return p, true
}

// lsnObs is a part as Hearing sees it.
type lsnObs struct {
	kind       lsnKind
	start, end int64
	n          int
	freq       [lsnMaxFreqs]float64
	amp        [lsnMaxFreqs]float64
	weight     [lsnMaxFreqs]int
	ongoing    bool
	// voiced: the frequencies are harmonics of a voice's pitch. Such a
	// part still matches a region tone with those very frequencies (an
	// amplitude-modulated tone is a harmonic series too), but is not heard
	// as an unknown tone.
	voiced bool
}

type lsnKind uint8

const (
	lsnQuiet   lsnKind = iota
	lsnUnknown         // sound too short to analyse yet
	lsnNoise           // sound that is not a few steady tones
	lsnTone
)

func (o *lsnObs) dur() int64 { return o.end - o.start }

// observe lists the remembered parts, oldest first.
func (l *Listener) observe() []lsnObs {
	obs := l.obs[:0]
	for i := l.count - 1; i >= 0; i-- {
		p := &l.parts[(l.head-i+lsnSegs)%lsnSegs]
		o := lsnObs{start: p.start, end: p.end, ongoing: !p.closed}
		if o.ongoing {
			o.end = l.total
		}
		switch {
		case !p.on:
			o.kind = lsnQuiet
		case p.matched == 0 && p.other == 0:
			o.kind = lsnUnknown
		case p.tonal && p.matched >= 2*p.other:
			o.kind = lsnTone
			// Frequencies seen in most of the part's frames.
			for k := range p.nf {
				if 2*p.slotN[k] >= p.matched {
					o.freq[o.n] = p.freqSum[k] / float64(p.slotN[k])
					o.amp[o.n] = p.ampSum[k] / float64(p.slotN[k])
					o.weight[o.n] = p.slotN[k]
					o.n++
				}
			}
			if o.n == 0 {
				o.kind = lsnNoise
			}
			o.voiced = o.harmonic()
		default:
			o.kind = lsnNoise
		}
		obs = append(obs, o)
	}
	l.obs = obs
	return obs
}

// Hearing describes the last second of audio.
func (l *Listener) Hearing() Hearing {
	h := Hearing{LevelDBm0: math.Round(l.level()*10) / 10}
	obs := l.observe()
	now := l.total
	from := now - boards.SampleRate
	if n := len(obs); n > 1 && obs[n-1].kind == lsnUnknown && obs[n-1].ongoing {
		// Sound that began too recently to analyse: judge by what came
		// before it until it can be.
		obs = obs[:n-1]
		obs[n-2].ongoing = true
	}

	name, chainFrom := l.recognise(obs)
	if name != "" {
		// The recognised tone must be most of what was heard.
		var covered, active int64
		for i := range obs {
			ov := obs[i].overlap(from, now)
			if obs[i].kind == lsnQuiet || (obs[i].kind == lsnUnknown && obs[i].ongoing) {
				continue
			}
			active += ov
			if i >= chainFrom {
				covered += ov
			}
		}
		if 2*covered >= active {
			h.Name = name
			h.FreqsHz = freqsOf(obs[chainFrom:], from, now, true)
			return h
		}
	}
	var tone, other int64
	var kinds [3]*lsnObs // distinct tones heard, up to three
	distinct := 0
	for i := range obs {
		o := &obs[i]
		ov := o.overlap(from, now)
		switch {
		case ov == 0:
		case o.kind == lsnTone && !o.voiced:
			tone += ov
			known := false
			for _, k := range kinds[:distinct] {
				known = known || (k.sameFreqs(o) && o.sameFreqs(k))
			}
			if !known && distinct < len(kinds) {
				kinds[distinct] = o
				distinct++
			}
		case o.kind == lsnTone || o.kind == lsnNoise || (o.kind == lsnUnknown && !o.ongoing):
			other += ov
		}
	}
	switch {
	case tone == 0 && other == 0:
		h.Name = "silence"
	case other >= tone || distinct >= len(kinds):
		// Voices glide: their steadier moments come out as a string of
		// short tones, each at another pitch.
		h.Name = "speech"
	default:
		h.Name = "tone"
		h.FreqsHz = freqsOf(obs, from, now, false)
	}
	return h
}

func (o *lsnObs) overlap(from, to int64) int64 {
	return max(0, min(o.end, to)-max(o.start, from))
}

// freqsOf merges the frequencies of the tone parts heard between from and
// to. For a recognised tone (chain) with none heard then, those of its
// latest tone part; otherwise voiced parts are no tones.
func freqsOf(obs []lsnObs, from, to int64, chain bool) []float64 {
	type fw struct {
		f float64
		w int
	}
	var all []fw
	add := func(o *lsnObs) {
		for k := range o.n {
			all = append(all, fw{o.freq[k], o.weight[k]})
		}
	}
	for i := range obs {
		if obs[i].kind == lsnTone && (chain || !obs[i].voiced) && obs[i].overlap(from, to) > 0 {
			add(&obs[i])
		}
	}
	if len(all) == 0 && chain {
		for i := len(obs) - 1; i >= 0; i-- {
			if obs[i].kind == lsnTone {
				add(&obs[i])
				break
			}
		}
	}
	if len(all) == 0 {
		return nil
	}
	order.Sort(all, func(a, b fw) int {
		switch {
		case a.f < b.f:
			return -1
		case a.f > b.f:
			return 1
		}
		return 0
	})
	var out []float64
	for i := 0; i < len(all); {
		sum, w := all[i].f*float64(all[i].w), all[i].w
		j := i + 1
		for ; j < len(all) && freqNear(all[i].f, all[j].f); j++ {
			sum += all[j].f * float64(all[j].w)
			w += all[j].w
		}
		out = append(out, math.Round(sum/float64(w)*10)/10)
		i = j
	}
	return out
}

// lsnMatch is how well a pattern explains the recent parts.
type lsnMatch struct {
	ok       bool
	evidence int  // parts matched in full (start and end observed)
	anchored bool // the match reaches back to the tone's first segment
	from     int  // earliest part in the match
}

func (a lsnMatch) better(b lsnMatch) bool {
	switch {
	case !a.ok:
		return false
	case !b.ok:
		return true
	case a.evidence != b.evidence:
		return a.evidence > b.evidence
	case a.anchored != b.anchored:
		return a.anchored
	}
	return a.from < b.from
}

// recognise returns the name of the region tone that best explains the
// latest parts ("tone" when tones with different names do so equally),
// with the index of the earliest part it explains; "" when none does.
func (l *Listener) recognise(obs []lsnObs) (string, int) {
	var (
		best  lsnMatch
		names []string
		from  int
	)
	for pi := range l.patterns {
		p := &l.patterns[pi]
		m := p.match(obs)
		switch {
		case !m.ok:
		case !best.ok || m.evidence > best.evidence || (m.evidence == best.evidence && m.anchored && !best.anchored):
			best, from = m, m.from
			names = append(names[:0], p.name)
		case m.evidence == best.evidence && m.anchored == best.anchored:
			if !slices.Contains(names, p.name) {
				names = append(names, p.name)
			}
			from = min(from, m.from)
		}
	}
	switch len(names) {
	case 0:
		return "", 0
	case 1:
		return names[0], from
	}
	return "tone", from
}

// match finds the best way the pattern explains the parts up to now: the
// ongoing part is one of its segments (not yet longer than that segment),
// or the ongoing part is quiet for at most lsnHold and the part before it
// is where the tone stopped or ended.
func (p *lsnPattern) match(obs []lsnObs) lsnMatch {
	var best lsnMatch
	n := len(obs)
	last := &obs[n-1]
	for j := range p.segs {
		s := &p.segs[j]
		if !s.fits(last) {
			continue
		}
		if s.dur == 0 && !s.on {
			continue // endless silence: the tone is over, see below
		}
		if m := p.walk(obs, n-1, j, false); m.better(best) {
			best = m
		}
	}
	if last.kind == lsnQuiet && n >= 2 && last.dur() <= lsnHold {
		prev := &obs[n-2]
		for j := range p.segs {
			s := &p.segs[j]
			if !s.on || !s.fits(prev) {
				continue
			}
			m := p.walk(obs, n-2, j, true)
			if n-2 > 0 && s.dur != 0 && prev.dur() >= s.lo() {
				m.evidence++
			}
			if m.better(best) {
				best = m
			}
		}
	}
	return best
}

// walk extends a match backwards from obs[i], which plays segment j.
// Quiet alone is no evidence of any tone: a match must include some of its
// sound (sound tells whether obs[i+1:] already does).
func (p *lsnPattern) walk(obs []lsnObs, i, j int, sound bool) lsnMatch {
	var best lsnMatch
	sound = sound || p.segs[j].on
	if j == 0 && sound {
		best = lsnMatch{ok: true, anchored: true, from: i}
	}
	if i == 0 {
		// Nothing remembered before: the tone may have begun earlier.
		if m := (lsnMatch{ok: sound, from: 0}); m.better(best) {
			best = m
		}
		return best
	}
	try := func(pj int) {
		s := &p.segs[pj]
		if s.dur == 0 || !s.fits(&obs[i-1]) {
			return
		}
		// The oldest part remembered may have begun before it was seen.
		if i-1 > 0 && obs[i-1].dur() < s.lo() {
			return
		}
		m := p.walk(obs, i-1, pj, sound)
		if !m.ok {
			return
		}
		if i-1 > 0 {
			m.evidence++
		}
		if m.better(best) {
			best = m
		}
	}
	if j > 0 {
		try(j - 1)
	}
	if j == p.loop {
		try(len(p.segs) - 1)
	}
	return best
}

// fits reports whether part o can be segment s: the same kind, the same
// frequencies, and not longer than s.
func (s *lsnPatSeg) fits(o *lsnObs) bool {
	if s.on {
		if o.kind != lsnTone || !s.sameFreqs(o) {
			return false
		}
	} else if o.kind != lsnQuiet {
		return false
	}
	return s.dur == 0 || o.dur() <= s.hi()
}

func (s *lsnPatSeg) lo() int64 { return s.dur - s.tol() }
func (s *lsnPatSeg) hi() int64 { return s.dur + s.tol() }
func (s *lsnPatSeg) tol() int64 {
	return int64(float64(s.dur)*lsnDurTol) + lsnDurSlack
}

// sameFreqs: every expected frequency is present and every strong one
// present is expected.
func (s *lsnPatSeg) sameFreqs(o *lsnObs) bool {
	var top float64
	for k := range o.n {
		top = max(top, o.amp[k])
	}
	for k := range o.n {
		if o.amp[k] >= top*lsnStrongRatio && !slices.ContainsFunc(s.freqs, func(f float64) bool { return freqNear(f, o.freq[k]) }) {
			return false
		}
	}
	for _, f := range s.freqs {
		if !slices.ContainsFunc(o.freq[:o.n], func(g float64) bool { return freqNear(f, g) }) {
			return false
		}
	}
	return true
}

// sameFreqs: every strong frequency of o is among those of q.
func (o *lsnObs) sameFreqs(q *lsnObs) bool {
	var top float64
	for k := range o.n {
		top = max(top, o.amp[k])
	}
	for k := range o.n {
		if o.amp[k] >= top*lsnStrongRatio && !slices.ContainsFunc(q.freq[:q.n], func(g float64) bool { return freqNear(o.freq[k], g) }) {
			return false
		}
	}
	return true
}

// harmonic reports whether the frequencies are harmonics of one voice: two
// of them in the ratio 2, 3 or 3/2 over a fundamental of 70-400 Hz. No
// call-progress or DTMF pair is within 4 % of those ratios.
func (o *lsnObs) harmonic() bool {
	for i := range o.n {
		for j := range o.n {
			a, b := o.freq[i], o.freq[j]
			if b <= a {
				continue
			}
			for _, r := range [...]struct{ ratio, perF0 float64 }{{2, 1}, {3, 1}, {1.5, 2}} {
				f0 := a / r.perF0
				if math.Abs(b/a-r.ratio) <= lsnFreqTol*r.ratio && f0 >= 70 && f0 <= 400 {
					return true
				}
			}
		}
	}
	return false
}
