package bench

import (
	"bytes"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/tipring/tipring/boards"
	"github.com/tipring/tipring/boards/dsp"
	"github.com/tipring/tipring/boards/sim"
	"github.com/tipring/tipring/scripts/peers"
)

// settle is the pause before a measured window: after registering, and
// after a call is answered (jitter buffers fill, first GC cycles run).
const settle = 2 * time.Second

// BenchmarkCPUPerCallMinute measures CPU time per minute of talk of the
// real tipring process on the sim board — the virtual phone, its tone
// generator and its listener included — next to baresip 1.0 making the
// same call in the same run: each registers at the same Kamailio and calls
// through it a SIPp far end of the same kind (uas_echo with -rtp_echo:
// it answers and returns every RTP packet, so each caller sends and
// receives 50 G.711 packets a second). tipring's phone speaks a 1004 Hz
// tone at -10 dBm0 throughout, as baresip's aufile source does (a WAV file,
// paced at one 20 ms frame per 20 ms: the benchmark checks the length of
// what baresip sent against the wall-clock length of its call).
//
// The two calls run at the same time over the same window, so both see the
// same machine. CPU time is utime+stime of /proc/PID/stat over the window
// only (every thread; clock ticks of 10 ms); the live threads' schedstat
// run time is logged beside it as a cross-check. Before the calls, both
// processes are measured idle (registered, on-hook) for BENCH_IDLE_SECONDS.
//
// tipring runs with both of its lines registered, as a device does; only
// port 1 is in the call.
//
// Metrics: cpu-s/min of each process, in the call and idle.
//
//	BENCH_CALL_SECONDS=60 go test -run '^$' -bench CPUPerCallMinute -benchtime 1x ./scripts/bench
func BenchmarkCPUPerCallMinute(b *testing.B) {
	w := windowsFromEnv(b)
	bin := tipringBinary(b)
	k := peers.StartKamailio(b, []peers.User{line1, line2, softph, farA, farB}, peers.WithDebug(1))
	farEnd(b, w, k, farA) // tipring's far end
	farEnd(b, w, k, farB) // baresip's far end
	d := startTipring(b, bin, line{line1, k.Addr}, line{line2, k.Addr})
	br := peers.StartBaresip(b, peers.BaresipOptions{
		User: softph.Name, Password: softph.Password, Registrar: k.Addr,
		ToneHz: talkHz, ToneDBm0: talkDBm0,
		// aufile ends the audio at the end of the file: longer than the call.
		AudioDuration: w.Call + 2*time.Minute,
	})
	brPid, err := findProcess("baresip", "-f", br.Dir)
	if err != nil {
		b.Fatalf("baresip's pid: %v", err)
	}
	d.waitRegistered(1, 2)
	k.WaitRegistered(b, softph.Name, 10*time.Second)
	pids := []int{d.Pid, brPid}
	// tipring inherits the environment: GOMAXPROCS there changes its CPU use.
	b.Logf("tipring pid %d (GOMAXPROCS=%q in its environment; unset is one per CPU), baresip pid %d", d.Pid, os.Getenv("GOMAXPROCS"), brPid)

	var idle, talk [2]cpuSample
	var idleLen, talkLen time.Duration
	for b.Loop() {
		time.Sleep(settle)
		i, il := measureCPU(b, w.Ticks, pids, w.Idle, d.alive)
		addCPU(&idle, i)
		idleLen += il

		closedBefore := countEvents(br, "CALL_CLOSED")
		d.hook(1, true)
		d.dial(1, farA.Name)
		br.Dial(b, fmt.Sprintf("sip:%s@%s", farB.Name, peers.DefaultRealm))
		br.WaitEvent(b, "CALL_ESTABLISHED", 15*time.Second)
		established := time.Now()
		d.waitConnected(1)
		spoke := time.Now()
		d.talk(1, min(w.Call+time.Minute, maxSendWindow))
		d.waitHearing(1, talkHz, 10*time.Second)
		time.Sleep(settle)

		t, tl := measureCPU(b, w.Ticks, pids, w.Call, func() {
			d.alive()
			// A window longer than one send request: speak on.
			if time.Since(spoke) > maxSendWindow-time.Minute {
				spoke = time.Now()
				d.talk(1, maxSendWindow)
			}
		})
		addCPU(&talk, t)
		talkLen += tl

		// Both calls lasted the whole window, with audio both ways.
		if cs := d.callState(1); cs != "connected" {
			b.Fatalf("tipring's call is %q at the end of the window, want connected\n%s", cs, d.out.String())
		}
		d.waitHearing(1, talkHz, 2*time.Second)
		if countEvents(br, "CALL_CLOSED") != closedBefore {
			b.Fatalf("baresip's call closed during the window: %+v\n%s", br.Events(), br.Log())
		}
		br.Hangup(b)
		br.WaitEvent(b, "CALL_CLOSED", 10*time.Second)
		checkBaresipAudio(b, br, time.Since(established))
		d.hook(1, false)
	}
	perMin := func(c time.Duration, window time.Duration) float64 { return c.Seconds() / window.Minutes() }
	b.ReportMetric(perMin(talk[0].Stat, talkLen), "tipring-cpu-s/call-min")
	b.ReportMetric(perMin(talk[1].Stat, talkLen), "baresip-cpu-s/call-min")
	b.ReportMetric(perMin(idle[0].Stat, idleLen), "tipring-idle-cpu-s/min")
	b.ReportMetric(perMin(idle[1].Stat, idleLen), "baresip-idle-cpu-s/min")
	b.Logf("call window %v: tipring %v (schedstat %v), baresip %v (schedstat %v)",
		talkLen, talk[0].Stat, talk[0].Sched.Round(time.Millisecond), talk[1].Stat, talk[1].Sched.Round(time.Millisecond))
	b.Logf("idle window %v: tipring %v (schedstat %v), baresip %v (schedstat %v)",
		idleLen, idle[0].Stat, idle[0].Sched.Round(time.Millisecond), idle[1].Stat, idle[1].Sched.Round(time.Millisecond))
}

