package dsp

import (
	"math"
	"math/cmplx"
	"time"

	"github.com/tipring/tipring/boards"
)

// The detector measures the 8 DTMF frequencies and their second harmonics
// with Goertzel filters over 2.5 ms sub-blocks. Sub-block results are kept
// as DFT values referred to a common time origin, so any run of sub-blocks
// adds up to the DFT of that longer block: every 2.5 ms the detector looks
// at the last 20 ms (8 sub-blocks, 50 Hz resolution) without filtering any
// sample twice. The two halves of that window give each tone's frequency
// offset from the phase it gains between them.
//
// A window holds a digit when (ITU-T Q.24 figures in brackets):
//   - one tone of each group is at least dtmfMinLevel [accept -25 dBm0,
//     reject -35 dBm0] and the twist is within dtmfMaxTwistDB [±6 dB];
//   - each tone is within dtmfMaxDeviation of its nominal frequency
//     [accept 1.5 %, reject 3.5 %];
//   - each tone stands dtmfPeakRatioDB above the other filters of its
//     group, and its second harmonic is dtmfHarmonicDB below it: voices and
//     instruments have harmonics, DTMF generators do not;
//   - the two tones carry dtmfEnergyRatio of all the window's energy,
//     which speech and music almost never do;
//   - both halves of the window agree in level, so the window lies wholly
//     inside the tone: this makes the measured duration honest.
//
// A digit is reported once the same digit has held for dtmfConfirm [accept
// 40 ms, reject 20-23 ms]; it is not reported again until dtmfRearm windows
// in a row have missed it. A gap of g ms spoils about (20+g)/2.5 windows, so
// a pause of 40 ms (23 windows) ends a key press while a drop-out of up to
// 20 ms (15 windows) inside a held key is bridged [Q.24: pauses of 40 ms
// must be recognised, interruptions of 10-20 ms bridged].
const (
	dtmfSub       = 20 // samples per sub-block (2.5 ms)
	dtmfSubs      = 8  // sub-blocks per analysis window (20 ms)
	dtmfWindow    = dtmfSub * dtmfSubs
	dtmfHalf      = dtmfWindow / 2
	dtmfFilters   = 16 // 8 tones, then their second harmonics
	dtmfHop       = time.Second * dtmfSub / boards.SampleRate
	dtmfWindowDur = time.Second * dtmfWindow / boards.SampleRate

	dtmfMinLevel     = -30.0 // dBm0 per tone
	dtmfMaxTwistDB   = 8.0
	dtmfMaxDeviation = 0.025
	dtmfPeakRatioDB  = 7.0
	dtmfHarmonicDB   = 15.0
	dtmfNoiseBins    = 10.0 // a harmonic must be this many times the residue's share per filter
	dtmfResidueFloor = 0.05
	dtmfEnergyRatio  = 0.75
	dtmfHalvesDB     = 2.5 // largest level difference between the halves
	dtmfDriftHz      = 6.0 // largest change of a tone's offset between windows
	dtmfConfirm      = 7   // hops from the first to the last window: 20 + 7*2.5 = 37.5 ms
	dtmfBridge       = 2   // missing windows tolerated inside a digit before it is confirmed
	dtmfRearm        = 18  // missing windows that end a key press (see above)
)

// DTMFDetector finds DTMF digits in received audio. It keeps no more than
// 20 ms of filter state and does not allocate.
type DTMFDetector struct {
	filt [dtmfFilters]dtmfFilter
	// Ring of sub-block results: DFT values, energies and the filters'
	// time-origin phasor at each sub-block's start.
	coef   [dtmfSubs][dtmfFilters]complex128
	origin [dtmfSubs][dtmfFilters]complex128
	energy [dtmfSubs]float64
	head   int // next slot to write
	filled int

	run dtmfRun
	// released is the key press that ended during the last Process call.
	released dtmfPress

	peakRatio, harmRatio float64 // dtmfPeakRatioDB and dtmfHarmonicDB as power ratios
}

