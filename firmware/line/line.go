// Package line is the story of one phone line: one state machine per FXS
// port, fed by the board's hook and digit events and by SIP and media events.
// It decides what the person holding the handset hears at every moment: dial
// tone, ringback, the far end, busy, reorder, the special information tone,
// and what goes on the wire.
//
// Everything a line owns is touched only by its Run goroutine; the audio
// callback that the board calls every 20 ms reads one atomic pointer.
package line

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tipring/tipring/boards"
	"github.com/tipring/tipring/boards/dsp"
	"github.com/tipring/tipring/boards/region"
	"github.com/tipring/tipring/firmware/dialplan"
	"github.com/tipring/tipring/firmware/prompts"
	"github.com/tipring/tipring/meter"
	"github.com/tipring/tipring/sip"
	"github.com/tipring/tipring/sip/media"
)

// Signalling is the SIP side of one line.
type Signalling interface {
	Registered() bool
	Dial(ctx context.Context, number string, offer []byte, n sip.Negotiator) (Call, error)
}

// Call is one SIP call, either direction.
type Call interface {
	ID() string
	Remote() sip.Party
	Offer() []byte
	Events() <-chan sip.CallEvent
	Ringing() error
	Answer(sdp []byte, n sip.Negotiator) error
	Reject(code int, reason string) error
	Hangup(ctx context.Context) error
}

// MediaSession is one call's RTP session.
type MediaSession interface {
	Offer() ([]byte, error)
	SetAnswer(sdp []byte) error
	Answer(offer []byte) ([]byte, error)
	Reoffer(offer []byte) ([]byte, error)
	WriteFrame(pcm []int16)
	ReadFrame(pcm []int16)
	SendDigit(digit byte, d time.Duration) error
	Events() <-chan media.Event
	Stats() media.Stats
	Close() error
}

// Media opens RTP sessions.
type Media interface {
	NewSession() (MediaSession, error)
}

// Config is what a line needs. Port, Region, Plan, Signalling and Media are
// required.
type Config struct {
	Port       boards.Port
	Region     *region.Region
	Plan       *dialplan.Plan
	Emergency  []string // numbers dialled at once and always attempted
	Signalling Signalling
	Media      Media
	// ReorderFor is how long a failure tone (busy, reorder) plays before the
	// off-hook warning; WarningFor how long that plays before silence.
	ReorderFor time.Duration
	WarningFor time.Duration
	// NoAnswer ends an unanswered incoming call with 480.
	NoAnswer time.Duration
	// DigitDuration is the RFC 4733 duration of a digit pressed in a call:
	// the detector reports a digit when it is sure, before the key is
	// released, so the length the user held it is not known yet.
	DigitDuration time.Duration
	// Meter authorizes, meters and records calls; nil: none of that.
	Meter Meter
	// Prompts speaks the meter's announcements; nil: tones only.
	Prompts Prompts
	// BalanceCode speaks the balance (default "*225"); it takes precedence
	// over the dial plan.
	BalanceCode string
	// AnnounceLimit says "you have N minutes for this call" before a
	// metered call is dialled.
	AnnounceLimit bool
	// ReportCode (default "*47") sends a diagnostics report to support
	// with Report and speaks the ticket it returns; like BalanceCode it
	// takes precedence over the dial plan. With Report nil the code is an
	// ordinary number.
	ReportCode string
	Report     func(ctx context.Context) (ticket string, err error)
	Logger     *slog.Logger
}

// State names what the line is doing, as shown in the status API.
type State string

const (
	Idle         State = "idle"
	DialTone     State = "dialtone"
	NoService    State = "noservice"
	Collecting   State = "dialing"
	Calling      State = "calling"
	Ringback     State = "ringback"
	EarlyMedia   State = "earlymedia"
	Connected    State = "connected"
	Ringing      State = "ringing"
	Disconnected State = "disconnected" // a failure or end tone plays
	OffHookAlarm State = "warning"      // the off-hook warning plays
	Lockout      State = "lockout"      // off-hook, silent, waiting for on-hook
	Announcing   State = "announcement" // a spoken prompt plays
)

