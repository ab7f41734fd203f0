package bench

import (
	"fmt"
	"testing"
	"time"

	"github.com/tipring/tipring/scripts/peers"
)

var (
	line1  = peers.User{Name: "1001", Password: "pass1001"}
	line2  = peers.User{Name: "1002", Password: "pass1002"}
	softph = peers.User{Name: "1003", Password: "pass1003"}
	farA   = peers.User{Name: "2000", Password: "pass2000"}
	farB   = peers.User{Name: "2001", Password: "pass2001"}
)

// memIdleWindow is how long the idle device is watched: its memory settles
// within a second of registering; longer shows nothing new.
const memIdleWindow = 5 * time.Second

// maxSendWindow is the longest tone the sim phone's control API takes in
// one request (10 min), less a margin for the request itself.
const maxSendWindow = 9 * time.Minute

// BenchmarkResidentMemory runs `tipring run` on the sim board with two
// lines registered at Kamailio and reads VmRSS and VmHWM from
// /proc/PID/status: idle, then with both ports in calls with media both
// ways for BENCH_CALL_SECONDS. Two ways to fill both ports:
//
//   - sipp-far-ends: port 1 calls one SIPp far end (uas_echo, -rtp_echo)
//     and port 2 another; each phone speaks a tone and hears it echoed.
//   - outgoing-and-incoming: port 1 calls a SIPp far end (uas_echo) and
//     a SIPp caller (uac_call, playing 1004 Hz) calls port 2 through
//     Kamailio; port 2 answers and speaks a tone back.
//
// (Port 1 calling port 2 through Kamailio would be the natural second
// case, but tipring refuses the incoming leg with 482 Loop Detected: the
// proxy keeps the Call-ID, and the user agent keys its calls by Call-ID
// alone, so it takes its own outgoing call's INVITE for a merged request.)
//
// Metrics (MB = 10^6 bytes): MB-idle-rss, MB-calls-rss (the most seen in
// the call window, sampled every 250 ms), MB-hwm (VmHWM at the end: the
// peak of the whole run, start-up included).
//
//	go test -run '^$' -bench ResidentMemory -benchtime 1x ./scripts/bench
func BenchmarkResidentMemory(b *testing.B) {
	w := windowsFromEnv(b)
	bin := tipringBinary(b)
	b.Run("sipp-far-ends", func(b *testing.B) {
		k := peers.StartKamailio(b, []peers.User{line1, line2, farA, farB}, peers.WithDebug(1))
		farEnd(b, w, k, farA)
		farEnd(b, w, k, farB)
		d := startTipring(b, bin, line{line1, k.Addr}, line{line2, k.Addr})
		d.waitRegistered(1, 2)
		measureMemory(b, w, d, func() {
			for i, u := range []peers.User{farA, farB} {
				port := i + 1
				d.hook(port, true)
				d.dial(port, u.Name)
				d.waitConnected(port)
				d.talk(port, min(w.Call+time.Minute, maxSendWindow))
				d.waitHearing(port, talkHz, 10*time.Second)
			}
		}, func() {
			d.hook(1, false)
			d.hook(2, false)
		})
	})
	b.Run("outgoing-and-incoming", func(b *testing.B) {
		k := peers.StartKamailio(b, []peers.User{line1, line2, farA}, peers.WithDebug(1))
		farEnd(b, w, k, farA)
		d := startTipring(b, bin, line{line1, k.Addr}, line{line2, k.Addr})
		d.waitRegistered(1, 2)
		const hz2 = 700 // what phone 2 says to its caller
		measureMemory(b, w, d, func() {
			d.hook(1, true)
			d.dial(1, farA.Name)
			d.waitConnected(1)
			talk := min(w.Call+time.Minute, maxSendWindow)
			d.talk(1, talk)
			d.waitHearing(1, talkHz, 10*time.Second)

			hold := w.Call + 5*time.Minute
			peers.StartSIPp(b, "uac_call.xml", k.Addr.String(), "-s", line2.Name, "-m", "1",
				"-d", fmt.Sprint(hold.Milliseconds()), "-key", "caller", "5551234")
			d.eventually("phone 2 ringing", 15*time.Second, func() bool {
				st, err := d.Phone.Phone(d.ctx(5*time.Second), 2)
				return err == nil && st.Ringing
			})
			d.hook(2, true)
			d.waitConnected(2)
			if err := d.Phone.SendTone(d.ctx(5*time.Second), 2, hz2, int(talk/time.Millisecond), talkDBm0); err != nil {
				b.Fatal(err)
			}
			d.waitHearing(2, 1004, 10*time.Second) // SIPp's tone
		}, func() {
			d.hook(1, false)
			d.hook(2, false)
		})
	})
}

// farEnd starts a SIPp far end that answers and echoes RTP, registered at
// Kamailio as u. Its -d pause is longer than any call the benchmark holds,
// so the device always hangs up first.
func farEnd(b *testing.B, w windows, k *peers.Kamailio, u peers.User) *peers.SIPp {
	b.Helper()
	hold := w.Call + w.Idle + 5*time.Minute
	s := peers.StartSIPp(b, "uas_echo.xml", "-rtp_echo", "-d", fmt.Sprint(hold.Milliseconds()))
	k.RegisterContact(b, u, s.Addr)
	return s
}

// measureMemory samples the device idle, then calls start (which must
// leave both ports in calls with media flowing), samples through the call
// window, and calls end.
func measureMemory(b *testing.B, w windows, d *tipring, start, end func()) {
	b.Helper()
	var idle, calls, last memSample
	for b.Loop() {
		idle = sampleMemory(b, d, memIdleWindow)
		start()
		calls = sampleMemory(b, d, w.Call)
		for port := 1; port <= 2; port++ {
			if cs := d.callState(port); cs != "connected" {
				b.Fatalf("line %d is %q at the end of the call window, want connected\n%s", port, cs, d.out.String())
			}
		}
		last = mustMem(b, d)
		end()
	}
	b.ReportMetric(mb(idle.RSS), "MB-idle-rss")
	b.ReportMetric(mb(calls.RSS), "MB-calls-rss")
	b.ReportMetric(mb(last.HWM), "MB-hwm")
	b.Logf("idle: VmRSS %.1f MB (anon %.1f, file %.1f); calls: VmRSS %.1f MB (anon %.1f, file %.1f); VmHWM %.1f MB",
		mb(idle.RSS), mb(idle.Anon), mb(idle.File), mb(calls.RSS), mb(calls.Anon), mb(calls.File), mb(last.HWM))
}

// sampleMemory reads the device's memory every 250 ms for window and
// returns the largest resident set seen (with its anon/file split).
func sampleMemory(b *testing.B, d *tipring, window time.Duration) memSample {
	b.Helper()
	var most memSample
	for end := time.Now().Add(window); time.Now().Before(end); time.Sleep(250 * time.Millisecond) {
		d.alive()
		if m := mustMem(b, d); m.RSS > most.RSS {
			most = m
		}
	}
	return most
}

func mustMem(b *testing.B, d *tipring) memSample {
	b.Helper()
	m, err := readMem(d.Pid)
	if err != nil {
		b.Fatal(err)
	}
	return m
}

func mb(bytes int64) float64 { return float64(bytes) / 1e6 }
