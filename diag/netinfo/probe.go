package netinfo

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"syscall"
	"time"
)

// Probe methods.
const (
	MethodUDP = "udp" // time the ICMP port-unreachable (or any reply) to a datagram
	MethodTCP = "tcp" // time the SYN-ACK or RST of a connection attempt
)

// ProbeOptions tune a probe series.
type ProbeOptions struct {
	Count    int           // probes to send; default 5
	Interval time.Duration // between the starts of probes; default 200 ms
	Timeout  time.Duration // wait for one reply; default 1 s, enough for a satellite link
	// Method is MethodUDP, MethodTCP, or "" to try UDP first and fall back
	// to TCP when the first UDP probe gets no answer at all.
	Method  string
	TCPPort uint16 // port for TCP probes; default the target's port
	Payload []byte // UDP payload; default a short marker
}

// ProbeResult sums up a probe series.
type ProbeResult struct {
	Target   netip.AddrPort  `json:"target"`
	Method   string          `json:"method"`
	Sent     int             `json:"sent"`
	Received int             `json:"received"`
	LossPct  float64         `json:"loss_pct"`
	Min      time.Duration   `json:"min_ns"`
	Avg      time.Duration   `json:"avg_ns"`
	Max      time.Duration   `json:"max_ns"`
	Jitter   time.Duration   `json:"jitter_ns"` // mean absolute difference of consecutive RTTs
	RTTs     []time.Duration `json:"rtts_ns"`   // of the answered probes, in order
}

// Probe measures latency, jitter and loss to target with n probes spaced by
// interval, without ICMP privileges: UDP to the target's port first, TCP
// connection timing when UDP draws no answer. Cut short by ctx, it reports
// the probes that completed and ctx's error.
func Probe(ctx context.Context, target netip.AddrPort, n int, interval time.Duration) (ProbeResult, error) {
	return ProbeWith(ctx, target, ProbeOptions{Count: n, Interval: interval})
}

// ProbeWith is Probe with every option.
func ProbeWith(ctx context.Context, target netip.AddrPort, o ProbeOptions) (ProbeResult, error) {
	if !target.IsValid() || target.Port() == 0 {
		return ProbeResult{}, fmt.Errorf("probe: target %q needs an address and a port", target)
	}
	if o.Count < 0 || o.Interval < 0 || o.Timeout < 0 {
		return ProbeResult{}, errors.New("probe: count, interval and timeout must not be negative")
	}
	if o.Count == 0 {
		o.Count = 5
	}
	if o.Interval == 0 {
		o.Interval = 200 * time.Millisecond
	}
	if o.Timeout == 0 {
		o.Timeout = time.Second
	}
	if o.TCPPort == 0 {
		o.TCPPort = target.Port()
	}
	if o.Payload == nil {
		o.Payload = []byte("tipring probe")
	}
	res := ProbeResult{Target: target, Method: o.Method}
	switch o.Method {
	case MethodUDP, MethodTCP:
	case "":
		// One probe decides the method and counts as the first of the series.
		res.Method = MethodUDP
		rtt, ok, err := probeOnce(ctx, MethodUDP, target, o)
		if err != nil {
			return res, err
		}
		if !ok {
			res.Method = MethodTCP
			rtt, ok, err = probeOnce(ctx, MethodTCP, target, o)
			if err != nil {
				return res, err
			}
		}
		res.Sent++
		if ok {
			res.RTTs = append(res.RTTs, rtt)
		}
		o.Count--
	default:
		return ProbeResult{}, fmt.Errorf("probe: method %q is not udp or tcp", o.Method)
	}
	start := time.Now()
	for i := 0; i < o.Count; i++ {
		if res.Sent > 0 {
			// Space probes from the series' start so a slow answer does
			// not stretch the series.
			next := start.Add(time.Duration(i) * o.Interval)
			if res.Method != o.Method { // the method probe came first
				next = next.Add(o.Interval)
			}
			if err := sleepUntil(ctx, next); err != nil {
				return res.summarise(), err
			}
		}
		rtt, ok, err := probeOnce(ctx, res.Method, target, o)
		if err != nil {
			return res.summarise(), err
		}
		res.Sent++
		if ok {
			res.RTTs = append(res.RTTs, rtt)
		}
	}
	return res.summarise(), nil
}