// Status is a snapshot for the management API.
type Status struct {
	Port      int       `json:"port"`
	Hook      string    `json:"hook"`
	State     State     `json:"call_state"`
	Since     time.Time `json:"since"`
	Direction string    `json:"direction,omitempty"`
	Remote    string    `json:"remote,omitempty"`
	CallID    string    `json:"call_id,omitempty"`
	// LastCause says how the last call ended ("busy (486)", "remote hung up").
	LastCause string `json:"last_cause,omitempty"`
}

// Line is one port's state machine.
type Line struct {
	cfg      Config
	log      *slog.Logger
	incoming chan Call

	// audio is what the board's audio clock reads every 20 ms.
	audio atomic.Pointer[audioPath]

	mu     sync.Mutex
	status Status

	// Owned by Run.
	state     State
	digits    string
	call      Call
	sess      MediaSession
	direction string
	early     bool // early media negotiated, waiting for or playing it
	heardFar  bool // the far end's RTP has arrived
	// pendingAnswer is our SDP answer to a ringing incoming call, sent
	// with the 200 when the phone is picked up.
	pendingAnswer []byte
	timer         *time.Timer
	timerFor      timerKind
	wg            sync.WaitGroup // background hang-ups
	// runCtx is Run's context, kept for the calls the line places: their
	// transactions end when the line stops.
	runCtx context.Context

	mcall    MeteredCall // the call's metering and record
	answered bool        // the call in progress was answered
	// Prompts: the audio clock reports the id of a finished clip on
	// promptDone; afterPrompt is what follows the current one.
	promptDone  chan uint64
	promptID    uint64
	afterPrompt func()

	// reportDone carries the result of the report the report code started;
	// reporting is set while it runs.
	reportDone chan report
	reporting  bool
}

type timerKind int

const (
	noTimer timerKind = iota
	digitTimer
	toneTimer
	warningTimer
	noAnswerTimer
)

// audioPath connects the port's audio to a media session and plays
// prompts over it.
type audioPath struct {
	sess   MediaSession         // nil for a prompt outside a call
	send   atomic.Bool          // false before answer: we listen to early media, say nothing
	prompt atomic.Pointer[clip] // a prompt to the phone, in place of the far end
}

