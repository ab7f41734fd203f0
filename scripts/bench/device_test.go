package bench

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tipring/tipring/boards/sim"
	"github.com/tipring/tipring/firmware/api"
	"github.com/tipring/tipring/scripts/peers"
)

// Audio both callers speak during a measured call: what baresip's
// BaresipOptions default to, so tipring's phone and baresip send the same.
const (
	talkHz   = 1004
	talkDBm0 = -10
)

// tipringBinary returns the firmware to measure: $TIPRING_BIN (make bench
// passes the stripped bin/tipring), or one built here the same way.
func tipringBinary(tb testing.TB) string {
	tb.Helper()
	if bin := os.Getenv("TIPRING_BIN"); bin != "" {
		abs, err := filepath.Abs(bin)
		if err != nil {
			tb.Fatalf("TIPRING_BIN=%q: %v", bin, err)
		}
		if fi, err := os.Stat(abs); err != nil || fi.IsDir() || fi.Mode()&0o111 == 0 {
			tb.Fatalf("TIPRING_BIN=%q is not an executable file (run make build)", bin)
		}
		return abs
	}
	bin := filepath.Join(tb.TempDir(), "tipring")
	build := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w", "-o", bin, "github.com/tipring/tipring/firmware/cmd/tipring")
	if out, err := build.CombinedOutput(); err != nil {
		tb.Fatalf("build tipring: %v\n%s", err, out)
	}
	return bin
}

// line is one [[line]] of the device under test.
type line struct {
	User      peers.User
	Registrar netip.AddrPort
}

// tipring is the firmware running on the sim board.
type tipring struct {
	tb    testing.TB
	Pid   int
	Phone *sim.Client
	API   *api.Client
	cmd   *exec.Cmd
	out   *lockedBuffer
	done  chan error
	tr    *http.Transport
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	// Info-level logging is a few lines per call; the cap only guards a
	// runaway log from growing the benchmark's own memory.
	if l.b.Len() > 4<<20 {
		return len(p), nil
	}
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// startTipring runs `tipring run` on the sim board with a generated
// configuration (every address on loopback, the device's default log level
// info), one [[line]] per port, and returns once its APIs answer. It is
// stopped with SIGTERM when the benchmark ends.
func startTipring(tb testing.TB, bin string, lines ...line) *tipring {
	tb.Helper()
	sipPort := peers.FreePort(tb, "sip")
	adminPort := peers.FreePort(tb, "tcp")
	controlPort := peers.FreePort(tb, "tcp")
	rtp := peers.FreePort(tb, "udp") &^ 1
	var cfg strings.Builder
	prompts, err := filepath.Abs("../../firmware/prompts/data")
	if err != nil {
		tb.Fatal(err)
	}
	fmt.Fprintf(&cfg, "[device]\nboard = \"sim\"\nregion = \"us\"\ndata_dir = %q\nprompts = %q\n\n", tb.TempDir(), prompts)
	fmt.Fprintf(&cfg, "[sip]\nlisten = \"127.0.0.1:%d\"\nrtp_ports = \"%d-%d\"\n\n", sipPort, rtp, rtp+19)
	for i, l := range lines {
		fmt.Fprintf(&cfg, "[[line]]\nport = %d\nuser = %q\npassword = %q\nregistrar = %q\ndomain = %q\n",
			i+1, l.User.Name, l.User.Password, l.Registrar.String(), peers.DefaultRealm)
		// Four-digit numbers are complete as dialled: no interdigit wait.
		fmt.Fprintf(&cfg, "dial_plan = \"(911|[12]xxx)\"\n\n")
	}
	fmt.Fprintf(&cfg, "[admin]\nlisten = \"127.0.0.1:%d\"\npassword = \"bench\"\n\n[sim]\ncontrol = \"127.0.0.1:%d\"\n", adminPort, controlPort)
	// Nothing the benchmark starts may send beyond loopback.
	cfg.WriteString("\n[diag]\ndiscovery = false\nprobes = false\n")
	path := filepath.Join(tb.TempDir(), "tipring.toml")
	if err := os.WriteFile(path, []byte(cfg.String()), 0o600); err != nil {
		tb.Fatal(err)
	}

	d := &tipring{tb: tb, out: &lockedBuffer{}, done: make(chan error, 1), tr: &http.Transport{}}
	d.cmd = exec.Command(bin, "run", "--config", path)
	d.cmd.Stdout, d.cmd.Stderr = d.out, d.out
	if err := d.cmd.Start(); err != nil {
		tb.Fatalf("start tipring: %v", err)
	}
	d.Pid = d.cmd.Process.Pid
	go func() { d.done <- d.cmd.Wait() }()
	hc := &http.Client{Transport: d.tr, Timeout: 30 * time.Second}
	d.Phone = sim.NewClient(fmt.Sprintf("http://127.0.0.1:%d", controlPort), hc)
	d.API = api.NewClient(fmt.Sprintf("http://127.0.0.1:%d", adminPort), "bench", hc)
	tb.Cleanup(d.stop)
	d.eventually("tipring's management API", 10*time.Second, func() bool {
		_, err := d.API.Status(context.Background())
		return err == nil
	})
	return d
}

func (d *tipring) stop() {
	defer d.tr.CloseIdleConnections()
	select {
	case err := <-d.done:
		d.tb.Errorf("tipring exited during the benchmark: %v\n%s", err, d.out.String())
		return
	default:
	}
	_ = d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-d.done:
		if err != nil {
			d.tb.Errorf("tipring did not stop cleanly: %v\n%s", err, d.out.String())
		}
	case <-time.After(10 * time.Second):
		_ = d.cmd.Process.Kill()
		<-d.done
		d.tb.Error("tipring did not stop within 10 s of SIGTERM")
	}
}

