package provider

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"github.com/tipring/tipring/sip/media"
)

// Provider is the development SIP provider.
type Provider struct {
	cfg    Config
	log    *slog.Logger
	ua     *sipgo.UserAgent
	srv    *sipgo.Server
	client *sipgo.Client
	dialog *sipgo.DialogUA
	engine *media.Engine
	auth   *authenticator
	reg    *registrar

	mu    sync.Mutex
	ctx   context.Context // set by Run; calls end with it
	legs  map[string]*leg // by Call-ID
	calls sync.WaitGroup  // goroutines serving calls
}

// New checks cfg and prepares a provider; Run starts it.
func New(cfg Config) (*Provider, error) {
	cfg.setDefaults()
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("devprovider: %w", err)
	}
	engine, err := media.NewEngine(media.Config{
		BindIP:  cfg.Listen.Addr().String(),
		PortMin: cfg.RTPPortMin, PortMax: cfg.RTPPortMax,
		Codecs: []string{"PCMU", "PCMA"},
		Logger: cfg.Logger,
	})
	if err != nil {
		return nil, fmt.Errorf("devprovider: media: %w", err)
	}
	host := cfg.Listen.Addr().String()
	ua, err := sipgo.NewUA(sipgo.WithUserAgent("tipring-devprovider"), sipgo.WithUserAgentHostname(host))
	if err != nil {
		return nil, fmt.Errorf("devprovider: %w", err)
	}
	// Requests leave from the listening socket, so a phone sees the
	// provider's calls come from the address it registered with.
	client, err := sipgo.NewClient(ua, sipgo.WithClientHostname(host), sipgo.WithClientPort(int(cfg.Listen.Port())),
		sipgo.WithClientConnectionAddr(cfg.Listen.String()), sipgo.WithClientLogger(cfg.Logger))
	if err != nil {
		_ = ua.Close()
		return nil, fmt.Errorf("devprovider: %w", err)
	}
	srv, err := sipgo.NewServer(ua, sipgo.WithServerLogger(cfg.Logger))
	if err != nil {
		_ = ua.Close()
		return nil, fmt.Errorf("devprovider: %w", err)
	}
	p := &Provider{
		cfg: cfg, log: cfg.Logger, ua: ua, srv: srv, client: client, engine: engine,
		auth: newAuthenticator(cfg.Realm, cfg.Users),
		reg:  newRegistrar(),
		legs: map[string]*leg{},
		dialog: &sipgo.DialogUA{
			Client: client,
			ContactHDR: sip.ContactHeader{Address: sip.Uri{Scheme: "sip", User: "devprovider",
				Host: host, Port: int(cfg.Listen.Port())}},
		},
	}
	srv.OnRegister(p.logged(p.onRegister))
	srv.OnInvite(p.logged(p.onInvite))
	srv.OnAck(p.logged(p.onAck))
	srv.OnBye(p.logged(p.onBye))
	srv.OnCancel(p.logged(p.onCancel))
	srv.OnOptions(p.logged(func(req *sip.Request, tx sip.ServerTransaction) {
		p.respond(req, tx, 200, "OK")
	}))
	srv.OnNoRoute(p.logged(func(req *sip.Request, tx sip.ServerTransaction) {
		p.respond(req, tx, 405, "Method Not Allowed")
	}))
	return p, nil
}

// Addr is where the provider listens.
func (p *Provider) Addr() netip.AddrPort { return p.cfg.Listen }

// Realm is the digest realm and the domain of the provider's addresses.
func (p *Provider) Realm() string { return p.cfg.Realm }

