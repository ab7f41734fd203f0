package api

import (
	"context"
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
	var res ResetResult
	err := c.call(ctx, http.MethodPost, "/api/v1/reset", nil, notRunning+" if not, use --offline", &res)
	return res, err
}
