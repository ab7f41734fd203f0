package dsp

import (
	"math"
	"slices"
	"time"

	"github.com/tipring/tipring/boards"
)

// ToneGen renders a boards.Tone into frames. Each frequency of a segment is
// a rotating phasor: segment i's k-th frequency continues the phase of the
// previous segment's k-th frequency, so a change of frequency between
// segments or frames makes no click. After Reset the phases start at zero,
// so every tone starts from a zero crossing.
//
// A segment's ModulateHz multiplies the sum of its frequencies by the
// envelope (1 - cos 2π·ModulateHz·t)/2: full-depth amplitude modulation that
// starts from silence; each frequency reaches LevelDBm0 at the envelope's
// peak. Sums louder than full scale are clipped, as a codec would.
//
// Segments with a negative duration are skipped; a duration shorter than one
// sample lasts one sample. A LoopFrom outside the segments ends the tone as
// -1 does.
type ToneGen struct {
	segs     []genSeg
	comps    []genComp
	osc      []phasor
	mod      phasor
	loopFrom int
	cur      int   // index into segs; len(segs) once the tone has ended
	left     int64 // samples left in segs[cur] when it is finite
	acc      [boards.FrameSamples]float64
}

type genSeg struct {
	first, n int   // comps[first:first+n]
	samples  int64 // 0: until stopped
	mod      phasor
	modulate bool
}

type genComp struct {
	amp float64
	inc phasor
}

// phasor is a unit complex number kept as two floats; rotating one by a
// fixed increment per sample is cheaper than calling math.Sin per sample.
type phasor struct{ re, im float64 }

func phasorFor(hz float64) phasor {
	s, c := math.Sincos(2 * math.Pi * hz / boards.SampleRate)
	return phasor{c, s}
}

func (p phasor) mul(q phasor) phasor {
	return phasor{p.re*q.re - p.im*q.im, p.re*q.im + p.im*q.re}
}

// normalized corrects the slow drift of a repeatedly rotated phasor; one
// Newton step suffices because the drift per frame is tiny.
func (p phasor) normalized() phasor {
	g := (3 - (p.re*p.re + p.im*p.im)) / 2
	return phasor{p.re * g, p.im * g}
}

// durationSamples is d in samples, rounded, without overflowing for any d.
func durationSamples(d time.Duration) int64 {
	const per = time.Second / boards.SampleRate
	n := int64(d / per)
	if d%per >= per/2 {
		n++
	}
	return n
}

// AppendTone appends the first d of t to dst, sample for sample as a
// ToneGen started at the beginning of t plays it (a tone that ends is
// followed by silence), and returns the extended slice. It is for audio
// prepared ahead, such as test signals and files to send; live audio uses
// a ToneGen frame by frame. A d of zero or less appends nothing.
func AppendTone(dst []int16, t boards.Tone, d time.Duration) []int16 {
	return appendTone(dst, t, durationSamples(d))
}

// appendTone appends the first n samples of t.
func appendTone(dst []int16, t boards.Tone, n int64) []int16 {
	if n <= 0 {
		return dst
	}
	dst = slices.Grow(dst, int(min(n, math.MaxInt32)))
	g := NewToneGen(t)
	var f boards.Frame
	for n > 0 {
		g.Fill(&f)
		k := min(n, int64(len(f)))
		dst = append(dst, f[:k]...)
		n -= k
	}
	return dst
}

// NewToneGen returns a generator positioned at the start of t.
func NewToneGen(t boards.Tone) *ToneGen {
	g := &ToneGen{}
	g.Reset(t)
	return g
}