// New checks the configuration and returns a line ready to Run.
func New(cfg Config) (*Line, error) {
	switch {
	case cfg.Port == nil:
		return nil, errors.New("line: no port")
	case cfg.Region == nil:
		return nil, errors.New("line: no region")
	case cfg.Plan == nil:
		return nil, errors.New("line: no dial plan")
	case cfg.Signalling == nil:
		return nil, errors.New("line: no signalling")
	case cfg.Media == nil:
		return nil, errors.New("line: no media")
	}
	if cfg.ReorderFor == 0 {
		cfg.ReorderFor = 30 * time.Second
	}
	if cfg.WarningFor == 0 {
		cfg.WarningFor = 60 * time.Second
	}
	if cfg.NoAnswer == 0 {
		cfg.NoAnswer = 3 * time.Minute
	}
	if cfg.DigitDuration == 0 {
		cfg.DigitDuration = 100 * time.Millisecond
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.BalanceCode == "" {
		cfg.BalanceCode = "*225"
	}
	if cfg.ReportCode == "" {
		cfg.ReportCode = "*47"
	}
	l := &Line{
		cfg:        cfg,
		log:        cfg.Logger.With("port", cfg.Port.Number()),
		incoming:   make(chan Call, 4),
		state:      Idle,
		promptDone: make(chan uint64, 1),
		reportDone: make(chan report, 1),
	}
	l.status = Status{Port: cfg.Port.Number(), Hook: "on", State: Idle, Since: time.Now()}
	return l, nil
}

// Status returns a snapshot of the line.
func (l *Line) Status() Status {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.status
}

// Incoming hands the line a new incoming call. It never blocks: a line that
// cannot take the call now answers busy.
func (l *Line) Incoming(c Call) {
	select {
	case l.incoming <- c:
	default:
		if err := c.Reject(486, "Busy Here"); err != nil {
			l.log.Warn("reject incoming call", "err", err)
		}
	}
}

// Run drives the line until ctx ends.
func (l *Line) Run(ctx context.Context) error {
	l.runCtx = ctx
	l.timer = time.NewTimer(time.Hour)
	l.timer.Stop()
	port := l.cfg.Port
	port.SetAudio(l.onAudio)
	defer func() {
		port.SetAudio(nil)
		port.StopTone()
		port.StopRing()
		l.endCall("shutdown")
		l.closeRecord(meter.End{Disposition: meter.Cancelled, Reason: "shutdown", HungUpBy: "local"})
		l.timer.Stop()
		l.wg.Wait()
	}()
	if port.OffHook() {
		l.offHook()
	}
	events := port.Events()
	for {
		var callEvents <-chan sip.CallEvent
		if l.call != nil {
			callEvents = l.call.Events()
		}
		var mediaEvents <-chan media.Event
		if l.sess != nil {
			mediaEvents = l.sess.Events()
		}
		var notices <-chan meter.Notice
		if l.mcall != nil {
			notices = l.mcall.Notices()
		}
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-events:
			if !ok {
				return errors.New("line: board closed the port")
			}
			l.onPort(ev)
		case ev, ok := <-callEvents:
			if !ok {
				l.onCallGone()
				continue
			}
			l.onCall(ev)
		case ev, ok := <-mediaEvents:
			if ok {
				l.onMedia(ev)
			}
		case n := <-notices:
			l.onNotice(n)
		case id := <-l.promptDone:
			l.onPromptDone(id)
		case r := <-l.reportDone:
			l.onReportDone(r)
		case c := <-l.incoming:
			l.onIncoming(c)
		case <-l.timer.C:
			kind := l.timerFor
			l.timerFor = noTimer
			l.onTimer(kind)
		}
	}
}

// onAudio runs on the board's audio clock.
func (l *Line) onAudio(up, down *boards.Frame) {
	a := l.audio.Load()
	if a == nil {
		return
	}
	if a.sess != nil {
		if a.send.Load() {
			a.sess.WriteFrame(up[:])
		}
		a.sess.ReadFrame(down[:])
	}
	l.playClip(a, down[:])
}

func (l *Line) setState(s State) {
	if s == l.state {
		return
	}
	l.log.Debug("line state", "from", l.state, "to", s)
	l.state = s
	l.mu.Lock()
	l.status.State = s
	l.status.Since = time.Now()
	l.mu.Unlock()
}

func (l *Line) setStatus(f func(*Status)) {
	l.mu.Lock()
	f(&l.status)
	l.mu.Unlock()
}

func (l *Line) startTimer(kind timerKind, d time.Duration) {
	l.timer.Reset(d)
	l.timerFor = kind
}

func (l *Line) stopTimer() {
	l.timer.Stop()
	l.timerFor = noTimer
}

// --- the phone ---

func (l *Line) onPort(ev boards.Event) {
	l.log.Debug("port event", "kind", ev.Kind, "digit", string(ev.Digit))
	switch ev.Kind {
	case boards.OffHook:
		l.setStatus(func(s *Status) { s.Hook = "off" })
		l.offHook()
	case boards.OnHook:
		l.setStatus(func(s *Status) { s.Hook = "on" })
		l.onHook()
	case boards.Digit:
		l.onDigit(ev)
	case boards.Flash:
		// Call waiting and transfer will use the flash; until then a flash
		// changes nothing, which is what a plain line does.
		l.log.Info("hook flash ignored", "state", l.state)
	}
}

