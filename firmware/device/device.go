// Package device is the composition root: it opens the board, starts the
// SIP user agent and the media engine, builds one line per configured port
// and serves the management API. It is the only place where the rooms meet.
package device

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/tipring/tipring/boards"
	"github.com/tipring/tipring/boards/region"
	"github.com/tipring/tipring/diag/logtail"
	"github.com/tipring/tipring/diag/trace"
	"github.com/tipring/tipring/firmware/api"
	"github.com/tipring/tipring/firmware/config"
	"github.com/tipring/tipring/firmware/line"
	"github.com/tipring/tipring/firmware/prompts"
	"github.com/tipring/tipring/meter"
	"github.com/tipring/tipring/meter/ledger"
	"github.com/tipring/tipring/sip"
	"github.com/tipring/tipring/sip/media"
)

// Options are the device's non-configuration inputs.
type Options struct {
	Version string
	Logger  *slog.Logger
	Boards  *boards.Registry
	// Provision ties the device to its configuration file (refresh,
	// factory reset); see provision.go.
	Provision ProvisionOptions
	// LogTail, when set, is where Logger's records also go: the bundle's
	// log.txt is its text.
	LogTail *logtail.Tail
}

// Device is a running tipring.
type Device struct {
	cfg     *config.Config
	opts    Options
	log     *slog.Logger
	region  *region.Region
	started time.Time

	board  boards.Board
	ua     *sip.UA
	meter  *meter.Meter
	ledger *ledger.Ledger
	lines  []*line.Line
	api    *api.Server
	// trace keeps the last SIP messages for the bundle's sip-trace.txt.
	trace *trace.Buffer

	ready chan struct{}
	stop  context.CancelCauseFunc // ends Run with a cause, for a factory reset
}

// New validates what can be validated without touching the network or the
// hardware.
func New(cfg *config.Config, opts Options) (*Device, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Boards == nil {
		opts.Boards = Boards()
	}
	reg, err := region.Lookup(cfg.Device.Region)
	if err != nil {
		return nil, fmt.Errorf("device: %w", err)
	}
	return &Device{cfg: cfg, opts: opts, log: opts.Logger, region: reg, ready: make(chan struct{}),
		trace: trace.New(trace.DefaultSize)}, nil
}

// Ready is closed when every part is up (the board's ports, SIP listening,
// the management API listening).
func (d *Device) Ready() <-chan struct{} { return d.ready }

