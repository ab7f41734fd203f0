package media

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtp"

	"github.com/tipring/tipring/sip/media/jitter"
)

// ErrClosed is returned by the methods of a closed session.
var ErrClosed = errors.New("media: session closed")

// errSendBufferFull: the kernel's send buffer for the RTP socket is full.
// The packet is dropped, as a full queue on the way would drop it: waiting
// would hold up the audio clock.
var errSendBufferFull = errors.New("media: RTP send buffer full, packet dropped")

// ErrNoTelephoneEvent is returned by SendDigit when the peer did not
// negotiate RFC 4733 telephone events.
var ErrNoTelephoneEvent = errors.New("media: the peer did not negotiate telephone-event")

// EventKind says what a session noticed.
type EventKind int

const (
	// DigitStart: an RFC 4733 DTMF event began (Digit set).
	DigitStart EventKind = iota + 1
	// DigitEnd: it ended (Digit and Duration set). Its end packets may have
	// been lost: then it ends when the next event starts or after 500 ms
	// without an update.
	DigitEnd
	// FirstMedia: the first RTP packet arrived from the remote.
	FirstMedia
	// Timeout: no RTP for Config.RTPTimeout on an answered session the
	// remote is not holding. Fires once per silence.
	Timeout
	// RemoteAddrChanged: a new SDP moved the remote, or we latched onto a
	// source address other than the SDP's (a NAT or media relay).
	RemoteAddrChanged
)

func (k EventKind) String() string {
	switch k {
	case DigitStart:
		return "digit-start"
	case DigitEnd:
		return "digit-end"
	case FirstMedia:
		return "first-media"
	case Timeout:
		return "timeout"
	case RemoteAddrChanged:
		return "remote-addr-changed"
	}
	return "unknown"
}

// Event is one thing a session noticed.
type Event struct {
	Kind     EventKind
	Digit    byte          // '0'-'9', '*', '#', 'A'-'D'
	Duration time.Duration // DigitEnd: the event's duration as the sender reported it
	At       time.Time
	Reason   string
}

// Stats are a session's figures so far.
type Stats struct {
	Codec string // the codec we send; "" before negotiation
	// RemoteAddr is where the SDP says the remote's RTP is; LatchedAddr where
	// it actually comes from (zero until the first packet).
	RemoteAddr, LatchedAddr netip.AddrPort
	// Packets are RTP packets (audio and telephone events); bytes are RTP
	// payload octets, as RTCP counts them. Received counts only accepted
	// packets (not foreign or malformed ones).
	PacketsSent, PacketsReceived, BytesSent, BytesReceived uint64
	// PacketsLost is RFC 3550's cumulative loss of the remote's stream
	// (negative with duplicates); FractionLost the share lost over the whole
	// call (0-1).
	PacketsLost  int64
	FractionLost float64
	// JitterMs is RFC 3550 (A.8) interarrival jitter of the remote's audio.
	JitterMs float64
	// The remote's view of our stream, from its latest RTCP report:
	// interarrival jitter and the fraction lost in its last interval (0-1).
	RemoteJitterMs, RemoteFractionLost float64
	// RTT is the round trip from the remote's last report (LSR/DLSR); zero
	// until one arrived.
	RTT time.Duration
	// AudioSent and AudioReceived are the audio carried each way.
	AudioSent, AudioReceived time.Duration
	FirstPacketAt            time.Time
	// ForeignPackets came from an address other than the latched one;
	// Malformed failed validation (bad RTP/RTCP, payload type not
	// negotiated, unconfirmed sequence jump); LateOrDuplicate arrived too
	// late to play or twice; Concealed counts 20 ms reads that had gaps
	// filled by loss concealment.
	ForeignPackets, Malformed, LateOrDuplicate, Concealed uint64
	// JitterBufferMs is the current playout delay.
	JitterBufferMs         float64
	RTCPSent, RTCPReceived uint64
	// EventsDropped counts events lost because Events() was not drained.
	EventsDropped uint64
}