func (l *Line) offHook() {
	switch l.state {
	case Idle:
		// Never dial tone on a dead line; emergency numbers are still
		// attempted (see onDigit).
		if l.cfg.Meter != nil && l.cfg.Meter.TakeNotice() == meter.NoticeRechargeDeclined {
			l.setState(Announcing)
			l.playPrompt([]string{prompts.RechargeDeclined}, l.dialTone)
			return
		}
		l.dialTone()
	case Ringing:
		l.answer()
	}
}

func (l *Line) onHook() {
	l.stopTimer()
	l.stopPrompt()
	l.cfg.Port.StopTone()
	l.endCall("local hang-up")
	// Authorized but not dialled yet (the limit was being announced).
	l.closeRecord(meter.End{Disposition: meter.Cancelled, Reason: "hung up before the call was placed", HungUpBy: "local"})
	l.digits = ""
	l.setState(Idle)
}

func (l *Line) onDigit(ev boards.Event) {
	switch l.state {
	case DialTone, NoService, Collecting:
	case Connected:
		if err := l.sess.SendDigit(ev.Digit, l.cfg.DigitDuration); err != nil {
			l.log.Warn("send digit", "digit", string(ev.Digit), "err", err)
		}
		return
	default:
		return
	}
	if l.state != NoService {
		// The first digit stops dial tone, and any digit stops the
		// secondary dial tone a ',' in the plan started.
		l.cfg.Port.StopTone()
		l.setState(Collecting)
	}
	l.digits += string(ev.Digit)
	if slices.Contains(l.cfg.Emergency, l.digits) {
		l.dial(l.digits, true)
		return
	}
	if act := l.starCode(l.digits); act != nil {
		act()
		return
	}
	if l.starCodePrefix(l.digits) {
		// A device code wins over a plan rule it overlaps (*xx).
		r := l.cfg.Plan.Match(l.digits)
		if r.Action != dialplan.Continue || r.Timeout == 0 {
			r.Timeout = dialplan.DefaultShortTimer
		}
		l.startTimer(digitTimer, r.Timeout)
		return
	}
	l.decide(l.cfg.Plan.Match(l.digits))
}

// decide acts on the dial plan's verdict for the digits so far.
func (l *Line) decide(r dialplan.Result) {
	noService := l.state == NoService
	switch r.Action {
	case dialplan.Continue:
		if r.SecondaryDialTone && !noService {
			l.cfg.Port.PlayTone(l.cfg.Region.Dial)
		}
		l.startTimer(digitTimer, r.Timeout)
	case dialplan.Dial:
		if noService {
			l.fail("no service", l.cfg.Region.Reorder)
			return
		}
		l.dial(r.Number, false)
	case dialplan.Block:
		l.log.Info("number blocked by the dial plan", "digits", l.digits)
		l.fail("blocked by dial plan", l.cfg.Region.Reorder)
	default:
		l.fail("no dial plan rule matches "+l.digits, l.cfg.Region.Reorder)
	}
}

func (l *Line) onTimer(kind timerKind) {
	switch kind {
	case digitTimer:
		switch l.state {
		case DialTone, NoService:
			l.fail("no digits dialled", l.cfg.Region.Reorder)
		case Collecting:
			l.decide(l.cfg.Plan.Timeout(l.digits))
		}
	case toneTimer:
		if l.state == Disconnected || l.state == NoService {
			l.cfg.Port.PlayTone(l.cfg.Region.OffHookWarning)
			l.setState(OffHookAlarm)
			l.startTimer(warningTimer, l.cfg.WarningFor)
		}
	case warningTimer:
		l.cfg.Port.StopTone()
		l.setState(Lockout)
	case noAnswerTimer:
		if l.state == Ringing && l.call != nil {
			if err := l.call.Reject(480, "Temporarily Unavailable"); err != nil {
				l.log.Warn("reject unanswered call", "err", err)
			}
			l.cfg.Port.StopRing()
			l.closeRecord(meter.End{Disposition: meter.NoAnswer, SIPCode: 480, Reason: "not answered"})
			l.dropCall()
			l.setState(Idle)
		}
	}
}

