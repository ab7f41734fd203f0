package ledger

import (
	"bufio"
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tipring/tipring/meter"
)

// The crash child is this test binary run again with these variables.
const (
	crashChildEnv = "TIPRING_LEDGER_CRASH_CHILD" // the ledger's path
	crashRunEnv   = "TIPRING_LEDGER_CRASH_RUN"   // run number: IDs and seed
)

// crashChild works the ledger as the meter does, with fsync on, until it
// is killed: boot (close interrupted calls), then begin calls, checkpoint
// all open calls in one Update, finish some and acknowledge usage. It
// prints each operation on stdout after its commit returned.
func crashChild() {
	fail := func(err error) {
		fmt.Fprintln(os.Stderr, "crash child:", err)
		os.Exit(2)
	}
	run, _ := strconv.Atoi(os.Getenv(crashRunEnv))
	say := func(format string, a ...any) {
		if _, err := fmt.Fprintf(os.Stdout, format+"\n", a...); err != nil {
			fail(err)
		}
	}
	l, err := Open(os.Getenv(crashChildEnv), Options{})
	if err != nil {
		fail(err)
	}
	open, err := l.Open()
	if err != nil {
		fail(err)
	}
	for _, r := range open {
		r.Disposition = meter.Interrupted
		r.Cost = meter.Money(r.BilledUpToMS) // 1 micro-unit per ms billed
		if _, err := l.Finish(r); err != nil {
			fail(err)
		}
		say("finish %s %d", r.ID, r.Cost)
	}
	if _, _, ok, err := l.Account(); err != nil {
		fail(err)
	} else if !ok {
		if err := l.SaveAccount(meter.Account{Account: "1", Status: meter.Active, Balance: 1000 * meter.Unit}, t0); err != nil {
			fail(err)
		}
	}
	say("ready")
	rng := rand.New(rand.NewPCG(uint64(run), 7))
	var calls []meter.Record
	for n := 0; ; n++ {
		switch k := rng.IntN(10); {
		case k < 3 || len(calls) == 0:
			r := rec(fmt.Sprintf("run%d-%d", run, n), t0.Add(time.Duration(run*1000+n)*time.Second))
			if err := l.Begin(r); err != nil {
				fail(err)
			}
			calls = append(calls, r)
			say("begin %s", r.ID)
		case k < 6:
			for i := range calls {
				calls[i].BilledUpToMS += 10_000
			}
			if err := l.Update(calls...); err != nil {
				fail(err)
			}
			say("update")
		case k < 8:
			r := calls[0]
			calls = calls[1:]
			r.Disposition = meter.Answered
			r.Cost = meter.Money(r.BilledUpToMS) + 1
			if _, err := l.Finish(r); err != nil {
				fail(err)
			}
			say("finish %s %d", r.ID, r.Cost)
		default:
			pending, err := l.Pending()
			if err != nil {
				fail(err)
			}
			a, _, _, err := l.Account()
			if err != nil {
				fail(err)
			}
			if len(pending) == 0 {
				continue
			}
			answer := a.Balance - pending[0].Cost
			if rng.IntN(4) == 0 {
				answer -= 1000 // the back end knows better: an adjustment
			}
			if err := l.Acknowledge(pending[0].ID, answer, meter.Active, t0); err != nil {
				fail(err)
			}
			say("ack %s", pending[0].ID)
		}
	}
}

// crashModel is what the children said they committed.
type crashModel struct {
	begun    map[string]bool
	finished map[string]meter.Money
	acked    map[string]bool
}

func TestCrashSIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("re-executes the test binary")
	}
	runs := 32
	path := filepath.Join(t.TempDir(), "ledger.db")
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))
	m := &crashModel{begun: map[string]bool{}, finished: map[string]meter.Money{}, acked: map[string]bool{}}
	ops := 0
	for run := range runs {
		out := crashOnce(t, path, run, rng)
		for _, line := range out {
			f := strings.Fields(line)
			switch f[0] {
			case "begin":
				m.begun[f[1]] = true
			case "finish":
				cost, err := strconv.ParseInt(f[2], 10, 64)
				must(t, err)
				if _, dup := m.finished[f[1]]; dup {
					t.Fatalf("run %d: %s finished twice", run, f[1])
				}
				m.finished[f[1]] = meter.Money(cost)
			case "ack":
				m.acked[f[1]] = true
			}
			ops++
		}
		checkAfterCrash(t, path, run, m)
	}
	t.Logf("%d kills, %d committed operations reported, %d calls finished", runs, ops, len(m.finished))
	if len(m.finished) == 0 {
		t.Fatal("no call was ever finished: the children did not get to work")
	}
}

