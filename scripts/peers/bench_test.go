package peers

import (
	"syscall"
	"testing"
	"time"
)

// The start-up benchmarks measure how long a test waits for each peer: from
// the call until the peer answers (Kamailio: an OPTIONS on UDP and a TCP
// connection; SIPp: its SIP port bound; baresip: its control port), plus
// stopping it. Run with:
//
//	go test -run '^$' -bench Start -benchtime 10x ./scripts/peers

func BenchmarkStartKamailio(b *testing.B) {
	for b.Loop() {
		k := StartKamailio(b, []User{{Name: "1001", Password: "pass1001"}})
		b.StopTimer()
		k.proc.stop(syscall.SIGTERM, 1, 3*time.Second, time.Second)
		b.StartTimer()
	}
}

func BenchmarkStartSIPp(b *testing.B) {
	for b.Loop() {
		s := StartSIPp(b, "uas_busy.xml")
		b.StopTimer()
		s.Stop()
		b.StartTimer()
	}
}

func BenchmarkStartBaresip(b *testing.B) {
	for b.Loop() {
		br := StartBaresip(b, BaresipOptions{AudioDuration: time.Second})
		b.StopTimer()
		br.stop()
		b.StartTimer()
	}
}