// fail plays a failure tone to an off-hook phone, then the off-hook warning.
func (l *Line) fail(cause string, tone boards.Tone) {
	l.log.Info("call not completed", "cause", cause, "tone", tone.Name)
	l.setStatus(func(s *Status) { s.LastCause = cause })
	l.cfg.Port.PlayTone(tone)
	l.setState(Disconnected)
	l.startTimer(toneTimer, l.cfg.ReorderFor)
}

// --- outgoing calls ---

func (l *Line) dial(number string, emergency bool) {
	l.stopTimer()
	l.cfg.Port.StopTone()
	if l.cfg.Meter != nil {
		mc, err := l.cfg.Meter.Authorize(meter.Attempt{
			Port: l.cfg.Port.Number(), Direction: "outgoing",
			Dialled: l.digits, Number: number, Emergency: emergency,
		})
		if r, ok := asRefusal(err); ok {
			l.refused(r)
			return
		}
		if err != nil {
			l.log.Error("meter", "err", err)
			l.fail("meter: "+err.Error(), l.cfg.Region.Reorder)
			return
		}
		l.mcall = mc
		if l.cfg.AnnounceLimit && mc.Metered() {
			minutes := int(mc.Limit() / time.Minute)
			l.setState(Announcing)
			l.playPrompt(prompts.CallLimitSentence(minutes), func() { l.place(number, emergency) })
			return
		}
	}
	l.place(number, emergency)
}

// place sends the INVITE for an authorized number.
func (l *Line) place(number string, emergency bool) {
	notPlaced := func(cause string) {
		l.closeRecord(meter.End{Disposition: meter.Failed, Reason: cause})
		l.fail(cause, l.cfg.Region.Reorder)
	}
	sess, err := l.cfg.Media.NewSession()
	if err != nil {
		l.log.Error("open media session", "err", err)
		notPlaced("no media ports")
		return
	}
	offer, err := sess.Offer()
	if err != nil {
		l.log.Error("build SDP offer", "err", err)
		closeQuietly(sess, l.log)
		notPlaced("no SDP offer")
		return
	}
	l.log.Info("dialling", "number", number, "emergency", emergency)
	call, err := l.cfg.Signalling.Dial(l.runCtx, number, offer, sess)
	if err != nil {
		l.log.Warn("INVITE not sent", "number", number, "err", err)
		closeQuietly(sess, l.log)
		notPlaced("INVITE not sent: " + err.Error())
		return
	}
	l.attach(call, sess, "outgoing")
	l.setStatus(func(s *Status) { s.Remote = number })
	l.setState(Calling)
}

func (l *Line) attach(call Call, sess MediaSession, direction string) {
	l.call, l.sess, l.direction = call, sess, direction
	l.early, l.heardFar, l.answered = false, false, false
	l.audio.Store(&audioPath{sess: sess})
	l.setStatus(func(s *Status) {
		s.CallID = call.ID()
		s.Direction = direction
		s.Remote = call.Remote().Number
		s.LastCause = ""
	})
}

func (l *Line) onCall(ev sip.CallEvent) {
	l.log.Debug("call event", "kind", ev.Kind, "code", ev.Code, "reason", ev.Reason)
	switch ev.Kind {
	case sip.Progress:
		l.onProgress(ev)
	case sip.Answered:
		l.onAnswered(ev)
	case sip.Failed:
		l.onFailed(ev)
	case sip.Ended:
		l.onEnded(ev)
	case sip.Cancelled:
		if l.state == Ringing {
			l.cfg.Port.StopRing()
			l.stopTimer()
			l.closeRecord(meter.End{Disposition: meter.Cancelled, Reason: "caller cancelled", HungUpBy: "remote"})
			l.setStatus(func(s *Status) { s.LastCause = "caller cancelled" })
			l.dropCall()
			l.setState(Idle)
		}
	}
}