// Reset starts t from its beginning. It reuses the generator's memory, so
// it does not allocate unless t has more segments or frequencies than any
// tone the generator had before.
func (g *ToneGen) Reset(t boards.Tone) {
	g.segs = g.segs[:0]
	g.comps = g.comps[:0]
	g.loopFrom = -1
	slots := 0
	for i, s := range t.Segments {
		if s.Duration < 0 {
			continue
		}
		if i == t.LoopFrom {
			g.loopFrom = len(g.segs)
		}
		gs := genSeg{first: len(g.comps)}
		if s.Duration > 0 {
			gs.samples = max(1, durationSamples(s.Duration))
		}
		amp := AmplitudeForDBm0(s.LevelDBm0)
		for _, f := range s.Freqs {
			if math.IsNaN(f) || math.IsInf(f, 0) || math.IsNaN(amp) || math.IsInf(amp, 0) {
				continue
			}
			g.comps = append(g.comps, genComp{amp: amp, inc: phasorFor(f)})
			gs.n++
		}
		if m := s.ModulateHz; m != 0 && !math.IsNaN(m) && !math.IsInf(m, 0) && gs.n > 0 {
			gs.modulate = true
			gs.mod = phasorFor(m)
		}
		slots = max(slots, gs.n)
		g.segs = append(g.segs, gs)
	}
	if t.LoopFrom >= len(t.Segments) || t.LoopFrom < 0 {
		g.loopFrom = -1
	} else if g.loopFrom < 0 {
		// LoopFrom named a skipped segment: loop from the next kept one.
		for i := t.LoopFrom + 1; i < len(t.Segments); i++ {
			if t.Segments[i].Duration >= 0 {
				g.loopFrom = g.segIndex(t, i)
				break
			}
		}
	}
	if cap(g.osc) < slots {
		g.osc = make([]phasor, slots)
	}
	g.osc = g.osc[:slots]
	for i := range g.osc {
		g.osc[i] = phasor{1, 0}
	}
	g.mod = phasor{1, 0}
	g.cur = 0
	g.left = 0
	if len(g.segs) > 0 {
		g.left = g.segs[0].samples
	}
}

// segIndex maps an index of t.Segments to the index of the same segment in
// g.segs (segments with negative durations are not in g.segs).
func (g *ToneGen) segIndex(t boards.Tone, i int) int {
	n := 0
	for _, s := range t.Segments[:i] {
		if s.Duration >= 0 {
			n++
		}
	}
	return n
}

// Fill overwrites f with the next 20 ms of the tone. It returns true once a
// tone that does not loop has ended: the frame holds what was left of the
// tone followed by silence (all silence on later calls). A tone that ends
// exactly at the end of f reports true on that frame.
func (g *ToneGen) Fill(f *boards.Frame) (done bool) {
	for i := 0; i < len(f); {
		if g.cur >= len(g.segs) {
			clear(f[i:])
			break
		}
		s := &g.segs[g.cur]
		n := len(f) - i
		if s.samples > 0 {
			n = int(min(int64(n), g.left))
		}
		g.render(s, f[i:i+n])
		i += n
		if s.samples > 0 {
			g.left -= int64(n)
			if g.left == 0 {
				g.next()
			}
		}
	}
	return g.cur >= len(g.segs)
}

func (g *ToneGen) next() {
	g.cur++
	if g.cur == len(g.segs) && g.loopFrom >= 0 {
		g.cur = g.loopFrom
	}
	if g.cur < len(g.segs) {
		g.left = g.segs[g.cur].samples
	}
}

// render writes len(out) samples of segment s.
func (g *ToneGen) render(s *genSeg, out []int16) {
	if s.n == 0 {
		clear(out)
		return
	}
	acc := g.acc[:len(out)]
	clear(acc)
	for k, c := range g.comps[s.first : s.first+s.n] {
		p := g.osc[k]
		for j := range acc {
			acc[j] += c.amp * p.im
			p = p.mul(c.inc)
		}
		g.osc[k] = p.normalized()
	}
	if s.modulate {
		m := g.mod
		for j := range acc {
			acc[j] *= (1 - m.re) / 2
			m = m.mul(s.mod)
		}
		g.mod = m.normalized()
	}
	for j, v := range acc {
		out[j] = saturate(v)
	}
}
