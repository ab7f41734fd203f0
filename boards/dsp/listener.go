package dsp

import (
	"math"
	"slices"

	"github.com/tipring/tipring/boards"
)

// Hearing is what a person holding the handset would say they hear.
type Hearing struct {
	// Name is "silence", "speech", "tone" (a tone that is none of the
	// region's, or one not told apart yet), or the Name of one of the
	// region's tones ("dial", "ringback", "busy", "reorder", "sit",
	// "stutter", "warning").
	Name string
	// FreqsHz are the tone's frequencies as measured over the last second,
	// ascending, rounded to 0.1 Hz; during the silent part of a cadenced
	// tone, those of its last sounding part. Empty for silence and speech.
	FreqsHz []float64
	// LevelDBm0 is the RMS level of the last second, gaps included;
	// FloorDBm0 (-99) for digital silence.
	LevelDBm0 float64
}

// The listener works in three stages.
//
// Timing: the energy of every 5 ms sub-block splits the audio into sound
// and quiet runs (on above -50 dBm0; off below -53 dBm0 or 30 dB under the
// run's peak; a change counts after 10 ms on or 15 ms off, dated back to
// where it began). Tone cadences are measured on these 5 ms edges.
//
// Content: every frame, a 512-point (64 ms) Hann-windowed spectrum of the
// latest audio gives up to four peaks, with frequencies refined by
// log-parabolic interpolation (better than 1 Hz for a steady tone). A
// frame is tonal when at most four peaks, within 20 dB of the strongest,
// hold 90 % of its energy; voices and noise spread wider. Frames whose
// window lies at least 80 % inside a sound run describe it; when two
// tonal frames in a row show other frequencies (three frames for a switch
// to non-tonal audio), the run is split into parts there, which is how the
// three tones of SIT, played without gaps, are told apart.
//
// Recognition (in Hearing): the recent parts are matched against each
// region tone's segments, walking back from the present: frequencies
// within 1.5 %, durations within 15 % + 35 ms. The tone explaining the
// most complete segments wins; equal evidence goes to the tone whose match
// reaches back to its own start. When tones with different names remain
// equally likely (in Germany a fresh 425 Hz tone may be dial tone,
// ringback or busy until its first break or 1.2 s have passed), the
// answer is "tone" until the cadence settles it. A tone keeps its name
// through its own silent gaps (up to the expected gap + 15 % + 35 ms)
// and for one second after it stops; after that the line is silent.
const (
	lsnWindow      = 512
	lsnBins        = lsnWindow/2 + 1
	lsnSub         = 40 // samples per timing sub-block (5 ms)
	lsnSegs        = 64 // parts remembered
	lsnLevelFrames = 50 // one second of frame energies
	lsnOnDBm0      = -50.0
	lsnOffDBm0     = -53.0
	lsnOffBelowDB  = 30.0
	lsnOnSubs      = 2
	lsnOffSubs     = 3
	lsnUsable      = lsnWindow * 8 / 10
	lsnMaxFreqs    = 4
	lsnCandidates  = 8
	lsnPeakRange   = 0.01   // power ratio of -20 dB: weaker peaks are ignored
	lsnStrongRatio = 0.2512 // amplitude ratio of -12 dB: weaker peaks need not match
	lsnTonal       = 0.9
	lsnFreqTol     = 0.015
	lsnFreqTolHz   = 4.0
	lsnDurTol      = 0.15
	lsnDurSlack    = 35 * boards.SampleRate / 1000 // samples
	lsnHold        = boards.SampleRate             // samples a stopped tone is still heard
	lsnLowHz       = 100.0
	lsnHighHz      = 3900.0
	lsnLowBin      = 6   // 100 Hz in 15.625 Hz bins
	lsnHighBin     = 249 // 3900 Hz
)

// lsnPart is one run of quiet, or one part of a run of sound.
type lsnPart struct {
	on         bool
	start, end int64 // samples since the listener started; end is valid once closed
	closed     bool

	// Content of a sound part, from the frames that describe it. A part
	// whose first describing frame was tonal is a tone part with up to
	// lsnMaxFreqs frequency slots; otherwise it is a noise part.
	tonal     bool
	nf        int
	freqSum   [lsnMaxFreqs]float64
	ampSum    [lsnMaxFreqs]float64
	slotN     [lsnMaxFreqs]int
	matched   int   // frames agreeing with the part's content
	other     int   // frames that did not
	lastMatch int64 // end of the last agreeing frame
}

