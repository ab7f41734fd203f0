package sim

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/tipring/tipring/boards"
)

// FuzzControlAPI sends arbitrary requests to the control API: it must
// answer every one with a known status and, for errors, a JSON error —
// never panic or hang.
func FuzzControlAPI(f *testing.F) {
	f.Add("GET", "/v1/phones/1", "", []byte(nil))
	f.Add("POST", "/v1/phones/1/hook", "application/json", []byte(`{"state":"off"}`))
	f.Add("POST", "/v1/phones/2/dial", "application/json", []byte(`{"digits":"123","mode":"pulse","break_ms":60}`))
	f.Add("POST", "/v1/phones/1/send", "audio/wav", EncodeWAV([]int16{1, 2, 3}))
	f.Add("POST", "/v1/phones/1/device", "application/json", []byte(`{"ren":2.5,"fault":"resistive"}`))
	f.Add("GET", "/v1/phones/1/heard?ms=40", "", []byte(nil))
	b, err := New(boards.Options{Region: "us"}, WithClock(NewManualClock(t0)))
	if err != nil {
		f.Fatal(err)
	}
	// No clock runs: requests that wait for the phone get "stopped" at once.
	close(b.stopped)
	h := b.Handler()
	f.Fuzz(func(t *testing.T, method, target, contentType string, body []byte) {
		req, err := http.NewRequest(method, "http://sim"+target, bytes.NewReader(body))
		if err != nil {
			return
		}
		if contentType != "" {
			req.Header.Set("Content-Type", contentType)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		switch rec.Code {
		case 200:
			return
		case 301, 307, 308:
			// The mux sends unclean paths ("/v1/../x", "") to the clean one.
			return
		case 400, 404, 405, 409, 413, 415, 503:
		default:
			t.Fatalf("%s %s: status %d", method, target, rec.Code)
		}
		var e struct{ Error string }
		if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil || e.Error == "" {
			t.Fatalf("%s %s: status %d with body %q, want a JSON error", method, target, rec.Code, rec.Body.String())
		}
	})
}
