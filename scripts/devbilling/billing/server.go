// Package billing is the development billing back end behind `make run` and
// the tests: the contract of DESIGN.md ("Billing back end") for one prepaid
// account, held in memory, plus switches under /dev/ that suspend the
// account, decline recharges, break the answers or take the service down
// (docs/devbilling.md). It trusts the device's costs, as the contract says:
// the device is the meter. It is a development tool and never part of a
// device image.
package billing

import (
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"strings"
	"sync"

	"github.com/tipring/tipring/meter"
	"github.com/tipring/tipring/meter/backend"
)

const (
	// DefaultCurrency is the account's currency when Config leaves it out.
	DefaultCurrency = "USD"
	// maxRequestBytes bounds usage and recharge bodies; a call record is
	// about a kilobyte.
	maxRequestBytes = 1 << 20
	// maxRatesUpload bounds POST /dev/rates: above the device's own limit
	// (backend.MaxRatesBytes), so a test can serve a table too large for it.
	maxRatesUpload = 2 * backend.MaxRatesBytes
	// maxIDBytes bounds the idempotency keys kept in memory.
	maxIDBytes = 256
	// defaultDeclineMessage is what a declined recharge says unless a test
	// chooses the words.
	defaultDeclineMessage = "card declined"
)

// Config is the account the back end serves.
type Config struct {
	Account  string      // the account id, e.g. "100200300"; required
	Token    string      // the device's bearer token; required
	Currency string      // ISO 4217; default DefaultCurrency
	Balance  meter.Money // opening balance
	// Rates is the table served by GET /v1/rates, as version
	// DefaultRatesVersion; nil means DefaultRates().
	Rates  []meter.Rate
	Logger *slog.Logger
}

// Server is the back end's state and its HTTP handler. It starts no
// goroutines; serve Handler() with net/http.
type Server struct {
	account, token string
	log            *slog.Logger

	mu             sync.Mutex
	currency       string
	balance        meter.Money
	status         meter.Status
	autoRecharge   meter.AutoRecharge
	ratesVersion   string
	rates          []meter.Rate
	rawRates       []byte // served verbatim instead of rates when not nil
	ratesUploads   int    // names versions of uploaded tables that bring none
	recharge       string // "approve" or "decline"
	declineMessage string
	outage         Outage
	hanging        int // requests held by OutageHang now
	malformed      bool
	overdraft      meter.Money
	usage          map[string]*usageEntry
	usageOrder     []string
	recharges      map[string]*rechargeEntry
	rechargeOrder  []string
}

type usageEntry struct {
	cost      meter.Money
	posts     int
	conflicts int
	answer    usageAnswer
}

type usageAnswer struct {
	Balance meter.Money  `json:"balance"`
	Status  meter.Status `json:"status"`
}

type rechargeEntry struct {
	req    rechargeRequest
	posts  int
	answer rechargeAnswer
}

type rechargeRequest struct {
	ID     string      `json:"id"`
	Amount meter.Money `json:"amount"`
	Reason string      `json:"reason"`
}

type rechargeAnswer struct {
	Result  string      `json:"result"`
	Message string      `json:"message"`
	Balance meter.Money `json:"balance"`
}