// lsnFrame is what one frame's spectrum shows.
type lsnFrame struct {
	tonal bool
	n     int
	freq  [lsnMaxFreqs]float64
	amp   [lsnMaxFreqs]float64
}

// Listener recognises what a telephone user hears, from the received audio
// alone. It keeps a few seconds of features and does not allocate in
// Process.
type Listener struct {
	patterns []lsnPattern

	// Samples, latest lsnWindow of them, and the analysis buffers.
	ring   [lsnWindow]int16
	pos    int
	total  int64 // samples processed
	hann   [lsnWindow]float64
	buf    [lsnWindow]float64
	pow    [lsnBins]float64
	fft    *realFFT
	levels [lsnLevelFrames]float64 // sum of squares per frame
	lvlPos int
	lvlN   int

	// Parts, oldest first in ring order.
	parts [lsnSegs]lsnPart
	head  int // index of the newest part
	count int

	// Sound/quiet timing.
	on        bool
	runPeak   float64 // dBm0, loudest sub-block of the current sound run
	runStart  int64
	candN     int
	candStart int64
	candPeak  float64
	// The last sound run, for frames that arrive just after it ended.
	prevRunStart int64
	prevRunEnd   int64
	prevRunPart  int // index of its last part, -1 if none

	// A content change seen in frames but not yet confirmed.
	pend      lsnFrame
	pendN     int
	pendFirst int64
	pendSum   [lsnMaxFreqs]float64
	pendAmp   [lsnMaxFreqs]float64
	pendCnt   [lsnMaxFreqs]int

	obs []lsnObs // scratch for Hearing
}

// NewListener returns a listener that recognises the given tones (a
// region's Tones()); their Names are what Hearing reports.
func NewListener(tones []boards.Tone) *Listener {
	l := &Listener{fft: newRealFFT(lsnWindow), prevRunPart: -1}
	for i := range l.hann {
		l.hann[i] = 0.5 - 0.5*math.Cos(2*math.Pi*float64(i)/lsnWindow)
	}
	for _, t := range tones {
		if p, ok := newPattern(t); ok {
			l.patterns = append(l.patterns, p)
		}
	}
	l.parts[0] = lsnPart{}
	l.count = 1
	l.obs = make([]lsnObs, 0, lsnSegs)
	return l
}

// Process takes the next 20 ms of received audio.
func (l *Listener) Process(f *boards.Frame) {
	var frameEnergy float64
	for b := 0; b < len(f); b += lsnSub {
		var e float64
		for i, v := range f[b : b+lsnSub] {
			x := float64(v)
			e += x * x
			l.ring[(l.pos+i)%lsnWindow] = v
		}
		l.pos = (l.pos + lsnSub) % lsnWindow
		frameEnergy += e
		l.timing(powerDBm0(e/lsnSub), l.total)
		l.total += lsnSub
	}
	l.levels[l.lvlPos] = frameEnergy
	l.lvlPos = (l.lvlPos + 1) % lsnLevelFrames
	l.lvlN = min(l.lvlN+1, lsnLevelFrames)
	l.content()
}

// timing runs the sound/quiet state machine on one sub-block of the given
// level starting at sample at.
func (l *Listener) timing(level float64, at int64) {
	var isOn bool
	if l.on {
		isOn = level >= max(lsnOffDBm0, l.runPeak-lsnOffBelowDB)
	} else {
		isOn = level >= lsnOnDBm0
	}
	if isOn == l.on {
		l.candN = 0
		if l.on {
			l.runPeak = max(l.runPeak, level)
		}
		return
	}
	if l.candN == 0 {
		l.candStart = at
		l.candPeak = level
	}
	l.candN++
	l.candPeak = max(l.candPeak, level)
	need := lsnOnSubs
	if l.on {
		need = lsnOffSubs
	}
	if l.candN < need {
		return
	}
	l.candN = 0
	if l.on {
		l.prevRunStart, l.prevRunEnd, l.prevRunPart = l.runStart, l.candStart, l.head
	} else {
		l.runStart = l.candStart
		l.runPeak = l.candPeak
	}
	l.on = !l.on
	l.newPart(l.candStart, l.on)
	l.pendN = 0
}

