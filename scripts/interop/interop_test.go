// Package interop proves the real tipring binary, on the sim board, against
// real Kamailio, SIPp and baresip on loopback. Nothing here is skipped: a
// missing peer fails the test (make test installs the peers first).
package interop

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tipring/tipring/boards/dsp"
	"github.com/tipring/tipring/boards/sim"
	"github.com/tipring/tipring/meter"
	"github.com/tipring/tipring/scripts/peers"
)

var (
	alice = peers.User{Name: "1001", Password: "pass1001"}
	bob   = peers.User{Name: "1002", Password: "pass1002"}
	far   = peers.User{Name: "2000", Password: "pass2000"}
)

func TestRegistersWithDigestAuth(t *testing.T) {
	k := peers.StartKamailio(t, []peers.User{alice})
	d := startDevice(t, "us", account{User: alice.Name, Password: alice.Password, Registrar: k.Addr})
	d.waitRegistered(1)
	b := k.WaitRegistered(t, alice.Name, 5*time.Second)
	if len(b) != 1 || !strings.Contains(b[0].Contact, d.SIP.String()) {
		t.Fatalf("Kamailio bindings %+v: want one contact at tipring's SIP address %s", b, d.SIP)
	}
	st := d.status().Lines[0]
	if st.LastCode != 200 || st.Server != k.Addr.String() {
		t.Fatalf("status %+v: want last code 200 from %s", st, k.Addr)
	}
	// The line is live: dial tone, not the no-service tone.
	d.hook(1, true)
	d.waitHearing(1, "dial", 350, 3*time.Second)
}

func TestWrongPasswordIsNotRegisteredAndBacksOff(t *testing.T) {
	k := peers.StartKamailio(t, []peers.User{alice})
	d := startDevice(t, "us", account{User: alice.Name, Password: "wrong", Registrar: k.Addr})
	d.eventually("a refused registration", 10*time.Second, func() bool {
		l := d.status().Lines[0]
		return l.LastCode == 401 || l.LastCode == 403
	})
	// Watch long enough for a REGISTER storm to show.
	time.Sleep(4 * time.Second)
	l := d.status().Lines[0]
	if l.Registered {
		t.Fatal("registered with a wrong password")
	}
	if wait := time.Until(l.NextAttempt); wait < 15*time.Second {
		t.Fatalf("next attempt in %v: want the backoff (about 30 s with jitter)", wait)
	}
	registers := strings.Count(k.Log(), "request REGISTER")
	if registers == 0 || registers > 3 {
		t.Fatalf("%d REGISTERs reached Kamailio in 4+ s: want the first attempt and its one authenticated retry, then silence", registers)
	}
	if k.Registered(t, alice.Name) {
		t.Fatal("Kamailio holds a binding for a wrong password")
	}
	// A dead line says so at off-hook.
	d.hook(1, true)
	d.waitHearing(1, "reorder", 0, 3*time.Second)
}

// The phone dials by DTMF audio; a SIPp far end answers with 1004 Hz and
// hangs up; the phone hears the tone, then reorder.
func TestOutgoingCallHearsFarEndThenReorder(t *testing.T) {
	k := peers.StartKamailio(t, []peers.User{alice, far})
	s := peers.StartSIPp(t, "uas_answer_tone.xml", "-m", "1", "-d", "4000")
	k.RegisterContact(t, far, s.Addr)
	d := startDevice(t, "us", account{User: alice.Name, Password: alice.Password, Registrar: k.Addr})
	d.waitRegistered(1)

	d.hook(1, true)
	d.waitHearing(1, "dial", 440, 3*time.Second)
	d.dial(1, far.Name)
	d.waitHearing(1, "tone", 1004, 10*time.Second)
	time.Sleep(1200 * time.Millisecond) // the level is over the last second
	st := d.waitHearing(1, "tone", 1004, time.Second)
	if math.Abs(st.LevelDBm0-peers.SIPpToneLevelDBm0) > 3 {
		t.Fatalf("far end's tone at %.1f dBm0, sent at %d dBm0", st.LevelDBm0, peers.SIPpToneLevelDBm0)
	}
	d.waitHearing(1, "reorder", 0, 10*time.Second)
	if code, err := s.Wait(10 * time.Second); err != nil || code != 0 {
		t.Fatalf("sipp exit %d, %v\n%s", code, err, s.Report())
	}
	if got := d.status().Lines[0].LastCause; !strings.Contains(got, "remote") {
		t.Fatalf("last cause %q: want the far end's hang-up", got)
	}
	d.hook(1, false)
}

