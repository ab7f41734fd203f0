//go:build !linux || 386

package media

import (
	"net"
	"net/netip"
)

// rtpSocket, where raw system calls are not worth their keep (not Linux)
// or not available (linux/386 has only socketcall): everything goes
// through the net package, and the read goroutine always reads (ReadFrame
// never takes over, see Session.drainRTP).
type rtpSocket struct {
	conn *net.UDPConn
}

func (s *rtpSocket) init(conn *net.UDPConn) error {
	s.conn = conn
	return nil
}

func (s *rtpSocket) send(pkt []byte, dst netip.AddrPort) error {
	_, err := s.conn.WriteToUDPAddrPort(pkt, dst)
	return err
}

func (s *rtpSocket) canRecv() bool { return false }

func (s *rtpSocket) recv() (pkt []byte, from netip.AddrPort, stampNS int64, ok bool, err error) {
	return nil, from, 0, false, nil
}
