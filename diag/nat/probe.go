package nat

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/pion/stun/v3"
)

// prober runs Binding transactions one at a time on one UDP socket. The
// RFC 5780 tests compare mappings, so every test of a series must leave
// from the same local port.
type prober struct {
	conn    *net.UDPConn
	timeout time.Duration
	buf     []byte
}

func newProber(local string, timeout time.Duration) (*prober, error) {
	laddr, err := net.ResolveUDPAddr("udp4", local)
	if err != nil {
		return nil, fmt.Errorf("local address %q: %w", local, err)
	}
	c, err := net.ListenUDP("udp4", laddr)
	if err != nil {
		return nil, fmt.Errorf("STUN socket: %w", err)
	}
	return &prober{conn: c, timeout: timeout, buf: make([]byte, 1500)}, nil
}

func (p *prober) Close() error { return p.conn.Close() }

func (p *prober) local() netip.AddrPort { return p.conn.LocalAddr().(*net.UDPAddr).AddrPort() }

// result of one transaction.
type result struct {
	response
	// from is the source address of the answer, which is what tells
	// whether a CHANGE-REQUEST was honoured.
	from netip.AddrPort
	// rtt is set only when the first transmission was answered (Karn's
	// rule: a retransmitted request gives an ambiguous round trip).
	rtt time.Duration
}

var errNoAnswer = errors.New("no answer")

// do sends a Binding request to dst with the extra setters and waits for
// the answer, retransmitting with doubling intervals (RFC 5389 section
// 7.2.1, scaled down to fit the diagnostics budget). Silence within the
// timeout is errNoAnswer: in the filtering tests it is the expected
// outcome, not a failure.
func (p *prober) do(ctx context.Context, dst netip.AddrPort, setters ...stun.Setter) (result, error) {
	req := stun.New()
	all := append([]stun.Setter{stun.TransactionID, stun.BindingRequest}, setters...)
	all = append(all, stun.Fingerprint)
	if err := req.Build(all...); err != nil {
		return result{}, fmt.Errorf("build request: %w", err)
	}
	return p.exchange(ctx, req, dst, p.conn)
}

// exchange sends req to dst from p's socket and waits for the answer on
// recv, which is another socket in the binding lifetime test.
func (p *prober) exchange(ctx context.Context, req *stun.Message, dst netip.AddrPort, recv *net.UDPConn) (result, error) {
	start := time.Now()
	end := start.Add(p.timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(end) {
		end = d
	}
	stop := context.AfterFunc(ctx, func() { recv.SetReadDeadline(time.Unix(1, 0)) })
	defer stop()

	rto := max(p.timeout/8, 20*time.Millisecond)
	next := start
	sends := 0
	for {
		now := time.Now()
		if !now.Before(end) || ctx.Err() != nil {
			if ctx.Err() != nil {
				return result{}, fmt.Errorf("Binding to %s: %w", dst, ctx.Err())
			}
			return result{}, fmt.Errorf("Binding to %s: %w after %d tries", dst, errNoAnswer, sends)
		}
		if !now.Before(next) {
			if _, err := p.conn.WriteToUDPAddrPort(req.Raw, dst); err != nil {
				return result{}, fmt.Errorf("Binding to %s: %w", dst, err)
			}
			sends++
			next = now.Add(rto)
			rto *= 2
		}
		if err := recv.SetReadDeadline(minTime(next, end)); err != nil {
			return result{}, fmt.Errorf("Binding to %s: %w", dst, err)
		}
		n, from, err := recv.ReadFromUDPAddrPort(p.buf)
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return result{}, fmt.Errorf("Binding to %s: %w", dst, err)
		}
		r, err := parseResponse(p.buf[:n], req.TransactionID)
		if errors.Is(err, errNotOurs) {
			continue
		}
		if err != nil {
			return result{}, fmt.Errorf("Binding to %s: %w", dst, err)
		}
		res := result{response: r, from: netip.AddrPortFrom(from.Addr().Unmap(), from.Port())}
		if sends == 1 {
			res.rtt = time.Since(start)
		}
		return res, nil
	}
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}
