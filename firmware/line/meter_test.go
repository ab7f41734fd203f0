package line

import (
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/tipring/tipring/boards"
	"github.com/tipring/tipring/firmware/prompts"
	"github.com/tipring/tipring/meter"
	"github.com/tipring/tipring/sip"
	"github.com/tipring/tipring/sip/media"
)

// fakeMeter grants or refuses as told and keeps what the line filed.
type fakeMeter struct {
	mu       sync.Mutex
	refuse   *meter.Refusal
	attempts []meter.Attempt
	calls    []*fakeMeteredCall
	balance  meter.BalanceInfo
	notice   string
}

func (m *fakeMeter) Authorize(a meter.Attempt) (MeteredCall, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.attempts = append(m.attempts, a)
	if m.refuse != nil && a.Direction == "outgoing" && !a.Emergency {
		return nil, m.refuse
	}
	c := &fakeMeteredCall{notices: make(chan meter.Notice, 4), metered: !a.Emergency && a.Direction == "outgoing"}
	m.calls = append(m.calls, c)
	return c, nil
}

func (m *fakeMeter) Balance() (meter.BalanceInfo, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.balance, nil
}

func (m *fakeMeter) TakeNotice() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := m.notice
	m.notice = ""
	return n
}

func (m *fakeMeter) last(t *testing.T) *fakeMeteredCall {
	t.Helper()
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.calls) == 0 {
		t.Fatal("nothing authorized")
	}
	return m.calls[len(m.calls)-1]
}

type fakeMeteredCall struct {
	notices  chan meter.Notice
	metered  bool
	mu       sync.Mutex
	early    bool
	answered string
	ends     []meter.End
}

func (c *fakeMeteredCall) Notices() <-chan meter.Notice { return c.notices }
func (c *fakeMeteredCall) Limit() time.Duration         { return 12 * time.Minute }
func (c *fakeMeteredCall) Metered() bool                { return c.metered }
func (c *fakeMeteredCall) EarlyMedia()                  { c.mu.Lock(); c.early = true; c.mu.Unlock() }
func (c *fakeMeteredCall) Answered(by string)           { c.mu.Lock(); c.answered = by; c.mu.Unlock() }
func (c *fakeMeteredCall) End(e meter.End) meter.Record {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.ends = append(c.ends, e)
	return meter.Record{Disposition: e.Disposition}
}

func (c *fakeMeteredCall) ended() []meter.End {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.ends)
}

// fakePrompts makes each key one frame of a constant sample value, so
// what the phone heard can be read back as keys.
type fakePrompts struct{ keys []string }

func (p *fakePrompts) Clip(keys ...string) ([]int16, error) {
	var pcm []int16
	for _, k := range keys {
		i := slices.Index(p.keys, k)
		if i < 0 {
			p.keys = append(p.keys, k)
			i = len(p.keys) - 1
		}
		for range boards.FrameSamples {
			pcm = append(pcm, int16(i+1))
		}
	}
	return pcm, nil
}

// ear runs the port's audio clock (fast) and writes down the prompts the
// phone heard, one key per frame.
type ear struct {
	mu    sync.Mutex
	heard []string
}

func listen(t *testing.T, r *rig, p *fakePrompts) *ear {
	e := &ear{}
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		var up, down boards.Frame
		for {
			select {
			case <-stop:
				return
			case <-time.After(time.Millisecond):
			}
			r.port.mu.Lock()
			audio := r.port.audio
			r.port.mu.Unlock()
			if audio == nil {
				continue
			}
			down = boards.Frame{}
			audio(&up, &down)
			if v := down[0]; v > 0 && int(v) <= len(p.keys) {
				e.mu.Lock()
				e.heard = append(e.heard, p.keys[v-1])
				e.mu.Unlock()
			}
		}
	}()
	t.Cleanup(func() { close(stop); <-done })
	return e
}

func (e *ear) has(key string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Contains(e.heard, key)
}

func meterRig(t *testing.T, m *fakeMeter) (*rig, *ear) {
	p := &fakePrompts{keys: prompts.Keys()}
	r := newRig(t, true, func(c *Config) { c.Meter = m; c.Prompts = p })
	return r, listen(t, r, p)
}

func TestRefusedCallIsExplainedThenReorder(t *testing.T) {
	for reason, key := range map[meter.RefusalReason]string{
		meter.RefusedCredit:       prompts.InsufficientCredit,
		meter.RefusedSuspended:    prompts.AccountSuspended,
		meter.RefusedBlocked:      prompts.DestinationBlocked,
		meter.RefusedRatesUnknown: prompts.ServiceUnavailable,
	} {
		m := &fakeMeter{refuse: &meter.Refusal{Reason: reason}}
		r, e := meterRig(t, m)
		r.port.hook(true)
		r.port.dial("602")
		r.eventually("the "+key+" prompt", func() bool { return e.has(key) })
		r.hears("reorder")
		if n, _ := r.sig.last(); n != "" {
			t.Fatalf("%s: dialled %q although refused", reason, n)
		}
	}
}

