package netinfo

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"time"
)

// exchange sends each payload to target from one fresh socket, then hands
// every datagram that arrives within wait (or until ctx ends) to handle.
// Discovery answers come from many hosts, so nothing is filtered here.
func exchange(ctx context.Context, target netip.AddrPort, payloads [][]byte, gap, wait time.Duration, handle func(from netip.AddrPort, b []byte)) error {
	network := "udp4"
	if target.Addr().Is6() && !target.Addr().Is4In6() {
		network = "udp6"
	}
	conn, err := net.ListenUDP(network, nil)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	defer conn.Close()
	deadline := time.Now().Add(wait)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	if err := conn.SetReadDeadline(deadline); err != nil {
		return fmt.Errorf("set deadline: %w", err)
	}
	// Wake the read below as soon as ctx ends instead of at the deadline.
	stop := context.AfterFunc(ctx, func() { _ = conn.SetReadDeadline(time.Now()) })
	defer stop()

	sendDone := make(chan error, 1)
	quit := make(chan struct{})
	go func() {
		for i, p := range payloads {
			if i > 0 {
				select {
				case <-ctx.Done():
					sendDone <- nil
					return
				case <-quit:
					sendDone <- nil
					return
				case <-time.After(gap):
				}
			}
			if _, err := conn.WriteToUDPAddrPort(p, target); err != nil {
				sendDone <- fmt.Errorf("send to %s: %w", target, err)
				return
			}
		}
		sendDone <- nil
	}()

	buf := make([]byte, 9000) // the largest mDNS message (RFC 6762 §17)
	var readErr error
	for {
		n, from, err := conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			if !errors.Is(err, os.ErrDeadlineExceeded) && !isRefused(err) {
				readErr = fmt.Errorf("read: %w", err)
			}
			if isRefused(err) {
				continue // nobody listens at target; keep waiting for others
			}
			break
		}
		handle(netip.AddrPortFrom(from.Addr().Unmap(), from.Port()), buf[:n])
	}
	// Stop the sender; closing the socket unblocks a send in progress.
	close(quit)
	conn.Close()
	if err := <-sendDone; err != nil && readErr == nil && !errors.Is(err, net.ErrClosed) {
		return err
	}
	if readErr != nil {
		return readErr
	}
	return ctx.Err()
}
