package peers

import (
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
)

// These tests run the real peers. They are not skipped when a peer is
// missing: CI installs them with scripts/install-peers.sh first, and a
// missing peer must fail loudly rather than pass quietly.

var (
	alice = User{Name: "1001", Password: "pass1001"}
	bob   = User{Name: "1002", Password: "pass1002"}
	far   = User{Name: "2000", Password: "pass2000"}
)

func TestKamailioRegistrar(t *testing.T) {
	k := StartKamailio(t, []User{alice, bob})
	dev := NewPhone(t, PhoneOptions{User: alice.Name, Password: alice.Password, Realm: k.Realm, Registrar: k.Addr})

	if k.Registered(t, alice.Name) {
		t.Fatal("1001 registered before it sent REGISTER")
	}
	if code := dev.Register("wrong"); code != 401 && code != 403 {
		t.Fatalf("REGISTER with a wrong password: %d, want 401 or 403", code)
	}
	if k.Registered(t, alice.Name) {
		t.Fatal("1001 registered with a wrong password")
	}
	if code := dev.Register(alice.Password); code != 200 {
		t.Fatalf("REGISTER: %d, want 200\n%s", code, k.Log())
	}
	b := k.WaitRegistered(t, alice.Name, 2*time.Second)
	if len(b) != 1 || b[0].Contact != "sip:1001@"+dev.Addr.String() {
		t.Fatalf("bindings %+v, want one for sip:1001@%s", b, dev.Addr)
	}
	if b[0].Expires < 3500 || b[0].Expires > 3600 {
		t.Fatalf("binding expires in %d s, want about 3600 (what the phone asked for)", b[0].Expires)
	}
	if k.Registered(t, bob.Name) {
		t.Fatal("1002 registered though it never sent REGISTER")
	}
}

func TestKamailioRejectsUnknownCallee(t *testing.T) {
	k := StartKamailio(t, []User{alice})
	dev := NewPhone(t, PhoneOptions{User: alice.Name, Password: alice.Password, Realm: k.Realm, Registrar: k.Addr})
	if code := dev.Register(alice.Password); code != 200 {
		t.Fatalf("REGISTER: %d", code)
	}
	if code := dev.Call("4999", nil); code != 404 {
		t.Fatalf("call to an unknown user: %d, want 404\n%s", code, k.Log())
	}
}

// SIPp calls the registered device through Kamailio and plays 1004 Hz;
// the device hears it and SIPp hangs up.
func TestSIPpCallsDeviceThroughKamailio(t *testing.T) {
	k := StartKamailio(t, []User{alice})
	dev := NewPhone(t, PhoneOptions{User: alice.Name, Password: alice.Password, Realm: k.Realm, Registrar: k.Addr})
	if code := dev.Register(alice.Password); code != 200 {
		t.Fatalf("REGISTER: %d", code)
	}
	s := StartSIPp(t, "uac_call.xml", k.Addr.String(), "-s", alice.Name, "-m", "1", "-d", "2000",
		"-key", "caller", "5551234", "-key", "caller_name", "Far End")
	code, err := s.Wait(20 * time.Second)
	if err != nil || code != 0 {
		t.Fatalf("sipp exit %d, %v\n%s\n--- kamailio ---\n%s", code, err, s.Report(), k.Log())
	}
	inv := dev.LastInvite()
	if inv == nil {
		t.Fatal("device got no INVITE")
	}
	if from := inv.From(); from == nil || from.Address.User != "5551234" || from.DisplayName != "Far End" {
		t.Fatalf("INVITE From %v, want \"Far End\" <sip:5551234@…>", inv.From())
	}
	if len(inv.GetHeaders("Record-Route")) == 0 {
		t.Fatal("INVITE through Kamailio has no Record-Route")
	}
	if byes := dev.Byes(); byes != 1 {
		t.Fatalf("device got %d BYE, want 1", byes)
	}
	audio, _ := dev.Heard()
	AssertTone(t, "audio from SIPp", audio, 1004, SIPpToneLevelDBm0)
}