// alive fails the benchmark when tipring has exited: a crashed process has
// no memory or CPU left to measure.
func (d *tipring) alive() {
	d.tb.Helper()
	select {
	case err := <-d.done:
		d.done <- err
		d.tb.Fatalf("tipring exited: %v\n%s", err, d.out.String())
	default:
	}
}

func (d *tipring) eventually(what string, timeout time.Duration, cond func() bool) {
	d.tb.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		d.alive()
		if time.Now().After(deadline) {
			d.tb.Fatalf("timed out after %v waiting for %s\n--- tipring log ---\n%s", timeout, what, d.out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (d *tipring) ctx(timeout time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	d.tb.Cleanup(cancel)
	return ctx
}

func (d *tipring) status() api.Status {
	d.tb.Helper()
	st, err := d.API.Status(d.ctx(5 * time.Second))
	if err != nil {
		d.tb.Fatalf("tipring status: %v", err)
	}
	return st
}

func (d *tipring) waitRegistered(ports ...int) {
	d.tb.Helper()
	for _, p := range ports {
		d.eventually(fmt.Sprintf("line %d registered", p), 15*time.Second, func() bool {
			st := d.status()
			return len(st.Lines) >= p && st.Lines[p-1].Registered
		})
	}
}

func (d *tipring) callState(port int) string {
	d.tb.Helper()
	st := d.status()
	if len(st.Lines) < port {
		d.tb.Fatalf("tipring has %d lines, no line %d", len(st.Lines), port)
	}
	return st.Lines[port-1].CallState
}

func (d *tipring) waitConnected(port int) {
	d.tb.Helper()
	d.eventually(fmt.Sprintf("line %d's call answered", port), 15*time.Second, func() bool {
		return d.callState(port) == "connected"
	})
}

func (d *tipring) hook(port int, off bool) {
	d.tb.Helper()
	if err := d.Phone.Hook(d.ctx(5*time.Second), port, off); err != nil {
		d.tb.Fatalf("phone %d hook: %v", port, err)
	}
}

// dial dials by DTMF audio, as a person with a touch-tone phone does.
func (d *tipring) dial(port int, digits string) {
	d.tb.Helper()
	if err := d.Phone.Dial(d.ctx(30*time.Second), port, digits, "dtmf"); err != nil {
		d.tb.Fatalf("phone %d dial %s: %v", port, digits, err)
	}
}

// talk has the phone speak the talk tone for the next d; the phone speaks
// it without further requests, so the measured window holds no API calls.
func (d *tipring) talk(port int, dur time.Duration) {
	d.tb.Helper()
	if err := d.Phone.SendTone(d.ctx(5*time.Second), port, talkHz, int(dur/time.Millisecond), talkDBm0); err != nil {
		d.tb.Fatalf("phone %d send: %v", port, err)
	}
}

// waitHearing waits until the phone hears a tone at hz.
func (d *tipring) waitHearing(port int, hz float64, timeout time.Duration) sim.PhoneState {
	d.tb.Helper()
	st, err := d.Phone.WaitFor(d.ctx(timeout), port, func(s sim.PhoneState) bool {
		return s.Hearing == "tone" && hasFreq(s.ToneHz, hz)
	})
	if err != nil {
		d.tb.Fatalf("phone %d: hearing %v Hz: %v (last state %+v)\n--- tipring log ---\n%s", port, hz, err, st, d.out.String())
	}
	return st
}

func hasFreq(freqs []float64, hz float64) bool {
	for _, f := range freqs {
		if math.Abs(f-hz) <= hz*0.01 {
			return true
		}
	}
	return false
}