const (
	frameSamples = 160
	maxDatagram  = 1500 // larger datagrams are not RTP we want
	eventsCap    = 32
	digitsCap    = 16
	dtmfStale    = 500 * time.Millisecond

	// clockedFor: a session whose ReadFrame ran this recently is clocked,
	// and ReadFrame reads its RTP socket (see drainRTP).
	clockedFor = 100 * time.Millisecond
	// maxDrain bounds the datagrams one ReadFrame takes in, so a flood
	// cannot stall the audio clock; the rest wait for the next frame.
	maxDrain = 64
	// maxArrivalAge bounds how long ago a drained datagram may count as
	// having arrived: the kernel stamps wall-clock time, which can step.
	maxArrivalAge = 2 * time.Second
)

// Who reads the RTP socket (Session.rxOwner).
const (
	rxReader int32 = iota // the read goroutine
	rxParked              // nobody: the read goroutine stands aside for ReadFrame
	rxDrain               // ReadFrame, now
)

// Session is the media of one call. Its methods are safe for concurrent
// use, with the exception noted on WriteFrame and ReadFrame.
type Session struct {
	set      settings
	now      func() time.Time // the engine's clock: time.Now except in tests
	log      *slog.Logger
	rtpConn  *net.UDPConn
	rtcpConn *net.UDPConn
	rtp      rtpSocket // raw paths on rtpConn: sending is WriteFrame's, receiving ReadFrame's
	local    netip.AddrPort
	ssrc     uint32
	cname    string
	epoch    time.Time // monotonic reference for arrival times
	wall     time.Time // epoch's wall-clock reading, for NTP timestamps
	events   chan Event
	digits   chan digitRequest
	// realEpoch is epoch on the real clock, which tells whether ReadFrame
	// is being called (tests run now in virtual time).
	realEpoch time.Time

	mu           sync.Mutex // offer/answer state and lifecycle
	sdp          localSDP
	lastSDP      string // our last SDP without its o= line: a change bumps the version
	offerPending bool   // we sent an offer that SetAnswer may answer
	established  bool
	started      bool
	closed       bool
	cancel       context.CancelFunc
	wg           sync.WaitGroup

	neg       atomic.Pointer[negotiation]
	closing   atomic.Bool
	sendLatch atomic.Pointer[netip.AddrPort] // where RTP goes once latched

	tx txState // WriteFrame's goroutine only

	// Reading RTP: the read goroutine, or ReadFrame while it is called
	// (drainRTP). rxOwner is one of rxReader, rxParked, rxDrain; resume
	// hands the socket back to the parked goroutine.
	rxOwner    atomic.Int32
	resume     chan struct{}
	lastReadNS atomic.Int64 // real time since realEpoch of the last ReadFrame; 0: never

	rxMu sync.Mutex
	rx   rxState

	jbMu sync.Mutex
	jb   *jitter.Buffer

	c counters
}

type counters struct {
	sentPackets, sentOctets, sentSamples       atomic.Uint64
	lastSendNS                                 atomic.Int64 // since epoch
	lastSentTS                                 atomic.Uint32
	received, receivedOctets, receivedSamples  atomic.Uint64
	foreign, malformed, rtcpSent, rtcpReceived atomic.Uint64
	eventsDropped                              atomic.Uint64
	lastRxNS, armedNS                          atomic.Int64 // since epoch
	timeoutFired                               atomic.Bool
	sendErrorLogged, recvErrorLogged           atomic.Bool
	// sendDropped counts RTP packets dropped on a full send buffer;
	// drained, datagrams ReadFrame took in; parks, how often the read
	// goroutine stood aside for it.
	sendDropped, drained, parks atomic.Uint64
}

