package updatetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/tipring/tipring/firmware/api"
	"github.com/tipring/tipring/firmware/image"
	"github.com/tipring/tipring/firmware/update"
	"github.com/tipring/tipring/scripts/peers"
)

// Built once by TestMain: the firmware at two versions (with the
// updatetest tag, whose installer can pause at a step, and trusting the
// development key), and images of them.
var (
	bins     = map[string]string{} // version → binary
	imgV1    string                // 1.0.0
	imgV2    string                // 1.1.0
	imgNoFit string                // 1.1.0 without its prompts: fails at start
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "tipring-updatetest-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := 1
	if err := setup(dir); err != nil {
		fmt.Fprintln(os.Stderr, "updatetest setup:", err)
	} else {
		code = m.Run()
		if code == 0 {
			if err := goleak.Find(); err != nil {
				fmt.Fprintln(os.Stderr, err)
				code = 1
			}
		}
	}
	os.RemoveAll(dir)
	os.Exit(code)
}

func setup(dir string) error {
	for _, v := range []string{"1.0.0", "1.1.0"} {
		out := filepath.Join(dir, "tipring-"+v)
		cmd := exec.Command("go", "build", "-tags", "updatetest", "-ldflags",
			"-s -w -X main.version="+v+" -X github.com/tipring/tipring/firmware/update.devKeyTrust=yes",
			"-o", out, "github.com/tipring/tipring/firmware/cmd/tipring")
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("build %s: %w", v, err)
		}
		bins[v] = out
	}
	keyData, err := os.ReadFile("../keys/dev.key")
	if err != nil {
		return err
	}
	key, err := image.ParsePrivateKey(keyData)
	if err != nil {
		return err
	}
	mk := func(version string, prompts bool) (string, error) {
		stage := filepath.Join(dir, "stage-"+version+fmt.Sprint(prompts))
		if err := os.MkdirAll(filepath.Join(stage, "prompts"), 0o755); err != nil {
			return "", err
		}
		if err := link(bins[version], filepath.Join(stage, "tipring")); err != nil {
			return "", err
		}
		if prompts {
			src := "../../firmware/prompts/data"
			entries, err := os.ReadDir(src)
			if err != nil {
				return "", err
			}
			for _, e := range entries {
				if err := link(filepath.Join(src, e.Name()), filepath.Join(stage, "prompts", e.Name())); err != nil {
					return "", err
				}
			}
		}
		// Uncompressed: flate under the race detector (make test) takes
		// tens of seconds for three images; gzip has its unit tests.
		var buf bytes.Buffer
		if _, err := image.Pack(&buf, os.DirFS(stage), image.PackOptions{Board: "sim", Version: version, Built: time.Now(), Key: key, DevSigned: true}); err != nil {
			return "", err
		}
		path := filepath.Join(dir, fmt.Sprintf("tipring-sim-%s-%v.img", version, prompts))
		return path, os.WriteFile(path, buf.Bytes(), 0o644)
	}
	if imgV1, err = mk("1.0.0", true); err != nil {
		return err
	}
	if imgV2, err = mk("1.1.0", true); err != nil {
		return err
	}
	imgNoFit, err = mk("1.1.0", false)
	return err
}

func link(src, dst string) error {
	b, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	info, err := os.Stat(src)
	if err != nil {
		return err
	}
	return os.WriteFile(dst, b, info.Mode().Perm())
}

// sim is a data dir and a configuration for the sim board, everything on
// loopback.
type sim struct {
	t      testing.TB
	data   string
	config string
	api    *api.Client
	tr     *http.Transport
}

func newSim(t *testing.T) *sim {
	return newSimWith(t, fmt.Sprintf("127.0.0.1:%d", peers.FreePort(t, "udp")), "1s")
}

// newSimWith registers line 1 at registrar and confirms a new image after
// confirmAfter at the latest.
func newSimWith(t testing.TB, registrar, confirmAfter string) *sim {
	data := t.TempDir()
	rtp := peers.FreePort(t, "udp") &^ 1
	adminPort := peers.FreePort(t, "tcp")
	cfg := fmt.Sprintf(`[device]
board = "sim"
region = "us"
data_dir = %q

[sip]
listen = "127.0.0.1:%d"
rtp_ports = "%d-%d"

[[line]]
port = 1
user = "1001"
password = "secret"
registrar = %q
domain = %q

[admin]
listen = "127.0.0.1:%d"
password = "update-test"

[sim]
control = "127.0.0.1:%d"

[update]
confirm_after = %q
`, data, peers.FreePort(t, "sip"), rtp, rtp+9, registrar, peers.DefaultRealm, adminPort, peers.FreePort(t, "tcp"), confirmAfter)
	path := filepath.Join(t.TempDir(), "tipring.toml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	return &sim{t: t, data: data, config: path, tr: tr,
		api: api.NewClient(fmt.Sprintf("http://127.0.0.1:%d", adminPort), "update-test", &http.Client{Transport: tr, Timeout: 10 * time.Second})}
}

// tipring runs the 1.0.0 binary as the installer's tool (or the boot
// loader) would.
func (s *sim) tipring(env []string, args ...string) *exec.Cmd {
	cmd := exec.Command(bins["1.0.0"], args...)
	cmd.Env = append(os.Environ(), env...)
	// Its own process group: a power cut kills boot and the firmware it
	// started together.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	return cmd
}

func (s *sim) installOffline(img string) {
	s.t.Helper()
	out, err := s.tipring(nil, "update", "--offline", "--data", s.data, "--board", "sim", img).CombinedOutput()
	if err != nil {
		s.t.Fatalf("offline install: %v\n%s", err, out)
	}
}