type dtmfFilter struct {
	w    float64    // radians per sample
	coef float64    // 2 cos w
	back complex128 // e^{-jw}
	fix  complex128 // e^{-jw(dtmfSub-1)}: turns the Goertzel output into a DFT value
	step complex128 // e^{-jw*dtmfSub}
	orig complex128 // e^{-jw*n0}, n0 = absolute index of the current sub-block's start
}

// dtmfWin is what one window holds.
type dtmfWin struct {
	digit         byte
	lowP, highP   float64 // tone power (amplitude squared)
	lowHz, highHz float64 // offsets from nominal
}

// dtmfPress is a key press that has ended.
type dtmfPress struct {
	digit byte
	dur   time.Duration
	ok    bool
}

// dtmfRun is the current key press being followed.
type dtmfRun struct {
	digit         byte
	first, last   int // window counters of the first and latest window with the digit
	misses        int // consecutive windows without it
	reported      bool
	sumLow, sumHi float64
	n             int
	lowHz, highHz float64 // offsets in the latest window
	count         int     // windows evaluated so far
}

// NewDTMFDetector returns a detector ready for the first frame.
func NewDTMFDetector() *DTMFDetector {
	d := &DTMFDetector{}
	for k := range dtmfFilters {
		var hz float64
		switch {
		case k < 4:
			hz = dtmfLow[k]
		case k < 8:
			hz = dtmfHigh[k-4]
		case k < 12:
			hz = 2 * dtmfLow[k-8]
		default:
			hz = 2 * dtmfHigh[k-12]
		}
		w := 2 * math.Pi * hz / boards.SampleRate
		d.filt[k] = dtmfFilter{
			w:    w,
			coef: 2 * math.Cos(w),
			back: cmplx.Rect(1, -w),
			fix:  cmplx.Rect(1, -w*(dtmfSub-1)),
			step: cmplx.Rect(1, -w*dtmfSub),
			orig: 1,
		}
	}
	d.peakRatio = dbRatio(-dtmfPeakRatioDB)
	d.harmRatio = dbRatio(-dtmfHarmonicDB)
	return d
}

// Process analyses the next 20 ms of received audio. When a digit has been
// present for 40 ms (more exactly: from 37.5 ms, measured in 2.5 ms steps)
// it returns the digit's event: Kind Digit, Digit, LevelDBm0 (mean of the
// two tones' levels), TwistDB (high group minus low group level), Duration
// (how long the digit had been present) and At = at. Each key press is
// reported once, when it is confirmed, not when it ends.
func (d *DTMFDetector) Process(f *boards.Frame, at time.Time) (boards.Event, bool) {
	var (
		ev    boards.Event
		found bool
	)
	d.released = dtmfPress{}
	for b := 0; b < boards.FrameSamples; b += dtmfSub {
		d.subBlock(f[b : b+dtmfSub])
		if d.filled < dtmfSubs {
			continue
		}
		w := d.window()
		if e, ok := d.follow(w); ok && !found {
			e.At = at
			ev, found = e, true
		}
	}
	return ev, found
}

// subBlock runs the filters over one sub-block and stores the results.
func (d *DTMFDetector) subBlock(x []int16) {
	slot := d.head
	var e float64
	for _, v := range x {
		e += float64(v) * float64(v)
	}
	d.energy[slot] = e
	for k := range d.filt {
		fl := &d.filt[k]
		var s1, s2 float64
		c := fl.coef
		for _, v := range x {
			s1, s2 = float64(v)+c*s1-s2, s1
		}
		y := complex(s1, 0) - fl.back*complex(s2, 0)
		d.coef[slot][k] = fl.orig * fl.fix * y
		d.origin[slot][k] = fl.orig
		o := fl.orig * fl.step
		fl.orig = o / complex(cmplx.Abs(o), 0)
	}
	d.head = (slot + 1) % dtmfSubs
	if d.filled < dtmfSubs {
		d.filled++
	}
}

