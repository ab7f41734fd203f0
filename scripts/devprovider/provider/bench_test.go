package provider

import (
	"testing"
)

// Round trips over loopback through the provider, digest included: what a
// registration and a refused call cost. Run with:
//
//	go test -run '^$' -bench . ./scripts/devprovider/provider

// BenchmarkRegister: REGISTER, 401, REGISTER with digest, 200.
func BenchmarkRegister(b *testing.B) {
	p := start(b, nil)
	ph := phone(b, p, "1001")
	for b.Loop() {
		if code := ph.Register("pass1001"); code != 200 {
			b.Fatalf("REGISTER: %d", code)
		}
	}
}

// BenchmarkCallBusy: INVITE, 407, INVITE with digest, 486, ACK.
func BenchmarkCallBusy(b *testing.B) {
	p := start(b, nil)
	ph := phone(b, p, "1001")
	for b.Loop() {
		if code := ph.Call(NumberBusy, nil); code != 486 {
			b.Fatalf("call 602: %d", code)
		}
	}
}
