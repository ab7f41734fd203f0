package peers

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// installHint is what a test says when a peer is missing: CI runs on a fresh
// Debian where the packages may not be there yet.
const installHint = "run scripts/install-peers.sh (as root) to install kamailio, sip-tester (sipp) and baresip"

// lookPath finds a peer's binary or fails the test saying how to install it.
// /usr/sbin is searched too because kamailio lives there and a non-root
// PATH often lacks it.
func lookPath(t testing.TB, name string) string {
	t.Helper()
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	for _, dir := range []string{"/usr/sbin", "/usr/bin", "/usr/local/bin", "/usr/local/sbin"} {
		p := filepath.Join(dir, name)
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
			return p
		}
	}
	t.Fatalf("peers: %s not found in PATH or /usr/sbin: %s", name, installHint)
	return ""
}

// LogBuffer keeps a process's output, or a logger's, for the test to read
// while it is still being written: Write and String may be called from
// different goroutines. It keeps the most recent 4 MiB: SIPp redraws its
// screen every second, and a long test must not grow without bound. The
// zero value is ready to use.
type LogBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

const maxLog = 4 << 20

func (b *LogBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf.Write(p)
	if over := b.buf.Len() - maxLog; over > 0 {
		b.buf.Next(over)
	}
	return len(p), nil
}

func (b *LogBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// process is a peer program started by a test.
type process struct {
	name   string
	cmd    *exec.Cmd
	stdout LogBuffer
	stderr LogBuffer
	done   chan struct{}
	// Set before done is closed.
	exitCode int
	waitErr  error
}

// startProcess starts bin in dir. The process gets its own process group so
// that a stop can reach the children it forks (Kamailio forks workers) and
// so that a Ctrl-C on `go test` is handled by the test, not by the peer.
func startProcess(bin, dir string, args ...string) (*process, error) {
	p := &process{name: filepath.Base(bin), done: make(chan struct{})}
	p.cmd = exec.Command(bin, args...)
	p.cmd.Dir = dir
	p.cmd.Stdout = &p.stdout
	p.cmd.Stderr = &p.stderr
	p.cmd.Stdin = nil
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	go func() {
		err := p.cmd.Wait()
		p.waitErr = err
		p.exitCode = p.cmd.ProcessState.ExitCode()
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			// An exit status is the program's answer, not a failure to wait.
			p.waitErr = nil
			if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
				p.exitCode = -int(ws.Signal())
			}
		}
		close(p.done)
	}()
	return p, nil
}

// commandLine is the program and its arguments as a shell would show them,
// for messages that tell a reader how to reproduce a run.
func (p *process) commandLine() string {
	return strings.Join(p.cmd.Args, " ")
}

func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// wait waits up to timeout for the process to exit and returns its exit
// code (negative: killed by that signal).
func (p *process) wait(timeout time.Duration) (int, error) {
	select {
	case <-p.done:
		return p.exitCode, p.waitErr
	case <-time.After(timeout):
		return 0, fmt.Errorf("%s still running after %v", p.name, timeout)
	}
}

// stop sends sig to the process up to times times, gap apart, until it exits;
// after grace it kills the whole process group the peer started.
func (p *process) stop(sig syscall.Signal, times int, gap, grace time.Duration) {
	pid := p.cmd.Process.Pid
	// Children the peer forked may outlive it if it crashed; the group id
	// is the peer's own pid (Setpgid), so this reaches only processes the
	// peer started.
	defer func() { _ = syscall.Kill(-pid, syscall.SIGKILL) }()
	if p.exited() {
		return
	}
	for i := 0; i < times; i++ {
		_ = syscall.Kill(pid, sig)
		select {
		case <-p.done:
			return
		case <-time.After(gap):
		}
	}
	select {
	case <-p.done:
		return
	case <-time.After(grace):
	}
	_ = syscall.Kill(-pid, syscall.SIGKILL)
	<-p.done
}

// output is stdout and stderr for failure messages.
func (p *process) output() string {
	var b strings.Builder
	if s := p.stdout.String(); s != "" {
		b.WriteString("--- stdout ---\n")
		b.WriteString(s)
		b.WriteString("\n")
	}
	if s := p.stderr.String(); s != "" {
		b.WriteString("--- stderr ---\n")
		b.WriteString(s)
		b.WriteString("\n")
	}
	return b.String()
}