// Run serves SIP on UDP and TCP until ctx ends, then hangs up every call.
// ready, if not nil, is closed once both listeners are up. It returns an
// error if a listener fails (the address is taken, say).
func (p *Provider) Run(ctx context.Context, ready chan<- struct{}) error {
	// Listeners outlive ctx long enough to send the BYEs of the calls still
	// up; calls end first.
	listenCtx, stopListening := context.WithCancel(context.WithoutCancel(ctx))
	defer stopListening()
	callCtx, stopCalls := context.WithCancel(context.WithoutCancel(ctx))
	defer stopCalls()
	p.mu.Lock()
	p.ctx = callCtx
	p.mu.Unlock()

	errs := make(chan error, 2)
	readies := make([]chan struct{}, 0, 2)
	for _, network := range []string{"udp", "tcp"} {
		r := make(chan struct{})
		readies = append(readies, r)
		go func() {
			err := p.srv.ListenAndServe(context.WithValue(listenCtx, sipgo.ListenReadyCtxKey, sipgo.ListenReadyCtxValue(r)), network, p.cfg.Listen.String())
			if err != nil && listenCtx.Err() == nil {
				errs <- fmt.Errorf("devprovider: %s %s: %w", network, p.cfg.Listen, err)
				return
			}
			errs <- nil
		}()
	}
	received := 0
	var first error
	for _, r := range readies {
		select {
		case <-r:
			continue
		case first = <-errs:
			received++
		case <-ctx.Done():
		}
		break
	}
	if first == nil && ctx.Err() == nil && received == 0 {
		p.log.Info("devprovider listening", "addr", p.cfg.Listen.String(), "realm", p.cfg.Realm, "users", len(p.cfg.Users))
		if ready != nil {
			close(ready)
		}
		select {
		case <-ctx.Done():
		case first = <-errs:
			received++
		}
	}
	p.hangupAll()
	stopCalls()
	p.calls.Wait()
	stopListening()
	for ; received < 2; received++ {
		if err := <-errs; err != nil && first == nil {
			first = err
		}
	}
	_ = p.ua.Close()
	return first
}

// logged logs every request in one line before handling it.
func (p *Provider) logged(h sipgo.RequestHandler) sipgo.RequestHandler {
	return func(req *sip.Request, tx sip.ServerTransaction) {
		attrs := []any{"method", req.Method.String(), "uri", req.Recipient.String(), "source", req.Source(), "transport", req.Transport()}
		if f := req.From(); f != nil {
			attrs = append(attrs, "from", f.Address.User)
		}
		if t := req.To(); t != nil {
			attrs = append(attrs, "to", t.Address.User)
		}
		if c := req.CallID(); c != nil {
			attrs = append(attrs, "call_id", c.Value())
		}
		p.log.Info("request", attrs...)
		h(req, tx)
	}
}

func (p *Provider) respond(req *sip.Request, tx sip.ServerTransaction, code int, reason string, hdrs ...sip.Header) {
	res := sip.NewResponseFromRequest(req, code, reason, nil)
	for _, h := range hdrs {
		res.AppendHeader(h)
	}
	if err := tx.Respond(res); err != nil {
		p.log.Warn("respond failed", "code", code, "error", err)
	}
}

// authenticate checks the request's credentials (Authorization for
// REGISTER, Proxy-Authorization for calls) and challenges or refuses when
// they do not hold. It returns the user on success, "" when it has already
// answered the request.
func (p *Provider) authenticate(req *sip.Request, tx sip.ServerTransaction, proxy bool) string {
	credHdr, chalHdr, code, reason := "Authorization", "WWW-Authenticate", 401, "Unauthorized"
	if proxy {
		credHdr, chalHdr, code, reason = "Proxy-Authorization", "Proxy-Authenticate", 407, "Proxy Authentication Required"
	}
	var value string
	if h := req.GetHeader(credHdr); h != nil {
		value = h.Value()
	}
	user, res := p.auth.check(value, req.Method.String())
	switch res {
	case authOK:
		return user
	case authBad:
		p.log.Info("authentication failed", "method", req.Method.String(), "source", req.Source())
		p.respond(req, tx, 403, "Forbidden")
	default:
		p.respond(req, tx, code, reason, sip.NewHeader(chalHdr, p.auth.challenge(res == authStale)))
	}
	return ""
}