// window evaluates the last 20 ms.
func (d *DTMFDetector) window() dtmfWin {
	var w dtmfWin
	oldest := d.head // the ring is full: the next slot to write is the oldest
	var e float64
	for _, v := range d.energy {
		e += v
	}
	// Cheap exit: too little energy for two tones at the minimum level.
	if e < dtmfWindow*2*sq(AmplitudeForDBm0(dtmfMinLevel))/2 {
		return w
	}
	var x, h1, h2 [8]complex128
	for i := range dtmfSubs {
		slot := (oldest + i) % dtmfSubs
		for k := range 8 {
			c := d.coef[slot][k]
			x[k] += c
			if i < dtmfSubs/2 {
				h1[k] += c
			} else {
				h2[k] += c
			}
		}
	}
	lo, lo2 := dtmfBest(x[:4])
	hi, hi2 := dtmfBest(x[4:])
	hi += 4
	hi2 += 4
	// Each tone leaks a little into the other's filter (at least 268 Hz
	// apart: -19 dB over half a window, -25 dB over a whole one), enough to
	// upset the offsets and levels at 6 dB twist; so it is removed, using the
	// offsets first measured with the leak in place.
	sH1, sH2 := &d.origin[oldest], &d.origin[(oldest+dtmfSubs/2)%dtmfSubs]
	rad := func(a, b complex128) float64 { return cmplx.Phase(b*cmplx.Conj(a)) / dtmfHalf }
	dLo, dHi := rad(h1[lo], h2[lo]), rad(h1[hi], h2[hi])
	h1lo := h1[lo] - d.leak(h1[hi], hi, dHi, lo, sH1, dtmfHalf)
	h2lo := h2[lo] - d.leak(h2[hi], hi, dHi, lo, sH2, dtmfHalf)
	h1hi := h1[hi] - d.leak(h1[lo], lo, dLo, hi, sH1, dtmfHalf)
	h2hi := h2[hi] - d.leak(h2[lo], lo, dLo, hi, sH2, dtmfHalf)
	// Both halves must hold the tone at the same level.
	for _, h := range [2][2]complex128{{h1lo, h2lo}, {h1hi, h2hi}} {
		a, b := sq(cmplx.Abs(h[0])), sq(cmplx.Abs(h[1]))
		if a == 0 || b == 0 || math.Abs(10*math.Log10(a/b)) > dtmfHalvesDB {
			return w
		}
	}
	// Frequency offsets from the phase gained between the halves.
	dLo, dHi = rad(h1lo, h2lo), rad(h1hi, h2hi)
	if math.Abs(dLo) > d.filt[lo].w*dtmfMaxDeviation || math.Abs(dHi) > d.filt[hi].w*dtmfMaxDeviation {
		return w
	}
	start := sH1
	xLo := x[lo] - d.leak(x[hi], hi, dHi, lo, start, dtmfWindow)
	xHi := x[hi] - d.leak(x[lo], lo, dLo, hi, start, dtmfWindow)
	// Each tone must stand out in its group. What remains in the runner-up
	// is the tone's own leakage (-13 dB at worst) and noise.
	x2Lo := x[lo2] - d.leak(x[hi], hi, dHi, lo2, start, dtmfWindow)
	x2Hi := x[hi2] - d.leak(x[lo], lo, dLo, hi2, start, dtmfWindow)
	if sq(cmplx.Abs(x2Lo)) > sq(cmplx.Abs(xLo))*d.peakRatio || sq(cmplx.Abs(x2Hi)) > sq(cmplx.Abs(xHi))*d.peakRatio {
		return w
	}
	aLo := 2 * cmplx.Abs(xLo) / math.Abs(dirichlet(dLo, dtmfWindow))
	aHi := 2 * cmplx.Abs(xHi) / math.Abs(dirichlet(dHi, dtmfWindow))
	lLo, lHi := amplitudeDBm0(aLo), amplitudeDBm0(aHi)
	if lLo < dtmfMinLevel || lHi < dtmfMinLevel || math.Abs(lHi-lLo) > dtmfMaxTwistDB {
		return w
	}
	// The tones must carry (nearly) all the energy.
	if dtmfWindow*(sq(aLo)+sq(aHi))/2 < dtmfEnergyRatio*e {
		return w
	}
	// No strong second harmonics. A tone off its nominal frequency by δ has
	// its harmonic 2δ off the harmonic filter, up to 80 Hz (1.6 bins): so
	// the harmonic filters are retuned by 2δ, turning each sub-block's
	// result back by the phase the offset gains over it (a loss of under
	// 1 dB across a 2.5 ms sub-block). The low tones' harmonics
	// (1394-1882 Hz) lie among the high tones, so the high tone's leakage is
	// removed first.
	var xh [2]complex128
	stepLo, stepHi := cmplx.Rect(1, -2*dLo*dtmfSub), cmplx.Rect(1, -2*dHi*dtmfSub)
	rotLo, rotHi := complex(1, 0), complex(1, 0)
	for i := range dtmfSubs {
		slot := (oldest + i) % dtmfSubs
		xh[0] += d.coef[slot][lo+8] * rotLo
		xh[1] += d.coef[slot][hi+8] * rotHi
		rotLo *= stepLo
		rotHi *= stepHi
	}
	xh[0] -= d.leakShifted(x[hi], hi, dHi, lo+8, 2*dLo, start)
	// White noise puts, on average, the energy of the residue (what the
	// tones leave unexplained) into every filter, so at 15 dB SNR noise alone
	// could pass for a harmonic of a weak tone: a harmonic counts only when
	// it also stands well above that. The residue is a small difference of
	// large numbers, so it is given a floor.
	residue := max(e*dtmfResidueFloor, e-dtmfWindow*(sq(aLo)+sq(aHi))/2)
	for i, xt := range [2]complex128{xLo, xHi} {
		ph := sq(cmplx.Abs(xh[i]))
		if ph > sq(cmplx.Abs(xt))*d.harmRatio && ph > dtmfNoiseBins*residue {
			return w
		}
	}
	w.digit = dtmfKeys[lo*4+hi-4]
	w.lowP, w.highP = sq(aLo), sq(aHi)
	w.lowHz = dLo * boards.SampleRate / (2 * math.Pi)
	w.highHz = dHi * boards.SampleRate / (2 * math.Pi)
	return w
}

