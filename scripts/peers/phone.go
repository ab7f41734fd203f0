package peers

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
	"github.com/pion/rtp"

	"github.com/tipring/tipring/boards"
)

// PhoneToneHz is what a Phone says into every call: a tone distinct from
// the 1004 Hz the far ends play, so a test can tell whose audio it hears.
const PhoneToneHz = 697

// PhoneOptions configures a Phone.
type PhoneOptions struct {
	// User and Password are its account; Realm the domain of its address
	// of record (the registrar's realm).
	User, Password, Realm string
	// Registrar is where it registers and sends its calls.
	Registrar netip.AddrPort
	// Reject, when not zero, answers every INVITE with this status code
	// (403 for a phone that takes calls only from its proxy, say).
	Reject int
	// NoAnswer makes it ring (180) until the caller gives up.
	NoAnswer bool
}

// Phone stands in for the device in tests: a sipgo user agent on
// 127.0.0.1 that registers with digest, answers calls with a PCMU SDP,
// places calls through its registrar (answering a 407), sends PhoneToneHz
// at -10 dBm0 once it knows where to, and records the G.711 audio it
// receives. It is deliberately simple (one call at a time, UDP only): it is
// the test's instrument, not the product.
type Phone struct {
	// Addr is its SIP address (UDP); it sends from there too, so a
	// registrar's NAT binding is the port calls come in on.
	Addr netip.AddrPort

	t      testing.TB
	opts   PhoneOptions
	ua     *sipgo.UserAgent
	client *sipgo.Client
	dialog *sipgo.DialogUA
	cancel func()
	served chan struct{}
	media  *phoneMedia

	mu       sync.Mutex
	invites  []*sip.Request
	inbound  *sipgo.DialogServerSession
	outbound *sipgo.DialogClientSession
	byes     int
}

// NewPhone starts a Phone; it stops when the test ends.
func NewPhone(t testing.TB, opts PhoneOptions) *Phone {
	t.Helper()
	port := FreePort(t, "udp")
	u := &Phone{
		t: t, opts: opts,
		Addr:   netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(port)),
		served: make(chan struct{}),
	}
	ua, err := sipgo.NewUA(sipgo.WithUserAgent(opts.User), sipgo.WithUserAgentHostname("127.0.0.1"))
	if err != nil {
		t.Fatalf("peers: phone: %v", err)
	}
	u.ua = ua
	u.client, err = sipgo.NewClient(ua, sipgo.WithClientHostname("127.0.0.1"), sipgo.WithClientPort(port),
		sipgo.WithClientConnectionAddr(u.Addr.String()))
	if err != nil {
		t.Fatalf("peers: phone: %v", err)
	}
	srv, err := sipgo.NewServer(ua)
	if err != nil {
		t.Fatalf("peers: phone: %v", err)
	}
	u.dialog = &sipgo.DialogUA{
		Client:     u.client,
		ContactHDR: sip.ContactHeader{Address: sip.Uri{Scheme: "sip", User: opts.User, Host: "127.0.0.1", Port: port}},
	}
	u.media = newPhoneMedia(t)
	srv.OnInvite(u.onInvite)
	srv.OnAck(u.onAck)
	srv.OnBye(u.onBye)
	conn, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(u.Addr))
	if err != nil {
		t.Fatalf("peers: phone: %v", err)
	}
	rc := &readySignalConn{PacketConn: conn, ready: make(chan struct{})}
	u.cancel = func() { _ = conn.Close() }
	go func() {
		defer close(u.served)
		_ = srv.ServeUDP(rc)
	}()
	select {
	case <-rc.ready:
	case <-time.After(5 * time.Second):
		t.Fatal("peers: phone did not start listening")
	}
	t.Cleanup(u.close)
	return u
}

// readySignalConn closes ready on the first read. sipgo's own ready signal
// comes before it registers the socket for outgoing requests; a request
// sent in between would try to bind the port a second time and fail. Its
// read loop starts after the registration.
type readySignalConn struct {
	net.PacketConn
	once  sync.Once
	ready chan struct{}
}