func (p *Provider) onRegister(req *sip.Request, tx sip.ServerTransaction) {
	user := p.authenticate(req, tx, false)
	if user == "" {
		return
	}
	to := req.To()
	if to == nil || to.Address.User != user {
		p.respond(req, tx, 403, "Forbidden: To user is not the authenticated user")
		return
	}
	contacts := req.GetHeaders("Contact")
	if len(contacts) == 0 {
		// A query: answer with the current binding.
		res := sip.NewResponseFromRequest(req, 200, "OK", nil)
		if b, ok := p.reg.lookup(user); ok {
			left := int(time.Until(b.expires).Seconds())
			res.AppendHeader(sip.NewHeader("Contact", "<"+b.contact.String()+">;expires="+strconv.Itoa(left)))
		}
		_ = tx.Respond(res)
		return
	}
	contact, ok := contacts[0].(*sip.ContactHeader)
	if !ok {
		p.respond(req, tx, 400, "Bad Request: unreadable Contact")
		return
	}
	expires := 3600
	if h := req.GetHeader("Expires"); h != nil {
		if v, err := strconv.Atoi(strings.TrimSpace(h.Value())); err == nil {
			expires = v
		}
	}
	if v, ok := contact.Params.Get("expires"); ok {
		if n, err := strconv.Atoi(v); err == nil {
			expires = n
		}
	}
	if contact.Address.Wildcard || expires == 0 {
		p.reg.remove(user)
		p.log.Info("unregistered", "user", user)
		p.respond(req, tx, 200, "OK")
		return
	}
	if expires < 0 {
		p.respond(req, tx, 400, "Bad Request: negative expires")
		return
	}
	if least := int(p.cfg.MinExpires.Seconds()); expires < least {
		p.respond(req, tx, 423, "Interval Too Brief", sip.NewHeader("Min-Expires", strconv.Itoa(least)))
		return
	}
	expires = min(expires, 3600)
	b := binding{
		contact:   contact.Address,
		source:    req.Source(),
		transport: req.Transport(),
		expires:   time.Now().Add(time.Duration(expires) * time.Second),
	}
	p.reg.set(user, b)
	p.log.Info("registered", "user", user, "contact", b.contact.String(), "source", b.source, "expires", expires)
	res := sip.NewResponseFromRequest(req, 200, "OK", nil)
	res.AppendHeader(sip.NewHeader("Contact", "<"+b.contact.String()+">;expires="+strconv.Itoa(expires)))
	_ = tx.Respond(res)
}

func (p *Provider) onInvite(req *sip.Request, tx sip.ServerTransaction) {
	if to := req.To(); to != nil {
		if _, ok := to.Params.Get("tag"); ok {
			p.onReinvite(req, tx)
			return
		}
	}
	caller := p.authenticate(req, tx, true)
	if caller == "" {
		return
	}
	target := req.Recipient.User
	switch {
	case target == NumberBusy:
		p.respond(req, tx, 486, "Busy Here")
	case isTestNumber(target):
		p.serveTestNumber(req, tx, caller, target)
	default:
		b, ok := p.reg.lookup(target)
		if !ok {
			p.respond(req, tx, 404, "Not Found")
			return
		}
		p.bridge(req, tx, caller, target, b)
	}
}

func (p *Provider) onAck(req *sip.Request, tx sip.ServerTransaction) {
	l := p.leg(req)
	if l == nil || l.srv == nil {
		return
	}
	_ = l.srv.ReadAck(req, tx)
}

func (p *Provider) onBye(req *sip.Request, tx sip.ServerTransaction) {
	l := p.leg(req)
	if l == nil {
		p.respond(req, tx, 481, "Call/Transaction Does Not Exist")
		return
	}
	var err error
	switch {
	case l.srv != nil:
		err = l.srv.ReadBye(req, tx)
	case l.cli != nil:
		err = l.cli.ReadBye(req, tx)
	}
	if err != nil {
		p.respond(req, tx, 481, "Call/Transaction Does Not Exist")
		return
	}
	p.hangup(l, false)
}

// onCancel sees only CANCELs that match no INVITE transaction (sipgo
// answers the others itself and ends the INVITE with 487).
func (p *Provider) onCancel(req *sip.Request, tx sip.ServerTransaction) {
	p.respond(req, tx, 481, "Call/Transaction Does Not Exist")
}