// The phone's audio reaches the far end: SIPp echoes the RTP it receives,
// so the phone hears its own tone come back.
func TestOutgoingCallAudioReachesFarEnd(t *testing.T) {
	k := peers.StartKamailio(t, []peers.User{alice, far})
	s := peers.StartSIPp(t, "uas_echo.xml", "-m", "1", "-d", "8000", "-rtp_echo")
	k.RegisterContact(t, far, s.Addr)
	d := startDevice(t, "us", account{User: alice.Name, Password: alice.Password, Registrar: k.Addr})
	d.waitRegistered(1)

	d.hook(1, true)
	d.dial(1, far.Name)
	d.eventually("the call answered", 10*time.Second, func() bool { return d.status().Lines[0].CallState == "connected" })
	d.send(1, 700, 3000)
	d.waitHearing(1, "tone", 700, 5*time.Second)
	d.hook(1, false)
}

func TestBusyFarEndGivesBusyTone(t *testing.T) {
	k := peers.StartKamailio(t, []peers.User{alice, far})
	s := peers.StartSIPp(t, "uas_busy.xml", "-m", "1")
	k.RegisterContact(t, far, s.Addr)
	d := startDevice(t, "us", account{User: alice.Name, Password: alice.Password, Registrar: k.Addr})
	d.waitRegistered(1)
	d.hook(1, true)
	d.dial(1, far.Name)
	st := d.waitHearing(1, "busy", 0, 10*time.Second)
	if !hasFreq(st.ToneHz, 480) || !hasFreq(st.ToneHz, 620) {
		t.Fatalf("busy at %v Hz, want 480+620", st.ToneHz)
	}
	if l := d.status().Lines[0]; !strings.Contains(l.LastCause, "486") {
		t.Fatalf("last cause %q, want 486", l.LastCause)
	}
}

func TestUnknownNumberGivesSITThenReorder(t *testing.T) {
	k := peers.StartKamailio(t, []peers.User{alice})
	d := startDevice(t, "us", account{User: alice.Name, Password: alice.Password, Registrar: k.Addr})
	d.waitRegistered(1)
	d.hook(1, true)
	d.dial(1, "4999")
	d.waitHearing(1, "sit", 0, 10*time.Second)
	d.waitHearing(1, "reorder", 0, 10*time.Second)
}

// 183 with SDP: the far end's own audio (800 Hz) reaches the phone for
// 10 s before the answer, then the answered audio (1004 Hz); the call is
// billed from the answer only.
func TestEarlyMediaReachesThePhoneBeforeAnswer(t *testing.T) {
	d := startMetered(t, 5*meter.Unit, []peers.User{alice}, []peers.User{far}, "uas_early_media.xml", "-d", "3000").d
	d.hook(1, true)
	d.dial(1, far.Name)
	d.waitHearing(1, "tone", 800, 10*time.Second)
	if cs := d.status().Lines[0].CallState; cs != "earlymedia" {
		t.Fatalf("call state %q while the far end's early media plays, want earlymedia", cs)
	}
	d.waitHearing(1, "tone", 1004, 15*time.Second)
	if cs := d.status().Lines[0].CallState; cs != "connected" {
		t.Fatalf("call state %q after the answer", cs)
	}
	rec := d.lastCall(15 * time.Second)
	if !rec.Evidence.EarlyMedia || rec.RingMS < 10_000 {
		t.Fatalf("record %+v: want early media noted and 10 s of ringing", rec)
	}
	if rec.TalkMS < 2_500 || rec.TalkMS > 4_000 || rec.BilledSeconds > 4 {
		t.Fatalf("talk %d ms billed %d s: want the 3 s after the answer only", rec.TalkMS, rec.BilledSeconds)
	}
}

