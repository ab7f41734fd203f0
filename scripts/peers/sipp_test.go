package peers

import (
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/tipring/tipring/scripts/sipp"
)

// A trace in the format SIPp 3.6.1 writes with -trace_msg.
const sampleTrace = `----------------------------------------------- 2026-11-26 06:35:23.227152
UDP message sent (391) bytes :

INVITE sip:1001@127.0.0.1:5060 SIP/2.0
Via: SIP/2.0/UDP 127.0.0.1:5061;branch=z9hG4bK1
Content-Length: 0

----------------------------------------------- 2026-11-26 06:35:23.230000
UDP message received [300] bytes :

SIP/2.0 100 Trying
Via: SIP/2.0/UDP 127.0.0.1:5061;branch=z9hG4bK1
Content-Length: 0


----------------------------------------------- 2026-11-26 06:35:23.240000
UDP message received [300] bytes :

SIP/2.0 486 Busy Here
Via: SIP/2.0/UDP 127.0.0.1:5061;branch=z9hG4bK1
Content-Length: 0

----------------------------------------------- 2026-11-26 06:35:23.250000
UDP message sent (200) bytes :

ACK sip:1001@127.0.0.1:5060 SIP/2.0
Content-Length: 0

----------------------------------------------- 2026-11-26 06:35:23.260000
UDP message rece`

func TestParseMessageLog(t *testing.T) {
	msgs := parseMessageLog(sampleTrace)
	var got []string
	for _, m := range msgs {
		dir := "sent"
		if m.Received {
			dir = "received"
		}
		got = append(got, dir+" "+m.StartLine())
	}
	want := []string{
		"sent INVITE sip:1001@127.0.0.1:5060 SIP/2.0",
		"received SIP/2.0 100 Trying",
		"received SIP/2.0 486 Busy Here",
		"sent ACK sip:1001@127.0.0.1:5060 SIP/2.0",
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %q\nwant %q", got, want)
	}
	if msgs[0].Method() != "INVITE" || msgs[0].StatusCode() != 0 {
		t.Errorf("INVITE: method %q code %d", msgs[0].Method(), msgs[0].StatusCode())
	}
	if msgs[2].StatusCode() != 486 || msgs[2].Method() != "" {
		t.Errorf("486: code %d method %q", msgs[2].StatusCode(), msgs[2].Method())
	}
	if !strings.HasSuffix(msgs[1].Text, "Content-Length: 0") {
		t.Errorf("trailing blank lines kept: %q", msgs[1].Text)
	}
}

func TestMessageStatusCodeRejectsJunk(t *testing.T) {
	for _, line := range []string{"SIP/2.0 99 Low", "SIP/2.0 700 High", "SIP/2.0 2x0 X", "SIP/2.0 ", "HTTP/1.1 200 OK"} {
		if c := (Message{Text: line}).StatusCode(); c != 0 {
			t.Errorf("%q: code %d, want 0", line, c)
		}
	}
}

func FuzzParseMessageLog(f *testing.F) {
	f.Add(sampleTrace)
	f.Add(sippSeparator + "x\nUDP message received [1] bytes :\n\nSIP/2.0 200 OK\n")
	f.Fuzz(func(t *testing.T, log string) {
		for _, m := range parseMessageLog(log) {
			if m.Text == "" {
				t.Fatal("empty message returned")
			}
			if c := m.StatusCode(); c != 0 && (c < 100 || c > 699) {
				t.Fatalf("status code %d out of range", c)
			}
			_ = m.Method()
		}
	})
}

// Every scenario shipped must be one SIPp accepts; StartSIPp fails the test
// if SIPp exits while loading it.
func TestScenariosLoad(t *testing.T) {
	names := sipp.Names()
	if len(names) < 7 {
		t.Fatalf("only %d scenarios: %v", len(names), names)
	}
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			// A UAC needs a target; nothing listens on the discard port, and
			// SIPp is stopped before it would give up.
			args := []string{"127.0.0.1:9", "-m", "1"}
			if name == "uac_register.xml" {
				args = append(args, "-key", "realm", "r", "-key", "contact", "127.0.0.1:9")
			}
			s := StartSIPp(t, name, args...)
			s.Stop()
		})
	}
}

func TestStartSIPpRefusesAddressOptions(t *testing.T) {
	for _, opt := range []string{"-i", "-mi", "-ci", "-p"} {
		ft := &fatalRecorder{TB: t}
		func() {
			defer func() { _ = recover() }()
			StartSIPp(ft, "uas_busy.xml", opt, "0.0.0.0")
		}()
		if !strings.Contains(ft.msg, opt+" is set by StartSIPp") {
			t.Errorf("%s: got %q, want a refusal", opt, ft.msg)
		}
	}
}

// fatalRecorder captures a Fatalf instead of failing the test, to check the
// message a misuse produces.
type fatalRecorder struct {
	testing.TB
	msg string
}

func (f *fatalRecorder) Helper() {}

func (f *fatalRecorder) Fatalf(format string, args ...any) {
	f.msg = fmt.Sprintf(format, args...)
	panic(f)
}
