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
	"time"
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
