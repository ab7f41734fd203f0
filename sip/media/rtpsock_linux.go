//go:build linux && !386

// linux/386 is left out: it reaches the socket calls through socketcall(2)
// and its syscall package has no SYS_SENDTO or SYS_RECVMSG.

package media

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"syscall"
	"unsafe"
)

// rtpSocket is the session's RTP socket as the audio clock uses it: sendto
// and recvmsg as raw system calls inside the net package's RawConn.
//
// Why raw: every system call through the net package goes through the Go
// scheduler's syscall path, and entersyscall wakes the runtime's sysmon
// thread when it sleeps, which then polls every 20-40 µs until the process
// is idle again (docs/performance.md, "Where tipring's CPU goes"). That is
// several wake-ups per 20 ms frame for a few µs of work. The socket is
// non-blocking (the net package made it so, and we pass MSG_DONTWAIT too),
// so a raw system call cannot hold the thread. RawConn.Read/Write hold the
// descriptor's reference, so a concurrent Close cannot make us use a
// descriptor number the kernel has handed out again.
//
// The send half belongs to WriteFrame's caller, the receive half to
// ReadFrame's: each has its own buffers and callback, prepared once so that
// neither path allocates.
type rtpSocket struct {
	conn *net.UDPConn
	raw  syscall.RawConn // nil: the raw paths are off, conn does it all
	v6   bool            // an AF_INET6 socket (it sends to IPv4 as v4-mapped)
	tx   rawSend
	rx   rawRecv
}

const (
	sizeofSockaddrInet4 = 16
	sizeofSockaddrInet6 = 28
)

type rawSend struct {
	dst   netip.AddrPort // the destination sa is for
	err   error          // why dst cannot be sent to from this socket
	sa    [sizeofSockaddrInet6]byte
	salen uintptr
	pkt   []byte // the datagram, for the length of one call
	errno syscall.Errno
	call  func(fd uintptr) bool
}

type rawRecv struct {
	on    bool // kernel timestamps are on: ReadFrame may take over reading
	buf   [maxDatagram + 1]byte
	name  [sizeofSockaddrInet6]byte
	ctl   [64]byte // room for one SCM_TIMESTAMPNS (32 bytes on 64-bit)
	iov   syscall.Iovec
	msg   syscall.Msghdr
	n     int
	errno syscall.Errno
	call  func(fd uintptr) bool
	// The zone of the last link-local source, by interface index: looking
	// a name up allocates, and a call has one source.
	zoneIndex uint32
	zone      string
}

// init takes the socket's RawConn and turns on kernel receive timestamps.
// On error the session still works: sending through conn when there is no
// RawConn, receiving on the read goroutine alone when there are no
// timestamps.
func (s *rtpSocket) init(conn *net.UDPConn) error {
	s.conn = conn
	s.v6 = !conn.LocalAddr().(*net.UDPAddr).AddrPort().Addr().Is4()
	raw, err := conn.SyscallConn()
	if err != nil {
		return fmt.Errorf("media: raw RTP socket: %w", err)
	}
	s.tx.call = s.tx.sendto
	s.raw = raw

	r := &s.rx
	r.iov.Base = &r.buf[0]
	r.iov.SetLen(len(r.buf))
	r.msg.Name = &r.name[0]
	r.msg.Iov = &r.iov
	r.msg.Iovlen = 1
	r.msg.Control = &r.ctl[0]
	r.call = r.recvmsg

	// Arrival times must be the kernel's: ReadFrame drains the socket once
	// per 20 ms frame, and stamping packets with the time of the drain
	// would quantise them to the frame clock and inflate the interarrival
	// jitter and the jitter buffer's delay. Without them (qemu-user, for
	// one, refuses the option) the read goroutine keeps reading.
	var serr error
	if err := raw.Control(func(fd uintptr) {
		serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_TIMESTAMPNS, 1)
	}); err != nil {
		return fmt.Errorf("media: RTP socket timestamps: %w", err)
	}
	if serr != nil {
		return fmt.Errorf("media: RTP socket timestamps (SO_TIMESTAMPNS): %w", serr)
	}
	r.on = true
	return nil
}

