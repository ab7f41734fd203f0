// Package plc hides lost audio: it fills gaps in 8 kHz speech by repeating
// the last pitch period with a fading gain, in the manner of ITU-T G.711
// Appendix I, and smooths the joins when real audio resumes.
//
// The differences from Appendix I are deliberate: we add no algorithmic
// delay (Appendix I holds 3.75 ms back so it can rewrite the samples before a
// loss; on a telephone line that delay is worth more than the smoother first
// join), and a Concealer works on any run length, not just 10 ms frames, so a
// jitter buffer can conceal exactly the samples it is missing.
package plc

// Pitch search range and history, as in Appendix I: 5-15 ms periods (66-200 Hz
// fundamentals) and 48.75 ms of history, enough for three of the longest
// periods plus a quarter period of overlap.
const (
	pitchMin = 40
	pitchMax = 120
	histLen  = 3*pitchMax + pitchMax/4
	corrLen  = 160 // 20 ms of signal matched against its past

	// Gain: unity for the first 10 ms of a gap, then down 20% per 10 ms, so
	// the output is silent 60 ms into the gap.
	unityLen = 80
	fadeLen  = 400

	// The longest join between concealment and resumed audio.
	maxJoin = 80
)

// Concealer keeps the recent history of one audio stream. The zero value is
// ready to use; it is not safe for concurrent use.
type Concealer struct {
	hist   [histLen]int16 // the last histLen samples played, oldest first
	filled int            // how many of hist are real (after a reset)

	erasing bool
	erased  int            // samples concealed in the current gap
	snap    [histLen]int16 // the history as it was when the gap began
	pitch   int
	periods int                 // how many pitch periods the loop currently spans
	cycle   [3 * pitchMax]int16 // the looped waveform, with its end blended into its start
	pos     int                 // position in cycle
}

// Reset forgets the history, as after a change of source.
func (c *Concealer) Reset() { *c = Concealer{} }

// Primed reports whether the concealer has heard any audio to continue.
func (c *Concealer) Primed() bool { return c.filled > 0 }

// Erasing reports whether the last samples handed out were concealment.
func (c *Concealer) Erasing() bool { return c.erasing }

// Good hands the concealer samples that were received. If they end a gap,
// the start of pcm is cross-faded from the concealment into the real signal
// (pcm is modified in place) so that the join does not click.
func (c *Concealer) Good(pcm []int16) {
	if c.erasing {
		c.join(pcm)
	}
	c.push(pcm)
}

// Conceal fills out with a continuation of the stream's recent past; before
// any audio was received that is silence.
func (c *Concealer) Conceal(out []int16) {
	if c.filled == 0 {
		clear(out)
		return
	}
	if !c.erasing {
		c.begin()
	}
	for i := range out {
		out[i] = c.next()
	}
	c.push(out)
}

func (c *Concealer) begin() {
	c.erasing = true
	c.erased = 0
	c.pos = 0
	c.pitch = c.findPitch()
	// Concealed output joins the history as it is played; the loops must
	// keep being cut from the real audio before the gap.
	c.snap = c.hist
	c.periods = 0
	c.setPeriods(1)
}

// next produces one concealed sample.
func (c *Concealer) next() int16 {
	// Looping one period for long sounds buzzy; Appendix I widens the loop
	// to two periods after 10 ms and three after 20 ms.
	switch c.erased {
	case unityLen:
		c.setPeriods(2)
	case 2 * unityLen:
		c.setPeriods(3)
	}
	n := c.periods * c.pitch
	v := int32(c.cycle[c.pos])
	c.pos++
	if c.pos >= n {
		c.pos = 0
	}
	g := gainQ15(c.erased)
	c.erased++
	return int16(v * g >> 15)
}

// gainQ15 is the concealment gain after e concealed samples, in Q15.
func gainQ15(e int) int32 {
	switch {
	case e < unityLen:
		return 1 << 15
	case e >= unityLen+fadeLen:
		return 0
	}
	return int32(unityLen+fadeLen-e) << 15 / fadeLen
}

// setPeriods rebuilds the loop to span k pitch periods of the history,
// keeping the position on the same point of the waveform.
func (c *Concealer) setPeriods(k int) {
	p := c.pitch
	if c.filled < k*p+p/4 {
		if c.periods == 0 {
			k = 1
		} else {
			return // not enough history for a wider loop; keep the current one
		}
	}
	old := c.periods
	c.periods = k
	n := k * p
	start := histLen - n
	copy(c.cycle[:n], c.snap[start:])
	// Blend the loop's last quarter period into the quarter period that
	// preceded its start, so the wrap from end to start is continuous.
	q := p / 4
	if q > 0 && start-q >= 0 {
		for i := range q {
			w := int32(i+1) << 15 / int32(q+1) // weight of the pre-start samples
			a := int32(c.cycle[n-q+i])
			b := int32(c.snap[start-q+i])
			c.cycle[n-q+i] = int16((a*(1<<15-w) + b*w) >> 15)
		}
	}
	if old > 0 {
		// Position pos in a loop of old periods and pos+(k-old)*p in the
		// wider loop refer to the same point one or more periods apart.
		c.pos = (c.pos + (k-old)*p) % n
	}
}

// join cross-fades from the concealment into the resumed signal.
func (c *Concealer) join(pcm []int16) {
	// Longer gaps have drifted further from the real signal; give them a
	// longer join (a quarter period plus 4 ms per 10 ms lost after the first).
	n := c.pitch/4 + 32*max(0, c.erased/unityLen-1)
	n = min(max(n, 8), maxJoin, len(pcm))
	for i := range n {
		w := int32(i+1) << 15 / int32(n+1) // weight of the real signal
		s := int32(c.next())
		pcm[i] = int16((s*(1<<15-w) + int32(pcm[i])*w) >> 15)
	}
	c.erasing = false
}

// push appends samples to the history.
func (c *Concealer) push(s []int16) {
	if len(s) >= histLen {
		copy(c.hist[:], s[len(s)-histLen:])
	} else {
		copy(c.hist[:], c.hist[len(s):])
		copy(c.hist[histLen-len(s):], s)
	}
	c.filled = min(histLen, c.filled+len(s))
}

// findPitch returns the lag, in samples, at which the last corrLen samples
// best match the history before them (normalised cross-correlation). The
// sums are integers: boards without an FPU emulate floating point slowly,
// so only the 81 scores use it.
func (c *Concealer) findPitch() int {
	x := c.hist[:]
	end := histLen
	best, bestLag := 0.0, pitchMin
	var energy int64 // of the lagged window, updated as the lag grows
	for i := end - corrLen - pitchMin; i < end-pitchMin; i++ {
		energy += int64(int32(x[i]) * int32(x[i]))
	}
	for lag := pitchMin; lag <= pitchMax; lag++ {
		if lag > pitchMin {
			// slide the lagged window one sample back
			in, out := int32(x[end-corrLen-lag]), int32(x[end-lag])
			energy += int64(in*in) - int64(out*out)
		}
		var corr int64
		for i := end - corrLen; i < end; i++ {
			corr += int64(int32(x[i]) * int32(x[i-lag]))
		}
		if corr <= 0 || energy <= 0 {
			continue
		}
		// corr²/energy ranks lags like the normalised correlation, sign
		// already checked, without a square root.
		score := float64(corr) * float64(corr) / float64(energy)
		if score > best {
			best, bestLag = score, lag
		}
	}
	return bestLag
}