// SIPp calls the phone through Kamailio: it rings with the US cadence,
// shows SIPp's number, answers, hears SIPp's tone and hears reorder when
// SIPp hangs up.
func TestIncomingCallRingsWithCallerIDAndAnswers(t *testing.T) {
	k := peers.StartKamailio(t, []peers.User{alice})
	d := startDevice(t, "us", account{User: alice.Name, Password: alice.Password, Registrar: k.Addr})
	d.waitRegistered(1)
	s := peers.StartSIPp(t, "uac_call.xml", k.Addr.String(), "-s", alice.Name, "-m", "1", "-d", "3000",
		"-key", "caller", "5551234", "-key", "caller_name", "FAR END")

	st := d.waitPhone(1, "two rings with caller ID", 20*time.Second, func(s sim.PhoneState) bool {
		return s.Rings >= 2 && s.CallerID != nil
	})
	if st.CallerID.Number != "5551234" || st.CallerID.Name != "FAR END" {
		t.Fatalf("caller ID %+v, want 5551234 / FAR END", st.CallerID)
	}
	checkCadence(t, st.RingCadenceMs, []int{2000, 4000})
	d.hook(1, true)
	d.waitHearing(1, "tone", 1004, 5*time.Second)
	if st, _ := d.Phone.Phone(d.ctx(time.Second), 1); st.Ringing && st.Rings > 3 {
		t.Fatal("still ringing after answer")
	}
	d.waitHearing(1, "reorder", 0, 10*time.Second)
	if code, err := s.Wait(10 * time.Second); err != nil || code != 0 {
		t.Fatalf("sipp exit %d, %v\n%s", code, err, s.Report())
	}
}

func TestIncomingCallCancelledStopsRinging(t *testing.T) {
	k := peers.StartKamailio(t, []peers.User{alice})
	d := startDevice(t, "us", account{User: alice.Name, Password: alice.Password, Registrar: k.Addr})
	d.waitRegistered(1)
	s := peers.StartSIPp(t, "uac_cancel.xml", k.Addr.String(), "-s", alice.Name, "-m", "1")
	d.waitPhone(1, "ringing", 10*time.Second, func(s sim.PhoneState) bool { return s.Ringing })
	if code, err := s.Wait(15 * time.Second); err != nil || code != 0 {
		t.Fatalf("sipp exit %d, %v\n%s", code, err, s.Report())
	}
	if !slices.Contains(s.ReceivedCodes(), 487) {
		t.Fatalf("SIPp got %v: want 487 for the cancelled INVITE", s.ReceivedCodes())
	}
	d.waitPhone(1, "ringing stopped", 10*time.Second, func(s sim.PhoneState) bool { return !s.Ringing })
	if l := d.status().Lines[0]; l.CallState != "idle" {
		t.Fatalf("line %+v after CANCEL, want idle", l)
	}
}

// A SIP scanner's INVITE sent straight to the device, not through the
// provider, never rings the phone.
func TestScannerInviteNeverRings(t *testing.T) {
	k := peers.StartKamailio(t, []peers.User{alice})
	d := startDevice(t, "us", account{User: alice.Name, Password: alice.Password, Registrar: k.Addr})
	d.waitRegistered(1)
	s := peers.StartSIPp(t, "uac_direct_invite.xml", d.SIP.String(), "-s", alice.Name, "-m", "1")
	code, err := s.Wait(15 * time.Second)
	if err != nil || code != 0 {
		t.Fatalf("sipp exit %d (1 means the device answered the scanner), %v\n%s", code, err, s.Report())
	}
	st, err := d.Phone.Phone(d.ctx(time.Second), 1)
	if err != nil {
		t.Fatal(err)
	}
	if st.Ringing || st.Rings > 0 {
		t.Fatalf("the phone rang for a scanner: %+v", st)
	}
	if n := d.status().GhostRejected; n == 0 {
		t.Fatal("the refused INVITE was not counted")
	}
}

