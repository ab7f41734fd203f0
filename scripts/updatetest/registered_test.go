package updatetest

import (
	"context"
	"log/slog"
	"net/netip"
	"testing"
	"time"

	"github.com/tipring/tipring/scripts/devprovider/provider"
	"github.com/tipring/tipring/scripts/peers"
)

func startProvider(t testing.TB) netip.AddrPort {
	t.Helper()
	logs := &peers.LogBuffer{}
	p, err := provider.New(provider.Config{
		Listen: netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(peers.FreePort(t, "sip"))),
		Users:  map[string]string{"1001": "secret"},
		Realm:  peers.DefaultRealm,
		Logger: slog.New(slog.NewTextHandler(logs, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	stop, err := p.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := stop(); err != nil {
			t.Errorf("devprovider: %v", err)
		}
		if t.Failed() {
			t.Logf("--- devprovider log ---\n%s", logs.String())
		}
	})
	return p.Addr()
}

// registeredAfter starts tipring boot and returns how long it took until
// line 1 was registered.
func (s *sim) registeredAfter(timeout time.Duration) (time.Duration, *booted) {
	s.t.Helper()
	start := time.Now()
	b := s.boot()
	for {
		st, err := s.api.Status(context.Background())
		if err == nil && len(st.Lines) > 0 && st.Lines[0].Registered {
			return time.Since(start), b
		}
		if time.Since(start) > timeout {
			s.t.Fatalf("line 1 not registered %v after boot (last: %+v, %v)", timeout, st, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestNewImageConfirmsWhenItsLineRegisters: with confirm_after far away,
// only the registration can confirm the new image.
func TestNewImageConfirmsWhenItsLineRegisters(t *testing.T) {
	s := newSimWith(t, startProvider(t).String(), "1h")
	s.installOffline(imgV1)
	s.installOffline(imgV2)
	d, _ := s.registeredAfter(10 * time.Second)
	t.Logf("boot to registered: %v", d)
	st := s.confirmed(5 * time.Second)
	if v := st.Slots[st.Active].Version; v != "1.1.0" {
		t.Fatalf("active version %s after confirmation, want 1.1.0", v)
	}
}

// BenchmarkBootToRegistered is the sim board from `tipring boot` to line 1
// registered at the development provider: slot choice and its file check,
// the firmware's start, and one REGISTER with its digest challenge.
func BenchmarkBootToRegistered(b *testing.B) {
	reg := startProvider(b).String()
	b.StopTimer()
	for range b.N {
		s := newSimWith(b, reg, "1h")
		s.installOffline(imgV1)
		b.StartTimer()
		_, dev := s.registeredAfter(10 * time.Second)
		b.StopTimer()
		dev.powerCut() // one device at a time
	}
}