func (l *Line) onProgress(ev sip.CallEvent) {
	if l.state != Calling && l.state != Ringback && l.state != EarlyMedia {
		return
	}
	if len(ev.SDP) > 0 {
		if err := l.sess.SetAnswer(ev.SDP); err != nil {
			l.log.Warn("early media SDP refused", "code", ev.Code, "err", err)
		} else {
			l.early = true
		}
	}
	switch {
	case l.early && l.heardFar:
		// The far end's own tones or announcement are what the caller
		// should hear.
		l.cfg.Port.StopTone()
		l.setState(EarlyMedia)
	case l.early || ev.Code == 180 || ev.Code == 183 || ev.Code == 181 || ev.Code == 182:
		// Early media can be negotiated long before any arrives (or never):
		// keep local ringback until it does.
		if l.state != Ringback && l.state != EarlyMedia {
			l.cfg.Port.PlayTone(l.cfg.Region.Ringback)
		}
		if l.early {
			l.setState(EarlyMedia)
		} else {
			l.setState(Ringback)
		}
	}
}

func (l *Line) onAnswered(ev sip.CallEvent) {
	if l.call == nil {
		return
	}
	if len(ev.SDP) > 0 {
		if err := l.sess.SetAnswer(ev.SDP); err != nil {
			// The far end answered with media we cannot use: say so on the
			// wire rather than leave two silent people.
			l.log.Warn("answer SDP refused; hanging up", "err", err)
			l.endCall("unusable SDP answer")
			l.fail("unusable SDP answer", l.cfg.Region.Reorder)
			return
		}
	}
	l.cfg.Port.StopTone()
	if a := l.audio.Load(); a != nil {
		a.send.Store(true)
	}
	l.answered = true
	if l.mcall != nil {
		l.mcall.Answered(ev.Contact)
	}
	l.setState(Connected)
	l.log.Info("call answered", "call_id", l.call.ID())
}

// onFailed maps a final SIP failure to the tone a caller expects.
func (l *Line) onFailed(ev sip.CallEvent) {
	if l.call == nil {
		return
	}
	cause := fmt.Sprintf("%s (%d)", ev.Reason, ev.Code)
	l.closeRecord(meter.End{Disposition: failureDisposition(ev.Code), SIPCode: ev.Code, Reason: ev.Reason, HungUpBy: "remote"})
	l.dropCall()
	l.fail(cause, FailureTone(l.cfg.Region, ev.Code))
}

// FailureTone is what a caller hears when a call fails with a SIP code.
func FailureTone(r *region.Region, code int) boards.Tone {
	switch code {
	case 486, 600:
		return r.Busy
	case 404, 484, 410, 604:
		return SITThenReorder(r)
	default:
		// 401/403 after authentication, 408, 480, 487, 5xx, timeouts and
		// anything unexpected: the network cannot complete the call.
		return r.Reorder
	}
}

// SITThenReorder is the intercept: the special information tone once, then
// reorder until the caller hangs up.
func SITThenReorder(r *region.Region) boards.Tone {
	t := boards.Tone{Name: "sit", Segments: slices.Clone(r.SIT.Segments)}
	t.LoopFrom = len(t.Segments)
	t.Segments = append(t.Segments, r.Reorder.Segments...)
	if r.Reorder.LoopFrom < 0 {
		t.LoopFrom = -1
	}
	return t
}

