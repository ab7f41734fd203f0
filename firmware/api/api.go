// Package api serves the management API: HTTP + JSON under /api/v1, basic
// auth with the user "admin" and the device's own password. The CLI talks to
// the running firmware through it, so nothing opens the device's state behind
// the firmware's back.
package api

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/tipring/tipring/meter"
)

// Status is the answer to GET /api/v1/status.
type Status struct {
	Version       string       `json:"version"`
	Board         string       `json:"board"`
	Region        string       `json:"region"`
	Started       time.Time    `json:"started"`
	UptimeSeconds int64        `json:"uptime_s"`
	Lines         []LineStatus `json:"lines"`
	// GhostRejected counts SIP requests refused because they came from
	// somewhere other than the provider's servers (SIP scanners).
	GhostRejected uint64 `json:"ghost_rejected"`
}

// LineStatus is one line in the status.
type LineStatus struct {
	Port        int       `json:"port"`
	User        string    `json:"user"`
	Registered  bool      `json:"registered"`
	Server      string    `json:"server,omitempty"`
	Transport   string    `json:"transport"`
	LastCode    int       `json:"last_code"`
	LastReason  string    `json:"last_reason,omitempty"`
	LastError   string    `json:"last_error,omitempty"`
	Failures    int       `json:"failures"`
	NextAttempt time.Time `json:"next_attempt,omitzero"`
	ExpiresAt   time.Time `json:"expires_at,omitzero"`
	PublicAddr  string    `json:"public_addr,omitempty"`
	Hook        string    `json:"hook"`
	CallState   string    `json:"call_state"`
	Since       time.Time `json:"since"`
	Direction   string    `json:"direction,omitempty"`
	Remote      string    `json:"remote,omitempty"`
	LastCause   string    `json:"last_cause,omitempty"`
}

// Source supplies what the API reports.
type Source interface {
	Status() Status
}

// Billing supplies the balance and the call history; a Source that is also
// a Billing serves /api/v1/balance, /api/v1/calls and /api/v1/statement.
type Billing interface {
	Balance() (meter.BalanceInfo, error)
	Calls(limit int) ([]meter.Record, error)
	Statement(month time.Time) (meter.Statement, error)
}

// Diag builds diagnostics bundles; a Source that is also a Diag serves
// /api/v1/diag/bundle.
type Diag interface {
	Bundle(ctx context.Context, opts BundleOptions) ([]byte, error)
}

// BundleOptions are what the customer or support adds to a bundle request.
type BundleOptions struct {
	Anonymize bool   // replace phone numbers by tokens
	Phone     string // make and model of the telephone, as the customer says
	Problem   string // the problem, in the customer's words
}

// Calls is the answer to GET /api/v1/calls.
type Calls struct {
	Calls []meter.Record `json:"calls"`
}

const (
	defaultCalls = 50
	maxCalls     = 10000
)

// Server is the management API server.
type Server struct {
	addr     string
	password string
	src      Source
	log      *slog.Logger
	ready    chan struct{}
	bound    net.Addr
}

// New returns a server for addr ("127.0.0.1:8080"); password is the admin
// password and must not be empty.
func New(addr, password string, src Source, log *slog.Logger) (*Server, error) {
	if password == "" {
		return nil, errors.New("management API: empty admin password")
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Server{addr: addr, password: password, src: src, log: log, ready: make(chan struct{})}, nil
}

// Handler returns the API's HTTP handler, with authentication.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/v1/status", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, s.src.Status())
	})
	if b, ok := s.src.(Billing); ok {
		s.billing(mux, b)
	}
	s.resetRoutes(mux)
	s.updateRoutes(mux)
	if dg, ok := s.src.(Diag); ok {
		mux.HandleFunc("GET /api/v1/diag/bundle", func(w http.ResponseWriter, r *http.Request) {
			q := r.URL.Query()
			opts := BundleOptions{Anonymize: q.Get("anonymize") == "1" || q.Get("anonymize") == "true", Phone: q.Get("phone"), Problem: q.Get("problem")}
			b, err := dg.Bundle(r.Context(), opts)
			if err != nil {
				s.log.Error("diag bundle", "err", err)
				writeError(w, http.StatusInternalServerError, err.Error())
				return
			}
			w.Header().Set("Content-Type", "application/gzip")
			w.Header().Set("Content-Disposition", `attachment; filename="tipring-diag.tar.gz"`)
			_, _ = w.Write(b)
		})
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, fmt.Sprintf("no such endpoint: %s %s", r.Method, r.URL.Path))
	})
	return s.auth(mux)
}

func (s *Server) auth(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		user, pass, ok := r.BasicAuth()
		userOK := subtle.ConstantTimeCompare([]byte(user), []byte("admin")) == 1
		passOK := subtle.ConstantTimeCompare([]byte(pass), []byte(s.password)) == 1
		if !ok || !userOK || !passOK {
			s.log.Warn("management API: authentication failed", "remote", r.RemoteAddr, "path", r.URL.Path)
			w.Header().Set("WWW-Authenticate", `Basic realm="tipring"`)
			writeError(w, http.StatusUnauthorized, "authentication required (user admin, the device's admin password)")
			return
		}
		next.ServeHTTP(w, r)
	})
}

func (s *Server) billing(mux *http.ServeMux, b Billing) {
	mux.HandleFunc("GET /api/v1/balance", func(w http.ResponseWriter, r *http.Request) {
		info, err := b.Balance()
		if err != nil {
			s.log.Error("balance", "err", err)
			writeError(w, http.StatusInternalServerError, err.Error())
			return
		}
		writeJSON(w, http.StatusOK, info)
	})
	mux.HandleFunc("GET /api/v1/calls", func(w http.ResponseWriter, r *http.Request) {
		limit := defaultCalls
		if v := r.URL.Query().Get("limit"); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 || n > maxCalls {
				writeError(w, http.StatusBadRequest, fmt.Sprintf("limit: want a number from 1 to %d, got %q", maxCalls, v))
				return
			}
			limit = n
		}
		calls, err := b.Calls(limit)
		if err != nil {
			s.log.Error("calls", "err", err)
			writeError(w, http.StatusInternalServerError, err.Error())
			return
		}
		if calls == nil {
			calls = []meter.Record{}
		}
		writeJSON(w, http.StatusOK, Calls{Calls: calls})
	})
	mux.HandleFunc("GET /api/v1/statement", func(w http.ResponseWriter, r *http.Request) {
		v := r.URL.Query().Get("month")
		month, err := time.ParseInLocation("2006-01", v, time.Local)
		if err != nil {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("month: want YYYY-MM, got %q", v))
			return
		}
		st, err := b.Statement(month)
		if err != nil {
			s.log.Error("statement", "err", err)
			writeError(w, http.StatusInternalServerError, err.Error())
			return
		}
		writeJSON(w, http.StatusOK, st)
	})
}

// Ready is closed once the server listens.
func (s *Server) Ready() <-chan struct{} { return s.ready }

// Addr is the bound address, valid after Ready.
func (s *Server) Addr() net.Addr { return s.bound }

// Run serves until ctx ends.
func (s *Server) Run(ctx context.Context) error {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", s.addr)
	if err != nil {
		return fmt.Errorf("management API: %w", err)
	}
	s.bound = ln.Addr()
	close(s.ready)
	srv := &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	s.log.Info("management API listening", "addr", s.bound.String())
	select {
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
		<-errc
		return nil
	case err := <-errc:
		return fmt.Errorf("management API: %w", err)
	}
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

func writeError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, map[string]string{"error": msg})
}