// SIP over TCP to Kamailio: registration and a call.
func TestTCPRegistrationAndCall(t *testing.T) {
	k := peers.StartKamailio(t, []peers.User{alice, far})
	s := peers.StartSIPp(t, "uas_answer_tone.xml", "-m", "1", "-d", "3000")
	k.RegisterContact(t, far, s.Addr)
	d := startDevice(t, "us", account{User: alice.Name, Password: alice.Password, Registrar: k.Addr, Transport: "tcp"})
	d.waitRegistered(1)
	b := k.WaitRegistered(t, alice.Name, 5*time.Second)
	if len(b) == 0 || !strings.Contains(strings.ToLower(b[0].Contact+b[0].Received), "tcp") {
		t.Fatalf("bindings %+v: want a TCP contact", b)
	}
	d.hook(1, true)
	d.dial(1, far.Name)
	d.waitHearing(1, "tone", 1004, 10*time.Second)
}

// baresip is a second phone: it calls tipring's phone through Kamailio,
// each hears the other, and tipring's phone hangs up.
func TestBaresipCallsThePhone(t *testing.T) {
	k := peers.StartKamailio(t, []peers.User{alice, bob})
	d := startDevice(t, "us", account{User: alice.Name, Password: alice.Password, Registrar: k.Addr})
	d.waitRegistered(1)
	b := peers.StartBaresip(t, peers.BaresipOptions{User: bob.Name, Password: bob.Password, Registrar: k.Addr, ToneHz: 1004, ToneDBm0: -10})
	k.WaitRegistered(t, bob.Name, 10*time.Second)

	b.Dial(t, fmt.Sprintf("sip:%s@%s", alice.Name, peers.DefaultRealm))
	st := d.waitPhone(1, "ringing with caller ID", 20*time.Second, func(s sim.PhoneState) bool {
		return s.Rings >= 2 && s.CallerID != nil
	})
	if st.CallerID.Number != bob.Name {
		t.Fatalf("caller ID %+v, want %s", st.CallerID, bob.Name)
	}
	d.hook(1, true)
	b.WaitEvent(t, "CALL_ESTABLISHED", 10*time.Second)
	d.waitHearing(1, "tone", 1004, 10*time.Second)
	d.send(1, 700, 3000)
	time.Sleep(3500 * time.Millisecond)
	d.hook(1, false)
	b.WaitEvent(t, "CALL_CLOSED", 10*time.Second)
	audio := peers.TrimSilence(b.ReceivedAudio(t), -40)
	if lvl := dsp.ToneLevelDBm0(audio, 700); math.Abs(lvl-(-10)) > 3 {
		t.Fatalf("baresip received the phone's 700 Hz at %.1f dBm0 (of %d samples), want about -10", lvl, len(audio))
	}
}

// The phone calls baresip, which answers by itself; baresip hangs up and
// the phone hears reorder.
func TestPhoneCallsBaresip(t *testing.T) {
	k := peers.StartKamailio(t, []peers.User{alice, bob})
	d := startDevice(t, "us", account{User: alice.Name, Password: alice.Password, Registrar: k.Addr})
	d.waitRegistered(1)
	b := peers.StartBaresip(t, peers.BaresipOptions{User: bob.Name, Password: bob.Password, Registrar: k.Addr, AutoAnswer: true, ToneHz: 1004, ToneDBm0: -10})
	k.WaitRegistered(t, bob.Name, 10*time.Second)
	d.hook(1, true)
	d.dial(1, bob.Name)
	b.WaitEvent(t, "CALL_ESTABLISHED", 10*time.Second)
	d.waitHearing(1, "tone", 1004, 10*time.Second)
	// Keys pressed in the call reach the far end as RFC 4733 events.
	d.dial(1, "7")
	if ev := b.WaitEvent(t, "CALL_DTMF_START", 5*time.Second); ev.Param != "7" {
		t.Fatalf("baresip got DTMF %+v, want 7", ev)
	}
	b.Hangup(t)
	d.waitHearing(1, "reorder", 0, 10*time.Second)
}

