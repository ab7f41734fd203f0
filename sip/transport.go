package sip

import (
	"bytes"
	"errors"
	"log/slog"
	"net"
	"sync"
	"time"
)

// The UA hands sipgo its sockets wrapped, for three reasons sipgo has no
// hook for: tracing every message in both directions, knowing when sipgo's
// serve loops are really running, and owning every outbound TCP connection
// (dialled here, then passed to sipgo's TCP serve loop as if accepted, so the
// same tracing, keep-alives and close notifications apply to it).

func isKeepAlive(b []byte) bool {
	return len(b) <= 4 && len(bytes.Trim(b, "\r\n")) == 0
}

type traceFunc func(dir, peer string, raw []byte)

// udpConn is the listening UDP socket as sipgo sees it.
type udpConn struct {
	net.PacketConn
	trace   traceFunc
	started chan struct{}
	once    sync.Once
}

func newUDPConn(c net.PacketConn, trace traceFunc) *udpConn {
	return &udpConn{PacketConn: c, trace: trace, started: make(chan struct{})}
}

func (c *udpConn) ReadFrom(b []byte) (int, net.Addr, error) {
	// sipgo registers the socket in its connection pool before its first
	// read, so a first read means the UA can send through it.
	c.once.Do(func() { close(c.started) })
	n, addr, err := c.PacketConn.ReadFrom(b)
	if err == nil && c.trace != nil && !isKeepAlive(b[:n]) {
		c.trace("recv", addr.String(), b[:n])
	}
	return n, addr, err
}

func (c *udpConn) WriteTo(b []byte, addr net.Addr) (int, error) {
	if c.trace != nil && !isKeepAlive(b) {
		c.trace("send", addr.String(), b)
	}
	return c.PacketConn.WriteTo(b, addr)
}

// keepAlive sends a CRLF keep-alive without tracing it.
func (c *udpConn) keepAlive(addr net.Addr) error {
	_, err := c.PacketConn.WriteTo([]byte("\r\n\r\n"), addr)
	return err
}

// tcpConn is one TCP connection, accepted or dialled.
type tcpConn struct {
	net.Conn
	trace     traceFunc
	peer      string // the far address for trace, formatted once
	started   chan struct{}
	once      sync.Once
	closed    chan struct{}
	doneOnce  sync.Once
	closeOnce sync.Once
	onClose   func(*tcpConn)
}

func newTCPConn(c net.Conn, trace traceFunc, onClose func(*tcpConn)) *tcpConn {
	tc := &tcpConn{Conn: c, trace: trace, started: make(chan struct{}), closed: make(chan struct{}), onClose: onClose}
	if trace != nil {
		// A connection's far end never changes: format it once, not on
		// every message traced.
		tc.peer = c.RemoteAddr().String()
	}
	return tc
}

func (c *tcpConn) Read(b []byte) (int, error) {
	// sipgo adds the connection to its pool before its reader starts.
	c.once.Do(func() { close(c.started) })
	n, err := c.Conn.Read(b)
	if n > 0 && c.trace != nil && !isKeepAlive(b[:n]) {
		c.trace("recv", c.peer, b[:n])
	}
	if err != nil {
		c.markClosed()
	}
	return n, err
}

func (c *tcpConn) Write(b []byte) (int, error) {
	if c.trace != nil && !isKeepAlive(b) {
		c.trace("send", c.peer, b)
	}
	n, err := c.Conn.Write(b)
	if err != nil {
		c.markClosed()
	}
	return n, err
}

// Close closes once; later calls (sipgo closes a connection again when its
// reader stops) succeed quietly.
func (c *tcpConn) Close() error {
	var err error
	c.closeOnce.Do(func() { err = c.Conn.Close() })
	c.markClosed()
	return err
}

func (c *tcpConn) markClosed() {
	c.doneOnce.Do(func() {
		close(c.closed)
		if c.onClose != nil {
			c.onClose(c)
		}
	})
}

func (c *tcpConn) isClosed() bool {
	select {
	case <-c.closed:
		return true
	default:
		return false
	}
}

// keepAlive sends an RFC 5626 CRLFCRLF ping without tracing it.
func (c *tcpConn) keepAlive() error {
	_, err := c.Conn.Write([]byte("\r\n\r\n"))
	return err
}

// tcpListener is the TCP listening socket as sipgo sees it; connections the
// UA dials come out of Accept too.
type tcpListener struct {
	net.Listener
	trace    traceFunc
	onClose  func(*tcpConn)
	log      *slog.Logger
	inject   chan net.Conn
	accepted chan net.Conn
	quit     chan struct{}
	quitOnce sync.Once
	started  chan struct{}
	once     sync.Once
	pumpDone chan struct{}
}

func newTCPListener(l net.Listener, trace traceFunc, onClose func(*tcpConn), log *slog.Logger) *tcpListener {
	tl := &tcpListener{
		Listener: l,
		trace:    trace,
		onClose:  onClose,
		log:      log,
		inject:   make(chan net.Conn),
		accepted: make(chan net.Conn),
		quit:     make(chan struct{}),
		started:  make(chan struct{}),
		pumpDone: make(chan struct{}),
	}
	go tl.pump()
	return tl
}

// pump accepts real connections. Accept errors other than closing are
// logged and retried here: sipgo's serve loop stops at the first error.
func (l *tcpListener) pump() {
	defer close(l.pumpDone)
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			l.log.Warn("sip: tcp accept failed", "err", err)
			select {
			case <-l.quit:
				return
			case <-time.After(100 * time.Millisecond):
			}
			continue
		}
		tc := newTCPConn(c, l.trace, l.onClose)
		select {
		case l.accepted <- tc:
		case <-l.quit:
			_ = c.Close()
			return
		}
	}
}

func (l *tcpListener) Accept() (net.Conn, error) {
	l.once.Do(func() { close(l.started) })
	select {
	case c := <-l.inject:
		return c, nil
	case c := <-l.accepted:
		return c, nil
	case <-l.quit:
		return nil, net.ErrClosed
	}
}

// hand passes a dialled connection to sipgo's serve loop.
func (l *tcpListener) hand(c *tcpConn) bool {
	select {
	case l.inject <- c:
		return true
	case <-l.quit:
		return false
	}
}

func (l *tcpListener) Close() error {
	var err error
	l.quitOnce.Do(func() {
		close(l.quit)
		err = l.Listener.Close()
		<-l.pumpDone
	})
	return err
}
