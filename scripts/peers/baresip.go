package peers

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tipring/tipring/boards/sim"
)

// BaresipOptions configures a baresip softphone.
type BaresipOptions struct {
	// User and Password are its account at Registrar. With no Registrar it
	// does not register and is reached directly at its Addr.
	User     string
	Password string
	// Registrar is the provider (a Kamailio's Addr); the account registers
	// there and sends its calls there.
	Registrar netip.AddrPort
	// Domain of its address of record; default Registrar's address.
	Domain string
	// AutoAnswer answers incoming calls at once; otherwise call Answer.
	AutoAnswer bool
	// ToneHz and ToneDBm0 describe the audio it sends on every call: a
	// tone (default 1004 Hz at -10 dBm0) lasting AudioDuration (default
	// 30 s; after that it sends nothing).
	ToneHz        float64
	ToneDBm0      float64
	AudioDuration time.Duration
	// Audio, when set, is sent instead of the tone (8 kHz mono 16-bit).
	Audio []int16
}

// Baresip is a running baresip softphone on 127.0.0.1, driven through its
// ctrl_tcp module (JSON over netstrings on loopback).
type Baresip struct {
	// Addr is its SIP address (UDP and TCP; it also takes the next port
	// for TLS).
	Addr netip.AddrPort
	// AOR is its address of record, e.g. "sip:1001@127.0.0.1:5060".
	AOR string
	// Dir is its configuration directory (baresip -f) with the recordings
	// under Dir/recordings.
	Dir string

	proc *process
	ctl  *ctrlConn
}

// BaresipEvent is an event baresip reported on its control connection.
type BaresipEvent struct {
	// Type is e.g. "REGISTER_OK", "CALL_INCOMING", "CALL_RINGING",
	// "CALL_PROGRESS", "CALL_ESTABLISHED", "CALL_CLOSED".
	Type       string `json:"type"`
	Class      string `json:"class"`
	AccountAOR string `json:"accountaor"`
	Direction  string `json:"direction"`
	PeerURI    string `json:"peeruri"`
	ID         string `json:"id"`
	// Param is the event's detail: the reason for CALL_CLOSED, the peer
	// for calls.
	Param string `json:"param"`
}

// StartBaresip starts baresip with a generated configuration: SIP on
// 127.0.0.1 only, G.711 only, audio from a WAV file (aufile) and every
// call's received audio recorded (sndfile). It returns once its control
// connection is up; registration happens in the background (wait for it at
// the registrar, e.g. Kamailio.WaitRegistered). baresip is stopped when the
// test ends.
func StartBaresip(t testing.TB, opts BaresipOptions) *Baresip {
	t.Helper()
	bin := lookPath(t, "baresip")
	if opts.Registrar.IsValid() && opts.User == "" {
		t.Fatalf("peers.StartBaresip: a Registrar needs a User")
	}
	for what, v := range map[string]string{"user": opts.User, "password": opts.Password, "domain": opts.Domain} {
		if strings.ContainsAny(v, "<>;\"\r\n\t @:") {
			t.Fatalf("peers.StartBaresip: %s %q contains a character an account line cannot hold", what, v)
		}
	}
	if opts.ToneHz == 0 {
		opts.ToneHz = 1004
	}
	if opts.ToneDBm0 == 0 {
		opts.ToneDBm0 = -10
	}
	if opts.AudioDuration == 0 {
		opts.AudioDuration = 30 * time.Second
	}
	audio := opts.Audio
	if audio == nil {
		audio = sine(opts.ToneHz, opts.ToneDBm0, opts.AudioDuration)
	}

	dir := t.TempDir()
	rec := filepath.Join(dir, "recordings")
	if err := os.MkdirAll(rec, 0o755); err != nil {
		t.Fatalf("peers: %v", err)
	}
	src := filepath.Join(dir, "source.wav")
	if err := os.WriteFile(src, sim.EncodeWAV(audio), 0o644); err != nil {
		t.Fatalf("peers: %v", err)
	}
	// SIP port and SIP port + 1 (baresip's TLS listener); control port.
	sipPort, err := freePortRun(2, true, true)
	if err != nil {
		t.Fatalf("peers: %v", err)
	}
	ctlPort := FreePort(t, "tcp")
	for ctlPort == sipPort || ctlPort == sipPort+1 {
		ctlPort = FreePort(t, "tcp")
	}
	b := &Baresip{
		Addr: netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(sipPort)),
		Dir:  dir,
	}
	user := opts.User
	if user == "" {
		user = "baresip"
	}
	domain := opts.Domain
	switch {
	case domain != "":
	case opts.Registrar.IsValid():
		domain = opts.Registrar.String()
	default:
		domain = b.Addr.String()
	}
	b.AOR = "sip:" + user + "@" + domain
	if err := os.WriteFile(filepath.Join(dir, "config"), []byte(baresipConfig(sipPort, ctlPort, src, rec)), 0o644); err != nil {
		t.Fatalf("peers: %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "accounts"), []byte(baresipAccount(b.AOR, opts)), 0o644); err != nil {
		t.Fatalf("peers: %v", err)
	}
	// An empty contacts file keeps baresip from writing its examples.
	if err := os.WriteFile(filepath.Join(dir, "contacts"), nil, 0o644); err != nil {
		t.Fatalf("peers: %v", err)
	}

	start := time.Now()
	p, err := startProcess(bin, dir, "-f", dir)
	if err != nil {
		t.Fatalf("peers: %v", err)
	}
	b.proc = p
	t.Cleanup(b.stop)
	ctl, err := dialCtrl(p, ctlPort, 10*time.Second)
	if err != nil {
		b.stop()
		t.Fatalf("peers: baresip did not come up: %v\ncommand: %s\n%s", err, p.commandLine(), p.output())
	}
	b.ctl = ctl
	t.Logf("peers: baresip %s on %s in %v", b.AOR, b.Addr, time.Since(start).Round(time.Millisecond))
	return b
}

