package bench

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// What a benchmark reads about a process comes from /proc, as the kernel
// accounts it: the process is measured from outside, exactly as it runs.

// cpuSample is a process's CPU time so far.
type cpuSample struct {
	// Stat is utime+stime from /proc/PID/stat: every thread, the exited
	// ones included, to a clock tick (10 ms).
	Stat time.Duration
	// Sched is the sum of the live threads' run time from
	// /proc/PID/task/*/schedstat, in nanoseconds: finer, but a thread that
	// exits takes its time with it. It cross-checks Stat.
	Sched time.Duration
}

// readCPU samples pid's CPU time; ticks is the clock-tick rate of
// /proc/PID/stat.
func readCPU(pid, ticks int) (cpuSample, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return cpuSample{}, fmt.Errorf("cpu time of pid %d: %w", pid, err)
	}
	stat, err := parseStat(b, ticks)
	if err != nil {
		return cpuSample{}, fmt.Errorf("cpu time of pid %d: %w", pid, err)
	}
	tasks, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/schedstat", pid))
	if err != nil {
		return cpuSample{}, fmt.Errorf("threads of pid %d: %w", pid, err)
	}
	var sched time.Duration
	for _, path := range tasks {
		b, err := os.ReadFile(path)
		if errors.Is(err, os.ErrNotExist) {
			continue // the thread exited between the glob and the read
		}
		if err != nil {
			return cpuSample{}, fmt.Errorf("thread run time: %w", err)
		}
		d, err := parseSchedstat(b)
		if err != nil {
			return cpuSample{}, fmt.Errorf("%s: %w", path, err)
		}
		sched += d
	}
	return cpuSample{Stat: stat, Sched: sched}, nil
}

// parseStat returns utime+stime from the contents of /proc/PID/stat. The
// command name (field 2) is in parentheses and may itself hold spaces and
// parentheses, so the fields are counted from the last ')'.
func parseStat(b []byte, ticks int) (time.Duration, error) {
	if ticks <= 0 {
		return 0, fmt.Errorf("/proc stat: clock ticks per second %d is not positive", ticks)
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, errors.New("/proc stat: no ')' closing the command name")
	}
	fields := strings.Fields(string(b[i+1:]))
	// fields[0] is field 3 (state); utime and stime are fields 14 and 15.
	const utime, stime = 14 - 3, 15 - 3
	if len(fields) <= stime {
		return 0, fmt.Errorf("/proc stat: %d fields after the command name, want at least %d", len(fields), stime+1)
	}
	var total uint64
	for _, f := range []int{utime, stime} {
		n, err := strconv.ParseUint(fields[f], 10, 63)
		if err != nil {
			return 0, fmt.Errorf("/proc stat: field %d: %w", f+3, err)
		}
		total += n
	}
	// Ticks fit in 63 bits; a duration of more than 292 years does not.
	if total > uint64(1<<62)/uint64(time.Second) {
		return 0, fmt.Errorf("/proc stat: %d ticks of CPU time is out of range", total)
	}
	return time.Duration(total) * time.Second / time.Duration(ticks), nil
}

// parseSchedstat returns the run time (the first field, ns) of a thread's
// /proc/.../schedstat.
func parseSchedstat(b []byte) (time.Duration, error) {
	fields := strings.Fields(string(b))
	if len(fields) == 0 {
		return 0, errors.New("schedstat: empty")
	}
	n, err := strconv.ParseInt(fields[0], 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("schedstat: run time %q is not a count of nanoseconds", fields[0])
	}
	return time.Duration(n), nil
}

// memSample is a process's memory as /proc/PID/status shows it, in bytes.
type memSample struct {
	RSS  int64 // VmRSS: resident now
	HWM  int64 // VmHWM: the most it has ever been resident
	Anon int64 // RssAnon: heap, stacks
	File int64 // RssFile: the binary's pages and other mapped files
}

func readMem(pid int) (memSample, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return memSample{}, fmt.Errorf("memory of pid %d: %w", pid, err)
	}
	m, err := parseStatus(b)
	if err != nil {
		return memSample{}, fmt.Errorf("memory of pid %d: %w", pid, err)
	}
	return m, nil
}

// parseStatus reads the memory lines ("VmRSS:\t  9876 kB") of
// /proc/PID/status. VmRSS and VmHWM must be there (a kernel thread or a
// zombie has neither).
func parseStatus(b []byte) (memSample, error) {
	var m memSample
	fields := map[string]*int64{"VmRSS": &m.RSS, "VmHWM": &m.HWM, "RssAnon": &m.Anon, "RssFile": &m.File}
	seen := map[string]bool{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		key, val, ok := strings.Cut(sc.Text(), ":")
		dst, want := fields[key]
		if !ok || !want {
			continue
		}
		num, unit, _ := strings.Cut(strings.TrimSpace(val), " ")
		if unit != "kB" {
			return memSample{}, fmt.Errorf("/proc status: %s: unit %q, want kB", key, unit)
		}
		kb, err := strconv.ParseInt(num, 10, 64)
		if err != nil || kb < 0 || kb > 1<<40 {
			return memSample{}, fmt.Errorf("/proc status: %s: %q is not a size in kB", key, num)
		}
		*dst = kb << 10
		seen[key] = true
	}
	if err := sc.Err(); err != nil {
		return memSample{}, fmt.Errorf("/proc status: %w", err)
	}
	for _, key := range []string{"VmRSS", "VmHWM"} {
		if !seen[key] {
			return memSample{}, fmt.Errorf("/proc status: no %s line (a kernel thread or an exited process?)", key)
		}
	}
	return m, nil
}

// findProcess returns the pid of the process whose program is named name
// (the base name of argv[0]) and whose arguments are args: for a peer the
// harness starts without telling its pid.
func findProcess(name string, args ...string) (int, error) {
	dirs, err := os.ReadDir("/proc")
	if err != nil {
		return 0, fmt.Errorf("list processes: %w", err)
	}
	for _, d := range dirs {
		pid, err := strconv.Atoi(d.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", d.Name(), "cmdline"))
		if err != nil || len(b) == 0 {
			continue // gone, a kernel thread, or not ours to read
		}
		argv := strings.Split(strings.TrimSuffix(string(b), "\x00"), "\x00")
		if filepath.Base(argv[0]) == name && slices.Equal(argv[1:], args) {
			return pid, nil
		}
	}
	return 0, fmt.Errorf("no process runs %s %s", name, strings.Join(args, " "))
}