// measureCPU samples the processes' CPU time, waits window (calling during
// once a second, which must not talk to the processes unless it has to),
// samples again and returns what each used and the wall time between the
// samples.
func measureCPU(b *testing.B, ticks int, pids []int, window time.Duration, during func()) ([]cpuSample, time.Duration) {
	b.Helper()
	read := func() []cpuSample {
		out := make([]cpuSample, len(pids))
		for i, pid := range pids {
			c, err := readCPU(pid, ticks)
			if err != nil {
				b.Fatal(err)
			}
			out[i] = c
		}
		return out
	}
	start := time.Now()
	before := read()
	for end := start.Add(window); time.Until(end) > 0; {
		time.Sleep(min(time.Second, time.Until(end)))
		during()
	}
	after := read()
	elapsed := time.Since(start)
	for i := range after {
		after[i].Stat -= before[i].Stat
		after[i].Sched -= before[i].Sched
	}
	return after, elapsed
}

func addCPU(sum *[2]cpuSample, add []cpuSample) {
	for i := range sum {
		sum[i].Stat += add[i].Stat
		sum[i].Sched += add[i].Sched
	}
}

func countEvents(br *peers.Baresip, typ string) int {
	n := 0
	for _, ev := range br.Events() {
		if ev.Type == typ {
			n++
		}
	}
	return n
}

// checkBaresipAudio makes sure baresip did what the comparison assumes: it
// sent its tone in real time for the whole call (what its sndfile module
// recorded on the encode side is about as long as the call — an unpaced
// source would have sent the whole file), and it heard the far end echo it.
func checkBaresipAudio(b *testing.B, br *peers.Baresip, call time.Duration) {
	b.Helper()
	sent := newestRecording(b, br, "-enc.wav")
	heard := newestRecording(b, br, "-dec.wav")
	sentLen := samplesDuration(len(sent))
	heardLen := samplesDuration(len(heard))
	b.Logf("baresip: call %v, sent %v of audio, heard %v", call.Round(10*time.Millisecond), sentLen, heardLen)
	if slack := call/10 + time.Second; sentLen < call-slack || sentLen > call+slack {
		b.Fatalf("baresip sent %v of audio in a call of %v: its source is not paced in real time", sentLen, call)
	}
	if lvl := dsp.DBm0(rms(heard[len(heard)/4 : len(heard)*3/4])); heardLen < call/2 || lvl < talkDBm0-6 {
		b.Fatalf("baresip heard %v of audio at %.1f dBm0 in a call of %v: the far end's echo did not reach it", heardLen, lvl, call)
	}
}

func newestRecording(b *testing.B, br *peers.Baresip, suffix string) []int16 {
	b.Helper()
	files, err := filepath.Glob(filepath.Join(br.Dir, "recordings", "*"+suffix))
	if err != nil || len(files) == 0 {
		b.Fatalf("baresip recorded no %s file in %s", suffix, filepath.Join(br.Dir, "recordings"))
	}
	newest, newestAt := "", time.Time{}
	for _, f := range files {
		if fi, err := os.Stat(f); err == nil && !fi.ModTime().Before(newestAt) {
			newest, newestAt = f, fi.ModTime()
		}
	}
	data, err := os.ReadFile(newest)
	if err != nil {
		b.Fatal(err)
	}
	samples, err := sim.ReadPartialWAV(bytes.NewReader(data))
	if err != nil {
		b.Fatalf("baresip's recording %s: %v", newest, err)
	}
	return samples
}

func samplesDuration(n int) time.Duration {
	return time.Duration(n) * time.Second / boards.SampleRate
}

func rms(s []int16) float64 {
	if len(s) == 0 {
		return 0
	}
	var sum float64
	for _, v := range s {
		sum += float64(v) * float64(v)
	}
	return math.Sqrt(sum / float64(len(s)))
}