func newSession(set settings, clock func() time.Time, rtpConn, rtcpConn *net.UDPConn) *Session {
	now := clock()
	local := rtpConn.LocalAddr().(*net.UDPAddr).AddrPort()
	s := &Session{
		set:      set,
		now:      clock,
		rtpConn:  rtpConn,
		rtcpConn: rtcpConn,
		local:    netip.AddrPortFrom(local.Addr().Unmap(), local.Port()),
		ssrc:     rand.Uint32(),
		cname:    randomCNAME(),
		epoch:    now,
		wall:     now.Round(0),
		events:   make(chan Event, eventsCap),
		digits:   make(chan digitRequest, digitsCap),
		resume:   make(chan struct{}, 1),
		jb:       jitter.New(set.jitter),
		sdp: localSDP{
			name:      set.sessionName,
			sessID:    rand.Uint64N(1e10),
			version:   1,
			addr:      set.advertise,
			port:      int(local.Port()),
			codecs:    set.codecs,
			offerDTMF: set.dtmfPT,
		},
	}
	s.realEpoch = time.Now()
	s.log = set.log.With("rtp", s.local.String())
	if err := s.rtp.init(rtpConn); err != nil {
		// It still works: RTP is read on the read goroutine alone.
		s.log.Info("media: ReadFrame will not read RTP", "err", err)
	}
	// RFC 3550 wants random initial sequence numbers and timestamps.
	s.tx.seq = uint16(rand.Uint32())
	s.tx.ts = rand.Uint32()
	s.tx.marker = true
	return s
}

// since is t on the session's monotonic clock.
func (s *Session) since(t time.Time) time.Duration { return t.Sub(s.epoch) }

// LocalAddr is the bound RTP address (RTCP is on the next port).
func (s *Session) LocalAddr() netip.AddrPort { return s.local }

// Events delivers what the session noticed. The channel is buffered; when
// it is full, events are dropped (and counted in Stats) rather than block
// the receive path. It is closed by Close.
func (s *Session) Events() <-chan Event { return s.events }

// emit never blocks.
func (s *Session) emit(ev Event) {
	select {
	case s.events <- ev:
	default:
		s.c.eventsDropped.Add(1)
	}
}

// Offer returns our SDP offer: our codecs in order of preference plus
// telephone-event, sendrecv, 20 ms packets. It may be called again (for an
// offer in a re-INVITE of our own, or a re-INVITE without SDP); SetAnswer
// takes the answer to the latest one.
func (s *Session) Offer() ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, ErrClosed
	}
	body, err := s.versioned(func(l *localSDP) ([]byte, error) { return l.offer() })
	if err != nil {
		return nil, fmt.Errorf("media: write SDP offer: %w", err)
	}
	s.offerPending = true
	return body, nil
}

// SetAnswer applies the remote's answer to our offer (from a 183 or a 200).
// It may be called again with the same or an updated answer. It starts the
// session's background work and sending to the remote. Errors wrapping
// ErrNoCommonCodec mean the answer has no codec we offered or refused audio.
func (s *Session) SetAnswer(answer []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	if !s.offerPending {
		return errors.New("media: SetAnswer without an offer of ours (call Offer first)")
	}
	r, err := parseSDP(answer)
	if err != nil {
		return err
	}
	n, err := s.sdp.answered(r)
	if err != nil {
		return err
	}
	s.established = true
	s.apply(n)
	return nil
}

// Answer answers a remote offer (an incoming INVITE) and starts the session.
// When errors.Is(err, ErrNoCommonCodec), the caller answers 488.
//
// We choose the first codec of Config.Codecs that the offer has (our
// preference, not the offerer's) and answer with that codec alone, plus
// telephone-event if offered, so the peer cannot switch codecs on us
// mid-call. We always send 20 ms packets, whatever a=ptime says.
func (s *Session) Answer(offer []byte) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, ErrClosed
	}
	if s.established {
		return nil, errors.New("media: session already negotiated: use Reoffer for a re-INVITE")
	}
	return s.answer(offer, noCodec)
}

// Reoffer answers an offer in a re-INVITE of the established dialog: hold,
// resume, a new address. The answer mirrors the offer's direction (sendonly
// → recvonly, recvonly → sendonly, inactive → inactive, sendrecv →
// sendrecv) and keeps the codec in use if the offer still has it. While the
// remote holds us we send no RTP and the RTP timeout is suspended. On error
// the session carries on as negotiated before.
func (s *Session) Reoffer(offer []byte) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, ErrClosed
	}
	if !s.established {
		return nil, errors.New("media: Reoffer before the session was negotiated (use Answer)")
	}
	keep := noCodec
	if n := s.neg.Load(); n != nil {
		keep = n.codec
	}
	return s.answer(offer, keep)
}