// The device calls a SIPp far end registered at Kamailio, with proxy
// authentication, and hears the far end's tone until it hangs up.
func TestDeviceCallsSIPpAnswerTone(t *testing.T) {
	k := StartKamailio(t, []User{alice, far})
	s := StartSIPp(t, "uas_answer_tone.xml", "-m", "1", "-d", "2000")
	k.RegisterContact(t, far, s.Addr)
	dev := NewPhone(t, PhoneOptions{User: alice.Name, Password: alice.Password, Realm: k.Realm, Registrar: k.Addr})
	var codes []int
	code := dev.Call(far.Name, func(r *sip.Response) { codes = append(codes, r.StatusCode) })
	if code != 200 {
		t.Fatalf("call: %d (responses %v)\n%s\n--- kamailio ---\n%s", code, codes, s.Report(), k.Log())
	}
	if !containsInt(codes, 407) || !containsInt(codes, 180) {
		t.Fatalf("responses %v: want a 407 challenge and 180 Ringing before 200", codes)
	}
	if exit, err := s.Wait(15 * time.Second); err != nil || exit != 0 {
		t.Fatalf("sipp exit %d, %v\n%s", exit, err, s.Report())
	}
	if byes := dev.Byes(); byes != 1 {
		t.Fatalf("device got %d BYE from the far end, want 1", byes)
	}
	audio, _ := dev.Heard()
	AssertTone(t, "far end's tone", audio, 1004, SIPpToneLevelDBm0)
}

func TestDeviceCallsSIPpBusy(t *testing.T) {
	k := StartKamailio(t, []User{alice, far})
	s := StartSIPp(t, "uas_busy.xml", "-m", "1")
	k.RegisterContact(t, far, s.Addr)
	dev := NewPhone(t, PhoneOptions{User: alice.Name, Password: alice.Password, Realm: k.Realm, Registrar: k.Addr})
	if code := dev.Call(far.Name, nil); code != 486 {
		t.Fatalf("call: %d, want 486\n%s", code, s.Report())
	}
	if exit, err := s.Wait(10 * time.Second); err != nil || exit != 0 {
		t.Fatalf("sipp exit %d, %v\n%s", exit, err, s.Report())
	}
}

// Early media: 800 Hz with the 183, then 1004 Hz after the 200.
func TestDeviceCallsSIPpEarlyMedia(t *testing.T) {
	k := StartKamailio(t, []User{alice, far})
	s := StartSIPp(t, "uas_early_media.xml", "-m", "1", "-d", "1500")
	k.RegisterContact(t, far, s.Addr)
	dev := NewPhone(t, PhoneOptions{User: alice.Name, Password: alice.Password, Realm: k.Realm, Registrar: k.Addr})
	var early []int16
	var codes []int
	code := dev.Call(far.Name, func(r *sip.Response) {
		codes = append(codes, r.StatusCode)
		if r.StatusCode == 200 {
			early, _ = dev.Heard()
			dev.ResetHeard()
		}
	})
	if code != 200 || !containsInt(codes, 183) {
		t.Fatalf("call: %d after %v, want 183 then 200\n%s", code, codes, s.Report())
	}
	if exit, err := s.Wait(15 * time.Second); err != nil || exit != 0 {
		t.Fatalf("sipp exit %d, %v\n%s", exit, err, s.Report())
	}
	AssertTone(t, "early media", early, 800, SIPpToneLevelDBm0)
	answered, _ := dev.Heard()
	AssertTone(t, "answered audio", answered, 1004, SIPpToneLevelDBm0)
}

