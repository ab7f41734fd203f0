// Package support is the development support desk: it takes the
// diagnostics bundles that devices send from the handset ([diag]
// support_url, the report code) and keeps them as files, so a developer
// running make run can dial *47 and open what support would get.
package support

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"
)

// maxBundle bounds one upload: a bundle is tens of kilobytes.
const maxBundle = 16 << 20

// ticketRe is what a device's ticket looks like; anything else is refused
// rather than used in a file name.
var ticketRe = regexp.MustCompile(`^[0-9]{1,12}$`)

// Desk stores uploaded bundles in a directory.
type Desk struct {
	dir string
	log *slog.Logger
	mu  sync.Mutex
}

// Bundle is one stored upload, as GET lists it.
type Bundle struct {
	Ticket   string    `json:"ticket"`
	Account  string    `json:"account"`
	Firmware string    `json:"firmware"`
	Bytes    int64     `json:"bytes"`
	File     string    `json:"file"`
	Received time.Time `json:"received"`
}

// New returns a desk keeping bundles in dir, which it creates.
func New(dir string, log *slog.Logger) (*Desk, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("support desk: %w", err)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Desk{dir: dir, log: log}, nil
}

// Handler serves POST /support/bundles (a device's upload: the tar.gz body
// with X-Tipring-Ticket, X-Tipring-Account and X-Tipring-Firmware) and GET
// /support/bundles (what arrived, newest first).
func (d *Desk) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /support/bundles", d.receive)
	mux.HandleFunc("GET /support/bundles", d.list)
	return mux
}

func (d *Desk) receive(w http.ResponseWriter, r *http.Request) {
	ticket := r.Header.Get("X-Tipring-Ticket")
	if !ticketRe.MatchString(ticket) {
		http.Error(w, "X-Tipring-Ticket: want 1 to 12 digits", http.StatusBadRequest)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBundle))
	if err != nil {
		http.Error(w, "bundle: "+err.Error(), http.StatusRequestEntityTooLarge)
		return
	}
	if len(body) < 2 || body[0] != 0x1f || body[1] != 0x8b {
		http.Error(w, "bundle: not gzip data", http.StatusUnsupportedMediaType)
		return
	}
	b := Bundle{
		Ticket: ticket, Account: r.Header.Get("X-Tipring-Account"), Firmware: r.Header.Get("X-Tipring-Firmware"),
		Bytes: int64(len(body)), File: "ticket-" + ticket + ".tar.gz", Received: time.Now().UTC(),
	}
	meta, _ := json.Marshal(b)
	d.mu.Lock()
	err = os.WriteFile(filepath.Join(d.dir, b.File), body, 0o644)
	if err == nil {
		err = os.WriteFile(filepath.Join(d.dir, "ticket-"+ticket+".json"), meta, 0o644)
	}
	d.mu.Unlock()
	if err != nil {
		http.Error(w, "storing the bundle: "+err.Error(), http.StatusInternalServerError)
		return
	}
	d.log.Info("support bundle received", "ticket", ticket, "account", b.Account, "bytes", b.Bytes,
		"file", filepath.Join(d.dir, b.File))
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusCreated)
	fmt.Fprintf(w, `{"ticket":%q}`+"\n", ticket)
}

func (d *Desk) list(w http.ResponseWriter, _ *http.Request) {
	d.mu.Lock()
	entries, err := os.ReadDir(d.dir)
	var out []Bundle
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".json") {
			continue
		}
		raw, rerr := os.ReadFile(filepath.Join(d.dir, e.Name()))
		var b Bundle
		if rerr == nil && json.Unmarshal(raw, &b) == nil {
			out = append(out, b)
		}
	}
	d.mu.Unlock()
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Received.After(out[j].Received) })
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(struct {
		Bundles []Bundle `json:"bundles"`
	}{out})
}
