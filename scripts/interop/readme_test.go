package interop

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tipring/tipring/boards/sim"
	"github.com/tipring/tipring/scripts/peers"
)

// repoRoot is the checkout's top folder (this package is scripts/interop).
func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// TestReadmeWalkthrough does what the README tells a newcomer to do: `make
// run` starts the development provider and tipring, and every
// `bin/tipring` command in the README's shell blocks is run as written; a
// `state` command whose comment says what the phone hears must come to
// show it.
func TestReadmeWalkthrough(t *testing.T) {
	root := repoRoot(t)
	// Bundles a previous run sent must not pass for this run's.
	if err := os.RemoveAll(filepath.Join(root, ".run", "support")); err != nil {
		t.Fatal(err)
	}
	startDevSetup(t, root)

	readme, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	cmds := readmeCommands(string(readme))
	if len(cmds) < 10 {
		t.Fatalf("found %d bin/tipring commands in the README; the walkthrough is missing", len(cmds))
	}
	for _, c := range cmds {
		out := runReadmeCommand(t, root, c)
		if strings.Contains(c.line, " onhook") {
			// A person takes longer than the hook-flash window to pick
			// the handset up again.
			time.Sleep(1200 * time.Millisecond)
		}
		t.Logf("$ %s\n%s", c.line, out)
	}
	// The README's *47: the bundle reached the development support desk.
	deadline := time.Now().Add(30 * time.Second)
	for {
		got, _ := filepath.Glob(filepath.Join(root, ".run", "support", "ticket-*.tar.gz"))
		if len(got) > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("*47 sent no bundle to the development support desk (.run/support)")
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestReadmeTestNumbers checks each row of the README's table of test
// numbers against the development provider.
func TestReadmeTestNumbers(t *testing.T) {
	root := repoRoot(t)
	startDevSetup(t, root)
	phone := sim.NewClient("http://127.0.0.1:7070", nil)
	ctx := context.Background()
	wait := func(port int, what string, cond func(sim.PhoneState) bool) sim.PhoneState {
		t.Helper()
		wctx, cancel := context.WithTimeout(ctx, 15*time.Second)
		defer cancel()
		st, err := phone.WaitFor(wctx, port, cond)
		if err != nil {
			t.Fatalf("phone %d: %s: %v (last %+v)", port, what, err, st)
		}
		return st
	}
	hearing := func(name string, hz float64) func(sim.PhoneState) bool {
		return func(s sim.PhoneState) bool { return s.Hearing == name && (hz == 0 || hasFreq(s.ToneHz, hz)) }
	}
	call := func(number string) {
		t.Helper()
		if err := phone.Hook(ctx, 1, true); err != nil {
			t.Fatal(err)
		}
		wait(1, "dial tone", hearing("dial", 0))
		if err := phone.Dial(ctx, 1, number, "dtmf"); err != nil {
			t.Fatal(err)
		}
	}
	hangUp := func(port int) {
		t.Helper()
		if err := phone.Hook(ctx, port, false); err != nil {
			t.Fatal(err)
		}
		time.Sleep(1200 * time.Millisecond)
	}

	call("600")
	wait(1, "600: 1004 Hz", hearing("tone", 1004))
	hangUp(1)

	call("601")
	wait(1, "601 answered", func(s sim.PhoneState) bool { return s.Hearing == "silence" || s.Hearing == "tone" })
	if err := phone.SendTone(ctx, 1, 440, 3000, -10); err != nil {
		t.Fatal(err)
	}
	wait(1, "601: my 440 Hz echoed", hearing("tone", 440))
	hangUp(1)

	call("602")
	wait(1, "602: busy", hearing("busy", 0))
	hangUp(1)

	call("603")
	wait(1, "603: hangs up, reorder", hearing("reorder", 0))
	hangUp(1)
	st := wait(1, "603: calls back", func(s sim.PhoneState) bool { return s.Ringing && s.CallerID != nil })
	if st.CallerID.Number != "603" || st.CallerID.Name != "Callback" {
		t.Fatalf("call-back caller ID %+v, want 603 / Callback", st.CallerID)
	}
	if err := phone.Hook(ctx, 1, true); err != nil {
		t.Fatal(err)
	}
	wait(1, "603's call-back: 1004 Hz", hearing("tone", 1004))
	hangUp(1)

	call("604")
	wait(1, "604: early media at 800 Hz", hearing("tone", 800))
	wait(1, "604: answered with 1004 Hz", hearing("tone", 1004))
	hangUp(1)

	call("1002")
	st = wait(2, "1002 rings phone 2", func(s sim.PhoneState) bool { return s.Ringing && s.CallerID != nil })
	if st.CallerID.Number != "1001" {
		t.Fatalf("phone 2 shows caller %+v, want 1001", st.CallerID)
	}
	if err := phone.Hook(ctx, 2, true); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond)
	if err := phone.SendTone(ctx, 1, 700, 3000, -10); err != nil {
		t.Fatal(err)
	}
	wait(2, "phone 2 hears phone 1", hearing("tone", 700))
	hangUp(2)
	wait(1, "phone 1 hears reorder", hearing("reorder", 0))
	hangUp(1)

	call("15551234567")
	wait(1, "unknown number: SIT", hearing("sit", 0))
	wait(1, "then reorder", hearing("reorder", 0))
	hangUp(1)
}

// startDevSetup runs `make run` in the checkout and waits until both lines
// are registered.
func startDevSetup(t *testing.T, root string) {
	t.Helper()
	cmd := exec.Command("make", "run")
	cmd.Dir = root
	out := &peers.LogBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		// Ctrl-C in the terminal signals the whole process group.
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGINT)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-done
			t.Error("make run's processes did not stop on Ctrl-C")
		}
		if t.Failed() {
			t.Logf("--- make run output ---\n%s", out.String())
		}
	})
	deadline := time.Now().Add(2 * time.Minute) // make builds first
	for {
		o, err := exec.Command(filepath.Join(root, "bin", "tipring"), "status", "--json", "--config", filepath.Join(root, "scripts", "dev", "tipring.toml")).Output()
		if err == nil {
			var st struct {
				Lines []struct{ Registered bool }
			}
			if json.Unmarshal(o, &st) == nil && len(st.Lines) == 2 && st.Lines[0].Registered && st.Lines[1].Registered {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("both lines not registered 2 minutes after make run started\n%s", out.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

type readmeCommand struct {
	line string            // as written, without the comment
	want map[string]string // "key": value pairs the comment says the output shows
}

// readmeCommands returns the bin/tipring commands of the README's sh
// blocks. A comment with "key": value pairs states what the command's
// output shows.
func readmeCommands(readme string) []readmeCommand {
	var cmds []readmeCommand
	inSh := false
	sc := bufio.NewScanner(strings.NewReader(readme))
	pair := regexp.MustCompile(`"([a-z_]+)": ("[^"]*"|\[[^\]]*\]|true|false|[0-9.-]+)`)
	for sc.Scan() {
		l := sc.Text()
		switch {
		case strings.HasPrefix(l, "```sh"):
			inSh = true
			continue
		case strings.HasPrefix(l, "```"):
			inSh = false
			continue
		}
		if !inSh || !strings.HasPrefix(l, "bin/tipring ") {
			continue
		}
		cmd, comment, _ := strings.Cut(l, "#")
		c := readmeCommand{line: strings.TrimSpace(cmd), want: map[string]string{}}
		for _, m := range pair.FindAllStringSubmatch(comment, -1) {
			c.want[m[1]] = m[2]
		}
		cmds = append(cmds, c)
	}
	return cmds
}

// shows reports the first expectation the JSON output does not meet, or
// "". Numbers match within 1 %: the phone measures frequencies, it does
// not echo the README.
func (c readmeCommand) shows(out []byte) string {
	if len(c.want) == 0 {
		return ""
	}
	var got map[string]any
	if err := json.Unmarshal(out, &got); err != nil {
		return "JSON output"
	}
	for key, raw := range c.want {
		var want any
		if err := json.Unmarshal([]byte(raw), &want); err != nil {
			return fmt.Sprintf("%q: %s (not JSON in the README)", key, raw)
		}
		if !sameJSON(got[key], want) {
			return fmt.Sprintf("%q: %s", key, raw)
		}
	}
	return ""
}

func sameJSON(got, want any) bool {
	switch w := want.(type) {
	case float64:
		g, ok := got.(float64)
		return ok && math.Abs(g-w) <= math.Abs(w)*0.01
	case []any:
		g, ok := got.([]any)
		if !ok || len(g) != len(w) {
			return false
		}
		for i := range w {
			if !sameJSON(g[i], w[i]) {
				return false
			}
		}
		return true
	default:
		return got == want
	}
}

// runReadmeCommand runs one README command with bash in the checkout, as a
// person would; a command with expectations is repeated until its output
// shows them (the phone reports what it heard in the last second).
func runReadmeCommand(t *testing.T, root string, c readmeCommand) string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		cmd := exec.Command("bash", "-c", c.line)
		cmd.Dir = root
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("$ %s\n%s\n%v", c.line, out, err)
		}
		missing := c.shows(out)
		if missing == "" {
			return string(out)
		}
		if time.Now().After(deadline) {
			t.Fatalf("$ %s\nthe README says the output shows %s; it shows:\n%s", c.line, missing, out)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