func (t *rawSend) sendto(fd uintptr) bool {
	_, _, t.errno = syscall.RawSyscall6(syscall.SYS_SENDTO, fd,
		uintptr(unsafe.Pointer(unsafe.SliceData(t.pkt))), uintptr(len(t.pkt)),
		syscall.MSG_DONTWAIT, uintptr(unsafe.Pointer(&t.sa[0])), t.salen)
	return true // never wait on the poller: a full buffer drops the packet
}

// send sends one datagram to dst without blocking. errSendBufferFull means
// it was dropped.
func (s *rtpSocket) send(pkt []byte, dst netip.AddrPort) error {
	if s.raw == nil || dst.Addr().Zone() != "" {
		// A zone needs an interface index the net package knows how to
		// look up; link-local media is too rare to do it ourselves.
		_, err := s.conn.WriteToUDPAddrPort(pkt, dst)
		return err
	}
	t := &s.tx
	if dst != t.dst || t.salen == 0 && t.err == nil {
		t.dst = dst
		t.salen, t.err = putSockaddr(&t.sa, dst, s.v6)
	}
	if t.err != nil {
		return t.err
	}
	t.pkt = pkt
	err := s.raw.Write(t.call)
	t.pkt = nil
	switch {
	case err != nil:
		return err
	case t.errno == syscall.EAGAIN:
		return errSendBufferFull
	case t.errno != 0:
		return t.errno
	}
	return nil
}

// putSockaddr writes dst as a struct sockaddr_in (or sockaddr_in6 for an
// AF_INET6 socket, IPv4 as v4-mapped) and returns its length.
func putSockaddr(sa *[sizeofSockaddrInet6]byte, dst netip.AddrPort, v6 bool) (uintptr, error) {
	clear(sa[:])
	a := dst.Addr()
	binary.BigEndian.PutUint16(sa[2:], dst.Port())
	switch {
	case !a.IsValid():
		return 0, fmt.Errorf("media: no address to send RTP to (%v)", dst)
	case !v6 && !a.Unmap().Is4():
		return 0, fmt.Errorf("media: cannot send RTP to %v from an IPv4 socket", dst)
	case !v6:
		binary.NativeEndian.PutUint16(sa[0:], syscall.AF_INET)
		a4 := a.Unmap().As4()
		copy(sa[4:8], a4[:])
		return sizeofSockaddrInet4, nil
	}
	binary.NativeEndian.PutUint16(sa[0:], syscall.AF_INET6)
	a16 := a.As16() // IPv4 comes out v4-mapped
	copy(sa[8:24], a16[:])
	return sizeofSockaddrInet6, nil
}

// canRecv tells whether recv works: ReadFrame may take over reading.
func (s *rtpSocket) canRecv() bool { return s.rx.on }

func (r *rawRecv) recvmsg(fd uintptr) bool {
	r.msg.Namelen = uint32(len(r.name))
	r.msg.SetControllen(len(r.ctl))
	r.msg.Flags = 0
	n, _, errno := syscall.RawSyscall6(syscall.SYS_RECVMSG, fd,
		uintptr(unsafe.Pointer(&r.msg)), syscall.MSG_DONTWAIT, 0, 0, 0)
	r.n, r.errno = int(n), errno
	return true // never wait on the poller: ReadFrame must not block
}

// recv takes one datagram waiting on the socket, without blocking. ok is
// false when none is waiting (or on error). stampNS is the kernel's receive
// time (Unix nanoseconds, CLOCK_REALTIME), 0 if it gave none. pkt is valid
// until the next call.
func (s *rtpSocket) recv() (pkt []byte, from netip.AddrPort, stampNS int64, ok bool, err error) {
	r := &s.rx
	for {
		if err := s.raw.Read(r.call); err != nil {
			return nil, from, 0, false, err
		}
		if r.errno != syscall.EINTR {
			break
		}
	}
	switch r.errno {
	case 0:
	case syscall.EAGAIN:
		return nil, from, 0, false, nil
	default:
		return nil, from, 0, false, r.errno
	}
	from, scope, _ := parseSockaddr(r.name[:min(int(r.msg.Namelen), len(r.name))])
	if scope != 0 {
		from = netip.AddrPortFrom(from.Addr().WithZone(r.zoneName(scope)), from.Port())
	}
	stampNS, _ = controlTimestamp(r.ctl[:min(int(r.msg.Controllen), len(r.ctl))])
	return r.buf[:min(r.n, len(r.buf))], from, stampNS, true, nil
}

