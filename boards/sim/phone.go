package sim

import (
	"errors"
	"math"
	"time"

	"github.com/tipring/tipring/boards"
	"github.com/tipring/tipring/boards/dsp"
)

// heardFrames is how much received audio the phone keeps for `heard`.
const heardFrames = 10 * 1000 / 20

// MaxHeardMs is the longest `heard` request: what the phone keeps.
const MaxHeardMs = heardFrames * 20

// Ring timeouts the phone uses to decide a ringing episode is over.
const (
	ringTimeoutUnmeasured = 4500 * time.Millisecond
	ringTimeoutMargin     = 500 * time.Millisecond
)

// Errors a phone action can end with; the control API maps them to 409.
var (
	errInterrupted = errors.New("interrupted by another action on the phone")
	errHungUp      = errors.New("interrupted: the phone was hung up")
	errCancelled   = errors.New("cancelled: the request went away")
)

// job is an action the phone carries out over time (dialling, sending, a
// flash). done is closed when it ends; err is written before that, under
// the port lock, and read only after done.
type job struct {
	done chan struct{}
	err  error
}

func newJob() *job { return &job{done: make(chan struct{})} }

func (j *job) finish(err error) {
	if j == nil {
		return
	}
	j.err = err
	close(j.done)
}

// hookStep is one scheduled movement of the hook switch.
type hookStep struct {
	at  time.Time
	off bool
}

// hookScript moves the hook switch at planned times (pulse dialling, a
// flash); it ends at end, which may be after its last step (the pause that
// ends the last pulse digit).
type hookScript struct {
	steps []hookStep
	next  int
	end   time.Time
	job   *job
}

// copper is what the phone can do to the line: move its hook switch. The
// board's side of the port implements it; the phone learns nothing back.
type copper interface {
	hookChanged(off bool, at time.Time)
	// wakeClock: the phone started something that takes frames (speaking,
	// a hook script), so the line's audio clock must run.
	wakeClock()
}

// phone is the virtual telephone on one port. It senses only what arrives
// on its copper pair — audio frames, ring voltage and polarity — and acts
// only through its hook switch and its microphone. Its methods are called
// with the port lock held.
type phone struct {
	line copper

	offHook bool
	script  *hookScript

	// The microphone: a tone generator (DTMF digits, test tones) or PCM
	// (a WAV) being spoken into the line.
	micGen  *dsp.ToneGen
	micTone bool
	micPCM  []int16
	micPos  int
	micJob  *job

	listener *dsp.Listener
	cidRx    *dsp.CallerIDReceiver
	callerID *CallerIDState

	heard    [heardFrames]boards.Frame
	heardPos int // next frame to write
	heardN   int // frames written, up to heardFrames
	// pausedAt is the time of the last frame heard before the audio clock
	// stopped; zero while it runs. The frames not taken since were
	// silence.
	pausedAt time.Time

	// quiet counts the frames of digital silence heard in a row, up to
	// settle; saidSilence caches that the listener has said so since.
	quiet       int
	settle      int
	saidSilence bool

	ring     ringMeter
	reversed bool
	device   Device
}

func newPhone(line copper, tones []boards.Tone, std boards.CallerIDStandard) *phone {
	return &phone{
		line:     line,
		micGen:   dsp.NewToneGen(boards.Tone{LoopFrom: -1}),
		listener: dsp.NewListener(tones),
		cidRx:    dsp.NewCallerIDReceiver(std),
		device:   DefaultDevice(),
		settle:   settleFrames(tones),
	}
}

// setHook is a person moving the hook switch: it cancels whatever the
// phone was doing with it (a flash, pulse dialling), and going on-hook
// also ends what the phone was saying.
func (p *phone) setHook(off bool, at time.Time) {
	if p.script != nil {
		p.script.job.finish(errInterrupted)
		p.script = nil
	}
	if !off {
		p.stopMic(errHungUp)
	}
	p.switchHook(off, at)
}

// switchHook moves the hook switch; the line sees the transition at once,
// timestamped when it happened.
func (p *phone) switchHook(off bool, at time.Time) {
	if off == p.offHook {
		return
	}
	p.offHook = off
	if off {
		// Answering ends the ringing episode for the phone; the caller ID
		// receiver only listens while on-hook.
		p.ring.answered(at)
	} else {
		p.cidRx.Reset()
	}
	p.line.hookChanged(off, at)
}

// runScript is a hook script's clock: it moves the hook switch at every
// step that is due by now, with the step's own timestamp, so pulse timing
// is exact whatever the frame rate.
func (p *phone) runScript(now time.Time) {
	s := p.script
	if s == nil {
		return
	}
	for s.next < len(s.steps) && !s.steps[s.next].at.After(now) {
		st := s.steps[s.next]
		s.next++
		p.switchHook(st.off, st.at)
	}
	if s.next == len(s.steps) && !s.end.After(now) {
		p.script = nil
		s.job.finish(nil)
	}
}

func (p *phone) startScript(s *hookScript) {
	if p.script != nil {
		p.script.job.finish(errInterrupted)
	}
	p.script = s
	p.line.wakeClock()
}

