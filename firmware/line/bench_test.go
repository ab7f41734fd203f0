package line

import (
	"bytes"
	"context"
	"net"
	"net/http/httptest"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	gosip "github.com/emiago/sipgo/sip"

	"github.com/tipring/tipring/boards"
	"github.com/tipring/tipring/boards/region"
	"github.com/tipring/tipring/boards/sim"
	"github.com/tipring/tipring/firmware/dialplan"
	"github.com/tipring/tipring/sip"
	"github.com/tipring/tipring/sip/media"
)

// timedPort notes when the line starts a tone on a real sim port.
type timedPort struct {
	boards.Port
	toneAt atomic.Int64 // UnixNano of the last PlayTone
}

func (p *timedPort) PlayTone(t boards.Tone) {
	at := time.Now().UnixNano()
	p.Port.PlayTone(t)
	// Published only once the tone is set, so the benchmark never steps
	// the clock before the board has it.
	p.toneAt.Store(at)
}

// BenchmarkOffHookToDialTone lifts the sim phone's handset and measures how
// long the firmware takes from the hook transition to starting dial tone;
// the tone is then on the line from the next 20 ms frame, which the
// benchmark checks by listening to that frame.
func BenchmarkOffHookToDialTone(b *testing.B) {
	clk := sim.NewManualClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	board, err := sim.New(boards.Options{Region: "us"}, sim.WithClock(clk))
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	boardDone := make(chan error, 1)
	go func() { boardDone <- board.Run(ctx) }()
	srv := httptest.NewServer(board.Handler())
	defer srv.Close()
	phone := sim.NewClient(srv.URL, srv.Client())

	port := &timedPort{Port: board.Ports()[0]}
	reg, _ := region.Lookup("us")
	plan, _ := dialplan.Parse(reg.DialPlan, dialplan.Options{})
	l, err := New(Config{Port: port, Region: reg, Plan: plan, Signalling: &fakeSignalling{registered: true}, Media: &fakeMedia{}})
	if err != nil {
		b.Fatal(err)
	}
	lineDone := make(chan error, 1)
	go func() { lineDone <- l.Run(ctx) }()

	var worst time.Duration
	var total time.Duration
	for b.Loop() {
		port.toneAt.Store(0)
		start := time.Now()
		if err := phone.Hook(ctx, 1, true); err != nil {
			b.Fatal(err)
		}
		for port.toneAt.Load() == 0 {
			time.Sleep(20 * time.Microsecond)
		}
		d := time.Duration(port.toneAt.Load() - start.UnixNano())
		total += d
		worst = max(worst, d)
		if err := clk.Step(ctx, 1); err != nil {
			b.Fatal(err)
		}
		wav, err := phone.Heard(ctx, 1, 20)
		if err != nil {
			b.Fatal(err)
		}
		pcm, err := sim.ReadWAV(bytes.NewReader(wav))
		if err != nil {
			b.Fatal(err)
		}
		if slices.Max(pcm) < 1000 {
			b.Fatal("no dial tone in the first frame after off-hook")
		}
		if err := phone.Hook(ctx, 1, false); err != nil {
			b.Fatal(err)
		}
		if err := clk.Advance(ctx, time.Second); err != nil { // past the hook-flash window
			b.Fatal(err)
		}
		for l.Status().State != Idle {
			time.Sleep(50 * time.Microsecond)
		}
	}
	b.ReportMetric(float64(total.Microseconds())/float64(b.N), "µs-hook-to-tone")
	b.ReportMetric(float64(worst.Microseconds()), "µs-worst")
	cancel()
	<-lineDone
	<-boardDone
}

// BenchmarkLastDigitToInvite sends the last digit of a number the dial
// plan knows is complete and measures until the INVITE arrives at a SIP
// server on loopback: the line, the dial plan, a real media session's SDP
// offer and the real user agent.
func BenchmarkLastDigitToInvite(b *testing.B) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	server, invites := startBusyServer(b)
	engine, err := media.NewEngine(media.Config{BindIP: "127.0.0.1", PortMin: 31000, PortMax: 31100})
	if err != nil {
		b.Fatal(err)
	}
	ua, err := sip.New(sip.Config{Listen: "127.0.0.1:0"}, []sip.Account{{Line: 1, User: "1001", Password: "x", Registrar: server}})
	if err != nil {
		b.Fatal(err)
	}
	uaDone := make(chan error, 1)
	go func() { uaDone <- ua.Run(ctx) }()
	<-ua.Ready()

	port := newFakePort()
	reg, _ := region.Lookup("us")
	plan, _ := dialplan.Parse(reg.DialPlan, dialplan.Options{})
	l, err := New(Config{Port: port, Region: reg, Plan: plan, Signalling: uaLine{ua}, Media: engineMedia{engine}})
	if err != nil {
		b.Fatal(err)
	}
	lineDone := make(chan error, 1)
	go func() { lineDone <- l.Run(ctx) }()

	var worst, total time.Duration
	for b.Loop() {
		port.hook(true)
		port.dial("1555123456")
		for l.Status().State != Collecting {
			time.Sleep(50 * time.Microsecond)
		}
		start := time.Now()
		port.events <- boards.Event{Kind: boards.Digit, Digit: '7', At: start}
		at := <-invites
		d := at.Sub(start)
		total += d
		worst = max(worst, d)
		for l.Status().State != Disconnected { // the server answered busy
			time.Sleep(50 * time.Microsecond)
		}
		port.hook(false)
		for l.Status().State != Idle {
			time.Sleep(50 * time.Microsecond)
		}
	}
	b.ReportMetric(float64(total.Microseconds())/float64(b.N), "µs-digit-to-INVITE")
	b.ReportMetric(float64(worst.Microseconds()), "µs-worst")
	cancel()
	<-lineDone
	<-uaDone
}

type uaLine struct{ ua *sip.UA }

func (u uaLine) Registered() bool { return true }
func (u uaLine) Dial(ctx context.Context, number string, offer []byte, n sip.Negotiator) (Call, error) {
	return u.ua.Dial(ctx, 1, number, offer, n)
}

type engineMedia struct{ e *media.Engine }

func (m engineMedia) NewSession() (MediaSession, error) { return m.e.NewSession() }

// startBusyServer runs a SIP server on loopback that accepts REGISTER and
// answers every INVITE 486, reporting when each INVITE arrived.
func startBusyServer(b *testing.B) (string, <-chan time.Time) {
	b.Helper()
	ua, err := sipgo.NewUA()
	if err != nil {
		b.Fatal(err)
	}
	srv, err := sipgo.NewServer(ua)
	if err != nil {
		b.Fatal(err)
	}
	invites := make(chan time.Time, 16)
	srv.OnRegister(func(req *gosip.Request, tx gosip.ServerTransaction) {
		res := gosip.NewResponseFromRequest(req, 200, "OK", nil)
		res.AppendHeader(gosip.NewHeader("Expires", "3600"))
		_ = tx.Respond(res)
	})
	srv.OnInvite(func(req *gosip.Request, tx gosip.ServerTransaction) {
		invites <- time.Now()
		_ = tx.Respond(gosip.NewResponseFromRequest(req, 486, "Busy Here", nil))
	})
	srv.OnAck(func(*gosip.Request, gosip.ServerTransaction) {})
	conn, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	go func() { _ = srv.ServeUDP(conn) }()
	b.Cleanup(func() { _ = srv.Close(); _ = ua.Close(); _ = conn.Close() })
	return conn.LocalAddr().String(), invites
}
