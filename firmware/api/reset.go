package api

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
)

// Resetter performs a factory reset; a Source that is also a Resetter
// serves POST /api/v1/reset.
type Resetter interface {
	// FactoryReset clears the configuration and the delivered call
	// history, keeps what the back end has not acknowledged, and restarts
	// the device into provisioning once the answer is sent.
	FactoryReset(ctx context.Context) (ResetResult, error)
}

// ResetResult is the answer to POST /api/v1/reset.
type ResetResult struct {
	// KeptCalls are the calls kept until the back end acknowledges them.
	KeptCalls int    `json:"kept_calls"`
	Message   string `json:"message"`
}

// resetRoutes registers the factory reset when the source can do one.
func (s *Server) resetRoutes(mux *http.ServeMux) {
	rs, ok := s.src.(Resetter)
	if !ok {
		return
	}
	mux.HandleFunc("POST /api/v1/reset", func(w http.ResponseWriter, r *http.Request) {
		s.log.Warn("management API: factory reset requested", "remote", r.RemoteAddr)
		res, err := rs.FactoryReset(r.Context())
		if err != nil {
			s.log.Error("factory reset", "err", err)
			writeError(w, http.StatusInternalServerError, err.Error())
			return
		}
		writeJSON(w, http.StatusOK, res)
	})
}

// Reset asks the running device for a factory reset.
func (c *Client) Reset(ctx context.Context) (ResetResult, error) {
	const path = "/api/v1/reset"
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+path, nil)
	if err != nil {
		return ResetResult{}, fmt.Errorf("management API: %w", err)
	}
	req.SetBasicAuth("admin", c.password)
	resp, err := c.hc.Do(req)
	if err != nil {
		return ResetResult{}, fmt.Errorf("management API (is tipring running? if not, use --offline): %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return ResetResult{}, fmt.Errorf("management API %s: %w", path, err)
	}
	var res struct {
		ResetResult
		Error string `json:"error"`
	}
	if json.Unmarshal(body, &res) != nil {
		return ResetResult{}, fmt.Errorf("management API %s: %s: bad answer", path, resp.Status)
	}
	if resp.StatusCode != http.StatusOK {
		return ResetResult{}, fmt.Errorf("management API %s: %s: %s", path, resp.Status, res.Error)
	}
	return res.ResetResult, nil
}