// leak is what a tone measured as x in filter src, off its nominal frequency
// by off radians per sample, puts into filter dst over the n samples from
// the sub-block whose time-origin phasors are start.
// For a tone b·e^{j(ws+off)n}, filter k over the window from n0 sees
// b·e^{j(ws+off)n0}·e^{-jwk·n0}·D(ws+off-wk); the ratio of dst to src needs
// only the filters' time-origin phasors at n0.
func (d *DTMFDetector) leak(x complex128, src int, off float64, dst int, start *[dtmfFilters]complex128, n int) complex128 {
	ds := dirichletC(off, n)
	if ds == 0 {
		return 0
	}
	dd := dirichletC(d.filt[src].w+off-d.filt[dst].w, n)
	return x * start[dst] * cmplx.Conj(start[src]) * dd / ds
}

// leakShifted is what leak puts into filter dst over the whole window when
// that filter is retuned by shift radians per sample by turning its
// sub-block results back by shift·dtmfSub each. Sub-block m of filter dst
// sees the tone as b·e^{jΔ(n0+20m)}·D20(Δ), Δ = ws+off-wd, so the retuned
// sum is b·e^{jΔn0}·D20(Δ)·D8(20(Δ-shift)).
func (d *DTMFDetector) leakShifted(x complex128, src int, off float64, dst int, shift float64, start *[dtmfFilters]complex128) complex128 {
	ds := dirichletC(off, dtmfWindow)
	if ds == 0 {
		return 0
	}
	delta := d.filt[src].w + off - d.filt[dst].w
	dd := dirichletC(delta, dtmfSub) * dirichletC((delta-shift)*dtmfSub, dtmfSubs)
	return x * start[dst] * cmplx.Conj(start[src]) * dd / ds
}