// Run runs the device until ctx ends or a part fails.
func (d *Device) Run(ctx context.Context) error {
	d.started = time.Now()
	ctx, cancel := context.WithCancelCause(ctx)
	d.stop = cancel
	defer cancel(nil)

	m, led, err := d.openMeter()
	if err != nil {
		return err
	}
	d.meter, d.ledger = m, led
	// Deferred before the parts' wait below, so it runs after every part
	// (lines file their records, the meter its last checkpoint) stopped.
	defer func() {
		if err := led.Close(); err != nil {
			d.log.Error("close ledger", "err", err)
		}
	}()
	voice, err := prompts.Load(d.promptsDir())
	if err != nil {
		return fmt.Errorf("device: voice prompts (set [device] prompts to their directory): %w", err)
	}

	board, err := d.opts.Boards.Open(d.cfg.Device.Board, boards.Options{
		Region:   d.region.Code,
		FlashMin: d.cfg.Device.FlashMin.D(),
		FlashMax: d.cfg.Device.FlashMax.D(),
		Control:  d.cfg.Sim.Control,
		Logger:   d.log.With("room", "board"),
	})
	if err != nil {
		return err
	}
	d.board = board
	ports := map[int]boards.Port{}
	for _, p := range board.Ports() {
		ports[p.Number()] = p
	}

	var lines sync.Map // port number → *line.Line, for incoming calls
	ua, err := sip.New(sip.Config{
		Listen:         d.cfg.SIP.Listen,
		UserAgent:      d.userAgent(),
		AllowAnySource: d.cfg.SIP.AllowAnySource,
		Logger:         d.log.With("room", "sip"),
		Trace:          d.traceSIP,
		Incoming: func(c *sip.Call) {
			if l, ok := lines.Load(c.Line()); ok {
				l.(*line.Line).Incoming(c)
				return
			}
			_ = c.Reject(404, "Not Found")
		},
	}, d.accounts())
	if err != nil {
		return fmt.Errorf("device: %w", err)
	}
	d.ua = ua

	var wg sync.WaitGroup
	errc := make(chan error, 8)
	start := func(name string, run func(context.Context) error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := run(ctx); err != nil {
				errc <- fmt.Errorf("%s: %w", name, err)
				cancel(err)
			}
		}()
	}
	defer wg.Wait()

	start("board", board.Run)
	d.startProvisioning(board, start)
	start("meter", m.Run)
	start("sip", ua.Run)
	select {
	case <-ua.Ready():
	case <-ctx.Done():
		return firstError(errc, ctx)
	}

	engine, err := d.mediaEngine()
	if err != nil {
		cancel(err)
		return err
	}
	for i := range d.cfg.Lines {
		lc := &d.cfg.Lines[i]
		port, ok := ports[lc.Port]
		if !ok {
			err := fmt.Errorf("device: [[line]] port %d: board %q has no such port", lc.Port, board.Name())
			cancel(err)
			return err
		}
		l, err := line.New(line.Config{
			Port:          port,
			Region:        d.region,
			Plan:          lc.Plan(),
			Emergency:     d.emergency(),
			Signalling:    signalling{ua: ua, line: lc.Port},
			Media:         mediaFactory{engine},
			Meter:         lineMeter{m},
			Prompts:       voice,
			BalanceCode:   d.cfg.Meter.BalanceCode,
			AnnounceLimit: d.cfg.Meter.AnnounceLimit,
			ReportCode:    d.cfg.Diag.Code,
			Report:        func(ctx context.Context) (string, error) { return d.report(ctx, lc.Port) },
			Logger:        d.log.With("room", "line"),
		})
		if err != nil {
			cancel(err)
			return err
		}
		d.lines = append(d.lines, l)
		lines.Store(lc.Port, l)
		start(fmt.Sprintf("line %d", lc.Port), l.Run)
	}
	d.startUpdates(start)

	if d.cfg.Admin.Listen != "" {
		srv, err := api.New(d.cfg.Admin.Listen, d.cfg.Admin.Password, d, d.log.With("room", "api"))
		if err != nil {
			cancel(err)
			return err
		}
		d.api = srv
		start("management API", srv.Run)
		select {
		case <-srv.Ready():
		case <-ctx.Done():
			return firstError(errc, ctx)
		}
	}
	close(d.ready)
	d.log.Info("tipring running", "version", d.opts.Version, "board", board.Name(), "region", d.region.Code, "lines", len(d.lines))
	<-ctx.Done()
	d.log.Info("tipring stopping")
	return firstError(errc, ctx)
}

// firstError reports why the device stopped: a part's failure, or nothing
// when it was asked to stop.
func firstError(errc chan error, ctx context.Context) error {
	select {
	case err := <-errc:
		return err
	default:
	}
	if cause := context.Cause(ctx); cause != nil && !errors.Is(cause, context.Canceled) {
		return cause
	}
	return nil
}

func (d *Device) userAgent() string {
	if d.cfg.SIP.UserAgent != "" {
		return d.cfg.SIP.UserAgent
	}
	return "tipring/" + d.opts.Version
}

// promptsDir is [device] prompts, or the prompts directory beside the
// executable: an image installs the binary and its prompts side by side in
// a slot, so the pair always matches.
func (d *Device) promptsDir() string {
	if d.cfg.Device.Prompts != "" {
		return d.cfg.Device.Prompts
	}
	exe, err := os.Executable()
	if err != nil {
		return "prompts"
	}
	if real, err := filepath.EvalSymlinks(exe); err == nil {
		exe = real
	}
	return filepath.Join(filepath.Dir(exe), "prompts")
}

func (d *Device) emergency() []string {
	return append(append([]string{}, d.region.Emergency...), d.cfg.Device.Emergency...)
}

