package peers

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"text/template"
	"time"

	"github.com/tipring/tipring/scripts/kamailio"
)

// User is a subscriber of the test provider.
type User struct{ Name, Password string }

// DefaultRealm is the digest realm Kamailio challenges with unless
// WithRealm says otherwise. It is also an alias of the proxy, so requests to
// sip:USER@tipring.test are routed like requests to its address.
const DefaultRealm = "tipring.test"

// Kamailio is a running Kamailio registrar and proxy on 127.0.0.1.
type Kamailio struct {
	// Addr is where it listens, for both UDP and TCP.
	Addr netip.AddrPort
	// Realm is the digest realm of its challenges.
	Realm string
	// Dir holds its configuration, subscriber table and runtime files.
	Dir string

	rpc  netip.AddrPort
	proc *process
}

type kamailioConfig struct {
	Debug      int
	Port       int
	RPCPort    int
	Realm      string
	MinExpires int
	DBDir      string
}

// KamailioOption changes how StartKamailio configures Kamailio.
type KamailioOption func(*kamailioConfig)

// WithRealm sets the digest realm (default DefaultRealm).
func WithRealm(realm string) KamailioOption {
	return func(c *kamailioConfig) { c.Realm = realm }
}

// WithMinExpires sets the shortest registration Kamailio accepts; shorter
// ones get 423 Interval Too Brief. The default, 60 s, is what providers use.
func WithMinExpires(seconds int) KamailioOption {
	return func(c *kamailioConfig) { c.MinExpires = seconds }
}

// WithDebug sets Kamailio's log level (0 errors only … 3 debug; default 2,
// which logs one line per request and reply).
func WithDebug(level int) KamailioOption {
	return func(c *kamailioConfig) { c.Debug = level }
}

// StartKamailio starts Kamailio as a provider's registrar and proxy for
// users, and stops it when the test ends. It returns once Kamailio answers
// an OPTIONS on UDP and accepts TCP connections; if it does not come up the
// test fails with Kamailio's log.
func StartKamailio(t testing.TB, users []User, opts ...KamailioOption) *Kamailio {
	t.Helper()
	bin := lookPath(t, "kamailio")
	mods, err := kamailioModulesDir()
	if err != nil {
		t.Fatalf("peers: %v: %s", err, installHint)
	}
	cfg := kamailioConfig{Debug: 2, Realm: DefaultRealm, MinExpires: 60}
	for _, o := range opts {
		o(&cfg)
	}
	if err := checkToken("realm", cfg.Realm); err != nil {
		t.Fatalf("peers.StartKamailio: %v", err)
	}
	for _, u := range users {
		if err := checkToken("user name", u.Name); err != nil {
			t.Fatalf("peers.StartKamailio: %v", err)
		}
		if err := checkToken("password of "+u.Name, u.Password); err != nil {
			t.Fatalf("peers.StartKamailio: %v", err)
		}
	}

	dir := t.TempDir()
	cfg.DBDir = filepath.Join(dir, "db")
	run := filepath.Join(dir, "run")
	for _, d := range []string{cfg.DBDir, run} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatalf("peers: %v", err)
		}
	}
	if err := writeSubscribers(cfg.DBDir, cfg.Realm, users); err != nil {
		t.Fatalf("peers: %v", err)
	}
	ports, err := freePortRun(2, true, true)
	if err != nil {
		t.Fatalf("peers: %v", err)
	}
	cfg.Port, cfg.RPCPort = ports, ports+1
	cfgPath := filepath.Join(dir, "kamailio.cfg")
	if err := renderKamailioConfig(cfgPath, cfg); err != nil {
		t.Fatalf("peers: %v", err)
	}

	args := []string{"-f", cfgPath, "-L", mods, "-Y", run, "-w", dir, "-DD", "-E", "-m", "64", "-M", "8"}
	start := time.Now()
	p, err := startProcess(bin, dir, args...)
	if err != nil {
		t.Fatalf("peers: %v", err)
	}
	k := &Kamailio{
		Addr:  netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(cfg.Port)),
		Realm: cfg.Realm,
		Dir:   dir,
		rpc:   netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(cfg.RPCPort)),
		proc:  p,
	}
	t.Cleanup(func() { p.stop(syscall.SIGTERM, 1, 3*time.Second, 2*time.Second) })
	if err := k.waitUp(15 * time.Second); err != nil {
		p.stop(syscall.SIGTERM, 1, 3*time.Second, 2*time.Second)
		t.Fatalf("peers: kamailio did not come up: %v\ncommand: %s\n%s", err, p.commandLine(), p.output())
	}
	t.Logf("peers: kamailio up on %s (udp+tcp) in %v", k.Addr, time.Since(start).Round(time.Millisecond))
	return k
}

