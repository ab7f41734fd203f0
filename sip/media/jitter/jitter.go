// Package jitter is an adaptive playout buffer for 8 kHz audio carried in RTP.
//
// Packets are placed by RTP timestamp into a preallocated ring of samples, so
// reordering needs no sorting and any packet size works. The playout point
// follows the sender's clock: a packet's "transit" is its arrival time minus
// its timestamp, the smallest recent transit is the network's base delay, and
// a packet's deviation from that base is how late the network made it. The
// playout delay (how long after its base arrival a sample is played) grows at
// once to cover the largest recent deviation and shrinks slowly when the
// network calms down. Changes of delay are applied by repeating (concealing)
// or dropping a whole frame, preferably when the audio is quiet.
package jitter

import (
	"time"

	"github.com/tipring/tipring/sip/media/plc"
)

// Config bounds the playout delay. Zero fields take the defaults.
type Config struct {
	Target time.Duration // the delay to start with; default 40 ms
	Min    time.Duration // default 20 ms
	Max    time.Duration // default 200 ms; at most MaxDelay
}

// Defaults and limits.
const (
	DefaultTarget = 40 * time.Millisecond
	DefaultMin    = 20 * time.Millisecond
	DefaultMax    = 200 * time.Millisecond
	// MaxDelay bounds Config.Max: the ring holds four times Max.
	MaxDelay = 2 * time.Second
	// MaxPacket is the longest packet, in samples, that Put accepts.
	MaxPacket = 2048
)

const (
	usPerSample = 125 // 8 kHz
	// A read of one frame needs the packet holding its last sample, which
	// the sender sent up to a frame later than the one holding its first;
	// plus a little margin for scheduling of the reading clock.
	frameAllowance = 20_000 + 5_000 // µs
	window         = 5 * time.Second
	// Shrink by this much, at most once per shrinkEvery, once the delay has
	// not had to grow for calmFor.
	shrinkStep  = 5_000 // µs
	shrinkEvery = time.Second
	calmFor     = 2 * time.Second
	// Hysteresis for applying the delay: stretch when this far below it,
	// drop when this far above, regardless of the audio when further still.
	stretchBelow = 10_000 // µs
	dropAbove    = 20_000
	forceBelow   = 30_000
	forceAbove   = 60_000
	// A frame with mean magnitude below this (about -40 dBm0) is quiet
	// enough to stretch or drop unnoticed.
	quietLevel = 150
	// Deviations this large are not jitter but a jump of the sender's
	// timestamps: start over.
	resyncLate  = 2_000_000 // µs
	resyncEarly = 1_000_000
	// This many packets in a row arriving after their playout time also
	// means the timestamps jumped (backwards), not that the network is slow.
	resyncLateRun = 5
)

// Put results.
type PutResult int

const (
	Stored    PutResult = iota
	Late                // every sample was due before the packet arrived
	Duplicate           // the samples were already buffered
	Rejected            // empty or longer than MaxPacket
)

// Buffer is one stream's playout buffer. It is not safe for concurrent use.
type Buffer struct {
	minDelay, maxDelay, target int64 // µs

	ring []int16
	have []uint64 // one bit per ring slot: a sample is buffered
	mask int64

	conceal plc.Concealer

	started  bool  // a packet was stored since the last reset
	anchored bool  // play is tied to the clock (first Read after a restart)
	play     int64 // extended timestamp of the next sample to play
	ref      int64 // extended timestamp used to unwrap the next one
	newest   int64 // extended end of the newest buffered audio
	first    int64 // extended timestamp the current timeline started at
	lateRun  int

	minCur, minPrev   int64 // smallest transit, this window and the last (µs)
	peakCur, peakPrev int64 // largest deviation, this window and the last (µs)
	winStart          time.Duration

	delay      int64 // playout delay aimed at (µs)
	level      int64 // playout delay at the last Read (µs)
	lastGrow   time.Duration
	lastShrink time.Duration
	lastLevel  int  // mean magnitude of the last frame played
	urgent     bool // a packet came too late: grow now, audible or not

	stats Stats
}

// Stats are the buffer's counters.
type Stats struct {
	Late, Duplicate uint64
	// Concealed counts reads that had to invent samples while later audio
	// was already buffered: real gaps, not the silence after a stream ends.
	Concealed uint64
	Stretched uint64 // frames inserted to grow the delay
	Dropped   uint64 // frames dropped to shrink it
	Resyncs   uint64 // restarts after a timestamp jump
}