func sleepUntil(ctx context.Context, t time.Time) error {
	d := time.Until(t)
	if d <= 0 {
		return ctx.Err()
	}
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-ctx.Done():
		return fmt.Errorf("probe: %w", ctx.Err())
	case <-tm.C:
		return nil
	}
}

// probeOnce sends one probe. ok is false when no answer came within the
// timeout; err is set only when the probe could not be made or ctx ended
// before it completed (then it is not counted at all).
func probeOnce(ctx context.Context, method string, target netip.AddrPort, o ProbeOptions) (time.Duration, bool, error) {
	pctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	var (
		rtt time.Duration
		ok  bool
		err error
	)
	if method == MethodTCP {
		rtt, ok, err = probeTCP(pctx, netip.AddrPortFrom(target.Addr(), o.TCPPort))
	} else {
		rtt, ok, err = probeUDP(pctx, target, o.Payload)
	}
	if ctx.Err() != nil {
		return 0, false, fmt.Errorf("probe: %w", ctx.Err())
	}
	return rtt, ok, err
}

// probeUDP uses a fresh connected socket per probe: Linux reports the ICMP
// port-unreachable for a connected UDP socket as ECONNREFUSED on the next
// read, without privileges, and a fresh socket keeps a late answer to an
// earlier probe from being timed as this one's.
func probeUDP(ctx context.Context, target netip.AddrPort, payload []byte) (time.Duration, bool, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "udp", target.String())
	if err != nil {
		return 0, false, fmt.Errorf("probe udp %s: %w", target, err)
	}
	conn := c.(*net.UDPConn)
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		if err := conn.SetReadDeadline(dl); err != nil {
			return 0, false, fmt.Errorf("probe udp: %w", err)
		}
	}
	stop := context.AfterFunc(ctx, func() { _ = conn.SetReadDeadline(time.Now()) })
	defer stop()
	buf := make([]byte, 1500)
	start := time.Now()
	if _, err := conn.Write(payload); err != nil {
		if isRefused(err) {
			// An unreachable left over on this socket cannot exist, so a
			// refusal here is this probe's answer arriving very fast.
			return time.Since(start), true, nil
		}
		return 0, false, fmt.Errorf("probe udp %s: %w", target, err)
	}
	_, err = conn.Read(buf)
	rtt := time.Since(start)
	switch {
	case err == nil, isRefused(err):
		return rtt, true, nil
	case errors.Is(err, os.ErrDeadlineExceeded):
		return 0, false, nil
	default:
		// Host or network unreachable (ICMP type 3 codes 0 and 1) mean the
		// probe was lost on the way, not answered by the target.
		return 0, false, nil
	}
}

// probeTCP times a connection attempt: a SYN-ACK (open port) and a RST
// (closed port) both answer within one round trip.
func probeTCP(ctx context.Context, target netip.AddrPort) (time.Duration, bool, error) {
	var d net.Dialer
	start := time.Now()
	c, err := d.DialContext(ctx, "tcp", target.String())
	rtt := time.Since(start)
	if err == nil {
		c.Close()
		return rtt, true, nil
	}
	if isRefused(err) {
		return rtt, true, nil
	}
	return 0, false, nil
}

func (r ProbeResult) summarise() ProbeResult {
	r.Received = len(r.RTTs)
	r.Min, r.Avg, r.Max, r.Jitter, r.LossPct = 0, 0, 0, 0, 0
	if r.Sent > 0 {
		r.LossPct = 100 * float64(r.Sent-r.Received) / float64(r.Sent)
	}
	if r.Received == 0 {
		return r
	}
	var sum, jsum time.Duration
	r.Min, r.Max = r.RTTs[0], r.RTTs[0]
	for i, t := range r.RTTs {
		sum += t
		r.Min = min(r.Min, t)
		r.Max = max(r.Max, t)
		if i > 0 {
			jsum += (t - r.RTTs[i-1]).Abs()
		}
	}
	r.Avg = sum / time.Duration(r.Received)
	if r.Received > 1 {
		r.Jitter = jsum / time.Duration(r.Received-1)
	}
	return r
}

func isRefused(err error) bool { return errors.Is(err, syscall.ECONNREFUSED) }