// kamailioModulesDir finds Kamailio's modules: Debian puts them under the
// multiarch library directory, whose name depends on the architecture.
func kamailioModulesDir() (string, error) {
	for _, pattern := range []string{"/usr/lib/*/kamailio/modules/tm.so", "/usr/lib/kamailio/modules/tm.so", "/usr/lib64/kamailio/modules/tm.so", "/usr/local/lib64/kamailio/modules/tm.so", "/usr/local/lib/kamailio/modules/tm.so"} {
		m, _ := filepath.Glob(pattern)
		if len(m) > 0 {
			return filepath.Dir(m[0]), nil
		}
	}
	return "", errors.New("kamailio modules (tm.so) not found under /usr/lib/*/kamailio/modules")
}

// checkToken refuses values that would break the db_text table or the
// configuration file they are written into.
func checkToken(what, s string) error {
	if s == "" {
		return fmt.Errorf("%s is empty", what)
	}
	if strings.ContainsAny(s, ":\\\"\r\n\t ") {
		return fmt.Errorf("%s %q contains a character Kamailio's test setup cannot store (one of : \\ \" or white space)", what, s)
	}
	return nil
}

// writeSubscribers writes the db_text tables auth_db reads: a version table
// (auth_db checks the subscriber table's schema version) and the
// subscribers with plain passwords (calculate_ha1 is on).
func writeSubscribers(dir, realm string, users []User) error {
	version := "id(int,auto) table_name(string) table_version(int) \n0:subscriber:7\n"
	var sub bytes.Buffer
	sub.WriteString("id(int,auto) username(string) domain(string) password(string) ha1(string,null) ha1b(string,null) \n")
	for i, u := range users {
		fmt.Fprintf(&sub, "%d:%s:%s:%s:::\n", i+1, u.Name, realm, u.Password)
	}
	if err := os.WriteFile(filepath.Join(dir, "version"), []byte(version), 0o644); err != nil {
		return fmt.Errorf("write kamailio version table: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "subscriber"), sub.Bytes(), 0o644); err != nil {
		return fmt.Errorf("write kamailio subscriber table: %w", err)
	}
	return nil
}

func renderKamailioConfig(path string, cfg kamailioConfig) error {
	tmpl, err := template.New("kamailio.cfg").Option("missingkey=error").Parse(kamailio.Config())
	if err != nil {
		return fmt.Errorf("parse kamailio config template: %w", err)
	}
	var b bytes.Buffer
	if err := tmpl.Execute(&b, cfg); err != nil {
		return fmt.Errorf("render kamailio config: %w", err)
	}
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		return fmt.Errorf("write kamailio config: %w", err)
	}
	return nil
}

