package device

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net"
	"net/netip"
	"strings"
	"time"

	"github.com/pelletier/go-toml/v2"

	"github.com/tipring/tipring/boards"
	"github.com/tipring/tipring/diag"
	"github.com/tipring/tipring/diag/alg"
	"github.com/tipring/tipring/diag/nat"
	"github.com/tipring/tipring/diag/netinfo"
	"github.com/tipring/tipring/diag/quality"
	"github.com/tipring/tipring/diag/router"
	"github.com/tipring/tipring/diag/trace"
	"github.com/tipring/tipring/firmware/api"
	"github.com/tipring/tipring/firmware/config"
	"github.com/tipring/tipring/firmware/line"
	"github.com/tipring/tipring/firmware/provision"
	"github.com/tipring/tipring/meter"
)

// bundleCalls is how many recent calls a bundle explains.
const bundleCalls = 20

// redacted stands in for every secret in the bundle's configuration.
const redacted = "<redacted>"

// Bundle implements api.Diag: it collects the evidence, finds the likely
// causes and packs the bundle (tar.gz). What sends traffic beyond the SIP
// and billing servers the device already talks to is under [diag]: the LAN
// discovery and the router's UPnP (discovery), the path probes and the
// cable-modem check (probes), and STUN (stun).
func (d *Device) Bundle(ctx context.Context, opts api.BundleOptions) ([]byte, error) {
	now := time.Now()
	e := &diag.Evidence{
		Schema:     diag.SchemaVersion,
		Created:    now,
		Anonymized: opts.Anonymize,
		Customer:   diag.Customer{Phone: opts.Phone, Problem: opts.Problem},
	}
	collectors := []diag.Collector{
		{Name: "device", Run: func(context.Context) (any, error) { return d.deviceEvidence() }},
		{Name: "registration", Run: func(context.Context) (any, error) { return d.lineEvidence(), nil }},
		{Name: "calls", Run: func(context.Context) (any, error) { return d.callEvidence() }},
		{Name: "account", Run: func(context.Context) (any, error) { return d.accountEvidence() }},
		{Name: "line test", Run: func(ctx context.Context) (any, error) { return d.lineTestEvidence(ctx) }},
		{Name: "network", Run: func(ctx context.Context) (any, error) { return netinfo.Collect(ctx, d.netinfoOptions()) }},
		{Name: "internet", Timeout: 4800 * time.Millisecond, Run: d.internetEvidence},
	}
	// Each collector returns its part; a collector abandoned at its
	// timeout can never write into the evidence behind the bundle's back.
	e.Sections = diag.Collect(ctx, collectors, d.log.With("room", "diag"))
	for i := range e.Sections {
		s := &e.Sections[i]
		switch v := s.Data.(type) {
		case diag.Device:
			e.Device = v
		case []diag.Line:
			e.Lines = v
		case []diag.Call:
			e.Calls = v
		case *diag.Account:
			e.Account = v
		case []diag.LineTest:
			e.LineTest = v
		case netinfo.Report:
			e.Network = &v
		case internet:
			e.Router, e.NAT, e.Internet = v.router, v.nat, v.internet
		}
		s.Data = nil // it is in its own field of diag.json
	}
	secrets := d.secrets()
	// One tokenizer for the whole bundle: a number reads as the same token
	// in diag.json, the summary, the trace and the log.
	redact := trace.Options{Anonymize: opts.Anonymize, Secrets: secrets}
	if opts.Anonymize {
		redact.Tokens = trace.NewTokenizer(nil)
	}
	// One redacted snapshot serves the ALG verdict and sip-trace.txt:
	// redaction parses every message, and the verdict then judges the very
	// messages support reads. Anonymizing leaves it unchanged: it tokenizes
	// user parts consistently and leaves the addresses alone.
	sipTrace := d.trace.Snapshot(redact)
	judgeALG(e, sipTrace)
	if opts.Anonymize {
		anonymize(e, redact.Tokens)
	}
	e.Findings = diag.Findings(e)

	files, err := d.bundleFiles(e, redact, d.trace.Text(sipTrace))
	if err != nil {
		return nil, err
	}
	if leaked := diag.Scrub(files, secrets); len(leaked) > 0 {
		d.log.Error("diag: a secret reached the bundle and was removed; this is a bug", "files", leaked)
	}
	var buf bytes.Buffer
	if err := diag.WriteArchive(&buf, files, now); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// netinfoOptions are the network collector's options as [diag] allows.
func (d *Device) netinfoOptions() netinfo.Options {
	o := netinfo.DeviceOptions()
	o.Logger = d.log.With("room", "diag")
	if !d.cfg.Diag.Discovery {
		o.SSDPAddr, o.MDNSAddr = netip.AddrPort{}, netip.AddrPort{}
	}
	if !d.cfg.Diag.Probes {
		o.ProbeGateway = false
		return o
	}
	seen := map[netip.AddrPort]bool{}
	for _, lc := range d.cfg.Lines {
		ap, err := netip.ParseAddrPort(d.ua.Status(lc.Port).Server)
		if err != nil || seen[ap] {
			continue
		}
		seen[ap] = true
		o.ProbeTargets = append(o.ProbeTargets, netinfo.ProbeTarget{Name: "sip", Addr: ap})
	}
	return o
}

// internet is the router, NAT and ISP evidence, collected together because
// the NAT verdict needs the router's external address.
type internet struct {
	router   *router.Report
	nat      *nat.Report
	internet *diag.Internet
}

// cableModem is where DOCSIS cable modems answer on every LAN they serve.
const cableModem = "192.168.100.1:80"

func (d *Device) internetEvidence(ctx context.Context) (any, error) {
	var out internet
	var ext netip.Addr
	var errs []error
	in := &diag.Internet{}
	if !d.cfg.Diag.Discovery {
		in.RouterSkipped = "UPnP discovery is off ([diag] discovery = false)"
	}
	if d.cfg.Diag.STUN == "" {
		in.STUNSkipped = "no STUN server is configured ([diag] stun)"
	}
	// Each part has its own share of the collector's time, so a router
	// that is slow to answer costs the STUN test nothing, and neither can
	// make the collector overrun and lose what the other found.
	if d.cfg.Diag.Discovery {
		rctx, cancel := context.WithTimeout(ctx, 1800*time.Millisecond)
		r, err := router.Collect(rctx, router.Options{Logger: d.log.With("room", "diag")})
		cancel()
		out.router = &r
		ext = r.ExternalIP
		if err != nil {
			errs = append(errs, fmt.Errorf("router: %w", err))
		}
	}
	if d.cfg.Diag.STUN != "" {
		nctx, cancel := context.WithTimeout(ctx, 2500*time.Millisecond)
		n, err := nat.Collect(nctx, nat.Options{Server: d.cfg.Diag.STUN, RouterExternal: ext, Logger: d.log.With("room", "diag")})
		cancel()
		out.nat = &n
		if err != nil {
			errs = append(errs, fmt.Errorf("nat: %w", err))
		}
	}
	switch {
	case out.nat != nil && out.nat.Mapped.IsValid():
		in.PublicAddr = out.nat.Mapped.Addr()
	case ext.IsValid():
		in.PublicAddr = ext
	}
	if a := in.PublicAddr; a.IsValid() && a.IsGlobalUnicast() && !a.IsPrivate() && !nat.InSharedSpace(a) {
		names, err := net.DefaultResolver.LookupAddr(ctx, a.String())
		switch {
		case err != nil:
			in.Errors = append(in.Errors, "reverse DNS of "+a.String()+": "+err.Error())
		case len(names) > 0:
			in.PTR = strings.TrimSuffix(names[0], ".")
			in.ISP = nat.ISPFromPTR(in.PTR)
		}
	}
	if d.cfg.Diag.Probes {
		var dialer net.Dialer
		cctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
		if c, err := dialer.DialContext(cctx, "tcp", cableModem); err == nil {
			c.Close()
			in.CableModem = strings.TrimSuffix(cableModem, ":80")
		}
		cancel()
	}
	out.internet = in
	return out, errors.Join(errs...)
}

func (d *Device) bundleFiles(e *diag.Evidence, redact trace.Options, sipTrace string) ([]diag.File, error) {
	js := func(v any) ([]byte, error) { return json.MarshalIndent(v, "", "  ") }
	evidence, err := js(e)
	if err != nil {
		return nil, fmt.Errorf("diag: diag.json: %w", err)
	}
	regs, err := js(e.Lines)
	if err != nil {
		return nil, fmt.Errorf("diag: registrations.json: %w", err)
	}
	tests, err := js(e.LineTest)
	if err != nil {
		return nil, fmt.Errorf("diag: linetest.json: %w", err)
	}
	var calls bytes.Buffer
	recs, err := d.ledger.Calls(bundleCalls)
	if err == nil && e.Anonymized {
		recs = nil // the CSV carries numbers in many columns; diag.json has the anonymized calls
	}
	if err := meter.WriteCSV(&calls, recs); err != nil {
		return nil, fmt.Errorf("diag: calls.csv: %w", err)
	}
	return []diag.File{
		{Name: "summary.txt", Data: []byte(diag.Summary(e))},
		{Name: "diag.json", Data: evidence},
		{Name: "calls.csv", Data: calls.Bytes()},
		{Name: "registrations.json", Data: regs},
		{Name: "sip-trace.txt", Data: []byte(sipTrace)},
		{Name: "linetest.json", Data: tests},
		{Name: "log.txt", Data: []byte(d.logText(redact))},
	}, nil
}

// secrets are what no file of a bundle may contain.
func (d *Device) secrets() []string {
	s := []string{d.cfg.Admin.Password, d.cfg.Meter.Token}
	for _, l := range d.cfg.Lines {
		s = append(s, l.Password)
	}
	return s
}

func (d *Device) deviceEvidence() (diag.Device, error) {
	cfg := *d.cfg
	cfg.Lines = append([]config.LineConfig(nil), d.cfg.Lines...)
	for i := range cfg.Lines {
		if cfg.Lines[i].Password != "" {
			cfg.Lines[i].Password = redacted
		}
	}
	if cfg.Admin.Password != "" {
		cfg.Admin.Password = redacted
	}
	if cfg.Meter.Token != "" {
		cfg.Meter.Token = redacted
	}
	text, err := toml.Marshal(cfg)
	dev := diag.Device{
		Model:         "tipring on " + d.cfg.Device.Board,
		Board:         d.cfg.Device.Board,
		Firmware:      d.opts.Version,
		UptimeSeconds: int64(time.Since(d.started).Seconds()),
		Account:       d.cfg.Meter.Account,
		Region:        d.region.Code,
		Config:        string(text),
	}
	if m := d.opts.Provision.MAC; m != "" {
		dev.MAC = provision.FormatMAC(m)
	}
	if f := d.opts.Provision.Factory; f != nil {
		dev.Serial, dev.MAC = f.Serial, provision.FormatMAC(f.MAC)
	}
	if err != nil {
		return dev, fmt.Errorf("configuration: %w", err)
	}
	return dev, nil
}

func (d *Device) lineEvidence() []diag.Line {
	var out []diag.Line
	for _, lc := range d.cfg.Lines {
		st := d.ua.Status(lc.Port)
		l := diag.Line{
			Port: lc.Port, User: lc.User, Registered: st.Registered, Server: st.Server,
			Transport: lc.Transport, LastCode: st.LastCode, LastReason: st.LastReason,
			Failures: st.Failures, PublicAddr: st.PublicAddr,
			KeepAlivesSent: st.KeepAlivesSent, KeepAlivesFailed: st.KeepAlivesFailed,
		}
		if st.LastCode == 0 {
			l.LastError = st.LastReason
		}
		for _, a := range st.History {
			reason := a.Reason
			if a.Err != "" {
				reason = a.Err
			}
			l.Timeline = append(l.Timeline, diag.RegEvent{At: a.At, Server: a.Server, Transport: lc.Transport, Code: a.Code, Reason: reason})
		}
		out = append(out, l)
	}
	return out
}

func (d *Device) callEvidence() ([]diag.Call, error) {
	recs, err := d.ledger.Calls(bundleCalls)
	if err != nil {
		return nil, err
	}
	out := make([]diag.Call, 0, len(recs))
	for _, r := range recs {
		ev := r.Evidence
		answered := !ev.AnsweredAt.IsZero()
		c := diag.Call{
			ID: r.ID, Start: r.Start, Port: r.Port, Direction: r.Direction, Number: r.Number,
			Disposition: string(r.Disposition), SIPCode: r.SIPCode, Reason: r.Reason, HungUpBy: r.HungUpBy,
			RingMS: r.RingMS, TalkMS: r.TalkMS, EarlyMedia: ev.EarlyMedia,
			RTPSent: ev.RTPSent, RTPReceived: ev.RTPReceived, AudioSentMS: ev.AudioSentMS, AudioReceivedMS: ev.AudioReceivedMS,
			LossPercent: ev.RTCPLossPercent, JitterMS: ev.JitterMS, RTTms: ev.RTTMS,
		}
		if r.Metered {
			c.Cost = r.Cost.String()
		}
		c.Quality = quality.Assess(quality.Call{
			PacketsSent: ev.RTPSent, PacketsReceived: ev.RTPReceived, LossFraction: ev.RTCPLossPercent / 100,
			JitterMs: ev.JitterMS, RTTms: ev.RTTMS, PLC: true, AudioSentMs: ev.AudioSentMS, AudioReceivedMs: ev.AudioReceivedMS,
			Answered: answered,
		})
		out = append(out, c)
	}
	return out, nil
}

func (d *Device) accountEvidence() (*diag.Account, error) {
	b, err := d.meter.Balance()
	if err != nil {
		return nil, err
	}
	if !b.Metering {
		return nil, nil
	}
	return &diag.Account{
		Status: string(b.Status), Balance: b.Balance.String(), Currency: b.Currency, LastSync: b.LastSync,
		Minutes: b.Minutes, Low: b.Minutes >= 0 && b.Minutes < 5,
	}, nil
}

func (d *Device) lineTestEvidence(ctx context.Context) ([]diag.LineTest, error) {
	var out []diag.LineTest
	for _, p := range d.board.Ports() {
		lt, ok := p.(boards.LineTester)
		if !ok {
			continue
		}
		m, err := lt.LineTest(ctx)
		if err != nil {
			return out, fmt.Errorf("port %d: %w", p.Number(), err)
		}
		t := diag.LineTest{
			Port: p.Number(), At: m.At, Hook: m.Hook, LoopCurrentMA: m.LoopCurrentMA, RingerREN: m.RingerREN,
			DCVolts: m.DCVolts, ACVolts: m.ACVolts, LeakageKOhm: math.Min(m.LeakageKOhm, 1e6),
		}
		for _, l := range d.lines {
			st := l.Status()
			if st.Port != p.Number() {
				continue
			}
			// In use: a call, dialling, a tone or an announcement (the
			// report code's own). A handset left off the hook ends in
			// the off-hook warning and then silence (lockout).
			switch st.State {
			case line.Idle, line.OffHookAlarm, line.Lockout:
			default:
				t.InCall = true
			}
		}
		for _, v := range m.Verdicts {
			t.Verdicts = append(t.Verdicts, diag.Verdict{Check: v.Check, Pass: v.Pass, Value: v.Value, Limit: v.Limit, Meaning: v.Meaning})
		}
		if ls, ok := p.(boards.LineStats); ok {
			o := ls.LineStats()
			t.DialMode = o.DialMode
			for _, f := range o.Flashes {
				t.FlashesMS = append(t.FlashesMS, f.Milliseconds())
			}
			for _, g := range o.Digits {
				t.Digits = append(t.Digits, diag.Digit{Digit: string(g.Digit), LowDBm0: g.LowDBm0, HighDBm0: g.HighDBm0, TwistDB: g.TwistDB, DurationMS: g.Duration.Milliseconds()})
			}
		}
		out = append(out, t)
	}
	return out, nil
}

// judgeALG looks in the SIP trace for our Via, Contact or SDP rewritten on
// the way to the provider (a SIP ALG). The trace holds every line's
// messages, so a verdict is the device's: it goes on every line.
func judgeALG(e *diag.Evidence, entries []trace.Entry) {
	msgs := make([]alg.Message, 0, len(entries))
	for _, en := range entries {
		msgs = append(msgs, alg.Message{Sent: en.Dir == "sent", Raw: []byte(en.Message)})
	}
	res := alg.Detect(alg.Input{Exchanges: alg.Pair(msgs)})
	if !res.Suspected {
		return
	}
	for i := range e.Lines {
		e.Lines[i].ALGSuspect, e.Lines[i].ALGWhy = true, res.Why()
	}
}

// logText is the recent log, redacted like the trace.
func (d *Device) logText(redact trace.Options) string {
	if d.opts.LogTail == nil {
		return "the log is not kept by this build (device.Options.LogTail is nil)\n"
	}
	return trace.RedactText(d.opts.LogTail.Text(), redact)
}

// anonymize replaces every phone number in the evidence with the bundle's
// token for it.
func anonymize(e *diag.Evidence, tok *trace.Tokenizer) {
	for i := range e.Calls {
		e.Calls[i].Number = tok.Number(e.Calls[i].Number)
	}
	for i := range e.Lines {
		e.Lines[i].User = tok.Number(e.Lines[i].User)
	}
	e.Device.Config = "" // it names the lines' users; the rest is in the sections
	e.Customer.Problem = trace.RedactText(e.Customer.Problem, trace.Options{Anonymize: true, Tokens: tok})
}