// New returns a buffer for cfg; bad bounds are corrected into a sane order
// (callers validate configuration; the buffer never fails).
func New(cfg Config) *Buffer {
	if cfg.Target <= 0 {
		cfg.Target = DefaultTarget
	}
	if cfg.Min <= 0 {
		cfg.Min = DefaultMin
	}
	if cfg.Max <= 0 {
		cfg.Max = DefaultMax
	}
	cfg.Max = min(cfg.Max, MaxDelay)
	cfg.Min = min(cfg.Min, cfg.Max)
	cfg.Target = min(max(cfg.Target, cfg.Min), cfg.Max)

	size := int64(8192)
	for size < 4*cfg.Max.Microseconds()/usPerSample || size < 4*MaxPacket {
		size *= 2
	}
	b := &Buffer{
		minDelay: cfg.Min.Microseconds(),
		maxDelay: cfg.Max.Microseconds(),
		target:   cfg.Target.Microseconds(),
		ring:     make([]int16, size),
		have:     make([]uint64, size/64),
		mask:     size - 1,
	}
	b.delay = b.target
	return b
}

// Reset forgets the stream (as on a change of SSRC) but keeps the recent
// audio for a smooth join. The delay goes back to the target.
func (b *Buffer) Reset() {
	b.started = false
	b.level = 0
	b.anchored = false
	b.delay = b.target
	b.lateRun = 0
	clear(b.have)
}

// Stats returns the counters.
func (b *Buffer) Stats() Stats { return b.stats }

// Delay is the playout delay the buffer currently aims at.
func (b *Buffer) Delay() time.Duration { return time.Duration(b.delay) * time.Microsecond }

// Level is the playout delay at the last Read: how long after its earliest
// possible arrival the audio was played. Zero before anything was played.
func (b *Buffer) Level() time.Duration { return time.Duration(b.level) * time.Microsecond }

// Put buffers one packet of decoded audio whose first sample has RTP
// timestamp ts, received at now (any monotonic clock shared with Read).
func (b *Buffer) Put(ts uint32, pcm []int16, now time.Duration) PutResult {
	n := int64(len(pcm))
	if n == 0 || n > MaxPacket {
		return Rejected
	}
	at := now.Microseconds()
	if !b.started {
		b.restart(ts, now)
	}
	ext := b.ref + int64(int32(ts-uint32(b.ref)))
	transit := at - ext*usPerSample
	if dev := transit - min(b.minCur, b.minPrev); dev > resyncLate || dev < -resyncEarly {
		b.resync(ts, now)
		ext, transit = b.ref, at-b.ref*usPerSample
	}

	if now-b.winStart >= window {
		b.minPrev, b.peakPrev = b.minCur, b.peakCur
		b.minCur, b.peakCur = transit, 0
		b.winStart = now
	}
	b.minCur = min(b.minCur, transit)
	dev := transit - min(b.minCur, b.minPrev)
	b.peakCur = max(b.peakCur, dev)
	if need := b.clamp(dev + frameAllowance); need > b.delay {
		b.delay = need
		b.lastGrow = now
	}

	off := ext - b.play
	if off+n <= 0 {
		b.stats.Late++
		b.lateRun++
		if b.lateRun >= resyncLateRun {
			b.resync(ts, now)
			return b.store(b.ref, pcm)
		}
		b.missed(now)
		return Late
	}
	b.lateRun = 0
	if off+n > int64(len(b.ring)) {
		// Too far ahead of playout to buffer: the timestamps jumped.
		b.resync(ts, now)
		ext = b.ref
	}
	b.ref = ext
	if off < 0 {
		// Partly late: the head was already concealed, the tail can play.
		b.stats.Late++
		b.missed(now)
	}
	return b.store(ext, pcm)
}

// missed grows the delay after a packet came too late: the estimate missed
// it, so allow more than it says, and apply the growth at once rather than
// wait for a quiet frame (the listener has heard the gap already).
func (b *Buffer) missed(now time.Duration) {
	if grown := b.clamp(b.delay + 10_000); grown > b.delay {
		b.delay = grown
		b.lastGrow = now
	}
	b.urgent = true
}

// store writes the samples of pcm that are not yet due.
func (b *Buffer) store(ext int64, pcm []int16) PutResult {
	first := max(b.play-ext, 0)
	if b.isSet(ext + first) {
		b.stats.Duplicate++
		return Duplicate
	}
	for i := first; i < int64(len(pcm)); i++ {
		slot := (ext + i) & b.mask
		b.ring[slot] = pcm[i]
		b.have[slot>>6] |= 1 << (slot & 63)
	}
	b.newest = max(b.newest, ext+int64(len(pcm)))
	return Stored
}

// resync restarts after a jump of the sender's timestamps. What the jump
// did to the delay estimate says nothing about the network: forget it.
func (b *Buffer) resync(ts uint32, now time.Duration) {
	b.stats.Resyncs++
	b.delay = b.target
	b.restart(ts, now)
}

// restart begins a new timeline at the packet (ts, now): playout will start
// delay after it once the next Read anchors the clock.
func (b *Buffer) restart(ts uint32, now time.Duration) {
	clear(b.have)
	ext := int64(ts)
	transit := now.Microseconds() - ext*usPerSample
	b.ref = ext
	b.play = ext - b.delay/usPerSample
	b.newest = ext
	b.first = ext
	b.minCur, b.minPrev = transit, transit
	b.peakCur, b.peakPrev = 0, 0
	b.winStart = now
	b.lastGrow = now
	b.lateRun = 0
	b.urgent = false
	b.started = true
	b.anchored = false
}