// crashOnce runs a child and kills it at a random moment: usually while
// it works, sometimes while it opens the file. It returns the complete
// lines the child printed.
func crashOnce(t *testing.T, path string, run int, rng *rand.Rand) []string {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), crashChildEnv+"="+path, crashRunEnv+"="+strconv.Itoa(run))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	must(t, err)
	must(t, cmd.Start())
	lines := make(chan string, 1024)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	var got []string
	deadline := time.After(10 * time.Second)
	if rng.IntN(8) == 0 {
		time.Sleep(time.Duration(rng.IntN(20)) * time.Millisecond)
	} else {
		// Wait for the child to be working, then give it a while.
	wait:
		for {
			select {
			case line, ok := <-lines:
				if !ok {
					t.Fatalf("run %d: child ended early: %s", run, stderr.String())
				}
				got = append(got, line)
				if line == "ready" {
					break wait
				}
			case <-deadline:
				t.Fatalf("run %d: child not ready in 10 s: %s", run, stderr.String())
			}
		}
		time.Sleep(time.Duration(rng.IntN(30)) * time.Millisecond)
	}
	must(t, cmd.Process.Signal(syscall.SIGKILL))
	for line := range lines {
		got = append(got, line)
	}
	err = cmd.Wait()
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() {
		t.Fatalf("run %d: child ended by itself (%v): %s", run, err, stderr.String())
	}
	return got
}

func checkAfterCrash(t *testing.T, path string, run int, m *crashModel) {
	t.Helper()
	l, err := Open(path, Options{NoSync: true})
	if err != nil {
		t.Fatalf("run %d: the file does not open after SIGKILL: %v", run, err)
	}
	defer func() { must(t, l.Close()) }()
	// At most one operation can be committed and not yet reported.
	unreported := 0
	extra := func(what string) {
		unreported++
		if unreported > 1 {
			t.Fatalf("run %d: more than one unreported operation (%s)", run, what)
		}
	}

	open, err := l.Open()
	if err != nil {
		t.Fatalf("run %d: %v", run, err)
	}
	isOpen := map[string]bool{}
	for _, r := range open {
		isOpen[r.ID] = true
		if _, ok := m.finished[r.ID]; ok {
			t.Fatalf("run %d: %s reported finished but open", run, r.ID)
		}
		if !m.begun[r.ID] {
			extra("begin " + r.ID)
			m.begun[r.ID] = true
		}
	}
	for id := range m.begun {
		if _, done := m.finished[id]; done || isOpen[id] {
			continue
		}
		// Begun, not open, not reported finished: it must be the one
		// unreported Finish.
		r, ok, err := l.Call(id)
		if err != nil || !ok || r.Disposition == meter.InProgress {
			t.Fatalf("run %d: call %s lost (%v, %v, %+v)", run, id, ok, err, r)
		}
		extra("finish " + id)
		m.finished[id] = r.Cost
	}
	for id, cost := range m.finished {
		r, ok, err := l.Call(id)
		if err != nil || !ok {
			t.Fatalf("run %d: finished call %s lost: %v", run, id, err)
		}
		if r.Disposition == meter.InProgress || r.Cost != cost {
			t.Fatalf("run %d: call %s is %s costing %s, reported finished costing %s", run, id, r.Disposition, r.Cost, cost)
		}
	}

	pending, err := l.Pending()
	must(t, err)
	isPending := map[string]bool{}
	for _, r := range pending {
		isPending[r.ID] = true
		if m.acked[r.ID] {
			t.Fatalf("run %d: %s acknowledged but still pending", run, r.ID)
		}
	}
	for id := range m.finished {
		if !isPending[id] && !m.acked[id] {
			extra("ack " + id)
			m.acked[id] = true
		}
	}

	// No call charged twice, every cost journalled once, and the journal
	// closes at the balance.
	bal, err := l.Balance()
	must(t, err)
	opening, entries, err := l.Journal(time.Time{}, t0.AddDate(10, 0, 0))
	must(t, err)
	charged := map[string]int{}
	closing := opening
	for _, e := range entries {
		closing += e.Delta
		if e.BalanceAfter != closing {
			t.Fatalf("run %d: journal chain broken at %+v", run, e)
		}
		if e.Kind == KindCall {
			charged[e.Ref]++
			if charged[e.Ref] > 1 {
				t.Fatalf("run %d: %s charged twice", run, e.Ref)
			}
			if -e.Delta != m.finished[e.Ref] {
				t.Fatalf("run %d: %s charged %s, cost %s", run, e.Ref, -e.Delta, m.finished[e.Ref])
			}
		}
	}
	for id, cost := range m.finished {
		if cost != 0 && charged[id] != 1 {
			t.Fatalf("run %d: %s costing %s charged %d times", run, id, cost, charged[id])
		}
	}
	if closing != bal {
		t.Fatalf("run %d: journal closes at %s, Balance %s", run, closing, bal)
	}
}