// follow tracks key presses across windows and returns an event when one
// is confirmed.
func (d *DTMFDetector) follow(w dtmfWin) (boards.Event, bool) {
	r := &d.run
	r.count++
	same := w.digit != 0 && w.digit == r.digit
	switch {
	case same && r.reported:
		// The key is still held: keep the press alive.
		r.last = r.count
		r.misses = 0
		return boards.Event{}, false
	case same && r.misses <= dtmfBridge &&
		math.Abs(w.lowHz-r.lowHz) <= dtmfDriftHz && math.Abs(w.highHz-r.highHz) <= dtmfDriftHz:
		r.last = r.count
		r.misses = 0
		r.lowHz, r.highHz = w.lowHz, w.highHz
		r.sumLow += w.lowP
		r.sumHi += w.highP
		r.n++
	case w.digit != 0:
		// A new key press, or this one starting over after a break or a
		// jump in frequency before it was confirmed.
		d.release()
		*r = dtmfRun{digit: w.digit, first: r.count, last: r.count, count: r.count,
			lowHz: w.lowHz, highHz: w.highHz, sumLow: w.lowP, sumHi: w.highP, n: 1}
	default:
		r.misses++
		if r.misses >= dtmfRearm {
			d.release()
			*r = dtmfRun{count: r.count}
		}
		return boards.Event{}, false
	}
	if r.reported || r.last-r.first < dtmfConfirm {
		return boards.Event{}, false
	}
	r.reported = true
	lLo := amplitudeDBm0(math.Sqrt(r.sumLow / float64(r.n)))
	lHi := amplitudeDBm0(math.Sqrt(r.sumHi / float64(r.n)))
	return boards.Event{
		Kind:      boards.Digit,
		Digit:     r.digit,
		LevelDBm0: (lLo + lHi) / 2,
		TwistDB:   lHi - lLo,
		Duration:  dtmfWindowDur + time.Duration(r.last-r.first)*dtmfHop,
	}, true
}

// release ends the key press being followed, if it was reported.
func (d *DTMFDetector) release() {
	r := &d.run
	if r.reported {
		d.released = dtmfPress{digit: r.digit, dur: dtmfWindowDur + time.Duration(r.last-r.first)*dtmfHop, ok: true}
	}
}

// Released reports the key press that ended during the last Process call:
// its digit and how long its tone lasted in all (to 2.5 ms, drop-outs
// that were bridged included). Process reports a press as soon as it is
// confirmed, before its length is known; the press ends when its tone has
// been gone for 45 ms, or at once when another digit follows it. A press
// whose audio stops arriving (the detector no longer fed) is never
// released.
func (d *DTMFDetector) Released() (digit byte, dur time.Duration, ok bool) {
	return d.released.digit, d.released.dur, d.released.ok
}

// dtmfBest returns the indexes of the largest and second largest magnitude.
func dtmfBest(x []complex128) (best, second int) {
	best, second = 0, 1
	if cmplx.Abs(x[1]) > cmplx.Abs(x[0]) {
		best, second = 1, 0
	}
	for k := 2; k < len(x); k++ {
		switch a := cmplx.Abs(x[k]); {
		case a > cmplx.Abs(x[best]):
			best, second = k, best
		case a > cmplx.Abs(x[second]):
			second = k
		}
	}
	return best, second
}

// dirichlet is Σ_{m<n} e^{jwm} without its phase: sin(nw/2)/sin(w/2).
func dirichlet(w float64, n int) float64 {
	s := math.Sin(w / 2)
	if math.Abs(s) < 1e-12 {
		return float64(n)
	}
	return math.Sin(float64(n)*w/2) / s
}

// dirichletC is Σ_{m<n} e^{jwm}.
func dirichletC(w float64, n int) complex128 {
	return cmplx.Rect(1, w*float64(n-1)/2) * complex(dirichlet(w, n), 0)
}

func sq(x float64) float64 { return x * x }

// dbRatio is the power ratio of db decibels.
func dbRatio(db float64) float64 { return math.Pow(10, db/10) }