func (p *phone) cancelJob(j *job) {
	switch {
	case p.script != nil && p.script.job == j:
		p.script = nil
		j.finish(errCancelled)
	case p.micJob == j:
		p.stopMic(errCancelled)
	}
}

// sayTone starts speaking t into the microphone.
func (p *phone) sayTone(t boards.Tone, j *job) {
	p.stopMic(errInterrupted)
	p.micGen.Reset(t)
	p.micTone = true
	p.micJob = j
	p.line.wakeClock()
}

// sayPCM starts speaking samples into the microphone.
func (p *phone) sayPCM(pcm []int16, j *job) {
	p.stopMic(errInterrupted)
	p.micPCM = pcm
	p.micPos = 0
	p.micJob = j
	p.line.wakeClock()
}

func (p *phone) stopMic(err error) {
	p.micTone = false
	p.micPCM = nil
	p.micPos = 0
	if p.micJob != nil {
		p.micJob.finish(err)
		p.micJob = nil
	}
}

// speak fills up with the next frame from the microphone. What is being
// said goes on while the hook switch is briefly open (pulse dialling) but
// the line carries nothing then.
func (p *phone) speak(up *boards.Frame) {
	*up = boards.Frame{}
	var done bool
	switch {
	case p.micTone:
		done = p.micGen.Fill(up)
	case p.micPCM != nil:
		n := copy(up[:], p.micPCM[p.micPos:])
		p.micPos += n
		done = p.micPos >= len(p.micPCM)
	}
	if done {
		p.stopMic(nil)
	}
	if !p.offHook {
		*up = boards.Frame{}
	}
}

// listen is the earpiece and the ringer: one frame of received audio, the
// ring voltage during it and the line's polarity.
func (p *phone) listen(down *boards.Frame, ringing, reversed bool, now time.Time) {
	p.reversed = reversed
	p.listener.Process(down)
	if !p.offHook {
		if cid, ok := p.cidRx.Process(down); ok {
			p.callerID = &CallerIDState{
				Number:      cid.Number,
				Name:        cid.Name,
				At:          now,
				Withheld:    cid.Withheld,
				Unavailable: cid.Unavailable,
			}
			p.cidRx.Reset()
		}
	}
	p.record(down)
	if isSilence(down) {
		p.quiet = min(p.quiet+1, p.settle)
	} else {
		p.quiet = 0
		p.saidSilence = false
	}
	if p.ring.sense(ringing && !p.offHook, now) && p.callerID != nil && p.callerID.At.Before(p.ring.lastEnd) {
		// A new ringing episode: a caller ID from before the previous one
		// ended belongs to an older call.
		p.callerID = nil
	}
}

func (p *phone) record(f *boards.Frame) {
	p.heard[p.heardPos] = *f
	p.heardPos = (p.heardPos + 1) % heardFrames
	p.heardN = min(p.heardN+1, heardFrames)
}

func isSilence(f *boards.Frame) bool {
	for _, v := range f {
		if v != 0 {
			return false
		}
	}
	return true
}

// settled reports whether the phone has heard digital silence long enough
// that more of it would change nothing: the listener says "silence" (at
// the floor level, its whole level window being silent), no tone it
// heard can still be in one of its gaps, and the caller-ID receiver has
// dropped anything half received. Hearing is asked once per stretch of
// silence, when the count is reached.
func (p *phone) settled() bool {
	if p.quiet < p.settle {
		return false
	}
	if !p.saidSilence {
		p.saidSilence = p.listener.Hearing().Name == "silence"
	}
	return p.saidSilence
}

// pause: the audio clock stops after the frame of at.
func (p *phone) pause(at time.Time) {
	p.pausedAt = at
}

// resume: the audio clock runs again with the frame of at next. The
// frames it did not take were silence, and the recording keeps them so.
func (p *phone) resume(at time.Time) {
	if p.pausedAt.IsZero() {
		return
	}
	n := min(max(int(at.Sub(p.pausedAt)/boards.FrameDuration)-1, 0), heardFrames)
	p.pausedAt = time.Time{}
	var zero boards.Frame
	for range n {
		p.record(&zero)
	}
}

// pausedFrames is how many frames the audio clock has not taken by now
// since it stopped.
func (p *phone) pausedFrames(now time.Time) int {
	if p.pausedAt.IsZero() {
		return 0
	}
	return max(int(now.Sub(p.pausedAt)/boards.FrameDuration), 0)
}

// recording returns the last ms of received audio, as of now (fewer if
// the phone has not heard that much yet). While the audio clock stands
// still, what the phone hears is silence, so that is what the recording
// ends with.
func (p *phone) recording(ms int, now time.Time) []int16 {
	frames := min((ms+19)/20, p.heardN+p.pausedFrames(now))
	pad := min(p.pausedFrames(now), frames)
	out := make([]int16, 0, frames*boards.FrameSamples)
	for i := frames - pad; i > 0; i-- {
		f := &p.heard[(p.heardPos-i+heardFrames)%heardFrames]
		out = append(out, f[:]...)
	}
	out = append(out, make([]int16, pad*boards.FrameSamples)...)
	if want := ms * boards.SampleRate / 1000; len(out) > want {
		out = out[len(out)-want:]
	}
	return out
}

