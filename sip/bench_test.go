package sip

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
)

// BenchmarkHandleOptions measures the request path for a keep-alive ping
// from the proxy: sipgo's parser, a server transaction, our dispatch and
// the 200.
func BenchmarkHandleOptions(b *testing.B) {
	fu := newFuzzUA(b)
	defer fu.close()
	parser := sip.NewParser()
	conn := &recConn{}
	data := []byte("OPTIONS sip:1001@127.0.0.1:5062 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK74bf9;rport\r\n" +
		"From: <sip:ping@127.0.0.1>;tag=p\r\nTo: <sip:1001@127.0.0.1:5062>\r\nCall-ID: ping-7\r\nCSeq: 10 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n")
	b.ReportAllocs()
	for b.Loop() {
		fu.feed(parser, conn, data, true, false)
	}
}

// BenchmarkGhostInvite measures what a scanner's INVITE costs us.
func BenchmarkGhostInvite(b *testing.B) {
	fu := newFuzzUA(b)
	defer fu.close()
	parser := sip.NewParser()
	conn := &recConn{}
	data := []byte(rawInvite("1001", fuzzServer, 40000))
	b.ReportAllocs()
	for b.Loop() {
		fu.feed(parser, conn, data, false, false)
	}
}

// BenchmarkBuildRegister measures building a REGISTER.
func BenchmarkBuildRegister(b *testing.B) {
	u, err := New(Config{Listen: "127.0.0.1:5060", UserAgent: "tipring/0.1"}, []Account{{Line: 1, User: "1001", Registrar: "sip.example.net"}})
	if err != nil {
		b.Fatal(err)
	}
	a := u.accts[0]
	t := target{addr: netip.MustParseAddrPort("192.0.2.9:5060")}
	c := netip.MustParseAddrPort("192.0.2.1:5060")
	b.ReportAllocs()
	for b.Loop() {
		req := u.buildRegister(a, t, c, time.Hour, netip.AddrPort{})
		_ = req.String()
	}
}

// BenchmarkCallSetupLoopback measures a whole outgoing call over loopback
// UDP against a sipgo far end: INVITE, 200, ACK, BYE, 200.
func BenchmarkCallSetupLoopback(b *testing.B) {
	p := newPeer(b)
	p.set(func(p *peer) {
		p.onInvite = func(req *sip.Request, tx sip.ServerTransaction) {
			res := sip.NewResponseFromRequest(req, 200, "OK", []byte(answerSDP))
			res.AppendHeader(&sip.ContactHeader{Address: sip.Uri{Scheme: "sip", User: "far", Host: "127.0.0.1", Port: int(p.addr.Port())}})
			_ = tx.Respond(res)
		}
	})
	// Default-like transaction timer: a datagram lost on a busy loopback is
	// retransmitted instead of failing the call.
	u := startUA(b, Config{Timers: Timers{Transaction: 10 * time.Second}}, testAccount(p))
	waitRegistered(b, u, 1)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		c, err := u.Dial(ctx, 1, "100", []byte(offerSDP), nil)
		if err != nil {
			b.Fatal(err)
		}
		for ev := range c.Events() {
			if ev.Kind == Answered {
				break
			}
			if ev.Kind != Progress {
				b.Fatalf("call %d: %+v", b.N, ev)
			}
		}
		if err := c.Hangup(ctx); err != nil {
			b.Fatal(err)
		}
	}
}
