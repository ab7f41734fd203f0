package api

import (
	"context"
	"io"
	"net/http"
	"net/url"

	"github.com/tipring/tipring/firmware/update"
)

// Updater installs firmware images; a Source that is also an Updater
// serves POST /api/v1/update (the image as the body) and GET
// /api/v1/update (the boot state).
type Updater interface {
	// InstallUpdate installs the image read from body into the inactive
	// slot. The body is streamed straight into the slot while it is
	// verified, never held in memory.
	InstallUpdate(ctx context.Context, body io.Reader, opts UpdateOptions) (UpdateResult, error)
	// Reboot restarts into the new image; it is called after the answer
	// to an install with Reboot set has been sent.
	Reboot(reason string)
	UpdateStatus() (UpdateStatus, error)
}

// UpdateOptions are the query of POST /api/v1/update.
type UpdateOptions struct {
	// Force accepts a version below the running one or the device's floor.
	Force bool
	// NoReboot leaves the new image to start at the next reboot.
	NoReboot bool
}

// UpdateResult is the answer to POST /api/v1/update.
type UpdateResult struct {
	update.Result
	// Reboot says the device restarts into the new image right after
	// this answer.
	Reboot  bool   `json:"reboot"`
	Message string `json:"message"`
}

// UpdateStatus is the answer to GET /api/v1/update.
type UpdateStatus struct {
	// RunningSlot is the slot this firmware runs from ("" when it was
	// not started by tipring boot).
	RunningSlot string       `json:"running_slot"`
	State       update.State `json:"state"`
}

// maxImageBytes bounds an upload: well above any image, far below what
// would fill a device's data partition by accident.
const maxImageBytes = 300 << 20

func (s *Server) updateRoutes(mux *http.ServeMux) {
	up, ok := s.src.(Updater)
	if !ok {
		return
	}
	mux.HandleFunc("POST /api/v1/update", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		opts := UpdateOptions{Force: q.Get("force") == "1" || q.Get("force") == "true", NoReboot: q.Get("reboot") == "0" || q.Get("reboot") == "false"}
		s.log.Warn("management API: firmware update uploaded", "remote", r.RemoteAddr, "force", opts.Force)
		res, err := up.InstallUpdate(r.Context(), http.MaxBytesReader(w, r.Body, maxImageBytes), opts)
		if err != nil {
			s.log.Error("update refused", "err", err)
			// A refused image is the client's problem (board, signature,
			// version, damage); the message says which.
			writeError(w, http.StatusUnprocessableEntity, err.Error())
			return
		}
		writeJSON(w, http.StatusOK, res)
		if res.Reboot {
			if f, ok := w.(http.Flusher); ok {
				f.Flush()
			}
			up.Reboot(res.Message)
		}
	})
	mux.HandleFunc("GET /api/v1/update", func(w http.ResponseWriter, r *http.Request) {
		st, err := up.UpdateStatus()
		if err != nil {
			writeError(w, http.StatusInternalServerError, err.Error())
			return
		}
		writeJSON(w, http.StatusOK, st)
	})
}

// Update uploads an image to the running device (POST /api/v1/update).
func (c *Client) Update(ctx context.Context, img io.Reader, opts UpdateOptions) (UpdateResult, error) {
	q := url.Values{}
	if opts.Force {
		q.Set("force", "1")
	}
	if opts.NoReboot {
		q.Set("reboot", "0")
	}
	path := "/api/v1/update"
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	var res UpdateResult
	err := c.call(ctx, http.MethodPost, path, img, notRunning+" if not, use --offline --data DIR", &res)
	return res, err
}

// UpdateStatus fetches the boot state (GET /api/v1/update).
func (c *Client) UpdateStatus(ctx context.Context) (UpdateStatus, error) {
	var st UpdateStatus
	err := c.get(ctx, "/api/v1/update", &st)
	return st, err
}