func (p *phone) state(port int) PhoneState {
	h := p.listener.Hearing()
	st := PhoneState{
		Port:          port,
		Hook:          "on",
		Ringing:       p.ring.ringing,
		Rings:         p.ring.rings,
		Hearing:       h.Name,
		ToneHz:        append([]float64{}, h.FreqsHz...),
		LevelDBm0:     h.LevelDBm0,
		RingCadenceMs: p.ring.cadenceMs(),
		Polarity:      "normal",
		Device:        p.device,
	}
	if p.offHook {
		st.Hook = "off"
	}
	if p.reversed {
		st.Polarity = "reversed"
	}
	if p.callerID != nil {
		c := *p.callerID
		st.CallerID = &c
	}
	if math.IsNaN(st.LevelDBm0) || st.LevelDBm0 < dsp.FloorDBm0 {
		// JSON cannot carry -Inf or NaN.
		st.LevelDBm0 = dsp.FloorDBm0
	}
	return st
}

// maxCadencePairs bounds the ring bursts the phone remembers per episode;
// no real cadence has more than a few bursts per period.
const maxCadencePairs = 16

// ringMeter is the phone's ringer: it measures ring bursts and the gaps
// between them from the ring voltage alone.
type ringMeter struct {
	ringing bool
	rings   int
	inBurst bool
	start   time.Time // of the current burst
	onDur   time.Duration
	// lastEnd is when the last burst ended, or when the episode ended.
	lastEnd time.Time
	// timeout is how long a gap may last before the episode is over.
	timeout time.Duration
	// pairs are the complete on/off pairs of this episode, in order.
	pairs [maxCadencePairs][2]time.Duration
	n     int
}

// sense takes the ring voltage for one frame and reports whether a new
// ringing episode started.
func (m *ringMeter) sense(voltage bool, now time.Time) (newEpisode bool) {
	switch {
	case voltage && !m.inBurst:
		if !m.ringing {
			newEpisode = true
			m.ringing = true
			m.rings = 0
			m.n = 0
			m.timeout = ringTimeoutUnmeasured
		} else {
			m.addPair(m.onDur, now.Sub(m.lastEnd))
		}
		m.inBurst = true
		m.start = now
		m.rings++
	case !voltage && m.inBurst:
		m.inBurst = false
		m.onDur = now.Sub(m.start)
		m.lastEnd = now
	case !voltage && m.ringing && now.Sub(m.lastEnd) > m.timeout:
		m.ringing = false
		m.lastEnd = now
	}
	return newEpisode
}

// addPair records a complete burst and gap, and sets the timeout: the
// longest gap measured plus a margin. Until the cadence has repeated, a
// longer gap may still be to come (the UK's 2 s after a 200 ms one), so
// the timeout stays at least the unmeasured one.
func (m *ringMeter) addPair(on, off time.Duration) {
	if m.n == maxCadencePairs {
		copy(m.pairs[:], m.pairs[1:])
		m.n--
	}
	m.pairs[m.n] = [2]time.Duration{on, off}
	m.n++
	var longest time.Duration
	for _, p := range m.pairs[:m.n] {
		longest = max(longest, p[1])
	}
	m.timeout = longest + ringTimeoutMargin
	if 2*m.period() > m.n {
		m.timeout = max(m.timeout, ringTimeoutUnmeasured)
	}
}

// period is the smallest number of on/off pairs with which everything
// measured in the episode repeats (all of them when nothing repeats).
func (m *ringMeter) period() int {
	pairs := m.pairs[:m.n]
	for p := 1; p < len(pairs); p++ {
		if periodic(pairs, p) {
			return p
		}
	}
	return len(pairs)
}

// answered: going off-hook trips the ring, and the phone knows it.
func (m *ringMeter) answered(at time.Time) {
	if m.ringing || m.inBurst {
		m.ringing = false
		m.inBurst = false
		m.lastEnd = at
	}
}

// cadenceMs reports the last complete period of the cadence: the smallest
// number of on/off pairs with which everything measured in the episode
// repeats, aligned with the episode's first burst. Before a period has
// repeated, that is every pair measured so far.
func (m *ringMeter) cadenceMs() []int {
	pairs := m.pairs[:m.n]
	k := m.period()
	out := make([]int, 0, 2*k)
	if k == 0 {
		return out
	}
	last := len(pairs) / k * k
	for _, pr := range pairs[last-k : last] {
		out = append(out, int(pr[0].Milliseconds()), int(pr[1].Milliseconds()))
	}
	return out
}

// periodic reports whether pairs repeat every p pairs, within what frame
// quantisation and a sloppy ring generator allow.
func periodic(pairs [][2]time.Duration, p int) bool {
	for i := p; i < len(pairs); i++ {
		if !near(pairs[i][0], pairs[i-p][0]) || !near(pairs[i][1], pairs[i-p][1]) {
			return false
		}
	}
	return true
}

func near(a, b time.Duration) bool {
	d := a - b
	if d < 0 {
		d = -d
	}
	return d <= 60*time.Millisecond || d <= max(a, b)/10
}