func (s *Session) answer(offer []byte, keep codec) ([]byte, error) {
	r, err := parseSDP(offer)
	if err != nil {
		return nil, err
	}
	var n *negotiation
	body, err := s.versioned(func(l *localSDP) ([]byte, error) {
		b, nn, err := l.answerTo(r, keep)
		n = nn
		return b, err
	})
	if err != nil {
		return nil, err
	}
	s.offerPending = false
	s.established = true
	s.apply(n)
	return body, nil
}

// versioned writes an SDP of ours, bumping the o= version when the content
// changed since the last one (RFC 3264 section 8). s.mu held.
func (s *Session) versioned(build func(*localSDP) ([]byte, error)) ([]byte, error) {
	body, err := build(&s.sdp)
	if err != nil {
		return nil, err
	}
	key := withoutOrigin(body)
	if key != s.lastSDP {
		if s.lastSDP != "" {
			s.sdp.version++
			if body, err = build(&s.sdp); err != nil {
				return nil, err
			}
		}
		s.lastSDP = key
	}
	return body, nil
}

func withoutOrigin(body []byte) string {
	var b strings.Builder
	for l := range strings.SplitSeq(string(body), "\r\n") {
		if !strings.HasPrefix(l, "o=") {
			b.WriteString(l)
			b.WriteString("\n")
		}
	}
	return b.String()
}

// apply publishes a negotiation and starts the session if needed. s.mu held.
func (s *Session) apply(n *negotiation) {
	old := s.neg.Load()
	moved := old != nil && old.remote != n.remote
	s.rxMu.Lock()
	if old == nil || moved {
		// A new address by SDP: whoever we latched onto is no longer it.
		s.rx.latched = netip.AddrPort{}
		s.rx.rtcpFrom = netip.AddrPort{}
		s.sendLatch.Store(nil)
	}
	s.neg.Store(n)
	s.rxMu.Unlock()
	now := s.now()
	s.c.armedNS.Store(int64(s.since(now)))
	s.c.timeoutFired.Store(false)
	if moved {
		s.emit(Event{Kind: RemoteAddrChanged, At: now, Reason: fmt.Sprintf("SDP moved the remote from %s to %s", old.remote, n.remote)})
	}
	s.log.Info("media negotiated", "codec", n.codec.String(), "pt", n.pt, "dtmf_pt", n.dtmfPT,
		"remote", n.remote.String(), "direction", n.our.String(), "held", n.held)
	if !s.started {
		s.start()
	}
}

// start launches the background work. s.mu held.
func (s *Session) start() {
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	s.started = true
	s.wg.Add(3)
	go func() {
		defer s.wg.Done()
		s.rtpLoop(ctx.Done())
	}()
	go func() {
		defer s.wg.Done()
		s.readLoop(s.rtcpConn, s.handleRTCP)
	}()
	go func() {
		defer s.wg.Done()
		s.control(ctx)
	}()
}

// rtpLoop reads RTP while nobody calls ReadFrame, and stands aside while
// somebody does: then ReadFrame reads the socket on the audio clock's
// wake-ups instead of this goroutine waking for every packet (see
// drainRTP). It checks after each packet, so it stands aside at most one
// packet after ReadFrame starts; the control goroutine's watch tick brings
// it back when ReadFrame stops (resumeReader).
func (s *Session) rtpLoop(done <-chan struct{}) {
	buf := make([]byte, maxDatagram+1) // see readLoop
	handle := s.handleRTP
	for {
		if s.clocked() {
			// Only this goroutine leaves rxReader: no other party can
			// hold the socket now.
			s.rxOwner.Store(rxParked)
			s.c.parks.Add(1)
			select {
			case <-s.resume: // resumeReader set rxReader
			case <-done:
				return
			}
			continue
		}
		if !s.readOne(s.rtpConn, buf, handle) {
			return
		}
	}
}