func (c *readySignalConn) ReadFrom(b []byte) (int, net.Addr, error) {
	c.once.Do(func() { close(c.ready) })
	return c.PacketConn.ReadFrom(b)
}

func (u *Phone) close() {
	u.mu.Lock()
	out, in := u.outbound, u.inbound
	u.mu.Unlock()
	if out != nil {
		_ = out.Close()
	}
	if in != nil {
		_ = in.Close()
	}
	u.cancel()
	<-u.served
	_ = u.ua.Close()
	u.media.close()
}

// Register sends REGISTER for an hour, answering a digest challenge with
// password, and returns the final status code.
func (u *Phone) Register(password string) int {
	u.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	reg := u.opts.Registrar
	req := sip.NewRequest(sip.REGISTER, sip.Uri{Scheme: "sip", Host: reg.Addr().String(), Port: int(reg.Port())})
	aor := sip.Uri{Scheme: "sip", User: u.opts.User, Host: u.opts.Realm}
	fromParams := sip.NewParams()
	fromParams.Add("tag", sip.GenerateTagN(10))
	req.AppendHeader(&sip.FromHeader{Address: aor, Params: fromParams})
	req.AppendHeader(&sip.ToHeader{Address: aor})
	req.AppendHeader(&sip.ContactHeader{Address: sip.Uri{Scheme: "sip", User: u.opts.User, Host: "127.0.0.1", Port: int(u.Addr.Port())}})
	req.AppendHeader(sip.NewHeader("Expires", "3600"))
	res, err := u.client.Do(ctx, req)
	if err != nil {
		u.t.Fatalf("peers: phone REGISTER: %v", err)
	}
	if res.StatusCode == 401 || res.StatusCode == 407 {
		res, err = u.client.DoDigestAuth(ctx, req, res, sipgo.DigestAuth{Username: u.opts.User, Password: password})
		if err != nil {
			u.t.Fatalf("peers: phone REGISTER with credentials: %v", err)
		}
	}
	return res.StatusCode
}

// Call calls user at the registrar, answering a 407 with the phone's
// credentials, and waits for the final response; it returns its status
// code (200: the call is up and ACKed). onResponse, if set, sees every
// response, provisional ones included.
func (u *Phone) Call(user string, onResponse func(*sip.Response)) int {
	u.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	fromParams := sip.NewParams()
	fromParams.Add("tag", sip.GenerateTagN(10))
	from := &sip.FromHeader{DisplayName: "Phone " + u.opts.User,
		Address: sip.Uri{Scheme: "sip", User: u.opts.User, Host: u.opts.Realm}, Params: fromParams}
	reg := u.opts.Registrar
	to := sip.Uri{Scheme: "sip", User: user, Host: reg.Addr().String(), Port: int(reg.Port())}
	s, err := u.dialog.Invite(ctx, to, u.media.sdp(), from, sip.NewHeader("Content-Type", "application/sdp"))
	if err != nil {
		u.t.Fatalf("peers: phone INVITE %s: %v", user, err)
	}
	u.mu.Lock()
	u.outbound = s
	u.mu.Unlock()
	err = s.WaitAnswer(ctx, sipgo.AnswerOptions{Username: u.opts.User, Password: u.opts.Password, OnResponse: func(r *sip.Response) error {
		if len(r.Body()) > 0 {
			u.media.setRemote(r.Body())
		}
		if onResponse != nil {
			onResponse(r)
		}
		return nil
	}})
	var de *sipgo.ErrDialogResponse
	if errors.As(err, &de) {
		return de.Res.StatusCode
	}
	if err != nil {
		u.t.Fatalf("peers: phone INVITE %s: %v", user, err)
	}
	if err := s.Ack(ctx); err != nil {
		u.t.Fatalf("peers: phone ACK: %v", err)
	}
	return s.InviteResponse.StatusCode
}