// SIPp calls the device and cancels while it rings.
func TestSIPpCancelsWhileRinging(t *testing.T) {
	k := StartKamailio(t, []User{alice})
	dev := NewPhone(t, PhoneOptions{User: alice.Name, Password: alice.Password, Realm: k.Realm, Registrar: k.Addr, NoAnswer: true})
	if code := dev.Register(alice.Password); code != 200 {
		t.Fatalf("REGISTER: %d", code)
	}
	s := StartSIPp(t, "uac_cancel.xml", k.Addr.String(), "-s", alice.Name, "-m", "1")
	if exit, err := s.Wait(15 * time.Second); err != nil || exit != 0 {
		t.Fatalf("sipp exit %d, %v\n%s\n--- kamailio ---\n%s", exit, err, s.Report(), k.Log())
	}
	if got := s.ReceivedCodes(); !containsInt(got, 180) || !containsInt(got, 487) {
		t.Fatalf("sipp received %v, want 180 and 487", got)
	}
}

// A scanner's INVITE straight at the device: the device (here rejecting
// everything that does not come from the proxy) answers 403 and SIPp
// reports "not answered".
func TestSIPpDirectInvite(t *testing.T) {
	dev := NewPhone(t, PhoneOptions{User: alice.Name, Password: alice.Password, Realm: DefaultRealm, Reject: 403})
	s := StartSIPp(t, "uac_direct_invite.xml", dev.Addr.String(), "-s", "100", "-m", "1")
	if exit, err := s.Wait(15 * time.Second); err != nil || exit != 0 {
		t.Fatalf("sipp exit %d, %v\n%s", exit, err, s.Report())
	}
	if got := s.ReceivedCodes(); !containsInt(got, 403) {
		t.Fatalf("sipp received %v, want 403", got)
	}
	if inv := dev.LastInvite(); inv == nil || inv.From().Address.User != "sipp" {
		t.Fatalf("device got INVITE %v, want one from the scanner", inv)
	}
}