// Other regions ring with their own cadence and send caller ID their way
// (ETSI FSK before the first ring in the UK, after it in Germany).
func TestRegionalRingAndCallerID(t *testing.T) {
	for _, tc := range []struct {
		region  string
		cadence []int
	}{{"uk", []int{400, 200, 400, 2000}}, {"de", []int{1000, 4000}}} {
		t.Run(tc.region, func(t *testing.T) {
			k := peers.StartKamailio(t, []peers.User{alice})
			d := startDevice(t, tc.region, account{User: alice.Name, Password: alice.Password, Registrar: k.Addr})
			d.waitRegistered(1)
			peers.StartSIPp(t, "uac_call.xml", k.Addr.String(), "-s", alice.Name, "-m", "1", "-d", "1000",
				"-key", "caller", "02079460000", "-key", "caller_name", "LONDON")
			st := d.waitPhone(1, "rings with caller ID", 20*time.Second, func(s sim.PhoneState) bool {
				return s.Rings >= 3 && s.CallerID != nil && len(s.RingCadenceMs) > 0
			})
			if st.CallerID.Number != "02079460000" {
				t.Fatalf("caller ID %+v", st.CallerID)
			}
			checkCadence(t, st.RingCadenceMs, tc.cadence)
			d.hook(1, true)
			d.waitHearing(1, "tone", 1004, 5*time.Second)
		})
	}
}

// checkCadence compares a measured ring cadence with the region's, within
// the audio clock's 20 ms and a little scheduling slack.
func checkCadence(t *testing.T, got, want []int) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("ring cadence %v ms, want %v", got, want)
	}
	for i := range want {
		if math.Abs(float64(got[i]-want[i])) > 60 {
			t.Fatalf("ring cadence %v ms, want %v", got, want)
		}
	}
}

// One line calls the other through Kamailio: the INVITE comes back to the
// same device with the same Call-ID, and must ring port 2, not be taken for
// a loop.
func TestLineCallsTheOtherLineThroughTheProxy(t *testing.T) {
	k := peers.StartKamailio(t, []peers.User{alice, bob})
	d := startDevice(t, "us",
		account{User: alice.Name, Password: alice.Password, Registrar: k.Addr},
		account{User: bob.Name, Password: bob.Password, Registrar: k.Addr})
	d.waitRegistered(1)
	d.waitRegistered(2)
	d.hook(1, true)
	d.dial(1, bob.Name)
	st := d.waitPhone(2, "port 2 rings with port 1's number", 20*time.Second, func(s sim.PhoneState) bool {
		return s.Ringing && s.CallerID != nil
	})
	if st.CallerID.Number != alice.Name {
		t.Fatalf("caller ID %+v, want %s", st.CallerID, alice.Name)
	}
	d.waitHearing(1, "ringback", 0, 5*time.Second)
	d.hook(2, true)
	d.send(1, 700, 3000)
	d.waitHearing(2, "tone", 700, 5*time.Second)
	d.send(2, 900, 3000)
	d.waitHearing(1, "tone", 900, 5*time.Second)
	d.hook(2, false)
	d.waitHearing(1, "reorder", 0, 10*time.Second)
}

// The far end puts the call on hold and back with re-INVITEs: tipring
// answers each with the right direction, the phone hears silence while
// held (and the call survives it), then the far end again.
func TestFarEndHoldAndResume(t *testing.T) {
	k := peers.StartKamailio(t, []peers.User{alice, far})
	s := peers.StartSIPp(t, "uas_hold.xml", "-m", "1", "-d", "3000")
	k.RegisterContact(t, far, s.Addr)
	d := startDevice(t, "us", account{User: alice.Name, Password: alice.Password, Registrar: k.Addr})
	d.waitRegistered(1)
	d.hook(1, true)
	d.dial(1, far.Name)
	d.waitHearing(1, "tone", 1004, 10*time.Second)
	d.waitHearing(1, "silence", 0, 5*time.Second)
	if cs := d.status().Lines[0].CallState; cs != "connected" {
		t.Fatalf("call state %q while held", cs)
	}
	d.waitHearing(1, "tone", 1004, 10*time.Second)
	if code, err := s.Wait(15 * time.Second); err != nil || code != 0 {
		t.Fatalf("sipp exit %d (1: a re-INVITE answer had the wrong direction), %v\n%s", code, err, s.Report())
	}
	d.waitHearing(1, "reorder", 0, 5*time.Second)
}