// clocked tells whether ReadFrame ran within clockedFor, on the real clock.
func (s *Session) clocked() bool {
	last := s.lastReadNS.Load()
	return last != 0 && time.Since(s.realEpoch)-time.Duration(last) < clockedFor
}

// resumeReader gives the RTP socket back to the read goroutine once
// ReadFrame has not been called for clockedFor. If ReadFrame is draining
// right now, the next watch tick tries again.
func (s *Session) resumeReader() {
	if !s.clocked() && s.rxOwner.CompareAndSwap(rxParked, rxReader) {
		select {
		case s.resume <- struct{}{}:
		default: // cannot happen: one token per CompareAndSwap, taken before the next
		}
	}
}

// drainRTP is ReadFrame's share of receiving: it marks the session clocked
// and, once the read goroutine stands aside, takes in every datagram
// waiting on the RTP socket (non-blocking), each with the kernel's arrival
// time mapped onto the session clock. Where that is not available
// (rtpSocket.canRecv), the goroutine reads as before.
func (s *Session) drainRTP(now time.Time) {
	if !s.rtp.canRecv() || s.closing.Load() {
		return
	}
	wall := time.Now()
	s.lastReadNS.Store(max(int64(wall.Sub(s.realEpoch)), 1))
	if !s.rxOwner.CompareAndSwap(rxParked, rxDrain) {
		return
	}
	defer s.rxOwner.Store(rxParked)
	wallNS := wall.UnixNano()
	for range maxDrain {
		pkt, from, stamp, ok, err := s.rtp.recv()
		if !ok {
			if err != nil && !s.closing.Load() && !s.c.recvErrorLogged.Swap(true) {
				s.log.Warn("media: read RTP failed (further failures not logged)", "err", err)
			}
			return
		}
		s.c.drained.Add(1)
		if !from.IsValid() { // cannot happen on a UDP socket
			s.c.malformed.Add(1)
			continue
		}
		s.handleRTP(pkt, from, arrivalAt(now, wallNS, stamp))
	}
}

// arrivalAt maps a kernel receive stamp (Unix ns; 0 for none) onto the
// session clock: as long before now as it is before the wall clock's
// wallNS, within [0, maxArrivalAge].
func arrivalAt(now time.Time, wallNS, stampNS int64) time.Time {
	if stampNS == 0 {
		return now
	}
	return now.Add(-min(max(time.Duration(wallNS-stampNS), 0), maxArrivalAge))
}

func (s *Session) readLoop(conn *net.UDPConn, handle func([]byte, netip.AddrPort, time.Time)) {
	// One byte more than we accept, so that an oversized datagram shows as
	// one instead of being silently truncated.
	buf := make([]byte, maxDatagram+1)
	for s.readOne(conn, buf, handle) {
	}
}

// readOne waits for one datagram and handles it; false when the socket is
// closed.
func (s *Session) readOne(conn *net.UDPConn, buf []byte, handle func([]byte, netip.AddrPort, time.Time)) bool {
	n, from, err := conn.ReadFromUDPAddrPort(buf)
	if err != nil {
		if s.closing.Load() || errors.Is(err, net.ErrClosed) {
			return false
		}
		s.log.Debug("media read", "err", err)
		time.Sleep(time.Millisecond) // do not spin on a persistent error
		return true
	}
	handle(buf[:n], from, s.now())
	return true
}

// control sends RTCP reports and watches for silence.
func (s *Session) control(ctx context.Context) {
	rtcpTick := time.NewTicker(s.set.rtcpInterval)
	defer rtcpTick.Stop()
	watchTick := time.NewTicker(min(max(s.set.rtpTimeout/10, 10*time.Millisecond), 500*time.Millisecond))
	defer watchTick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-rtcpTick.C:
			s.sendRTCP(s.now(), false)
		case <-watchTick.C:
			s.watch(s.now())
			s.resumeReader()
		}
	}
}