// The scanner scenario must report an answering device as a failure.
func TestSIPpDirectInviteAnswered(t *testing.T) {
	dev := NewPhone(t, PhoneOptions{User: alice.Name, Password: alice.Password, Realm: DefaultRealm})
	s := StartSIPp(t, "uac_direct_invite.xml", dev.Addr.String(), "-s", "100", "-m", "1")
	exit, err := s.Wait(15 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if exit != 1 {
		t.Fatalf("sipp exit %d for an answered scanner call, want 1\n%s", exit, s.Report())
	}
	if got := s.ReceivedCodes(); !containsInt(got, 200) {
		t.Fatalf("sipp received %v, want 200", got)
	}
}

// baresip registers at Kamailio; the device calls it, it answers, both
// hear each other.
func TestBaresipCalls(t *testing.T) {
	k := StartKamailio(t, []User{alice, bob})
	b := StartBaresip(t, BaresipOptions{User: bob.Name, Password: bob.Password, Registrar: k.Addr, Domain: k.Realm, AutoAnswer: true})
	dev := NewPhone(t, PhoneOptions{User: alice.Name, Password: alice.Password, Realm: k.Realm, Registrar: k.Addr})
	if code := dev.Register(alice.Password); code != 200 {
		t.Fatalf("REGISTER: %d", code)
	}
	k.WaitRegistered(t, bob.Name, 5*time.Second)

	if code := dev.Call(bob.Name, nil); code != 200 {
		t.Fatalf("call to baresip: %d\n%s\n--- kamailio ---\n%s", code, b.Log(), k.Log())
	}
	b.WaitEvent(t, "CALL_ESTABLISHED", 5*time.Second)
	heard := dev.WaitHeard(2*time.Second, 10*time.Second)
	dev.Hangup()
	b.WaitEvent(t, "CALL_CLOSED", 5*time.Second)
	AssertTone(t, "device hears baresip", heard, 1004, -10)
	AssertTone(t, "baresip hears device", b.ReceivedAudio(t), PhoneToneHz, -10)

	// And the other way: baresip dials the device.
	dev.ResetHeard()
	b.Dial(t, "sip:"+alice.Name+"@"+k.Realm)
	b.WaitEvent(t, "CALL_ESTABLISHED", 5*time.Second)
	time.Sleep(time.Second)
	b.Hangup(t)
	b.WaitEvent(t, "CALL_CLOSED", 5*time.Second)
	if inv := dev.LastInvite(); inv == nil || inv.From().Address.User != bob.Name {
		t.Fatalf("device got INVITE %v, want one from 1002", inv)
	}
}

func containsInt(s []int, v int) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// A SIPp caller that is a subscriber must authenticate: uac_call.xml
// answers the 407 with -au/-ap and the call goes through.
func TestSIPpAuthenticatedCall(t *testing.T) {
	k := StartKamailio(t, []User{alice, far})
	dev := NewPhone(t, PhoneOptions{User: alice.Name, Password: alice.Password, Realm: k.Realm, Registrar: k.Addr})
	if code := dev.Register(alice.Password); code != 200 {
		t.Fatalf("REGISTER: %d", code)
	}
	s := StartSIPp(t, "uac_call.xml", k.Addr.String(), "-s", alice.Name, "-m", "1", "-d", "500",
		"-key", "caller", far.Name, "-au", far.Name, "-ap", far.Password)
	if code, err := s.Wait(15 * time.Second); err != nil || code != 0 {
		t.Fatalf("sipp exit %d, %v\n%s\n--- kamailio ---\n%s", code, err, s.Report(), k.Log())
	}
	if got := s.ReceivedCodes(); !containsInt(got, 407) || !containsInt(got, 200) {
		t.Fatalf("sipp received %v, want a 407 challenge and then 200", got)
	}
	if inv := dev.LastInvite(); inv == nil || inv.From().Address.User != far.Name {
		t.Fatalf("device got INVITE %v, want one from %s", inv, far.Name)
	}
}

// With a wrong password the subscriber's call is refused: Kamailio
// challenges the answer again (as providers do) and SIPp reports a failed
// call.
func TestSIPpWrongPasswordRefused(t *testing.T) {
	k := StartKamailio(t, []User{alice, far})
	dev := NewPhone(t, PhoneOptions{User: alice.Name, Password: alice.Password, Realm: k.Realm, Registrar: k.Addr})
	if code := dev.Register(alice.Password); code != 200 {
		t.Fatalf("REGISTER: %d", code)
	}
	s := StartSIPp(t, "uac_call.xml", k.Addr.String(), "-s", alice.Name, "-m", "1",
		"-key", "caller", far.Name, "-au", far.Name, "-ap", "wrong")
	code, err := s.Wait(15 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if code == 0 {
		t.Fatalf("sipp exit 0 with a wrong password\n%s", s.Report())
	}
	challenges := 0
	for _, c := range s.ReceivedCodes() {
		if c == 407 {
			challenges++
		}
		if c == 200 {
			t.Fatalf("call with a wrong password answered: %v", s.ReceivedCodes())
		}
	}
	if challenges < 2 {
		t.Fatalf("sipp received %v, want the credentials challenged again", s.ReceivedCodes())
	}
	if n := len(dev.Invites()); n != 0 {
		t.Fatalf("device got %d INVITEs from an unauthenticated subscriber", n)
	}
}

// The device calls a SIPp far end that echoes RTP (-rtp_echo): hearing its
// own tone back proves both directions of the media path.
func TestDeviceCallsSIPpEcho(t *testing.T) {
	k := StartKamailio(t, []User{alice, far})
	s := StartSIPp(t, "uas_echo.xml", "-m", "1", "-d", "3000", "-rtp_echo")
	k.RegisterContact(t, far, s.Addr)
	dev := NewPhone(t, PhoneOptions{User: alice.Name, Password: alice.Password, Realm: k.Realm, Registrar: k.Addr})
	if code := dev.Call(far.Name, nil); code != 200 {
		t.Fatalf("call: %d\n%s", code, s.Report())
	}
	heard := dev.WaitHeard(time.Second, 10*time.Second)
	AssertTone(t, "echo from SIPp", heard, PhoneToneHz, -10)
	if exit, err := s.Wait(15 * time.Second); err != nil || exit != 0 {
		t.Fatalf("sipp exit %d, %v\n%s", exit, err, s.Report())
	}
}
