package sip

import (
	"fmt"
	"log/slog"
	"net"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
)

// Everything tipring needs to know about sipgo's package-level state lives
// in this file.
//
// sipgo keeps process-wide globals: the transaction timers (sip.T1, sip.T2,
// sip.T4 and Timer_A..Timer_M, set by sip.SetTimers), sip.UDPMTUSize, the
// connection idle policy sip.TransportIdleConnection, the debug switch
// sip.SIPDebug with its tracer (sip.SIPDebugTracer), and the fallback logger
// (sip.SetDefaultLogger). The UA writes none of them: they are shared by
// every user of sipgo in the process (and by parallel tests), so changing
// one would change behaviour far from here. Instead:
//
//   - our own timing (2xx retransmission, how long a request may wait, the
//     ACK wait) uses Config.Timers; sipgo's transactions keep their default
//     RFC 3261 timers (T1 = 500 ms, 64×T1 = 32 s) underneath and we simply
//     give up on a transaction earlier when Config.Timers says so;
//   - tracing is done by wrapping the sockets (transport.go), not with
//     sip.SIPDebug;
//   - logging goes through the loggers passed in the options below; the few
//     sipgo log lines that always use the default logger are debug-level;
//   - the UDP size limit below restates sipgo's rule so we can fail with a
//     clear message before sipgo fails with a vague one.

// maxUDPMessage is the largest message sipgo sends over UDP: it refuses
// anything over sip.UDPMTUSize-200 (1300 bytes by default, RFC 3261 18.1.1).
func maxUDPMessage() int { return sip.UDPMTUSize - 200 }

func checkUDPSize(msg sip.Message) error {
	n := len(msg.String())
	if limit := maxUDPMessage(); n > limit {
		return fmt.Errorf("message is %d bytes, over the %d-byte UDP limit: keep the SDP lean or use TCP", n, limit)
	}
	return nil
}

// newSipgo builds sipgo's transport and transaction layers for one UA.
func newSipgo(name string, log *slog.Logger, unhandled func(*sip.Response)) (*sipgo.UserAgent, error) {
	ua, err := sipgo.NewUA(
		sipgo.WithUserAgent(name),
		// Destinations are always resolved by us to IP addresses, so sipgo's
		// resolver is never consulted; it only needs a non-nil one.
		sipgo.WithUserAgentDNSResolver(net.DefaultResolver),
		sipgo.WithUserAgentTransportLayerOptions(
			sip.WithTransportLayerLogger(log),
		),
		sipgo.WithUserAgentTransactionLayerOptions(
			sip.WithTransactionLayerLogger(log),
			sip.WithTransactionLayerUnhandledResponseHandler(unhandled),
		),
	)
	if err != nil {
		return nil, fmt.Errorf("sipgo user agent: %w", err)
	}
	return ua, nil
}