// watch fires the RTP timeout and ends DTMF events whose end was lost.
func (s *Session) watch(now time.Time) {
	if n := s.neg.Load(); n != nil && n.expect && !s.c.timeoutFired.Load() {
		last := max(s.c.lastRxNS.Load(), s.c.armedNS.Load())
		if silent := s.since(now) - time.Duration(last); silent >= s.set.rtpTimeout {
			s.c.timeoutFired.Store(true)
			s.emit(Event{Kind: Timeout, At: now, Reason: fmt.Sprintf("no RTP for %v", silent.Round(time.Millisecond))})
		}
	}
	s.rxMu.Lock()
	if d := &s.rx.dtmf; d.active && !d.ended && now.Sub(d.last) >= dtmfStale {
		s.endDigit(now)
	}
	s.rxMu.Unlock()
}

// Close stops the session's goroutines, sends an RTCP BYE and closes the
// sockets. It is idempotent.
func (s *Session) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.closing.Store(true)
	started, cancel := s.started, s.cancel
	s.mu.Unlock()

	if started {
		s.sendRTCP(s.now(), true)
		cancel()
	}
	err := errors.Join(s.rtpConn.Close(), s.rtcpConn.Close())
	s.wg.Wait()
	// ReadFrame may be taking in RTP right now, and handleRTP emits under
	// rxMu: it sees eventsClosed instead of a closed channel.
	s.mu.Lock()
	s.rxMu.Lock()
	s.rx.eventsClosed = true
	close(s.events)
	s.rxMu.Unlock()
	s.mu.Unlock()
	if err != nil {
		return fmt.Errorf("media: close: %w", err)
	}
	return nil
}

// Stats returns the session's figures so far.
func (s *Session) Stats() Stats {
	n := s.neg.Load()
	st := Stats{
		Codec:           n.codecName(),
		PacketsSent:     s.c.sentPackets.Load(),
		BytesSent:       s.c.sentOctets.Load(),
		PacketsReceived: s.c.received.Load(),
		BytesReceived:   s.c.receivedOctets.Load(),
		AudioSent:       samplesToDuration(s.c.sentSamples.Load()),
		AudioReceived:   samplesToDuration(s.c.receivedSamples.Load()),
		ForeignPackets:  s.c.foreign.Load(),
		Malformed:       s.c.malformed.Load(),
		RTCPSent:        s.c.rtcpSent.Load(),
		RTCPReceived:    s.c.rtcpReceived.Load(),
		EventsDropped:   s.c.eventsDropped.Load(),
	}
	if n != nil {
		st.RemoteAddr = n.remote
	}
	s.rxMu.Lock()
	rx := &s.rx
	st.LatchedAddr = rx.latched
	st.FirstPacketAt = rx.firstAt
	lost, expected := rx.lostBefore, rx.expectedBefore
	if rx.seq.started {
		e := rx.seq.expected()
		lost += int64(e) - int64(rx.seq.received)
		expected += uint64(e)
	}
	st.PacketsLost = lost
	if expected > 0 && lost > 0 {
		st.FractionLost = min(1, float64(lost)/float64(expected))
	}
	st.JitterMs = rx.jitter / 8
	st.RemoteJitterMs = rx.peer.jitterMs
	st.RemoteFractionLost = rx.peer.fractionLost
	st.RTT = rx.peer.rtt
	s.rxMu.Unlock()

	s.jbMu.Lock()
	js := s.jb.Stats()
	st.JitterBufferMs = float64(s.jb.Level()) / float64(time.Millisecond)
	s.jbMu.Unlock()
	st.LateOrDuplicate = js.Late + js.Duplicate
	st.Concealed = js.Concealed
	return st
}

func samplesToDuration(n uint64) time.Duration {
	return time.Duration(n) * time.Second / 8000
}

// WriteFrame sends 20 ms (160 samples) of audio from the phone: G.711
// encoded, in one RTP packet. Longer slices go out as several 160-sample
// packets. While a digit from SendDigit is being sent, telephone events
// replace the audio. Before negotiation, and while the remote holds us, it
// sends nothing. It does not block or allocate; call it from one goroutine
// at a time.
func (s *Session) WriteFrame(pcm []int16) {
	n := s.neg.Load()
	if n == nil || s.closing.Load() {
		return
	}
	for len(pcm) > 0 {
		k := min(len(pcm), frameSamples)
		s.writeChunk(n, pcm[:k])
		pcm = pcm[k:]
	}
}