// waitUp waits until Kamailio answers an OPTIONS over UDP and accepts a TCP
// connection, or exits, or the timeout passes.
func (k *Kamailio) waitUp(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for attempt := 1; ; attempt++ {
		if k.proc.exited() {
			code, _ := k.proc.wait(0)
			return fmt.Errorf("kamailio exited with code %d", code)
		}
		err := k.probe(attempt)
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("no answer after %v: %w", timeout, err)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

func (k *Kamailio) probe(attempt int) error {
	c, err := net.DialUDP("udp4", nil, net.UDPAddrFromAddrPort(k.Addr))
	if err != nil {
		return fmt.Errorf("probe: %w", err)
	}
	defer c.Close()
	local := c.LocalAddr().(*net.UDPAddr)
	msg := fmt.Sprintf("OPTIONS sip:%s SIP/2.0\r\n"+
		"Via: SIP/2.0/UDP %s;branch=z9hG4bKprobe%d;rport\r\n"+
		"From: <sip:probe@%s>;tag=probe%d\r\n"+
		"To: <sip:%s>\r\n"+
		"Call-ID: probe-%d-%d@127.0.0.1\r\n"+
		"CSeq: %d OPTIONS\r\n"+
		"Max-Forwards: 70\r\n"+
		"Content-Length: 0\r\n\r\n",
		k.Addr, local, attempt, local.IP, attempt, k.Addr, local.Port, attempt, attempt)
	if _, err := c.Write([]byte(msg)); err != nil {
		return fmt.Errorf("send OPTIONS: %w", err)
	}
	_ = c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	buf := make([]byte, 4096)
	n, err := c.Read(buf)
	if err != nil {
		return fmt.Errorf("OPTIONS: %w", err)
	}
	if !bytes.HasPrefix(buf[:n], []byte("SIP/2.0 200 ")) {
		line, _, _ := strings.Cut(string(buf[:n]), "\r\n")
		return fmt.Errorf("OPTIONS answered %q", line)
	}
	tc, err := net.DialTimeout("tcp4", k.Addr.String(), 300*time.Millisecond)
	if err != nil {
		return fmt.Errorf("tcp: %w", err)
	}
	return tc.Close()
}

// Log returns what Kamailio has logged so far (one line per request and
// reply at the default level).
func (k *Kamailio) Log() string { return k.proc.output() }

// Binding is one registered contact of a user, as usrloc holds it.
type Binding struct {
	// Contact is the URI the user registered.
	Contact string
	// Received is where the REGISTER really came from when that differs
	// from Contact (NAT): calls are sent there. Empty otherwise.
	Received string
	// Expires is the remaining lifetime in seconds.
	Expires int
	// UserAgent is the registering device's User-Agent header.
	UserAgent string
}

// Bindings returns the user's current registrations (none: not registered).
func (k *Kamailio) Bindings(t testing.TB, user string) []Binding {
	t.Helper()
	b, err := k.bindings(user)
	if err != nil {
		t.Fatalf("peers: %v\n%s", err, k.Log())
	}
	return b
}

// Registered reports whether user has at least one registration.
func (k *Kamailio) Registered(t testing.TB, user string) bool {
	t.Helper()
	return len(k.Bindings(t, user)) > 0
}

// WaitRegistered waits until user is registered, failing the test with
// Kamailio's log after timeout.
func (k *Kamailio) WaitRegistered(t testing.TB, user string, timeout time.Duration) []Binding {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		b, err := k.bindings(user)
		if err != nil {
			t.Fatalf("peers: %v\n%s", err, k.Log())
		}
		if len(b) > 0 {
			return b
		}
		if time.Now().After(deadline) {
			t.Fatalf("peers: %s not registered at kamailio %s after %v\n%s", user, k.Addr, timeout, k.Log())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// bindings asks usrloc over Kamailio's JSON-RPC control socket (UDP on
// loopback): the registrar's own view, not a guess from the log.
func (k *Kamailio) bindings(user string) ([]Binding, error) {
	res, err := k.rpcCall("ul.lookup", "location", user)
	if err != nil {
		return nil, err
	}
	if res.Error != nil {
		// usrloc answers a user with no contacts with an error.
		if res.Error.Code == 404 || strings.Contains(res.Error.Message, "not found") {
			return nil, nil
		}
		return nil, fmt.Errorf("kamailio ul.lookup %s: %d %s", user, res.Error.Code, res.Error.Message)
	}
	return parseBindings(res.Result)
}

type rpcResponse struct {
	Result json.RawMessage `json:"result"`
	Error  *struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

func (k *Kamailio) rpcCall(method string, params ...string) (*rpcResponse, error) {
	c, err := net.DialUDP("udp4", nil, net.UDPAddrFromAddrPort(k.rpc))
	if err != nil {
		return nil, fmt.Errorf("kamailio rpc %s: %w", method, err)
	}
	defer c.Close()
	req, err := json.Marshal(map[string]any{"jsonrpc": "2.0", "method": method, "params": params, "id": 1})
	if err != nil {
		return nil, fmt.Errorf("kamailio rpc %s: %w", method, err)
	}
	buf := make([]byte, 65536)
	// UDP on loopback rarely loses a datagram, but a busy Kamailio may be
	// slow: retry a few times before giving up.
	for try := 0; try < 5; try++ {
		if _, err := c.Write(req); err != nil {
			return nil, fmt.Errorf("kamailio rpc %s: %w", method, err)
		}
		_ = c.SetReadDeadline(time.Now().Add(time.Second))
		n, err := c.Read(buf)
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return nil, fmt.Errorf("kamailio rpc %s: %w", method, err)
		}
		var res rpcResponse
		if err := json.Unmarshal(buf[:n], &res); err != nil {
			return nil, fmt.Errorf("kamailio rpc %s: bad answer %q: %w", method, buf[:n], err)
		}
		return &res, nil
	}
	return nil, fmt.Errorf("kamailio rpc %s: no answer from %s", method, k.rpc)
}

// parseBindings decodes usrloc's ul.lookup result:
// {"AoR":"1001","Contacts":[{"Contact":{"Address":"sip:…","Expires":60,…}}]}.
func parseBindings(raw json.RawMessage) ([]Binding, error) {
	var r struct {
		Contacts []struct {
			Contact struct {
				Address   string `json:"Address"`
				Expires   any    `json:"Expires"`
				Received  string `json:"Received"`
				UserAgent string `json:"User-Agent"`
			} `json:"Contact"`
		} `json:"Contacts"`
	}
	if err := json.Unmarshal(raw, &r); err != nil {
		return nil, fmt.Errorf("kamailio ul.lookup result %q: %w", raw, err)
	}
	var out []Binding
	for _, c := range r.Contacts {
		b := Binding{Contact: c.Contact.Address, Received: c.Contact.Received, UserAgent: c.Contact.UserAgent}
		if b.Received == "[not set]" {
			b.Received = ""
		}
		switch e := c.Contact.Expires.(type) {
		case float64:
			b.Expires = int(e)
		case string:
			// "permanent" and the like: no expiry.
		}
		out = append(out, b)
	}
	return out, nil
}

// RegisterContact registers contact (another peer, typically a SIPp far
// end) as u's location, authenticating as u, so that calls to u.Name reach
// it. It runs SIPp's uac_register scenario and fails the test if the
// registration is not accepted.
func (k *Kamailio) RegisterContact(t testing.TB, u User, contact netip.AddrPort) {
	t.Helper()
	s := StartSIPp(t, "uac_register.xml", k.Addr.String(), "-m", "1",
		"-s", u.Name, "-au", u.Name, "-ap", u.Password,
		"-key", "realm", k.Realm, "-key", "contact", contact.String(),
		"-recv_timeout", "5000")
	code, err := s.Wait(10 * time.Second)
	if err != nil || code != 0 {
		t.Fatalf("peers: registering %s for %s failed (exit %d, %v)\n%s\n--- kamailio ---\n%s", contact, u.Name, code, err, s.Report(), k.Log())
	}
}