func baresipConfig(sipPort, ctlPort int, source, recordings string) string {
	// aubridge is a player that needs no sound card; what baresip hears
	// is recorded by sndfile, which sits in the decode path.
	return fmt.Sprintf(`poll_method		epoll
sip_listen		127.0.0.1:%d
net_interface		127.0.0.1
call_local_timeout	120
call_max_calls		4
audio_player		aubridge,tipring
audio_source		aufile,%s
audio_alert		aubridge,tipring
audio_buffer		20-160
rtp_tos			0
jitter_buffer_delay	1-10
module_path		/usr/lib/baresip/modules
module			g711.so
module			aufile.so
module			aubridge.so
module			sndfile.so
module_app		account.so
module_app		menu.so
module_app		ctrl_tcp.so
ctrl_tcp_listen		127.0.0.1:%d
snd_path		%s
`, sipPort, source, ctlPort, recordings)
}

func baresipAccount(aor string, opts BaresipOptions) string {
	var b strings.Builder
	fmt.Fprintf(&b, "<%s>", aor)
	if opts.Registrar.IsValid() {
		fmt.Fprintf(&b, ";auth_user=%s;auth_pass=%s;outbound=\"sip:%s\";regint=600", opts.User, opts.Password, opts.Registrar)
	} else {
		b.WriteString(";regint=0")
	}
	b.WriteString(";audio_codecs=PCMU,PCMA;ptime=20;mwi=no")
	if opts.AutoAnswer {
		b.WriteString(";answermode=auto")
	} else {
		b.WriteString(";answermode=manual")
	}
	b.WriteString("\n")
	return b.String()
}

func (b *Baresip) stop() {
	if b.ctl != nil {
		b.ctl.close()
	}
	b.proc.stop(syscall.SIGTERM, 1, 3*time.Second, 2*time.Second)
}

// Log returns baresip's output.
func (b *Baresip) Log() string { return b.proc.output() }

// Dial calls uri ("sip:600@127.0.0.1:5060").
func (b *Baresip) Dial(t testing.TB, uri string) {
	t.Helper()
	b.command(t, "dial", uri)
}

// Answer answers the incoming call.
func (b *Baresip) Answer(t testing.TB) {
	t.Helper()
	b.command(t, "accept", "")
}

// Hangup ends the current call.
func (b *Baresip) Hangup(t testing.TB) {
	t.Helper()
	b.command(t, "hangup", "")
}

func (b *Baresip) command(t testing.TB, cmd, params string) {
	t.Helper()
	res, err := b.ctl.command(cmd, params, 5*time.Second)
	if err != nil {
		t.Fatalf("peers: baresip %s %s: %v\n%s", cmd, params, err, b.Log())
	}
	if !res.OK {
		t.Fatalf("peers: baresip %s %s: %s\n%s", cmd, params, strings.TrimSpace(res.Data), b.Log())
	}
}

