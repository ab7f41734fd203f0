package interop

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/tipring/tipring/boards/sim"
	"github.com/tipring/tipring/firmware/api"
	"github.com/tipring/tipring/scripts/peers"
)

// tipringBin is the firmware binary the tests run, built once.
var tipringBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "tipring-interop-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	tipringBin = filepath.Join(dir, "tipring")
	build := exec.Command("go", "build", "-o", tipringBin, "github.com/tipring/tipring/firmware/cmd/tipring")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build tipring:", err)
		os.Exit(1)
	}
	code := m.Run()
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			code = 1
		}
	}
	os.RemoveAll(dir)
	os.Exit(code)
}

// account is one [[line]] of a device under test.
type account struct {
	User, Password string
	Registrar      netip.AddrPort
	Transport      string
}

// device is a running tipring process on the sim board.
type device struct {
	t       *testing.T
	SIP     netip.AddrPort
	Phone   *sim.Client
	API     *api.Client
	cmd     *exec.Cmd
	out     *peers.LogBuffer
	stopped chan error
	killed  bool // by powerCut (powercut_test.go): no clean stop to wait for
}

// startDevice writes a configuration for the accounts (line 1, line 2 …),
// starts tipring on the sim board with every address on loopback, and
// returns once its control and management APIs answer. It is stopped with
// SIGTERM when the test ends, and must exit cleanly.
func startDevice(t *testing.T, region string, accounts ...account) *device {
	t.Helper()
	return startDeviceWith(t, deviceSetup{Region: region, Accounts: accounts})
}

// deviceSetup is what startDeviceWith puts in the configuration.
type deviceSetup struct {
	Region   string
	Accounts []account
	// DialPlan for every line; default "(911|x.T)".
	DialPlan string
	// Extra is appended to the configuration (a [meter] table, say).
	Extra string
	// Diag is added to the [diag] table, which always turns LAN discovery
	// and probes off: nothing a test starts may send beyond loopback.
	Diag string
	// DataDir keeps the ledger across restarts; default a new temporary
	// directory.
	DataDir string
}

func startDeviceWith(t *testing.T, setup deviceSetup) *device {
	t.Helper()
	region, accounts := setup.Region, setup.Accounts
	if setup.DataDir == "" {
		setup.DataDir = t.TempDir()
	}
	if setup.DialPlan == "" {
		setup.DialPlan = "(911|x.T)"
	}
	sipPort := peers.FreePort(t, "sip")
	adminPort := peers.FreePort(t, "tcp")
	controlPort := peers.FreePort(t, "tcp")
	rtp := peers.FreePort(t, "udp") &^ 1
	var cfg strings.Builder
	fmt.Fprintf(&cfg, "[device]\nboard = \"sim\"\nregion = %q\ndata_dir = %q\nprompts = %q\nlog_level = \"debug\"\n\n", region, setup.DataDir, promptsDir(t))
	fmt.Fprintf(&cfg, "[sip]\nlisten = \"127.0.0.1:%d\"\nrtp_ports = \"%d-%d\"\n\n", sipPort, rtp, rtp+19)
	for i, a := range accounts {
		transport := a.Transport
		if transport == "" {
			transport = "udp"
		}
		fmt.Fprintf(&cfg, "[[line]]\nport = %d\nuser = %q\npassword = %q\nregistrar = %q\ntransport = %q\n", i+1, a.User, a.Password, a.Registrar.String(), transport)
		fmt.Fprintf(&cfg, "domain = %q\ndial_plan = %q\ninterdigit_short = \"1s\"\ninterdigit_long = \"1500ms\"\n\n", peers.DefaultRealm, setup.DialPlan)
	}
	fmt.Fprintf(&cfg, "[admin]\nlisten = \"127.0.0.1:%d\"\npassword = \"interop\"\n\n[sim]\ncontrol = \"127.0.0.1:%d\"\n", adminPort, controlPort)
	fmt.Fprintf(&cfg, "\n[diag]\ndiscovery = false\nprobes = false\n%s\n", setup.Diag)
	cfg.WriteString(setup.Extra)
	path := filepath.Join(t.TempDir(), "tipring.toml")
	if err := os.WriteFile(path, []byte(cfg.String()), 0o600); err != nil {
		t.Fatal(err)
	}

	d := &device{
		t:       t,
		SIP:     netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(sipPort)),
		out:     &peers.LogBuffer{},
		stopped: make(chan error, 1),
	}
	d.cmd = exec.Command(tipringBin, "run", "--config", path)
	d.cmd.Stdout, d.cmd.Stderr = d.out, d.out
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { d.stopped <- d.cmd.Wait() }()
	tr := &http.Transport{}
	hc := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	d.Phone = sim.NewClient(fmt.Sprintf("http://127.0.0.1:%d", controlPort), hc)
	d.API = api.NewClient(fmt.Sprintf("http://127.0.0.1:%d", adminPort), "interop", hc)
	t.Cleanup(func() {
		d.stop()
		tr.CloseIdleConnections()
		if t.Failed() {
			t.Logf("--- tipring log ---\n%s", d.out.String())
		}
	})
	d.eventually("the management API", 10*time.Second, func() bool {
		_, err := d.API.Status(context.Background())
		return err == nil
	})
	return d
}

