package bench

import (
	"os"
	"strings"
	"testing"
	"time"
)

// A line of /proc/PID/stat whose command name holds a space and a ')'
// (comm may be anything up to 15 bytes): utime 250, stime 37 ticks.
const statLine = "4242 (tip ring)) S 1 4242 4242 0 -1 4194560 812 0 0 0 250 37 0 0 20 0 9 0 1234 123456 789 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n"

const statusText = "Name:\ttipring\nState:\tS (sleeping)\nVmPeak:\t 1242424 kB\nVmHWM:\t   14336 kB\nVmRSS:\t   12288 kB\nRssAnon:\t    4096 kB\nRssFile:\t    8192 kB\nRssShmem:\t       0 kB\nThreads:\t9\n"

func TestParseStatCountsBothUserAndSystemTime(t *testing.T) {
	got, err := parseStat([]byte(statLine), 100)
	if err != nil {
		t.Fatal(err)
	}
	if want := 2870 * time.Millisecond; got != want {
		t.Fatalf("parseStat = %v, want %v (250+37 ticks of 10 ms)", got, want)
	}
	if got, _ := parseStat([]byte(statLine), 1000); got != 287*time.Millisecond {
		t.Fatalf("at 1000 ticks/s: %v, want 287ms", got)
	}
}

func TestParseStatRefusesMangledLines(t *testing.T) {
	for name, in := range map[string]string{
		"no parenthesis":  "4242 tipring S 1 2 3",
		"too few fields":  "4242 (tipring) S 1 4242 4242 0 -1 4194560 812 0 0 0 250",
		"negative ticks":  strings.Replace(statLine, " 250 ", " -250 ", 1),
		"ticks not a num": strings.Replace(statLine, " 37 ", " x7 ", 1),
	} {
		if _, err := parseStat([]byte(in), 100); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	if _, err := parseStat([]byte(statLine), 0); err == nil {
		t.Error("zero clock ticks per second: no error")
	}
}

func TestParseStatusReadsResidentAndPeak(t *testing.T) {
	m, err := parseStatus([]byte(statusText))
	if err != nil {
		t.Fatal(err)
	}
	want := memSample{RSS: 12288 << 10, HWM: 14336 << 10, Anon: 4096 << 10, File: 8192 << 10}
	if m != want {
		t.Fatalf("parseStatus = %+v, want %+v", m, want)
	}
}

func TestParseStatusWantsTheMemoryLines(t *testing.T) {
	kernelThread := "Name:\tkthreadd\nState:\tS (sleeping)\nThreads:\t1\n"
	if _, err := parseStatus([]byte(kernelThread)); err == nil || !strings.Contains(err.Error(), "VmRSS") {
		t.Fatalf("a status without VmRSS: error %v, want one naming VmRSS", err)
	}
	if _, err := parseStatus([]byte(strings.Replace(statusText, "12288 kB", "12288 MB", 1))); err == nil {
		t.Fatal("a size in MB: no error")
	}
}

// The readers work on a real process: this test's own.
func TestReadersOnThisProcess(t *testing.T) {
	pid := os.Getpid()
	m, err := readMem(pid)
	if err != nil {
		t.Fatal(err)
	}
	if m.RSS <= 0 || m.HWM < m.RSS {
		t.Fatalf("own memory %+v: want RSS > 0 and HWM ≥ RSS", m)
	}
	before, err := readCPU(pid, defaultClockTicks)
	if err != nil {
		t.Fatal(err)
	}
	// Burn a little CPU so both counters must move.
	x := 0
	for start := time.Now(); time.Since(start) < 60*time.Millisecond; {
		x++
	}
	after, err := readCPU(pid, defaultClockTicks)
	if err != nil {
		t.Fatal(err)
	}
	if after.Sched <= before.Sched || after.Stat < before.Stat {
		t.Fatalf("CPU time did not advance after 60 ms of work (%d loops): %+v then %+v", x, before, after)
	}
	if _, err := findProcess("no-such-program-here", "-f", "/nowhere"); err == nil {
		t.Fatal("findProcess found a program that does not run")
	}
}

func TestParsePositive(t *testing.T) {
	if n, err := parsePositive("10", 3600); err != nil || n != 10 {
		t.Fatalf("parsePositive(10) = %d, %v", n, err)
	}
	for _, bad := range []string{"0", "-5", "ten", "1.5", "3601"} {
		if _, err := parsePositive(bad, 3600); err == nil {
			t.Errorf("parsePositive(%q): no error", bad)
		}
	}
}

func FuzzParseStat(f *testing.F) {
	f.Add([]byte(statLine), 100)
	f.Fuzz(func(t *testing.T, b []byte, ticks int) {
		d, err := parseStat(b, ticks)
		if err == nil && d < 0 {
			t.Fatalf("negative CPU time %v", d)
		}
	})
}

func FuzzParseStatus(f *testing.F) {
	f.Add([]byte(statusText))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := parseStatus(b)
		if err == nil && (m.RSS < 0 || m.HWM < 0 || m.Anon < 0 || m.File < 0) {
			t.Fatalf("negative size %+v", m)
		}
	})
}

func FuzzParseSchedstat(f *testing.F) {
	f.Add([]byte("123456789 4567 89\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		if d, err := parseSchedstat(b); err == nil && d < 0 {
			t.Fatalf("negative run time %v", d)
		}
	})
}
