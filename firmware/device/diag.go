package device

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"time"

	"github.com/pelletier/go-toml/v2"

	"github.com/tipring/tipring/boards"
	"github.com/tipring/tipring/diag"
	"github.com/tipring/tipring/diag/netinfo"
	"github.com/tipring/tipring/diag/quality"
	"github.com/tipring/tipring/diag/trace"
	"github.com/tipring/tipring/firmware/api"
	"github.com/tipring/tipring/firmware/config"
	"github.com/tipring/tipring/meter"
)

// bundleCalls is how many recent calls a bundle explains.
const bundleCalls = 20

// redacted stands in for every secret in the bundle's configuration.
const redacted = "<redacted>"

// Bundle implements api.Diag: it collects the evidence, finds the likely
// causes and packs the bundle (tar.gz).
//
// Collected so far: the device and its configuration, registration per
// line, recent calls with their quality, the account, the line test and
// what the line saw, and the network as the system's files show it. The
// router (UPnP), NAT (STUN), neighbour discovery and probes, the SIP trace
// and the log come with the next step: they send traffic or need hooks in
// other rooms, and are recorded as sections not collected.
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
		{Name: "network", Run: func(ctx context.Context) (any, error) {
			// Reads the system's files only: no discovery, no probes.
			return netinfo.Collect(ctx, netinfo.Options{})
		}},
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
		}
		s.Data = nil // it is in its own field of diag.json
	}
	for _, name := range []string{"router", "nat", "sip trace", "log"} {
		e.Sections = append(e.Sections, diag.Section{Name: name, Error: "not collected by this firmware yet"})
	}
	if opts.Anonymize {
		anonymize(e, trace.NewTokenizer(nil))
	}
	e.Findings = diag.Findings(e)

	files, err := d.bundleFiles(e)
	if err != nil {
		return nil, err
	}
	if leaked := diag.Scrub(files, d.secrets()); len(leaked) > 0 {
		d.log.Error("diag: a secret reached the bundle and was removed; this is a bug", "files", leaked)
	}
	var buf bytes.Buffer
	if err := diag.WriteArchive(&buf, files, now); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func (d *Device) bundleFiles(e *diag.Evidence) ([]diag.File, error) {
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
		{Name: "linetest.json", Data: tests},
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
			LossPercent: ev.RTCPLossPercent, JitterMS: ev.JitterMS,
		}
		if r.Metered {
			c.Cost = r.Cost.String()
		}
		c.Quality = quality.Assess(quality.Call{
			PacketsSent: ev.RTPSent, PacketsReceived: ev.RTPReceived, LossFraction: ev.RTCPLossPercent / 100,
			JitterMs: ev.JitterMS, PLC: true, AudioSentMs: ev.AudioSentMS, AudioReceivedMs: ev.AudioReceivedMS,
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
	for i, p := range d.board.Ports() {
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
		if i < len(d.lines) {
			t.InCall = d.lines[i].Status().CallID != ""
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
}