func TestCreditExhaustedHangsUpAndSaysSo(t *testing.T) {
	m := &fakeMeter{}
	r, e := meterRig(t, m)
	r.port.hook(true)
	r.port.dial("601")
	_, call := r.dialled()
	call.events <- sip.CallEvent{Kind: sip.Answered, Code: 200, SDP: []byte("v=0 answer"), Contact: "sip:far@127.0.0.1"}
	r.inState(Connected)
	mc := m.last(t)
	mc.notices <- meter.Notice{Kind: meter.Warning, Remaining: 60 * time.Second}
	r.eventually("the one-minute warning", func() bool { return e.has(prompts.OneMinuteRemaining) })
	if _, _, hungUp := call.state(); hungUp || r.line.Status().State != Connected {
		t.Fatal("the warning ended the call")
	}
	mc.notices <- meter.Notice{Kind: meter.Exhausted}
	r.eventually("BYE", func() bool { _, _, h := call.state(); return h })
	r.eventually("the credit-exhausted prompt", func() bool { return e.has(prompts.CreditExhausted) })
	r.hears("reorder")
	ends := mc.ended()
	if len(ends) != 1 || ends[0].Disposition != meter.CutCredit || ends[0].HungUpBy != "meter" {
		t.Fatalf("record ends %+v, want one cut_credit by the meter", ends)
	}
	mc.mu.Lock()
	by := mc.answered
	mc.mu.Unlock()
	if by != "sip:far@127.0.0.1" {
		t.Fatalf("answered by %q, want the 200's Contact", by)
	}
}

func TestBalanceCodeSpeaksThenDialTone(t *testing.T) {
	m := &fakeMeter{balance: meter.BalanceInfo{Metering: true, Balance: 12_340_000, Currency: "USD", Minutes: 50}}
	r, e := meterRig(t, m)
	r.port.hook(true)
	r.hears("dial")
	r.port.dial("*225")
	r.eventually("the balance", func() bool { return e.has(prompts.BalanceIs) && e.has(prompts.Dollars) })
	r.hears("dial")
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.attempts) != 0 {
		t.Fatalf("the balance code was dialled as a call: %+v", m.attempts)
	}
}

func TestDispositionsFiled(t *testing.T) {
	m := &fakeMeter{}
	r, _ := meterRig(t, m)
	r.port.hook(true)
	r.port.dial("602")
	_, call := r.dialled()
	call.events <- sip.CallEvent{Kind: sip.Failed, Code: 486, Reason: "Busy Here"}
	r.hears("busy")
	if ends := m.last(t).ended(); len(ends) != 1 || ends[0].Disposition != meter.Busy || ends[0].SIPCode != 486 {
		t.Fatalf("busy filed as %+v", ends)
	}
	r.port.hook(false)
	r.inState(Idle)

	r.port.hook(true)
	r.port.dial("601")
	r.eventually("a second INVITE", func() bool {
		r.sig.mu.Lock()
		defer r.sig.mu.Unlock()
		return len(r.sig.dialled) == 2
	})
	r.port.hook(false) // gave up while it rang
	r.inState(Idle)
	if ends := m.last(t).ended(); len(ends) != 1 || ends[0].Disposition != meter.Cancelled {
		t.Fatalf("abandoned call filed as %+v", ends)
	}
}

func TestEmergencyIsAuthorizedAsEmergency(t *testing.T) {
	m := &fakeMeter{refuse: &meter.Refusal{Reason: meter.RefusedSuspended}}
	r, _ := meterRig(t, m)
	r.port.hook(true)
	r.port.dial("911")
	n, _ := r.dialled()
	m.mu.Lock()
	defer m.mu.Unlock()
	if n != "911" || len(m.attempts) != 1 || !m.attempts[0].Emergency {
		t.Fatalf("dialled %q with attempts %+v: want 911 as an emergency", n, m.attempts)
	}
}

// A call's record carries what the media engine measured, in the record's
// units: the bundle rates the call from it.
func TestEvidenceFromMediaStats(t *testing.T) {
	got := evidence(media.Stats{
		PacketsReceived: 480, PacketsSent: 500, AudioReceived: 9600 * time.Millisecond, AudioSent: 10 * time.Second,
		RemoteFractionLost: 0.04, JitterMs: 3.5, RTT: 182500 * time.Microsecond,
	})
	want := meter.Evidence{RTPReceived: 480, RTPSent: 500, AudioReceivedMS: 9600, AudioSentMS: 10000,
		RTCPLossPercent: 4, JitterMS: 3.5, RTTMS: 182.5}
	if got != want {
		t.Fatalf("evidence = %+v, want %+v", got, want)
	}
}