// New checks cfg and returns a back end with an active account, recharges
// approved and no outage.
func New(cfg Config) (*Server, error) {
	if cfg.Account == "" {
		return nil, errors.New("devbilling: empty account")
	}
	if cfg.Token == "" {
		return nil, errors.New("devbilling: empty token")
	}
	if strings.ContainsFunc(cfg.Token, func(r rune) bool { return r < 0x21 || r > 0x7e }) {
		return nil, errors.New("devbilling: the token must be printable ASCII without spaces")
	}
	if cfg.Currency == "" {
		cfg.Currency = DefaultCurrency
	}
	if !meter.ValidCurrency(cfg.Currency) {
		return nil, fmt.Errorf("devbilling: currency %q: want three upper-case letters (ISO 4217)", cfg.Currency)
	}
	if cfg.Balance < 0 || cfg.Balance > backend.MaxBalance {
		return nil, fmt.Errorf("devbilling: balance %s: want 0 to %s", cfg.Balance, backend.MaxBalance)
	}
	if cfg.Rates == nil {
		cfg.Rates = DefaultRates()
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Server{
		account: cfg.Account, token: cfg.Token, log: cfg.Logger,
		currency: cfg.Currency, balance: cfg.Balance, status: meter.Active,
		ratesVersion: DefaultRatesVersion, rates: append([]meter.Rate(nil), cfg.Rates...),
		recharge: "approve", declineMessage: defaultDeclineMessage,
		usage: map[string]*usageEntry{}, recharges: map[string]*rechargeEntry{},
	}, nil
}

// Handler serves the contract under /v1/ and the switches under /dev/.
func (s *Server) Handler() http.Handler {
	v1 := http.NewServeMux()
	v1.HandleFunc("GET /v1/accounts/{account}", s.getAccount)
	v1.HandleFunc("GET /v1/rates", s.getRates)
	v1.HandleFunc("POST /v1/accounts/{account}/usage", s.postUsage)
	v1.HandleFunc("POST /v1/accounts/{account}/recharge", s.postRecharge)

	dev := http.NewServeMux()
	dev.HandleFunc("GET /dev/state", s.getState)
	dev.HandleFunc("POST /dev/state", s.postState)
	dev.HandleFunc("GET /dev/usage", s.getUsage)
	dev.HandleFunc("POST /dev/rates", s.postRates)

	mux := http.NewServeMux()
	mux.Handle("/v1/", s.guard(v1))
	mux.Handle("/dev/", loopbackOnly(dev))
	return mux
}

// guard applies the outage switch to every /v1 request, then checks the
// token. The token comes before the account, so that a caller without it
// cannot tell which accounts exist.
func (s *Server) guard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		outage := s.outage
		s.mu.Unlock()
		switch outage {
		case OutageDown:
			s.log.Debug("devbilling: outage", "method", r.Method, "path", r.URL.Path)
			writeError(w, http.StatusServiceUnavailable, "the billing back end is down (development outage switch)")
			return
		case OutageHang:
			s.log.Debug("devbilling: hanging", "method", r.Method, "path", r.URL.Path)
			// net/http notices a caller hanging up only once the body is
			// read: read it, or a POST would hang past its context.
			_, _ = io.Copy(io.Discard, r.Body)
			s.mu.Lock()
			s.hanging++
			s.mu.Unlock()
			<-r.Context().Done()
			s.mu.Lock()
			s.hanging--
			s.mu.Unlock()
			return
		}
		auth := r.Header.Get("Authorization")
		tok, ok := strings.CutPrefix(auth, "Bearer ")
		if !ok || subtle.ConstantTimeCompare([]byte(tok), []byte(s.token)) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="devbilling"`)
			writeError(w, http.StatusUnauthorized, "missing or wrong bearer token")
			return
		}
		next.ServeHTTP(w, r)
	})
}

// loopbackOnly keeps the switches to this machine, whatever address the
// server was bound to.
func loopbackOnly(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ap, err := netip.ParseAddrPort(r.RemoteAddr)
		if err != nil || !ap.Addr().Unmap().IsLoopback() {
			writeError(w, http.StatusForbidden, "the /dev/ switches answer loopback callers only")
			return
		}
		next.ServeHTTP(w, r)
	})
}

func (s *Server) ourAccount(w http.ResponseWriter, r *http.Request) bool {
	if r.PathValue("account") != s.account {
		writeError(w, http.StatusNotFound, fmt.Sprintf("no account %q", r.PathValue("account")))
		return false
	}
	return true
}

func (s *Server) getAccount(w http.ResponseWriter, r *http.Request) {
	if !s.ourAccount(w, r) {
		return
	}
	s.mu.Lock()
	a := meter.Account{
		Account: s.account, Status: s.status, Currency: s.currency, Balance: s.balance,
		AutoRecharge: s.autoRecharge, RatesVersion: s.ratesVersion,
	}
	malformed := s.malformed
	s.mu.Unlock()
	writeAnswer(w, a, malformed)
}

func (s *Server) getRates(w http.ResponseWriter, _ *http.Request) {
	s.mu.Lock()
	raw, malformed := s.rawRates, s.malformed
	answer := ratesAnswer{Version: s.ratesVersion, Currency: s.currency, Rates: s.rates}
	var body []byte
	var err error
	if raw == nil {
		// Encoded under the lock: the slice may be replaced, never changed
		// in place, but encoding here keeps that reasoning unnecessary.
		body, err = json.Marshal(answer)
	}
	s.mu.Unlock()
	if raw != nil {
		body = raw
	}
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	writeBody(w, body, malformed)
}

type ratesAnswer struct {
	Version  string       `json:"version"`
	Currency string       `json:"currency"`
	Rates    []meter.Rate `json:"rates"`
}

func (s *Server) postUsage(w http.ResponseWriter, r *http.Request) {
	if !s.ourAccount(w, r) {
		return
	}
	var rec meter.Record
	if !readJSON(w, r, maxRequestBytes, &rec) {
		return
	}
	if !validID(w, "the record", rec.ID) {
		return
	}
	if rec.Cost < 0 {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("record %q has a negative cost %s", rec.ID, rec.Cost))
		return
	}
	s.mu.Lock()
	e, seen := s.usage[rec.ID]
	if seen {
		e.posts++
		if e.cost != rec.Cost {
			e.conflicts++
		}
	} else {
		s.charge(rec.Cost)
		e = &usageEntry{cost: rec.Cost, posts: 1, answer: usageAnswer{Balance: s.balance, Status: s.status}}
		s.usage[rec.ID] = e
		s.usageOrder = append(s.usageOrder, rec.ID)
	}
	answer, malformed, overdraft := e.answer, s.malformed, s.overdraft
	s.mu.Unlock()
	switch {
	case !seen:
		s.log.Info("devbilling: usage", "id", rec.ID, "number", rec.Number, "disposition", rec.Disposition,
			"cost", rec.Cost, "balance", answer.Balance, "overdraft", overdraft)
	case e.cost != rec.Cost:
		s.log.Warn("devbilling: usage repeated with another cost; the first one stands", "id", rec.ID, "first", e.cost, "now", rec.Cost)
	default:
		s.log.Info("devbilling: usage repeated; nothing changes", "id", rec.ID)
	}
	writeAnswer(w, answer, malformed)
}

// charge takes cost from the balance. The balance never goes below zero,
// because the device refuses a negative one; what the device spent beyond
// it is kept as the overdraft, which tests expect to stay zero.
func (s *Server) charge(cost meter.Money) {
	if cost <= s.balance {
		s.balance -= cost
		return
	}
	s.overdraft += cost - max(s.balance, 0)
	s.balance = min(s.balance, 0)
}

func (s *Server) postRecharge(w http.ResponseWriter, r *http.Request) {
	if !s.ourAccount(w, r) {
		return
	}
	var req rechargeRequest
	if !readJSON(w, r, maxRequestBytes, &req) {
		return
	}
	if !validID(w, "the recharge", req.ID) {
		return
	}
	switch {
	case req.Amount <= 0:
		writeError(w, http.StatusBadRequest, fmt.Sprintf("amount %s: want more than zero", req.Amount))
		return
	case req.Reason == "":
		writeError(w, http.StatusBadRequest, "the recharge has no reason")
		return
	}
	s.mu.Lock()
	e, seen := s.recharges[req.ID]
	if seen {
		e.posts++
	} else {
		e = &rechargeEntry{req: req, posts: 1, answer: s.decide(req.Amount)}
		s.recharges[req.ID] = e
		s.rechargeOrder = append(s.rechargeOrder, req.ID)
	}
	answer, malformed := e.answer, s.malformed
	s.mu.Unlock()
	if seen {
		s.log.Info("devbilling: recharge repeated; nothing changes", "id", req.ID)
	} else {
		s.log.Info("devbilling: recharge", "id", req.ID, "amount", req.Amount, "reason", req.Reason,
			"result", answer.Result, "message", answer.Message, "balance", answer.Balance)
	}
	writeAnswer(w, answer, malformed)
}

// validID checks an idempotency key (what names its request in the
// error), answering 400 itself when the key is missing or too long to
// keep in memory.
func validID(w http.ResponseWriter, what, id string) bool {
	switch {
	case id == "":
		writeError(w, http.StatusBadRequest, what+" has no id")
	case len(id) > maxIDBytes:
		writeError(w, http.StatusBadRequest, fmt.Sprintf("id of %d bytes; at most %d", len(id), maxIDBytes))
	default:
		return true
	}
	return false
}

// decide approves or declines a new recharge and applies it. Called with
// s.mu held.
func (s *Server) decide(amount meter.Money) rechargeAnswer {
	decline := func(msg string) rechargeAnswer {
		return rechargeAnswer{Result: "declined", Message: msg, Balance: s.balance}
	}
	switch {
	case s.status == meter.Suspended:
		return decline("the account is suspended: contact support")
	case s.recharge == "decline":
		return decline(s.declineMessage)
	case amount > backend.MaxBalance-max(s.balance, 0):
		return decline(fmt.Sprintf("the balance may not exceed %s", backend.MaxBalance))
	}
	s.balance += amount
	return rechargeAnswer{Result: "approved", Message: "recharged " + amount.String(), Balance: s.balance}
}

// readJSON decodes a request body of at most limit bytes into v, answering
// 400 or 413 itself when it cannot.
func readJSON(w http.ResponseWriter, r *http.Request, limit int64, v any) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, limit))
	if err := dec.Decode(v); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("body larger than %d bytes", limit))
			return false
		}
		writeError(w, http.StatusBadRequest, "bad JSON body: "+err.Error())
		return false
	}
	if dec.More() {
		writeError(w, http.StatusBadRequest, "bad JSON body: more than one value")
		return false
	}
	return true
}

func writeAnswer(w http.ResponseWriter, v any, malformed bool) {
	b, err := json.Marshal(v)
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	writeBody(w, b, malformed)
}

// writeBody sends a 200 answer; malformed cuts it in half, as a proxy that
// drops the connection mid-answer would.
func writeBody(w http.ResponseWriter, b []byte, malformed bool) {
	if malformed {
		b = b[:len(b)/2]
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(b)
}

func writeError(w http.ResponseWriter, code int, msg string) {
	b, _ := json.Marshal(map[string]string{"error": msg})
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_, _ = w.Write(b)
}