// Events returns the events baresip has reported so far.
func (b *Baresip) Events() []BaresipEvent { return b.ctl.eventsSoFar() }

// WaitEvent waits for the next event of type typ that no earlier WaitEvent
// returned (so two calls' CALL_ESTABLISHED are told apart), failing the
// test with baresip's log after timeout.
func (b *Baresip) WaitEvent(t testing.TB, typ string, timeout time.Duration) BaresipEvent {
	t.Helper()
	ev, err := b.ctl.waitEvent(typ, timeout)
	if err != nil {
		t.Fatalf("peers: baresip %s: %v\nevents: %+v\n%s", b.AOR, err, b.Events(), b.Log())
	}
	return ev
}

// ReceivedAudio returns what baresip heard on its last call. Read it after
// CALL_CLOSED: the recorder completes the file when the call ends.
func (b *Baresip) ReceivedAudio(t testing.TB) []int16 {
	t.Helper()
	path, err := b.recording("-dec.wav")
	if err != nil {
		t.Fatalf("peers: %v", err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatalf("peers: %v", err)
	}
	defer f.Close()
	// The recorder may not have written its final sizes (a call cut short).
	s, err := sim.ReadPartialWAV(f)
	if err != nil {
		t.Fatalf("peers: %s: %v", path, err)
	}
	return s
}

// ReceivedAudioPath is the WAV file ReceivedAudio reads.
func (b *Baresip) ReceivedAudioPath(t testing.TB) string {
	t.Helper()
	path, err := b.recording("-dec.wav")
	if err != nil {
		t.Fatalf("peers: %v", err)
	}
	return path
}

// recording finds the newest recording whose name ends in suffix; sndfile
// names them dump-<time>-dec.wav (heard) and dump-<time>-enc.wav (sent).
func (b *Baresip) recording(suffix string) (string, error) {
	m, err := filepath.Glob(filepath.Join(b.Dir, "recordings", "*"+suffix))
	if err != nil || len(m) == 0 {
		return "", fmt.Errorf("baresip has recorded no call audio in %s (no call had audio yet?)", filepath.Join(b.Dir, "recordings"))
	}
	sort.Slice(m, func(i, j int) bool {
		fi, _ := os.Stat(m[i])
		fj, _ := os.Stat(m[j])
		if fi == nil || fj == nil {
			return m[i] < m[j]
		}
		return fi.ModTime().Before(fj.ModTime())
	})
	return m[len(m)-1], nil
}

// ctrlResponse is baresip's answer to a command.
type ctrlResponse struct {
	OK    bool   `json:"ok"`
	Data  string `json:"data"`
	Token string `json:"token"`
}

// ctrlConn is the ctrl_tcp connection: netstring-framed JSON, commands
// answered by responses carrying the command's token, events in between.
type ctrlConn struct {
	conn net.Conn
	done chan struct{}

	mu        sync.Mutex
	cond      *sync.Cond
	events    []BaresipEvent
	responses map[string]ctrlResponse
	readErr   error
	token     int
	consumed  map[string]int
}

func dialCtrl(p *process, port int, timeout time.Duration) (*ctrlConn, error) {
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	deadline := time.Now().Add(timeout)
	for {
		if p.exited() {
			code, _ := p.wait(0)
			return nil, fmt.Errorf("baresip exited with code %d", code)
		}
		// baresip keeps running when it cannot bind its SIP port; its log
		// is the only sign.
		if out := p.output(); strings.Contains(out, "ua: init failed") || strings.Contains(out, "failed to listen") {
			return nil, errors.New("baresip failed to initialise (see its log)")
		}
		c, err := net.DialTimeout("tcp4", addr, 200*time.Millisecond)
		if err == nil {
			cc := &ctrlConn{conn: c, done: make(chan struct{}), responses: map[string]ctrlResponse{}, consumed: map[string]int{}}
			cc.cond = sync.NewCond(&cc.mu)
			go cc.read()
			return cc, nil
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("control port %s: %w", addr, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (c *ctrlConn) close() {
	_ = c.conn.Close()
	<-c.done
}

func (c *ctrlConn) read() {
	defer close(c.done)
	r := bufio.NewReader(c.conn)
	for {
		msg, err := readNetstring(r, 1<<20)
		if err != nil {
			c.mu.Lock()
			c.readErr = fmt.Errorf("baresip control connection: %w", err)
			c.cond.Broadcast()
			c.mu.Unlock()
			return
		}
		var kind struct {
			Event    bool `json:"event"`
			Response bool `json:"response"`
		}
		if json.Unmarshal(msg, &kind) != nil {
			continue
		}
		c.mu.Lock()
		switch {
		case kind.Event:
			var ev BaresipEvent
			if json.Unmarshal(msg, &ev) == nil {
				c.events = append(c.events, ev)
			}
		case kind.Response:
			var res ctrlResponse
			if json.Unmarshal(msg, &res) == nil {
				c.responses[res.Token] = res
			}
		}
		c.cond.Broadcast()
		c.mu.Unlock()
	}
}

// waitFor waits until cond (called with c.mu held) is true, the connection
// fails, or timeout passes.
func (c *ctrlConn) waitFor(timeout time.Duration, cond func() bool) error {
	timer := time.AfterFunc(timeout, func() {
		c.mu.Lock()
		c.cond.Broadcast()
		c.mu.Unlock()
	})
	defer timer.Stop()
	deadline := time.Now().Add(timeout)
	c.mu.Lock()
	defer c.mu.Unlock()
	for !cond() {
		if c.readErr != nil {
			return c.readErr
		}
		if !time.Now().Before(deadline) {
			return fmt.Errorf("timed out after %v", timeout)
		}
		c.cond.Wait()
	}
	return nil
}

func (c *ctrlConn) command(cmd, params string, timeout time.Duration) (ctrlResponse, error) {
	c.mu.Lock()
	c.token++
	token := "t" + strconv.Itoa(c.token)
	c.mu.Unlock()
	body, err := json.Marshal(map[string]string{"command": cmd, "params": params, "token": token})
	if err != nil {
		return ctrlResponse{}, fmt.Errorf("encode command: %w", err)
	}
	if _, err := io.WriteString(c.conn, strconv.Itoa(len(body))+":"+string(body)+","); err != nil {
		return ctrlResponse{}, fmt.Errorf("send command: %w", err)
	}
	var res ctrlResponse
	err = c.waitFor(timeout, func() bool {
		r, ok := c.responses[token]
		if ok {
			res = r
			delete(c.responses, token)
		}
		return ok
	})
	return res, err
}

func (c *ctrlConn) eventsSoFar() []BaresipEvent {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]BaresipEvent(nil), c.events...)
}

// waitEvent returns the next event of type typ that no earlier waitEvent
// returned.
func (c *ctrlConn) waitEvent(typ string, timeout time.Duration) (BaresipEvent, error) {
	var ev BaresipEvent
	err := c.waitFor(timeout, func() bool {
		seen := 0
		for _, e := range c.events {
			if e.Type != typ {
				continue
			}
			if seen == c.consumed[typ] {
				c.consumed[typ]++
				ev = e
				return true
			}
			seen++
		}
		return false
	})
	if err != nil {
		return ev, fmt.Errorf("waiting for %s: %w", typ, err)
	}
	return ev, nil
}

// readNetstring reads one netstring ("5:hello,") of at most max bytes.
func readNetstring(r *bufio.Reader, max int) ([]byte, error) {
	n := 0
	digits := 0
	for {
		c, err := r.ReadByte()
		if err != nil {
			return nil, err
		}
		if c == ':' {
			break
		}
		if c < '0' || c > '9' {
			return nil, fmt.Errorf("netstring: unexpected byte %q in length", c)
		}
		if digits > 0 && n == 0 {
			return nil, errors.New("netstring: length has a leading zero")
		}
		digits++
		n = n*10 + int(c-'0')
		if n > max {
			return nil, fmt.Errorf("netstring: length exceeds %d bytes", max)
		}
	}
	if digits == 0 {
		return nil, errors.New("netstring: empty length")
	}
	buf := make([]byte, n+1)
	if _, err := io.ReadFull(r, buf); err != nil {
		return nil, fmt.Errorf("netstring: body: %w", err)
	}
	if buf[n] != ',' {
		return nil, fmt.Errorf("netstring: body not followed by ',' but %q", buf[n])
	}
	return buf[:n], nil
}