// zoneName names an interface the way the net package does for a source
// address, so both reading paths latch onto the same address.
func (r *rawRecv) zoneName(index uint32) string {
	if index != r.zoneIndex {
		r.zoneIndex = index
		r.zone = strconv.FormatUint(uint64(index), 10)
		if ifi, err := net.InterfaceByIndex(int(index)); err == nil {
			r.zone = ifi.Name
		}
	}
	return r.zone
}

// parseSockaddr reads a struct sockaddr_in or sockaddr_in6 as the kernel
// wrote it. scope is an IPv6 scope ID (interface index), 0 for none.
func parseSockaddr(b []byte) (ap netip.AddrPort, scope uint32, ok bool) {
	if len(b) < 4 {
		return ap, 0, false
	}
	port := binary.BigEndian.Uint16(b[2:])
	switch binary.NativeEndian.Uint16(b) {
	case syscall.AF_INET:
		if len(b) < 8 {
			return ap, 0, false
		}
		return netip.AddrPortFrom(netip.AddrFrom4([4]byte(b[4:8])), port), 0, true
	case syscall.AF_INET6:
		if len(b) < 24 {
			return ap, 0, false
		}
		if len(b) >= sizeofSockaddrInet6 {
			scope = binary.NativeEndian.Uint32(b[24:])
		}
		return netip.AddrPortFrom(netip.AddrFrom16([16]byte(b[8:24])), port), scope, true
	}
	return ap, 0, false
}

// controlTimestamp finds the SCM_TIMESTAMPNS message among the control
// messages of a recvmsg and returns its time in Unix nanoseconds. It reads
// the bytes itself: syscall.ParseSocketControlMessage allocates.
func controlTimestamp(b []byte) (int64, bool) {
	const (
		ptr     = int(unsafe.Sizeof(uintptr(0)))
		hdrSize = syscall.SizeofCmsghdr
		tsSize  = int(unsafe.Sizeof(syscall.Timespec{}))
	)
	align := func(n uint64) uint64 { return (n + uint64(ptr) - 1) &^ uint64(ptr-1) }
	dataAt := int(align(hdrSize))
	for len(b) >= hdrSize {
		// struct cmsghdr: a size_t length, then int level and type.
		var length uint64
		if hdrSize == 16 {
			length = binary.NativeEndian.Uint64(b)
		} else {
			length = uint64(binary.NativeEndian.Uint32(b))
		}
		level := int32(binary.NativeEndian.Uint32(b[hdrSize-8:]))
		typ := int32(binary.NativeEndian.Uint32(b[hdrSize-4:]))
		if length < uint64(hdrSize) || length > uint64(len(b)) {
			return 0, false
		}
		if level == syscall.SOL_SOCKET && typ == syscall.SCM_TIMESTAMPNS && length >= uint64(dataAt+tsSize) {
			d := b[dataAt:]
			// struct timespec: two longs (the 32-bit ABIs' SO_TIMESTAMPNS
			// is the old 32-bit one).
			var sec, nsec int64
			if tsSize == 16 {
				sec, nsec = int64(binary.NativeEndian.Uint64(d)), int64(binary.NativeEndian.Uint64(d[8:]))
			} else {
				sec, nsec = int64(int32(binary.NativeEndian.Uint32(d))), int64(int32(binary.NativeEndian.Uint32(d[4:])))
			}
			if sec <= 0 || sec >= 1<<33 || nsec < 0 || nsec >= 1e9 {
				return 0, false
			}
			return sec*1e9 + nsec, true
		}
		next := align(length)
		if next >= uint64(len(b)) {
			break
		}
		b = b[next:]
	}
	return 0, false
}