func (b *Buffer) clamp(d int64) int64 { return min(max(d, b.minDelay), b.maxDelay) }

func (b *Buffer) isSet(ext int64) bool {
	slot := ext & b.mask
	return b.have[slot>>6]&(1<<(slot&63)) != 0
}

// movePlay sets the playout point, forgetting samples that fall out of the
// ring's window [play, play+len(ring)).
func (b *Buffer) movePlay(to int64) {
	size := int64(len(b.ring))
	d := to - b.play
	switch {
	case d >= size || -d >= size:
		clear(b.have)
	case d > 0:
		b.clearRange(b.play, d)
	case d < 0:
		b.clearRange(to+size, -d)
	}
	b.play = to
}

func (b *Buffer) clearRange(from, n int64) {
	for i := range n {
		slot := (from + i) & b.mask
		b.have[slot>>6] &^= 1 << (slot & 63)
	}
}

// ReadResult says what a Read produced.
type ReadResult int

const (
	Silence   ReadResult = iota // nothing has been received yet
	Played                      // all samples were buffered audio
	Concealed                   // some samples were invented
)

// Read fills out with the audio due at now.
func (b *Buffer) Read(out []int16, now time.Duration) ReadResult {
	if !b.started {
		clear(out)
		return Silence
	}
	at := now.Microseconds()
	base := min(b.minCur, b.minPrev)
	if !b.anchored {
		b.movePlay((at - base - b.delay) / usPerSample)
		b.anchored = true
	}
	b.shrink(now)

	n := int64(len(out))
	cur := at - base - b.play*usPerSample // how long after its base arrival we play b.play
	switch {
	case cur > b.delay+forceAbove && b.emptyAhead(n):
		// Far behind with nothing to play: jump rather than creep.
		b.movePlay((at - base - b.delay) / usPerSample)
	case cur > b.delay+forceAbove || (cur > b.delay+dropAbove && b.levelAhead(n) < quietLevel):
		b.movePlay(b.play + n)
		b.stats.Dropped++
	case cur < b.delay-forceBelow || (cur < b.delay-stretchBelow && (b.urgent || b.lastLevel < quietLevel)):
		// Play a frame of concealment without consuming any: the delay grows
		// by one frame.
		b.conceal.Conceal(out)
		b.lastLevel = meanMagnitude(out)
		b.level = cur
		b.stats.Stretched++
		return Concealed
	}
	b.level = at - base - b.play*usPerSample
	if b.level >= b.delay-stretchBelow {
		b.urgent = false
	}
	return b.readAt(out)
}

// readAt plays len(out) samples from b.play.
func (b *Buffer) readAt(out []int16) ReadResult {
	n := int64(len(out))
	missing := false
	primed := b.conceal.Primed()
	for i := int64(0); i < n; {
		present := b.isSet(b.play + i)
		j := i + 1
		for j < n && b.isSet(b.play+j) == present {
			j++
		}
		seg := out[i:j]
		if present {
			for k := range seg {
				slot := (b.play + i + int64(k)) & b.mask
				seg[k] = b.ring[slot]
				b.have[slot>>6] &^= 1 << (slot & 63)
			}
			b.conceal.Good(seg)
		} else {
			b.conceal.Conceal(seg)
			missing = true
		}
		i = j
	}
	b.play += n
	b.lastLevel = meanMagnitude(out)
	if !missing {
		return Played
	}
	// The play point was advanced above: a gap lies between audio of this
	// timeline if it started before the gap and later audio is here.
	if primed && b.play-n >= b.first && b.newest > b.play {
		b.stats.Concealed++
	}
	return Concealed
}

// shrink lowers the delay slowly while the network stays calm.
func (b *Buffer) shrink(now time.Duration) {
	if now-b.lastGrow < calmFor || now-b.lastShrink < shrinkEvery {
		return
	}
	need := b.clamp(max(b.peakCur, b.peakPrev) + frameAllowance)
	if b.delay > need {
		b.delay = max(need, b.delay-shrinkStep)
		b.lastShrink = now
	}
}

func (b *Buffer) emptyAhead(n int64) bool {
	for i := range n {
		if b.isSet(b.play + i) {
			return false
		}
	}
	return true
}

// levelAhead is the mean magnitude of the next n samples (missing ones count
// as silence).
func (b *Buffer) levelAhead(n int64) int {
	var sum int
	for i := range n {
		if b.isSet(b.play + i) {
			v := int(b.ring[(b.play+i)&b.mask])
			sum += max(v, -v)
		}
	}
	return sum / int(max(n, 1))
}

func meanMagnitude(s []int16) int {
	var sum int
	for _, v := range s {
		sum += max(int(v), -int(v))
	}
	return sum / max(len(s), 1)
}