// onReinvite answers an in-dialog INVITE: hold and resume on a test
// number's media session; a bridged call keeps its media end to end and
// refuses a change it cannot pass on.
func (p *Provider) onReinvite(req *sip.Request, tx sip.ServerTransaction) {
	l := p.leg(req)
	if l == nil {
		p.respond(req, tx, 481, "Call/Transaction Does Not Exist")
		return
	}
	if l.media == nil || len(req.Body()) == 0 {
		p.respond(req, tx, 488, "Not Acceptable Here")
		return
	}
	answer, err := l.media.Reoffer(req.Body())
	if err != nil {
		p.respond(req, tx, 488, "Not Acceptable Here")
		return
	}
	res := sip.NewResponseFromRequest(req, 200, "OK", answer)
	res.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	res.AppendHeader(&p.dialog.ContactHDR)
	_ = tx.Respond(res)
}

// leg is one dialog the provider is part of.
type leg struct {
	callID string
	srv    *sipgo.DialogServerSession // the provider answered it
	cli    *sipgo.DialogClientSession // the provider placed it
	media  *media.Session             // test numbers only
	other  *leg                       // the bridged leg, if any
	stop   context.CancelFunc         // ends the leg's audio and timers
	once   sync.Once
}

func (p *Provider) leg(req *sip.Request) *leg {
	c := req.CallID()
	if c == nil {
		return nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.legs[c.Value()]
}

func (p *Provider) addLeg(l *leg) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.legs[l.callID] = l
}

// hangup ends l (with a BYE when sendBye) and the leg bridged to it (with
// a BYE). The bridged leg is ended outside l's once, which would otherwise
// be entered again by the bridged leg's own hangup.
func (p *Provider) hangup(l *leg, sendBye bool) {
	first := false
	l.once.Do(func() {
		first = true
		p.release(l, sendBye)
		p.log.Info("call ended", "call_id", l.callID, "bye_sent", sendBye)
	})
	if first && l.other != nil {
		p.hangup(l.other, true)
	}
}

// forget drops a leg that never got established, without BYE, leaving the
// leg bridged to it alone.
func (p *Provider) forget(l *leg) {
	l.once.Do(func() { p.release(l, false) })
}

// release stops l's audio and timers, says BYE when sendBye, closes its
// dialog and drops it from the table. Callers run it inside l.once.
func (p *Provider) release(l *leg, sendBye bool) {
	if l.stop != nil {
		l.stop()
	}
	if l.media != nil {
		_ = l.media.Close()
	}
	if sendBye {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		var err error
		switch {
		case l.srv != nil:
			err = l.srv.Bye(ctx)
		case l.cli != nil:
			err = l.cli.Bye(ctx)
		}
		cancel()
		if err != nil {
			p.log.Info("BYE failed", "call_id", l.callID, "error", err)
		}
	}
	if l.srv != nil {
		_ = l.srv.Close()
	}
	if l.cli != nil {
		_ = l.cli.Close()
	}
	p.mu.Lock()
	delete(p.legs, l.callID)
	p.mu.Unlock()
}

func (p *Provider) hangupAll() {
	p.mu.Lock()
	legs := slices.Collect(maps.Values(p.legs))
	p.mu.Unlock()
	for _, l := range legs {
		p.hangup(l, true)
	}
}

// context returns Run's context, so calls end when the provider stops.
func (p *Provider) runContext() context.Context {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ctx == nil {
		return context.Background()
	}
	return p.ctx
}

// responseCode is the status of a failed INVITE, or 0.
func responseCode(err error) int {
	var de *sipgo.ErrDialogResponse
	if errors.As(err, &de) {
		return de.Res.StatusCode
	}
	return 0
}

// Start runs the provider in the background and returns once it listens
// (or fails to, or 5 s pass). stop ends it and returns Run's error.
func (p *Provider) Start() (stop func() error, err error) {
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan struct{})
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx, ready) }()
	stop = func() error {
		cancel()
		return <-done
	}
	select {
	case <-ready:
		return stop, nil
	case err := <-done:
		cancel()
		return nil, fmt.Errorf("devprovider stopped: %w", err)
	case <-time.After(5 * time.Second):
		_ = stop()
		return nil, errors.New("devprovider did not start within 5 s")
	}
}