// booted is a running tipring boot.
type booted struct {
	cmd  *exec.Cmd
	out  *peers.LogBuffer
	done chan struct{} // closed when boot has exited
}

func (s *sim) boot(env ...string) *booted {
	s.t.Helper()
	b := &booted{cmd: s.tipring(env, "boot", "--config", s.config, "--data", s.data), out: &peers.LogBuffer{}, done: make(chan struct{})}
	b.cmd.Stdout, b.cmd.Stderr = b.out, b.out
	if err := b.cmd.Start(); err != nil {
		s.t.Fatal(err)
	}
	go func() {
		_ = b.cmd.Wait()
		close(b.done)
	}()
	s.t.Cleanup(func() {
		b.powerCut()
		if s.t.Failed() {
			s.t.Logf("--- boot log ---\n%s", b.out.String())
		}
	})
	return b
}

// powerCut kills the whole process group with SIGKILL.
func (b *booted) powerCut() {
	_ = syscall.Kill(-b.cmd.Process.Pid, syscall.SIGKILL)
	select {
	case <-b.done:
	case <-time.After(5 * time.Second):
	}
}

// serving waits until the firmware answers and returns its status.
func (s *sim) serving(timeout time.Duration) api.Status {
	s.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		st, err := s.api.Status(context.Background())
		if err == nil {
			return st
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("firmware not serving /api/v1/status after %v: %v", timeout, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (s *sim) updateState() api.UpdateStatus {
	s.t.Helper()
	st, err := s.api.UpdateStatus(context.Background())
	if err != nil {
		s.t.Fatal(err)
	}
	return st
}

// confirmed waits until the running image has confirmed its health (no
// trial left) and returns the boot state.
func (s *sim) confirmed(timeout time.Duration) update.State {
	s.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		st := s.updateState().State
		if st.Confirmed && st.Trial == "" {
			return st
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("the running image did not confirm its health within %v: %+v", timeout, st)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestPowerCutAtEveryStep: the running firmware installs 1.1.0 over
// 1.0.0 from an upload, paused before one step; the power goes; the
// device must come back on 1.0.0 before the switch and on 1.1.0 after.
func TestPowerCutAtEveryStep(t *testing.T) {
	steps := []update.Step{update.StepOpen, update.StepBegin, update.StepClear, update.StepWrite, update.StepSync, update.StepReady, update.StepSwitch, update.StepDone}
	for _, step := range steps {
		t.Run(string(step), func(t *testing.T) {
			s := newSim(t)
			s.installOffline(imgV1)
			mark := filepath.Join(t.TempDir(), "paused")
			b := s.boot("TIPRING_UPDATE_PAUSE="+string(step), "TIPRING_UPDATE_PAUSE_MARK="+mark)
			if v := s.serving(10 * time.Second).Version; v != "1.0.0" {
				t.Fatalf("first boot runs %s", v)
			}
			up := s.tipring(nil, "update", "--config", s.config, imgV2)
			if err := up.Start(); err != nil {
				t.Fatal(err)
			}
			waitFile(t, mark, 10*time.Second)
			b.powerCut()
			_ = syscall.Kill(-up.Process.Pid, syscall.SIGKILL)
			_ = up.Wait()

			s.boot()
			want := "1.0.0"
			if step == update.StepDone {
				want = "1.1.0"
			}
			if v := s.serving(10 * time.Second).Version; v != want {
				t.Fatalf("after a power cut before %s the device runs %s, want %s", step, v, want)
			}
			st := s.updateState()
			if info := st.State.Slots[st.RunningSlot]; info.State != update.SlotReady || info.Version != want {
				t.Fatalf("running slot %s is %+v", st.RunningSlot, info)
			}
			out, err := s.tipring(nil, "update", "--status", "--config", s.config).CombinedOutput()
			if err != nil || !strings.Contains(string(out), "ready    "+want) || !strings.Contains(string(out), "running") {
				t.Fatalf("tipring update --status: %v\n%s", err, out)
			}
			if want == "1.1.0" {
				// The new image confirms itself ([update] confirm_after 1s).
				s.confirmed(10 * time.Second)
			}
		})
	}
}

// TestUnhealthyImageIsRolledBack: an image whose firmware cannot start
// (no prompts) never confirms; after three boots the device is back on
// 1.0.0 by itself.
func TestUnhealthyImageIsRolledBack(t *testing.T) {
	s := newSim(t)
	s.installOffline(imgV1)
	s.installOffline(imgNoFit)
	b := s.boot()
	if v := s.serving(30 * time.Second).Version; v != "1.0.0" {
		t.Fatalf("device runs %s, want the rollback to 1.0.0", v)
	}
	st := s.updateState().State
	if st.Trial != "" || st.Slots[update.SlotB].State != update.SlotRejected || !strings.Contains(st.LastRollback, "did not confirm its health in 3 boots") {
		t.Fatalf("boot state after rollback: %+v", st)
	}
	if n := strings.Count(b.out.String(), "new firmware failed on trial"); n != 3 {
		t.Errorf("the unhealthy image was booted %d times, want 3", n)
	}
}

func waitFile(t *testing.T, path string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		if _, err := os.Stat(path); err == nil {
			return
		} else if !errors.Is(err, os.ErrNotExist) {
			t.Fatal(err)
		}
		if time.Now().After(deadline) {
			t.Fatalf("the installer never reached the pause (%s)", path)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