func (d *device) stop() {
	if d.killed {
		return
	}
	select {
	case err := <-d.stopped:
		d.t.Errorf("tipring exited early: %v", err)
		return
	default:
	}
	_ = d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-d.stopped:
		if err != nil {
			d.t.Errorf("tipring did not stop cleanly on SIGTERM: %v", err)
		}
	case <-time.After(10 * time.Second):
		_ = d.cmd.Process.Kill()
		<-d.stopped
		d.t.Error("tipring did not stop within 10 s of SIGTERM")
	}
}

// eventually polls cond until it holds or the time is up.
func (d *device) eventually(what string, timeout time.Duration, cond func() bool) {
	d.t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			d.t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (d *device) status() api.Status {
	d.t.Helper()
	st, err := d.API.Status(context.Background())
	if err != nil {
		d.t.Fatal(err)
	}
	return st
}

func (d *device) waitRegistered(port int) {
	d.t.Helper()
	d.eventually(fmt.Sprintf("line %d registered", port), 10*time.Second, func() bool {
		st := d.status()
		return len(st.Lines) >= port && st.Lines[port-1].Registered
	})
}

func (d *device) ctx(timeout time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	d.t.Cleanup(cancel)
	return ctx
}

func (d *device) hook(port int, off bool) {
	d.t.Helper()
	if err := d.Phone.Hook(d.ctx(5*time.Second), port, off); err != nil {
		d.t.Fatal(err)
	}
}

// dial dials by DTMF audio on the line, as a person with a touch-tone
// phone does.
func (d *device) dial(port int, digits string) {
	d.t.Helper()
	if err := d.Phone.Dial(d.ctx(30*time.Second), port, digits, "dtmf"); err != nil {
		d.t.Fatal(err)
	}
}

func (d *device) send(port int, hz float64, ms int) {
	d.t.Helper()
	if err := d.Phone.SendTone(d.ctx(5*time.Second), port, hz, ms, -10); err != nil {
		d.t.Fatal(err)
	}
}

// waitPhone waits for the phone to report a state; what names it for the
// failure message.
func (d *device) waitPhone(port int, what string, timeout time.Duration, cond func(sim.PhoneState) bool) sim.PhoneState {
	d.t.Helper()
	st, err := d.Phone.WaitFor(d.ctx(timeout), port, cond)
	if err != nil {
		d.t.Fatalf("phone %d: %s: %v (last state: %+v)", port, what, err, st)
	}
	return st
}

// waitHearing waits until the phone hears name (and, for a tone, hz).
func (d *device) waitHearing(port int, name string, hz float64, timeout time.Duration) sim.PhoneState {
	d.t.Helper()
	what := "hearing " + name
	if hz > 0 {
		what += fmt.Sprintf(" at %v Hz", hz)
	}
	return d.waitPhone(port, what, timeout, func(s sim.PhoneState) bool {
		return s.Hearing == name && (hz == 0 || hasFreq(s.ToneHz, hz))
	})
}

func hasFreq(freqs []float64, hz float64) bool {
	for _, f := range freqs {
		if math.Abs(f-hz) <= hz*0.01 {
			return true
		}
	}
	return false
}

// promptsDir is the repository's prompts, which the firmware built into a
// temporary directory does not have beside it.
func promptsDir(tb testing.TB) string {
	dir, err := filepath.Abs("../../firmware/prompts/data")
	if err != nil {
		tb.Fatal(err)
	}
	return dir
}