func (l *Line) onEnded(ev sip.CallEvent) {
	if l.call == nil {
		return
	}
	by := "remote"
	if ev.By == sip.Local {
		by = "local"
	}
	cause := by + " hung up"
	if ev.Reason != "" {
		cause += ": " + ev.Reason
	}
	wasRinging := l.state == Ringing
	l.closeRecord(meter.End{Disposition: l.endDisposition(), Reason: cause, HungUpBy: by})
	l.dropCall()
	if wasRinging {
		l.cfg.Port.StopRing()
		l.setStatus(func(s *Status) { s.LastCause = cause })
		l.setState(Idle)
		return
	}
	if l.cfg.Port.OffHook() {
		l.fail(cause, l.cfg.Region.Reorder)
	} else {
		l.setState(Idle)
	}
}

// onCallGone handles a call whose events closed without a final event.
func (l *Line) onCallGone() {
	l.onEnded(sip.CallEvent{Kind: sip.Ended, By: sip.Remote, Reason: "call ended"})
}

func (l *Line) onMedia(ev media.Event) {
	switch ev.Kind {
	case media.FirstMedia:
		l.heardFar = true
		if !l.answered && l.mcall != nil {
			l.mcall.EarlyMedia()
		}
		if l.state == EarlyMedia {
			l.cfg.Port.StopTone()
		}
	case media.DigitStart:
		if l.state == Connected {
			l.cfg.Port.PlayTone(dsp.DTMFTone(ev.Digit, 2*time.Second, boards.FrameDuration, -10))
		}
	case media.DigitEnd:
		if l.state == Connected {
			l.cfg.Port.StopTone()
		}
	case media.Timeout:
		l.log.Warn("no RTP from the far end; hanging up", "reason", ev.Reason)
		l.endCallAs(meter.End{Disposition: l.endDisposition(), Reason: "no RTP: " + ev.Reason, HungUpBy: "local"}, "no RTP: "+ev.Reason)
		if l.cfg.Port.OffHook() {
			l.fail("media timeout", l.cfg.Region.Reorder)
		} else {
			l.setState(Idle)
		}
	}
}

// --- incoming calls ---

func (l *Line) onIncoming(c Call) {
	if l.state != Idle || l.cfg.Port.OffHook() {
		// Call waiting comes later; a busy line says so.
		if err := c.Reject(486, "Busy Here"); err != nil {
			l.log.Warn("reject call while busy", "err", err)
		}
		return
	}
	offer := c.Offer()
	if len(offer) == 0 {
		// An INVITE without SDP expects our offer in the 200 and its answer
		// in the ACK; the signalling layer does not carry ACK bodies yet.
		l.rejectQuietly(c, 488, "Not Acceptable Here")
		return
	}
	sess, err := l.cfg.Media.NewSession()
	if err != nil {
		l.log.Error("open media session", "err", err)
		l.rejectQuietly(c, 503, "Service Unavailable")
		return
	}
	answer, err := sess.Answer(offer)
	if err != nil {
		l.log.Info("incoming offer refused", "err", err)
		closeQuietly(sess, l.log)
		l.rejectQuietly(c, 488, "Not Acceptable Here")
		return
	}
	if err := c.Ringing(); err != nil {
		l.log.Warn("send 180", "err", err)
	}
	l.attach(c, sess, "incoming")
	l.pendingAnswer = answer
	remote := c.Remote()
	if l.cfg.Meter != nil {
		// Incoming calls cost nothing; they are in the history all the same.
		mc, err := l.cfg.Meter.Authorize(meter.Attempt{Port: l.cfg.Port.Number(), Direction: "incoming", Dialled: remote.Number, Number: remote.Number})
		if err != nil {
			l.log.Warn("incoming call not recorded", "err", err)
		} else {
			l.mcall = mc
		}
	}
	ring := boards.Ring{Cadence: l.cfg.Region.Ring, Standard: l.cfg.Region.CallerID}
	if l.cfg.Region.CallerID != boards.CallerIDNone {
		ring.CallerID = CallerIDFor(remote, time.Now())
	}
	if err := l.cfg.Port.Ring(ring); err != nil && ring.CallerID != nil {
		// A caller ID the standard cannot carry must not stop the phone
		// from ringing.
		l.log.Warn("caller ID not sendable; ringing without it", "err", err)
		ring.CallerID = nil
		err = l.cfg.Port.Ring(ring)
		if err != nil {
			l.log.Error("ring", "err", err)
		}
	} else if err != nil {
		l.log.Error("ring", "err", err)
	}
	l.setState(Ringing)
	l.startTimer(noAnswerTimer, l.cfg.NoAnswer)
	l.log.Info("incoming call", "from", remote.Number, "call_id", c.ID())
}