// Hangup sends BYE on the call the phone placed.
func (u *Phone) Hangup() {
	u.t.Helper()
	u.mu.Lock()
	s := u.outbound
	u.mu.Unlock()
	if s == nil {
		u.t.Fatal("peers: phone Hangup without a call")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.Bye(ctx); err != nil {
		u.t.Fatalf("peers: phone BYE: %v", err)
	}
}

func (u *Phone) onInvite(req *sip.Request, tx sip.ServerTransaction) {
	u.mu.Lock()
	u.invites = append(u.invites, req)
	u.mu.Unlock()
	if u.opts.Reject != 0 {
		_ = tx.Respond(sip.NewResponseFromRequest(req, u.opts.Reject, "Rejected", nil))
		return
	}
	s, err := u.dialog.ReadInvite(req, tx)
	if err != nil {
		_ = tx.Respond(sip.NewResponseFromRequest(req, 400, "Bad Request", nil))
		return
	}
	u.mu.Lock()
	u.inbound = s
	u.mu.Unlock()
	u.media.setRemote(req.Body())
	_ = s.Respond(180, "Ringing", nil)
	if u.opts.NoAnswer {
		// sipgo answers a CANCEL with 200 and the INVITE with 487.
		select {
		case <-tx.Done():
		case <-time.After(30 * time.Second):
		}
		return
	}
	_ = s.RespondSDP(u.media.sdp())
}

func (u *Phone) onAck(req *sip.Request, tx sip.ServerTransaction) {
	u.mu.Lock()
	s := u.inbound
	u.mu.Unlock()
	if s != nil {
		_ = s.ReadAck(req, tx)
	}
}

func (u *Phone) onBye(req *sip.Request, tx sip.ServerTransaction) {
	u.mu.Lock()
	in, out := u.inbound, u.outbound
	u.byes++
	u.mu.Unlock()
	if in != nil && in.ReadBye(req, tx) == nil {
		return
	}
	if out != nil && out.ReadBye(req, tx) == nil {
		return
	}
	_ = tx.Respond(sip.NewResponseFromRequest(req, 481, "Call/Transaction Does Not Exist", nil))
}

// Invites returns the INVITEs the phone received, oldest first.
func (u *Phone) Invites() []*sip.Request {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]*sip.Request(nil), u.invites...)
}

// LastInvite is the latest INVITE the phone received, or nil.
func (u *Phone) LastInvite() *sip.Request {
	u.mu.Lock()
	defer u.mu.Unlock()
	if len(u.invites) == 0 {
		return nil
	}
	return u.invites[len(u.invites)-1]
}

// Byes counts the BYEs the phone received.
func (u *Phone) Byes() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.byes
}

// Heard returns the audio received so far (decoded PCMU) and the number
// of RTP packets it came in.
func (u *Phone) Heard() ([]int16, int) { return u.media.heard() }

// WaitHeard waits until the phone has heard at least d of audio, failing
// the test after timeout. Tests wait for audio this way rather than
// sleeping: on a loaded machine audio comes late, not never.
func (u *Phone) WaitHeard(d, timeout time.Duration) []int16 {
	u.t.Helper()
	want := int(d.Seconds() * boards.SampleRate)
	var heard []int16
	WaitFor(u.t, timeout, fmt.Sprintf("%v of audio at %s", d, u.opts.User), func() bool {
		heard, _ = u.media.heard()
		return len(heard) >= want
	})
	return heard
}

// ResetHeard forgets what was heard, to listen to a new phase of a call.
func (u *Phone) ResetHeard() { u.media.reset() }

// WaitFor polls cond every 20 ms until it holds, failing the test after
// timeout.
func WaitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// phoneMedia is the phone's RTP endpoint.
type phoneMedia struct {
	conn *net.UDPConn
	port int
	done chan struct{}
	stop chan struct{}
	sent chan struct{}
	tone []int16

	mu       sync.Mutex
	remote   netip.AddrPort
	received []int16
	packets  int
}

