package peers

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tipring/tipring/scripts/sipp"
)

// SIPp is a running SIPp instance on 127.0.0.1.
type SIPp struct {
	// Addr is its SIP address (UDP unless the test passed -t t1).
	Addr netip.AddrPort
	// MediaPort is where it receives RTP (and sends its rtp_stream from);
	// -rtp_echo also uses MediaPort+2.
	MediaPort int
	// Dir is its working directory: the scenario, the tone files and the
	// message and error traces.
	Dir string

	proc *process
}

// Tones SIPp scenarios play with rtp_stream, written into its working
// directory: raw μ-law, one second each, looped by the scenario.
var sippTones = []struct {
	file string
	hz   float64
}{
	{"tone_1004.ulaw", 1004},
	{"tone_800.ulaw", 800},
}

// SIPpToneLevelDBm0 is the level of the tones SIPp scenarios play.
const SIPpToneLevelDBm0 = -10

// options StartSIPp sets itself: a test passing them would move SIPp off
// loopback or lose its traces.
var sippReserved = []string{"-i", "-p", "-mi", "-mp", "-ci", "-cp", "-sf", "-sn", "-bind_local",
	"-trace_msg", "-message_file", "-trace_err", "-error_file", "-nostdin", "-bg"}

// StartSIPp runs sipp with scenario — a file in scripts/sipp ("uas_busy.xml")
// or a path to another scenario — bound to 127.0.0.1 on free ports, with
// the test's args (for example "127.0.0.1:5060", "-s", "1001", "-m", "1",
// "-d", "2000"). Unless args set them, the keys "caller" and "caller_name"
// are "sipp" and "SIPp". SIPp is stopped when the test ends; Wait tells how
// it ended by itself.
func StartSIPp(t testing.TB, scenario string, args ...string) *SIPp {
	t.Helper()
	bin := lookPath(t, "sipp")
	for _, a := range args {
		if slices.Contains(sippReserved, a) {
			t.Fatalf("peers.StartSIPp: %s is set by StartSIPp (SIPp stays on 127.0.0.1 and writes its traces to its Dir)", a)
		}
	}
	dir := t.TempDir()
	name, xml, err := loadScenario(scenario)
	if err != nil {
		t.Fatalf("peers.StartSIPp: %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, name), xml, 0o644); err != nil {
		t.Fatalf("peers: %v", err)
	}
	for _, tone := range sippTones {
		b := EncodeUlaw(sine(tone.hz, SIPpToneLevelDBm0, time.Second))
		if err := os.WriteFile(filepath.Join(dir, tone.file), b, 0o644); err != nil {
			t.Fatalf("peers: %v", err)
		}
	}
	// A free port can be taken by another process between the check and
	// SIPp's bind (tests of several packages run at once): try again on
	// other ports when that is what happened.
	var s *SIPp
	start := time.Now()
	for attempt := 1; ; attempt++ {
		var err error
		s, err = startSIPpOnce(t, bin, dir, name, args)
		if err == nil {
			break
		}
		if attempt < 3 && strings.Contains(err.Error(), "errno = 98") {
			t.Logf("peers: sipp lost a port race, trying other ports: %v", err)
			continue
		}
		t.Fatalf("peers: sipp did not start: %v", err)
	}
	t.Logf("peers: sipp %s on %s (media %d) in %v", name, s.Addr, s.MediaPort, time.Since(start).Round(time.Millisecond))
	return s
}

// startSIPpOnce starts SIPp on freshly chosen ports; the error carries
// SIPp's output.
func startSIPpOnce(t testing.TB, bin, dir, name string, args []string) (*SIPp, error) {
	sipPort, err := freePortRun(1, true, true)
	if err != nil {
		return nil, err
	}
	// RTP, RTCP, and the echo port for video at media+2.
	mediaPort, err := freePortRun(4, true, false)
	if err != nil {
		return nil, err
	}
	ctlPort := FreePort(t, "udp")
	full := []string{
		"-sf", name,
		"-i", "127.0.0.1", "-p", strconv.Itoa(sipPort), "-bind_local",
		"-mi", "127.0.0.1", "-mp", strconv.Itoa(mediaPort),
		"-ci", "127.0.0.1", "-cp", strconv.Itoa(ctlPort),
		"-nostdin",
		"-trace_msg", "-message_file", "messages.log",
		"-trace_err", "-error_file", "errors.log",
		// A shared two-core CI machine stalls SIPp's scheduler now and
		// then; its watchdog must not end the test for that.
		"-watchdog_minor_threshold", "2000", "-watchdog_major_threshold", "10000",
		"-watchdog_minor_maxtriggers", "100000", "-watchdog_major_maxtriggers", "100000",
	}
	if !hasKey(args, "caller") {
		full = append(full, "-key", "caller", "sipp")
	}
	if !hasKey(args, "caller_name") {
		full = append(full, "-key", "caller_name", "SIPp")
	}
	full = append(full, args...)
	p, err := startProcess(bin, dir, full...)
	if err != nil {
		return nil, err
	}
	s := &SIPp{
		Addr:      netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(sipPort)),
		MediaPort: mediaPort,
		Dir:       dir,
		proc:      p,
	}
	if err := s.waitListening(5 * time.Second); err != nil {
		s.Stop()
		return nil, fmt.Errorf("%w\ncommand: %s\n%s", err, p.commandLine(), p.output())
	}
	t.Cleanup(s.Stop)
	return s, nil
}

