// Package media is the RTP/RTCP media engine of a call: G.711 audio in RTP
// (github.com/pion/rtp), RTCP reports and statistics (github.com/pion/rtcp),
// SDP offer/answer (github.com/pion/sdp/v3), RFC 4733 telephone events, an
// adaptive jitter buffer and packet loss concealment.
//
// An Engine hands out Sessions, one per call, each bound to its own RTP/RTCP
// port pair. A Session's background work (reading RTP and RTCP, sending RTCP
// reports, watching for RTP timeouts) starts by itself when the session first
// has a remote party, from SetAnswer or Answer, and stops on Close; there is
// no Start method.
//
// Audio crosses the session on the board's 20 ms audio clock: WriteFrame and
// ReadFrame never block on the network and do not allocate. Each is meant to
// be called from one goroutine at a time (they may be different goroutines).
// While ReadFrame is being called, it also takes in the RTP that arrived
// since its last call, stamped with the kernel's arrival times, and the
// session's RTP read goroutine stands aside: a call then wakes the process
// once per frame, not once per frame and again per packet. On Linux both
// directions use raw non-blocking system calls, which keep the Go runtime's
// sysmon thread asleep (see rtpSocket).
package media

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"syscall"
	"time"
)

// Engine allocates media sessions from one configuration and port range. It
// is safe for concurrent use.
type Engine struct {
	set settings
	// now is the clock sessions stamp arrivals, playout and reports with;
	// tests replace it to run calls in virtual time over real sockets.
	now func() time.Time

	mu   sync.Mutex
	next int // RTP port to try first for the next session
}

// NewEngine validates cfg and returns an engine. Bad settings are errors that
// name the setting.
func NewEngine(cfg Config) (*Engine, error) {
	s, err := cfg.settings()
	if err != nil {
		return nil, err
	}
	return &Engine{set: s, now: time.Now, next: s.portMin}, nil
}

// NewSession binds the next free even/odd port pair of the range (RTP and
// RTCP) and returns a session that has not negotiated anything yet. It fails
// when every pair in the range is taken.
func (e *Engine) NewSession() (*Session, error) {
	rtpConn, rtcpConn, err := e.bindPair()
	if err != nil {
		return nil, err
	}
	return newSession(e.set, e.now, rtpConn, rtcpConn), nil
}

func (e *Engine) bindPair() (*net.UDPConn, *net.UDPConn, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	network := "udp4"
	if e.set.bind.Is6() {
		network = "udp6"
	}
	pairs := (e.set.portMax - e.set.portMin + 1) / 2
	// Round robin through the range, so a port just released is not handed
	// straight out again to catch the previous call's stray packets.
	first := (e.next - e.set.portMin) / 2
	for i := range pairs {
		port := e.set.portMin + 2*((first+i)%pairs)
		rtpConn, err := net.ListenUDP(network, net.UDPAddrFromAddrPort(netip.AddrPortFrom(e.set.bind, uint16(port))))
		if err != nil {
			if errors.Is(err, syscall.EADDRINUSE) {
				continue
			}
			return nil, nil, fmt.Errorf("media: bind RTP %s port %d: %w", e.set.bind, port, err)
		}
		rtcpConn, err := net.ListenUDP(network, net.UDPAddrFromAddrPort(netip.AddrPortFrom(e.set.bind, uint16(port+1))))
		if err != nil {
			rtpConn.Close()
			if errors.Is(err, syscall.EADDRINUSE) {
				continue
			}
			return nil, nil, fmt.Errorf("media: bind RTCP %s port %d: %w", e.set.bind, port+1, err)
		}
		e.next = port + 2
		if e.next+1 > e.set.portMax {
			e.next = e.set.portMin
		}
		return rtpConn, rtcpConn, nil
	}
	return nil, nil, fmt.Errorf("media: no free RTP/RTCP port pair in %d-%d on %s", e.set.portMin, e.set.portMax, e.set.bind)
}

// randomCNAME is the RTCP canonical name: random, since RFC 7022 advises
// against exposing user or host names.
func randomCNAME() string {
	var b [12]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	return hex.EncodeToString(b[:])
}

// ntpTime converts t to the 64-bit NTP format of RTCP sender reports.
func ntpTime(t time.Time) uint64 {
	const ntpEpochOffset = 2208988800 // seconds from 1900 to 1970
	secs := uint64(t.Unix() + ntpEpochOffset)
	frac := uint64(t.Nanosecond()) << 32 / 1e9
	return secs<<32 | frac
}