func (d *Device) accounts() []sip.Account {
	acc := make([]sip.Account, 0, len(d.cfg.Lines))
	for _, l := range d.cfg.Lines {
		acc = append(acc, sip.Account{
			Line:            l.Port,
			User:            l.User,
			AuthUser:        l.AuthUser,
			Password:        l.Password,
			DisplayName:     l.DisplayName,
			Domain:          l.Domain,
			Registrar:       l.Registrar,
			BackupRegistrar: l.BackupRegistrar,
			Proxy:           l.Proxy,
			Transport:       l.Transport,
			Expires:         l.Expires.D(),
			KeepAlive:       l.KeepAlive.D(),
		})
	}
	return acc
}

// mediaEngine binds RTP where SIP listens and advertises the address the
// OS would use towards the first line's registrar unless one is configured.
func (d *Device) mediaEngine() (*media.Engine, error) {
	lo, hi, err := d.cfg.RTPPortRange()
	if err != nil {
		return nil, err
	}
	listen := netip.MustParseAddrPort(d.cfg.SIP.Listen).Addr()
	advertise := listen
	if d.cfg.SIP.MediaIP != "" {
		advertise = netip.MustParseAddr(d.cfg.SIP.MediaIP)
	} else if listen.IsUnspecified() && len(d.cfg.Lines) > 0 {
		advertise = d.ua.MediaIP(d.cfg.Lines[0].Port)
	}
	codecs := make([]string, len(d.cfg.SIP.Codecs))
	for i, c := range d.cfg.SIP.Codecs {
		codecs[i] = strings.ToUpper(c)
	}
	e, err := media.NewEngine(media.Config{
		BindIP:      listen.String(),
		AdvertiseIP: advertise.String(),
		PortMin:     lo,
		PortMax:     hi,
		Codecs:      codecs,
		Jitter: media.JitterConfig{
			Target: d.cfg.SIP.JitterTarget.D(),
			Min:    d.cfg.SIP.JitterMin.D(),
			Max:    d.cfg.SIP.JitterMax.D(),
		},
		RTPTimeout: d.cfg.SIP.RTPTimeout.D(),
		Logger:     d.log.With("room", "media"),
	})
	if err != nil {
		return nil, fmt.Errorf("device: media: %w", err)
	}
	return e, nil
}

// Status implements api.Source.
func (d *Device) Status() api.Status {
	s := api.Status{
		Version:       d.opts.Version,
		Board:         d.cfg.Device.Board,
		Region:        d.region.Code,
		Started:       d.started,
		UptimeSeconds: int64(time.Since(d.started).Seconds()),
	}
	if d.ua != nil {
		s.GhostRejected = d.ua.Stats().GhostRejected
	}
	for i, l := range d.lines {
		lc := d.cfg.Lines[i]
		ls := l.Status()
		reg := d.ua.Status(lc.Port)
		s.Lines = append(s.Lines, api.LineStatus{
			Port:        lc.Port,
			User:        lc.User,
			Registered:  reg.Registered,
			Server:      reg.Server,
			Transport:   lc.Transport,
			LastCode:    reg.LastCode,
			LastReason:  reg.LastReason,
			Failures:    reg.Failures,
			NextAttempt: reg.NextAttempt,
			ExpiresAt:   reg.ExpiresAt,
			PublicAddr:  reg.PublicAddr,
			Hook:        ls.Hook,
			CallState:   string(ls.State),
			Since:       ls.Since,
			Direction:   ls.Direction,
			Remote:      ls.Remote,
			LastCause:   ls.LastCause,
		})
	}
	return s
}

// signalling adapts the user agent to one line.
type signalling struct {
	ua   *sip.UA
	line int
}

func (s signalling) Registered() bool { return s.ua.Status(s.line).Registered }

func (s signalling) Dial(ctx context.Context, number string, offer []byte, n sip.Negotiator) (line.Call, error) {
	c, err := s.ua.Dial(ctx, s.line, number, offer, n)
	if err != nil {
		return nil, err
	}
	return c, nil
}

// mediaFactory adapts the media engine to what a line needs.
type mediaFactory struct{ e *media.Engine }

func (m mediaFactory) NewSession() (line.MediaSession, error) {
	s, err := m.e.NewSession()
	if err != nil {
		return nil, err
	}
	return s, nil
}