func hasKey(args []string, key string) bool {
	for i := 0; i+1 < len(args); i++ {
		if args[i] == "-key" && args[i+1] == key {
			return true
		}
	}
	return false
}

func loadScenario(scenario string) (string, []byte, error) {
	if strings.ContainsRune(scenario, os.PathSeparator) {
		b, err := os.ReadFile(scenario)
		if err != nil {
			return "", nil, fmt.Errorf("read scenario: %w", err)
		}
		return filepath.Base(scenario), b, nil
	}
	b, err := sipp.Scenario(scenario)
	return scenario, b, err
}

// waitListening waits until SIPp has bound its SIP port, which it does
// after it has parsed the scenario; a bad scenario or option makes it exit.
func (s *SIPp) waitListening(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		if s.proc.exited() {
			// A short UAC may be done before the first look; SIPp reports
			// a scenario it cannot load on stderr (and may still exit 0).
			if msg := strings.TrimSpace(s.Stderr()); msg != "" {
				code, _ := s.proc.wait(0)
				return fmt.Errorf("sipp exited with code %d: %s", code, msg)
			}
			return nil
		}
		if !portFree(int(s.Addr.Port()), true, false) {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("sipp did not bind %s within %v", s.Addr, timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Wait waits up to timeout for SIPp to finish by itself (after -m calls)
// and returns its exit code: 0 all calls succeeded, 1 at least one failed,
// 97 it stopped on an internal command (a UAC that got an unexpected 4xx
// ends this way), 99 no call was processed, 255/254 fatal errors. It is an
// error for SIPp to be still running at the timeout.
func (s *SIPp) Wait(timeout time.Duration) (int, error) {
	code, err := s.proc.wait(timeout)
	if err != nil {
		return 0, fmt.Errorf("%w\n%s", err, s.proc.output())
	}
	if code == 0 && len(s.Messages()) == 0 {
		// SIPp exits 0 on some scenario errors; a run that exchanged no
		// message did not test anything.
		return code, fmt.Errorf("sipp exited 0 without sending or receiving a SIP message\n%s", s.proc.output())
	}
	return code, nil
}

// Stop ends SIPp if it still runs. SIPp finishes its calls on the first
// signal and exits on the second.
func (s *SIPp) Stop() {
	s.proc.stop(syscall.SIGTERM, 2, 500*time.Millisecond, 3*time.Second)
}

// Stdout returns what SIPp printed (its statistics screens).
func (s *SIPp) Stdout() string { return s.proc.stdout.String() }

// Stderr returns SIPp's error output.
func (s *SIPp) Stderr() string { return s.proc.stderr.String() }

// MessageLog returns the raw trace of every SIP message SIPp sent and
// received (-trace_msg).
func (s *SIPp) MessageLog() string {
	b, _ := os.ReadFile(filepath.Join(s.Dir, "messages.log"))
	return string(b)
}

// ErrorLog returns SIPp's trace of unexpected messages and errors
// (-trace_err).
func (s *SIPp) ErrorLog() string {
	b, _ := os.ReadFile(filepath.Join(s.Dir, "errors.log"))
	return string(b)
}

// Messages returns the SIP messages SIPp sent and received, in order.
func (s *SIPp) Messages() []Message {
	return parseMessageLog(s.MessageLog())
}

// ReceivedCodes lists the status codes of the responses SIPp received, in
// order (retransmissions included).
func (s *SIPp) ReceivedCodes() []int {
	var codes []int
	for _, m := range s.Messages() {
		if c := m.StatusCode(); m.Received && c > 0 {
			codes = append(codes, c)
		}
	}
	return codes
}

// Report is everything SIPp has said, for failure messages.
func (s *SIPp) Report() string {
	return fmt.Sprintf("command: %s\n%s--- messages ---\n%s\n--- errors ---\n%s", s.proc.commandLine(), s.proc.output(), s.MessageLog(), s.ErrorLog())
}

// Message is one SIP message in SIPp's trace.
type Message struct {
	// Received is true for a message SIPp received, false for one it sent.
	Received bool
	// Text is the message as on the wire (lines joined with "\n").
	Text string
}

// StartLine is the request or status line.
func (m Message) StartLine() string {
	line, _, _ := strings.Cut(m.Text, "\n")
	return strings.TrimRight(line, "\r")
}

// StatusCode is the response's status code, or 0 for a request.
func (m Message) StatusCode() int {
	rest, ok := strings.CutPrefix(m.StartLine(), "SIP/2.0 ")
	if !ok || len(rest) < 3 {
		return 0
	}
	c, err := strconv.Atoi(rest[:3])
	if err != nil || c < 100 || c > 699 {
		return 0
	}
	return c
}

// Method is the request's method, or "" for a response.
func (m Message) Method() string {
	line := m.StartLine()
	if strings.HasPrefix(line, "SIP/2.0 ") {
		return ""
	}
	method, _, _ := strings.Cut(line, " ")
	return method
}

// sippSeparator starts each entry of SIPp's message trace:
// a line of 47 dashes, a space and a time stamp, then "UDP message
// received [N] bytes :" or "UDP message sent (N bytes):", a blank line and
// the message.
const sippSeparator = "----------------------------------------------- "

// parseMessageLog splits SIPp's -trace_msg file into messages. Entries it
// cannot make sense of are skipped: the trace is evidence for a test, and
// a torn last entry (SIPp killed while writing) must not hide the rest.
func parseMessageLog(log string) []Message {
	var out []Message
	lines := strings.Split(strings.ReplaceAll(log, "\r\n", "\n"), "\n")
	for i := 0; i < len(lines); i++ {
		if !strings.HasPrefix(lines[i], sippSeparator) || i+1 >= len(lines) {
			continue
		}
		head := lines[i+1]
		var received bool
		switch {
		case strings.Contains(head, "message received"):
			received = true
		case strings.Contains(head, "message sent"):
		default:
			continue
		}
		j := i + 2
		for j < len(lines) && lines[j] == "" {
			j++
		}
		k := j
		for k < len(lines) && !strings.HasPrefix(lines[k], sippSeparator) {
			k++
		}
		text := strings.TrimRight(strings.Join(lines[j:k], "\n"), "\n")
		if text != "" {
			out = append(out, Message{Received: received, Text: text})
		}
		i = k - 1
	}
	return out
}