// CallerIDFor turns the caller's SIP identity into what a phone display can
// show. Caller-ID standards carry only digits as the number: a SIP user
// such as "alice" becomes the name, with the number marked unavailable.
func CallerIDFor(p sip.Party, at time.Time) *boards.CallerID {
	cid := &boards.CallerID{Name: p.Name, Time: at, Withheld: p.Withheld}
	if p.Withheld {
		return cid
	}
	number := strings.TrimPrefix(p.Number, "+")
	if number != "" && len(number) <= 20 && strings.Trim(number, "0123456789") == "" {
		cid.Number = number
	} else if cid.Name == "" {
		cid.Name = p.Number
	}
	cid.Unavailable = cid.Number == ""
	return cid
}

func (l *Line) answer() {
	l.cfg.Port.StopRing()
	l.stopTimer()
	if err := l.call.Answer(l.pendingAnswer, l.sess); err != nil {
		l.log.Warn("answer failed", "err", err)
		l.closeRecord(meter.End{Disposition: meter.Failed, Reason: "answer failed: " + err.Error()})
		l.dropCall()
		l.fail("answer failed", l.cfg.Region.Reorder)
		return
	}
	if a := l.audio.Load(); a != nil {
		a.send.Store(true)
	}
	l.answered = true
	if l.mcall != nil {
		l.mcall.Answered("")
	}
	l.setState(Connected)
	l.log.Info("call answered", "call_id", l.call.ID())
}

func (l *Line) rejectQuietly(c Call, code int, reason string) {
	if err := c.Reject(code, reason); err != nil {
		l.log.Warn("reject", "code", code, "err", err)
	}
}

// --- tearing down ---

// dropCall forgets the call and closes its media; the SIP side is done.
func (l *Line) dropCall() {
	// Every path files the record first; this is the net under them.
	l.closeRecord(meter.End{Disposition: l.endDisposition(), Reason: "call dropped"})
	l.audio.Store(nil)
	if l.sess != nil {
		closeQuietly(l.sess, l.log)
	}
	l.call, l.sess, l.pendingAnswer = nil, nil, nil
	l.setStatus(func(s *Status) { s.CallID = ""; s.Direction = "" })
}

// endCall hangs up the call in progress, if any, without blocking the line:
// CANCEL or BYE transactions finish in the background.
func (l *Line) endCall(cause string) {
	l.endCallAs(meter.End{Disposition: l.endDisposition(), Reason: cause, HungUpBy: "local"}, cause)
}

// endCallAs is endCall with the record's ending spelled out.
func (l *Line) endCallAs(e meter.End, cause string) {
	if l.call == nil {
		return
	}
	l.closeRecord(e)
	call := l.call
	switch l.state {
	case Ringing:
		l.cfg.Port.StopRing()
		l.rejectQuietly(call, 480, "Temporarily Unavailable")
	default:
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := call.Hangup(ctx); err != nil {
				l.log.Warn("hang up", "err", err)
			}
			// Let the signalling layer deliver its last events.
			for {
				select {
				case _, ok := <-call.Events():
					if !ok {
						return
					}
				case <-ctx.Done():
					return
				}
			}
		}()
	}
	l.setStatus(func(s *Status) { s.LastCause = cause })
	l.dropCall()
}

func closeQuietly(s MediaSession, log *slog.Logger) {
	if err := s.Close(); err != nil {
		log.Warn("close media session", "err", err)
	}
}