// newPart closes the newest part at t and starts another.
func (l *Listener) newPart(t int64, on bool) {
	cur := &l.parts[l.head]
	cur.end, cur.closed = t, true
	l.head = (l.head + 1) % lsnSegs
	if l.count < lsnSegs {
		l.count++
	} else if l.prevRunPart == l.head {
		l.prevRunPart = -1 // about to be overwritten
	}
	l.parts[l.head] = lsnPart{on: on, start: t}
}

// content analyses the latest window and files what it shows under the
// sound part it describes, if any.
func (l *Listener) content() {
	end := l.total
	var target *lsnPart
	current := false
	switch {
	case l.on && end-l.runStart >= lsnUsable:
		target, current = &l.parts[l.head], true
	case !l.on && l.prevRunPart >= 0 &&
		l.prevRunEnd-max(l.prevRunStart, end-lsnWindow) >= lsnUsable:
		target = &l.parts[l.prevRunPart]
	default:
		return
	}
	fr := l.analyse()
	switch {
	case !target.tonal && target.matched == 0 && target.other == 0:
		l.adopt(target, &fr, end)
	case l.agrees(target, &fr):
		l.absorb(target, &fr, end)
		l.pendN = 0
	case !current:
		// A part that has ended is not split any more.
	default:
		if l.pendN > 0 && l.sameContent(&l.pend, &fr) {
			l.pendN++
			l.addPend(&fr)
		} else {
			l.pend, l.pendN, l.pendFirst = fr, 1, end
			l.pendSum, l.pendAmp, l.pendCnt = [lsnMaxFreqs]float64{}, [lsnMaxFreqs]float64{}, [lsnMaxFreqs]int{}
			l.addPend(&fr)
		}
		if !fr.tonal && target.tonal {
			target.other++
		}
		// While the window straddles a change of tone it holds both the
		// old and the new frequencies; only a frame without the old ones
		// shows where the change happened. A superset that lasts longer
		// than a window is a real change all the same.
		need := 2
		if pf := partFrame(target); !fr.tonal {
			need = 3
		} else if target.tonal && covers(&pf, &fr) {
			need = 5
		}
		if l.pendN >= need {
			l.split(target, end)
		}
	}
}

// adopt gives a part its content from its first describing frame.
func (l *Listener) adopt(p *lsnPart, fr *lsnFrame, end int64) {
	p.tonal = fr.tonal
	p.nf = 0
	if fr.tonal {
		p.nf = fr.n
		for i := range fr.n {
			p.freqSum[i], p.ampSum[i], p.slotN[i] = fr.freq[i], fr.amp[i], 1
		}
	}
	p.matched, p.lastMatch = 1, end
}

// agrees reports whether a frame shows the part's content.
func (l *Listener) agrees(p *lsnPart, fr *lsnFrame) bool {
	if !p.tonal {
		return !fr.tonal
	}
	pf := partFrame(p)
	return l.sameContent(&pf, fr)
}

// partFrame is the part's content as a frame: its mean frequencies.
func partFrame(p *lsnPart) lsnFrame {
	ps := lsnFrame{tonal: p.tonal, n: p.nf}
	for i := range p.nf {
		ps.freq[i] = p.freqSum[i] / float64(p.slotN[i])
		ps.amp[i] = p.ampSum[i] / float64(p.slotN[i])
	}
	return ps
}

// absorb adds an agreeing frame to a part.
func (l *Listener) absorb(p *lsnPart, fr *lsnFrame, end int64) {
	p.matched++
	p.lastMatch = end
	if !p.tonal {
		return
	}
	for i := range fr.n {
		if k := p.slotFor(fr.freq[i]); k >= 0 {
			p.freqSum[k] += fr.freq[i]
			p.ampSum[k] += fr.amp[i]
			p.slotN[k]++
		}
	}
}

// slotFor is the part's frequency slot near hz, or -1.
func (p *lsnPart) slotFor(hz float64) int {
	for k := range p.nf {
		if freqNear(p.freqSum[k]/float64(p.slotN[k]), hz) {
			return k
		}
	}
	return -1
}

func (l *Listener) addPend(fr *lsnFrame) {
	for i := range fr.n {
		for k := range l.pend.n {
			if freqNear(l.pend.freq[k], fr.freq[i]) {
				l.pendSum[k] += fr.freq[i]
				l.pendAmp[k] += fr.amp[i]
				l.pendCnt[k]++
				break
			}
		}
	}
}

