package netinfo

import (
	"context"
	"testing"
	"time"
)

// BenchmarkCollectFixture is the cost of the file-reading half of a
// collection (routes, DNS, leases, neighbours, the OUI table), the part
// that runs on the device's slow CPU before any network wait.
func BenchmarkCollectFixture(b *testing.B) {
	o := fixtureOptions("testdata/home")
	for b.Loop() {
		if _, err := Collect(context.Background(), o); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDefaultOUITable(b *testing.B) {
	for b.Loop() {
		if _, err := DefaultOUITable(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkProbeUDPLoopback reports the round trip the UDP method measures
// on loopback: the floor under any RTT it reports.
func BenchmarkProbeUDPLoopback(b *testing.B) {
	c := closedUDPPort(b)
	var sum time.Duration
	n := 0
	for b.Loop() {
		r, err := ProbeWith(context.Background(), c, ProbeOptions{Count: 1, Method: MethodUDP})
		if err != nil || r.Received != 1 {
			b.Fatalf("%+v %v", r, err)
		}
		sum += r.Avg
		n++
	}
	b.ReportMetric(float64(sum.Microseconds())/float64(n), "rtt-µs")
}