func newPhoneMedia(t testing.TB) *phoneMedia {
	t.Helper()
	port := FreePort(t, "udp")
	c, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(port))))
	if err != nil {
		t.Fatalf("peers: phone media: %v", err)
	}
	m := &phoneMedia{conn: c, port: port, done: make(chan struct{}), stop: make(chan struct{}), sent: make(chan struct{}),
		tone: sine(PhoneToneHz, -10, time.Second)}
	go m.receive()
	go m.send()
	return m
}

func (m *phoneMedia) close() {
	close(m.stop)
	<-m.sent
	_ = m.conn.Close()
	<-m.done
}

func (m *phoneMedia) sdp() []byte {
	return []byte("v=0\r\n" +
		"o=phone 1 1 IN IP4 127.0.0.1\r\n" +
		"s=-\r\n" +
		"c=IN IP4 127.0.0.1\r\n" +
		"t=0 0\r\n" +
		"m=audio " + strconv.Itoa(m.port) + " RTP/AVP 0\r\n" +
		"a=rtpmap:0 PCMU/8000\r\n" +
		"a=ptime:20\r\n" +
		"a=sendrecv\r\n")
}

// setRemote takes the far end's media address from its SDP: the c= line
// and the audio m= line are all this phone needs.
func (m *phoneMedia) setRemote(sdp []byte) {
	var ip netip.Addr
	port := 0
	for _, line := range strings.Split(string(sdp), "\n") {
		line = strings.TrimSpace(line)
		if rest, ok := strings.CutPrefix(line, "c=IN IP4 "); ok {
			ip, _ = netip.ParseAddr(rest)
		}
		if rest, ok := strings.CutPrefix(line, "m=audio "); ok {
			if f := strings.Fields(rest); len(f) > 0 {
				port, _ = strconv.Atoi(f[0])
			}
		}
	}
	if ip.IsValid() && port > 0 && port < 65536 {
		m.mu.Lock()
		m.remote = netip.AddrPortFrom(ip, uint16(port))
		m.mu.Unlock()
	}
}

func (m *phoneMedia) receive() {
	defer close(m.done)
	buf := make([]byte, 1500)
	for {
		n, err := m.conn.Read(buf)
		if err != nil {
			return
		}
		var p rtp.Packet
		if p.Unmarshal(buf[:n]) != nil || p.PayloadType != 0 {
			continue
		}
		pcm := DecodeUlaw(p.Payload)
		m.mu.Lock()
		m.received = append(m.received, pcm...)
		m.packets++
		m.mu.Unlock()
	}
}

// send sends the tone by the clock: a ticker drops ticks on a busy
// machine, so each tick sends every frame due (up to ten at once), and a
// loaded test machine delays the audio rather than cutting holes in it.
func (m *phoneMedia) send() {
	defer close(m.sent)
	const frameTime = 20 * time.Millisecond
	tick := time.NewTicker(frameTime)
	defer tick.Stop()
	p := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 0, SSRC: 0x7e57}}
	buf := make([]byte, 1500)
	frame := make([]int16, 160)
	pos := 0
	next := time.Now()
	for {
		select {
		case <-m.stop:
			return
		case <-tick.C:
		}
		m.mu.Lock()
		remote := m.remote
		m.mu.Unlock()
		now := time.Now()
		if !remote.IsValid() || now.Sub(next) > 10*frameTime {
			next = now
		}
		for ; remote.IsValid() && !next.After(now); next = next.Add(frameTime) {
			for i := range frame {
				frame[i] = m.tone[(pos+i)%len(m.tone)]
			}
			pos += len(frame)
			p.Payload = EncodeUlaw(frame)
			p.SequenceNumber++
			p.Timestamp += uint32(len(frame))
			n, err := p.MarshalTo(buf)
			if err != nil {
				continue
			}
			_, _ = m.conn.WriteToUDPAddrPort(buf[:n], remote)
		}
	}
}

func (m *phoneMedia) heard() ([]int16, int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]int16(nil), m.received...), m.packets
}

func (m *phoneMedia) reset() {
	m.mu.Lock()
	m.received = nil
	m.packets = 0
	m.mu.Unlock()
}