// split ends part p where its content changed and starts a part with the
// pending content. The change happened after the last frame that agreed
// with p and before the first pending frame's window began (plus the
// window's tapered ends): the midpoint of the two is within about 10 ms.
func (l *Listener) split(p *lsnPart, end int64) {
	t := (p.lastMatch + l.pendFirst - lsnWindow) / 2
	t = min(max(t, p.start+1), end)
	l.newPart(t, true)
	q := &l.parts[l.head]
	q.tonal = l.pend.tonal
	q.matched, q.lastMatch = l.pendN, end
	if q.tonal {
		q.nf = l.pend.n
		for k := range q.nf {
			q.freqSum[k], q.ampSum[k], q.slotN[k] = l.pendSum[k], l.pendAmp[k], l.pendCnt[k]
		}
	}
	l.pendN = 0
}

// sameContent compares two frames: both non-tonal, or both tonal with every
// strong frequency of each found in the other.
func (l *Listener) sameContent(a, b *lsnFrame) bool {
	if a.tonal != b.tonal {
		return false
	}
	if !a.tonal {
		return true
	}
	return covers(a, b) && covers(b, a)
}

// covers reports whether every strong frequency of a is in b.
func covers(a, b *lsnFrame) bool {
	var top float64
	for i := range a.n {
		top = max(top, a.amp[i])
	}
	for i := range a.n {
		if a.amp[i] < top*lsnStrongRatio {
			continue
		}
		found := false
		for k := range b.n {
			if freqNear(a.freq[i], b.freq[k]) {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

func freqNear(a, b float64) bool {
	return math.Abs(a-b) <= max(lsnFreqTol*max(a, b), lsnFreqTolHz)
}

// analyse computes the spectrum of the latest window and what it shows.
func (l *Listener) analyse() lsnFrame {
	for i := range lsnWindow {
		l.buf[i] = float64(l.ring[(l.pos+i)%lsnWindow]) * l.hann[i]
	}
	l.fft.power(l.buf[:], l.pow[:])
	p := &l.pow
	const binHz = float64(boards.SampleRate) / lsnWindow
	kLo, kHi := lsnLowBin, lsnHighBin
	var total float64
	for k := kLo; k <= kHi; k++ {
		total += p[k]
	}
	var fr lsnFrame
	if total == 0 {
		return fr
	}
	// The strongest local maxima, strongest first.
	var cand [lsnCandidates]int
	nc := 0
	for k := kLo + 1; k < kHi; k++ {
		if !(p[k] > p[k-1] && p[k] >= p[k+1]) {
			continue
		}
		i := nc
		if nc < lsnCandidates {
			nc++
		} else if p[k] <= p[cand[nc-1]] {
			continue
		} else {
			i = nc - 1
		}
		for i > 0 && p[cand[i-1]] < p[k] {
			cand[i] = cand[i-1]
			i--
		}
		cand[i] = k
	}
	if nc == 0 {
		return fr
	}
	floor := p[cand[0]] * lsnPeakRange
	sig := 0
	for sig < nc && p[cand[sig]] >= floor {
		sig++
	}
	if sig > lsnMaxFreqs {
		return fr
	}
	// Energy within the main lobes (±2 bins) of the peaks, each bin once.
	var lobes float64
	last := -1
	sorted := cand[:sig]
	slices.Sort(sorted) // by frequency now
	for _, k := range sorted {
		for j := max(k-2, last+1); j <= k+2; j++ {
			lobes += p[j]
			last = j
		}
	}
	if lobes < lsnTonal*total {
		return fr
	}
	fr.tonal = true
	for _, k := range sorted {
		a, b, c := math.Log(p[k-1]+1e-9), math.Log(p[k]+1e-9), math.Log(p[k+1]+1e-9)
		d := 0.0
		if den := a - 2*b + c; den < 0 {
			d = max(-0.5, min(0.5, 0.5*(a-c)/den))
		}
		peak := math.Exp((b - 0.25*(a-c)*d) / 2) // |X| at the interpolated peak
		fr.freq[fr.n] = (float64(k) + d) * binHz
		// A sine of amplitude A gives |X| = A·Σw/2 = A·N/4 with a Hann window.
		fr.amp[fr.n] = peak / (lsnWindow / 4)
		fr.n++
	}
	return fr
}

// level is the RMS level of the last second (or of what there is of it).
func (l *Listener) level() float64 {
	if l.lvlN == 0 {
		return FloorDBm0
	}
	var s float64
	for i := range l.lvlN {
		s += l.levels[i]
	}
	return powerDBm0(s / float64(l.lvlN*boards.FrameSamples))
}