// ReadFrame fills pcm (normally 160 samples) with the audio due for the
// phone now: from the jitter buffer, with gaps concealed; silence before
// anything was received. It does not block on the network or allocate; call
// it from one goroutine at a time.
//
// While it is called regularly (on the board's audio clock), ReadFrame also
// takes in the RTP that arrived since the last call, and the session's RTP
// read goroutine stands aside: one wake-up per frame instead of two. When
// the calls stop, the goroutine takes over again within a watch interval
// (at most 500 ms).
func (s *Session) ReadFrame(pcm []int16) {
	now := s.now()
	s.drainRTP(now)
	s.readFrameAt(pcm, now)
}

func (s *Session) readFrameAt(pcm []int16, now time.Time) {
	s.jbMu.Lock()
	s.jb.Read(pcm, s.since(now))
	s.jbMu.Unlock()
}

// txState is the sending side's state, owned by WriteFrame's caller.
type txState struct {
	buf    [12 + frameSamples]byte
	seq    uint16
	ts     uint32
	marker bool // the next audio packet starts a talkspurt
	digit  txDigit
	gap    int // audio frames still due before the next digit may start
}

// sendRTP sends one packet to the remote (latched) address.
func (s *Session) sendRTP(n *negotiation, pkt []byte, payload int, samples uint32) {
	dst := n.remote
	if p := s.sendLatch.Load(); p != nil {
		dst = *p
	}
	if err := s.rtp.send(pkt, dst); err != nil {
		if err == errSendBufferFull {
			s.c.sendDropped.Add(1)
		}
		if !s.closing.Load() && !s.c.sendErrorLogged.Swap(true) {
			s.log.Warn("media: send RTP failed (further failures not logged)", "to", dst.String(), "err", err)
		}
		return
	}
	s.c.sentPackets.Add(1)
	s.c.sentOctets.Add(uint64(payload))
	s.c.sentSamples.Add(uint64(samples))
	s.c.lastSendNS.Store(int64(s.since(s.now())))
	s.c.lastSentTS.Store(s.tx.ts)
}

// writeChunk sends up to one frame of audio, or a telephone event in its
// place.
func (s *Session) writeChunk(n *negotiation, pcm []int16) {
	tx := &s.tx
	samples := uint32(len(pcm))
	if !tx.digit.active && tx.gap == 0 {
		select {
		case d := <-s.digits:
			tx.digit = newTxDigit(d, tx.ts)
		default:
		}
	}
	if tx.digit.active {
		if n.send && n.dtmfPT >= 0 {
			s.sendEvent(n, samples)
			tx.ts += samples
			return
		}
		tx.digit.active = false // put on hold mid-digit: drop it
	}
	if tx.gap > 0 {
		tx.gap--
	}
	if !n.send {
		tx.marker = true
		tx.ts += samples
		return
	}
	if pkt, payload := s.buildAudio(n, pcm); pkt != nil {
		s.sendRTP(n, pkt, payload, samples)
	}
	tx.seq++
	tx.marker = false
	tx.ts += samples
}

// buildAudio writes the RTP packet for pcm into the send buffer. We build
// the header ourselves: pion's Packetizer would set the marker bit on every
// G.711 packet.
func (s *Session) buildAudio(n *negotiation, pcm []int16) (pkt []byte, payload int) {
	tx := &s.tx
	h := rtp.Header{Version: 2, Marker: tx.marker, PayloadType: n.pt, SequenceNumber: tx.seq, Timestamp: tx.ts, SSRC: s.ssrc}
	hn, err := h.MarshalTo(tx.buf[:])
	if err != nil { // cannot happen: the buffer fits a plain header
		return nil, 0
	}
	m := n.codec.encode(tx.buf[hn:], pcm)
	return tx.buf[:hn+m], m
}
