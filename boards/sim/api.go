package sim

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/tipring/tipring/boards"
	"github.com/tipring/tipring/boards/dsp"
)

// Defaults and bounds of the control API's requests.
const (
	// DefaultFlashMs is a hook flash's on-hook time when none is given:
	// inside every region's flash window.
	DefaultFlashMs = 500
	// DTMF as the phone dials it: 100 ms tones with 100 ms pauses, well
	// above the 40 ms a Q.24 receiver must accept, at -7 dBm0 per
	// frequency, inside the 0 to -25 dBm0 receivers accept.
	DefaultDTMFOnMs   = 100
	DefaultDTMFOffMs  = 100
	DefaultDTMFDBm0   = -7.0
	DefaultPulseBreak = 60  // ms: 10 pulses a second, 60 % break
	DefaultPulseMake  = 40  // ms
	DefaultPulsePause = 700 // ms from the last make to the next digit's first break
	// DefaultSendMs and DefaultSendDBm0 apply to a send without ms or
	// level_dbm0.
	DefaultSendMs   = 1000
	DefaultSendDBm0 = -10.0
	// DefaultHeardMs is what heard returns without ms.
	DefaultHeardMs = 2000

	maxJSONBody  = 64 << 10
	maxDigits    = 64
	maxSendMs    = 10 * 60 * 1000
	maxFlashMs   = 10000
	minLevelDBm0 = -60.0
	maxLevelDBm0 = 3.0
)

// HookRequest is the body of POST /v1/phones/{port}/hook.
type HookRequest struct {
	State string `json:"state"` // "off" or "on"
}

// FlashRequest is the body of POST /v1/phones/{port}/flash; the body may be
// empty.
type FlashRequest struct {
	Ms int `json:"ms,omitempty"`
}

// DialRequest is the body of POST /v1/phones/{port}/dial. Only Digits is
// needed; the rest override the defaults, for tests.
type DialRequest struct {
	Digits string `json:"digits"`
	// Mode is "dtmf" (the default) or "pulse".
	Mode string `json:"mode,omitempty"`
	// DTMF tone and pause lengths, and the level of each frequency.
	OnMs      int      `json:"on_ms,omitempty"`
	OffMs     int      `json:"off_ms,omitempty"`
	LevelDBm0 *float64 `json:"level_dbm0,omitempty"`
	// Pulse break and make lengths, and the pause between digits.
	BreakMs int `json:"break_ms,omitempty"`
	MakeMs  int `json:"make_ms,omitempty"`
	PauseMs int `json:"pause_ms,omitempty"`
}

// SendRequest is the JSON body of POST /v1/phones/{port}/send: a tone the
// phone speaks into the line. The request returns at once unless Wait is
// set, then when the tone has been sent. (A WAV body takes ?wait=true.)
// What the phone says replaces what it was saying (a send or DTMF digits:
// a request waiting for those gets 409); an on-hook phone cannot send
// (409).
type SendRequest struct {
	ToneHz    float64  `json:"tone_hz"`
	Ms        int      `json:"ms,omitempty"`
	LevelDBm0 *float64 `json:"level_dbm0,omitempty"`
	Wait      bool     `json:"wait,omitempty"`
}

type apiError struct {
	status int
	msg    string
}

func (e *apiError) Error() string { return e.msg }

func errorf(status int, format string, args ...any) error {
	return &apiError{status: status, msg: fmt.Sprintf(format, args...)}
}

// Handler returns the control API. Run serves it on the control address;
// it is exported so it can be mounted elsewhere.
func (b *Board) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/v1/phones", b.route(map[string]handlerFunc{http.MethodGet: b.listPhones}))
	mux.Handle("/v1/phones/{port}", b.route(map[string]handlerFunc{http.MethodGet: b.getPhone}))
	actions := map[string]map[string]handlerFunc{
		"hook":   {http.MethodPost: b.postHook},
		"flash":  {http.MethodPost: b.postFlash},
		"dial":   {http.MethodPost: b.postDial},
		"send":   {http.MethodPost: b.postSend},
		"device": {http.MethodPost: b.postDevice},
		"heard":  {http.MethodGet: b.getHeard},
	}
	for action, methods := range actions {
		mux.Handle("/v1/phones/{port}/"+action, b.route(methods))
	}
	mux.Handle("/", b.route(nil))
	return mux
}

type handlerFunc func(w http.ResponseWriter, r *http.Request, p *port) error

// route dispatches on the method and the port, and turns errors into
// JSON answers.
func (b *Board) route(methods map[string]handlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		err := b.serve(w, r, methods)
		if err == nil {
			return
		}
		var ae *apiError
		if !errors.As(err, &ae) {
			b.log.Error("control API", "method", r.Method, "path", r.URL.Path, "err", err)
			ae = &apiError{status: http.StatusInternalServerError, msg: err.Error()}
		}
		writeJSON(w, ae.status, map[string]string{"error": ae.msg})
	})
}

func (b *Board) serve(w http.ResponseWriter, r *http.Request, methods map[string]handlerFunc) error {
	if methods == nil {
		return errorf(http.StatusNotFound, "no such endpoint: %s", r.URL.Path)
	}
	h, ok := methods[r.Method]
	if !ok {
		allowed := make([]string, 0, len(methods))
		for m := range methods {
			allowed = append(allowed, m)
		}
		w.Header().Set("Allow", strings.Join(allowed, ", "))
		return errorf(http.StatusMethodNotAllowed, "method %s not allowed on %s (allowed: %s)", r.Method, r.URL.Path, strings.Join(allowed, ", "))
	}
	var p *port
	if s := r.PathValue("port"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil {
			return errorf(http.StatusNotFound, "no such port %q: the sim board has ports 1-%d", s, len(b.ports))
		}
		if p, err = b.port(n); err != nil {
			return &apiError{status: http.StatusNotFound, msg: err.Error()}
		}
	}
	return h(w, r, p)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	// The client may have gone; there is nobody left to tell.
	_ = json.NewEncoder(w).Encode(v)
}

// decodeJSON reads a JSON object into v, rejecting unknown fields and
// naming the field that is wrong. An empty body is fine when optional.
func decodeJSON(w http.ResponseWriter, r *http.Request, v any, optional bool) error {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || mt != "application/json" {
			return errorf(http.StatusUnsupportedMediaType, "Content-Type %q: want application/json", ct)
		}
	}
	body := http.MaxBytesReader(w, r.Body, maxJSONBody)
	dec := json.NewDecoder(body)
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if errors.Is(err, io.EOF) {
		if optional {
			return nil
		}
		return errorf(http.StatusBadRequest, "empty body: want a JSON object")
	}
	if err != nil {
		return jsonError(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return errorf(http.StatusBadRequest, "bad JSON: data after the object")
	}
	return nil
}

func jsonError(err error) error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	var big *http.MaxBytesError
	switch {
	case errors.As(err, &big):
		return errorf(http.StatusRequestEntityTooLarge, "body larger than %d bytes", big.Limit)
	case errors.As(err, &syn):
		return errorf(http.StatusBadRequest, "bad JSON at byte %d: %v", syn.Offset, syn)
	case errors.As(err, &typ):
		if typ.Field == "" {
			return errorf(http.StatusBadRequest, "bad JSON: got %s, want an object", typ.Value)
		}
		return errorf(http.StatusBadRequest, "%s: got %s, want %s", typ.Field, typ.Value, jsonKind(typ.Type.Kind().String()))
	case errors.Is(err, io.ErrUnexpectedEOF):
		return errorf(http.StatusBadRequest, "bad JSON: body ends early")
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return errorf(http.StatusBadRequest, "unknown field %s", strings.TrimPrefix(err.Error(), "json: unknown field "))
	}
	return errorf(http.StatusBadRequest, "bad JSON: %v", err)
}

func jsonKind(k string) string {
	switch {
	case strings.HasPrefix(k, "int"), strings.HasPrefix(k, "uint"):
		return "an integer"
	case strings.HasPrefix(k, "float"):
		return "a number"
	case k == "bool":
		return "true or false"
	}
	return "a " + k
}

// locked runs f with the port's lock held and answers with the phone's
// state afterwards.
func (b *Board) locked(w http.ResponseWriter, p *port, f func(ph *phone, now time.Time) error) error {
	p.mu.Lock()
	err := f(p.phone, p.now())
	st := p.phone.state(p.n)
	p.mu.Unlock()
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, st)
	return nil
}

// await waits for a phone action and answers with the state afterwards. If
// the client gives up, the action is called off.
func (b *Board) await(w http.ResponseWriter, r *http.Request, p *port, j *job) error {
	select {
	case <-j.done:
	case <-r.Context().Done():
		p.mu.Lock()
		p.phone.cancelJob(j)
		p.mu.Unlock()
		return fmt.Errorf("request went away: %w", r.Context().Err())
	case <-b.stopped:
		return errorf(http.StatusServiceUnavailable, "the sim board stopped")
	}
	if j.err != nil {
		return errorf(http.StatusConflict, "%v", j.err)
	}
	return b.locked(w, p, func(*phone, time.Time) error { return nil })
}

func (b *Board) listPhones(w http.ResponseWriter, _ *http.Request, _ *port) error {
	out := make([]PhoneState, 0, len(b.ports))
	for _, p := range b.ports {
		p.mu.Lock()
		out = append(out, p.phone.state(p.n))
		p.mu.Unlock()
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (b *Board) getPhone(w http.ResponseWriter, _ *http.Request, p *port) error {
	return b.locked(w, p, func(*phone, time.Time) error { return nil })
}

func (b *Board) postHook(w http.ResponseWriter, r *http.Request, p *port) error {
	var req HookRequest
	if err := decodeJSON(w, r, &req, false); err != nil {
		return err
	}
	var off bool
	switch req.State {
	case "off":
		off = true
	case "on":
	case "":
		return errorf(http.StatusBadRequest, `state: required ("off" or "on")`)
	default:
		return errorf(http.StatusBadRequest, `state: %q is not "off" or "on"`, req.State)
	}
	return b.locked(w, p, func(ph *phone, now time.Time) error {
		ph.setHook(off, now)
		return nil
	})
}

func (b *Board) postFlash(w http.ResponseWriter, r *http.Request, p *port) error {
	req := FlashRequest{}
	if err := decodeJSON(w, r, &req, true); err != nil {
		return err
	}
	if req.Ms == 0 {
		req.Ms = DefaultFlashMs
	}
	if req.Ms < 1 || req.Ms > maxFlashMs {
		return errorf(http.StatusBadRequest, "ms: %d is outside 1-%d", req.Ms, maxFlashMs)
	}
	j := newJob()
	p.mu.Lock()
	err := onlyOffHook(p, "flash")
	if err == nil {
		now := p.now()
		up := now.Add(time.Duration(req.Ms) * time.Millisecond)
		p.phone.startScript(&hookScript{
			steps: []hookStep{{at: now, off: false}, {at: up, off: true}},
			end:   up,
			job:   j,
		})
	}
	p.mu.Unlock()
	if err != nil {
		return err
	}
	return b.await(w, r, p, j)
}

func onlyOffHook(p *port, what string) error {
	if !p.phone.offHook {
		return errorf(http.StatusConflict, "cannot %s: phone %d is on-hook", what, p.n)
	}
	return nil
}

// msField checks an optional duration field in ms and applies its default.
func msField(name string, v, def, lo, hi int) (time.Duration, error) {
	if v == 0 {
		v = def
	}
	if v < lo || v > hi {
		return 0, errorf(http.StatusBadRequest, "%s: %d is outside %d-%d", name, v, lo, hi)
	}
	return time.Duration(v) * time.Millisecond, nil
}

func levelField(name string, v *float64, def float64) (float64, error) {
	if v == nil {
		return def, nil
	}
	if !(*v >= minLevelDBm0 && *v <= maxLevelDBm0) {
		return 0, errorf(http.StatusBadRequest, "%s: %v is outside %v to %v dBm0", name, *v, minLevelDBm0, maxLevelDBm0)
	}
	return *v, nil
}

func (b *Board) postDial(w http.ResponseWriter, r *http.Request, p *port) error {
	var req DialRequest
	if err := decodeJSON(w, r, &req, false); err != nil {
		return err
	}
	if req.Digits == "" {
		return errorf(http.StatusBadRequest, "digits: required")
	}
	if len(req.Digits) > maxDigits {
		return errorf(http.StatusBadRequest, "digits: %d digits, at most %d", len(req.Digits), maxDigits)
	}
	var start func(ph *phone, now time.Time, j *job)
	switch req.Mode {
	case "", "dtmf":
		on, err := msField("on_ms", req.OnMs, DefaultDTMFOnMs, 1, 10000)
		if err != nil {
			return err
		}
		off, err := msField("off_ms", req.OffMs, DefaultDTMFOffMs, 1, 10000)
		if err != nil {
			return err
		}
		level, err := levelField("level_dbm0", req.LevelDBm0, DefaultDTMFDBm0)
		if err != nil {
			return err
		}
		tone, err := dsp.DTMFString(req.Digits, on, off, level)
		if err != nil {
			return errorf(http.StatusBadRequest, "digits: %v", err)
		}
		start = func(ph *phone, _ time.Time, j *job) { ph.sayTone(tone, j) }
	case "pulse":
		brk, err := msField("break_ms", req.BreakMs, DefaultPulseBreak, 1, 1000)
		if err != nil {
			return err
		}
		mk, err := msField("make_ms", req.MakeMs, DefaultPulseMake, 1, 1000)
		if err != nil {
			return err
		}
		pause, err := msField("pause_ms", req.PauseMs, DefaultPulsePause, 1, 10000)
		if err != nil {
			return err
		}
		if pause < mk {
			return errorf(http.StatusBadRequest, "pause_ms: %d is shorter than make_ms %d", req.PauseMs, mk.Milliseconds())
		}
		for i := 0; i < len(req.Digits); i++ {
			if c := req.Digits[i]; c < '0' || c > '9' {
				return errorf(http.StatusBadRequest, "digits: %q at position %d cannot be pulse dialled (only 0-9)", c, i+1)
			}
		}
		start = func(ph *phone, now time.Time, j *job) {
			ph.startScript(pulseScript(req.Digits, now, brk, mk, pause, j))
		}
	default:
		return errorf(http.StatusBadRequest, `mode: %q is not "dtmf" or "pulse"`, req.Mode)
	}
	j := newJob()
	p.mu.Lock()
	err := onlyOffHook(p, "dial")
	if err == nil {
		start(p.phone, p.now(), j)
	}
	p.mu.Unlock()
	if err != nil {
		return err
	}
	return b.await(w, r, p, j)
}

// pulseScript dials digits with the hook switch: per digit, as many breaks
// as its value (ten for 0), then the pause that ends the digit — also
// after the last one, so the dial ends when the exchange has the digit.
func pulseScript(digits string, start time.Time, brk, mk, pause time.Duration, j *job) *hookScript {
	s := &hookScript{job: j}
	t := start
	for i := 0; i < len(digits); i++ {
		n := int(digits[i] - '0')
		if n == 0 {
			n = 10
		}
		for range n {
			s.steps = append(s.steps, hookStep{at: t, off: false})
			t = t.Add(brk)
			s.steps = append(s.steps, hookStep{at: t, off: true})
			t = t.Add(mk)
		}
		t = t.Add(pause - mk)
	}
	s.end = t
	return s
}

// isWAVType reports whether a media type names a WAV file; several are in
// use.
func isWAVType(mt string) bool {
	switch mt {
	case "audio/wav", "audio/x-wav", "audio/wave", "audio/vnd.wave":
		return true
	}
	return false
}

func (b *Board) postSend(w http.ResponseWriter, r *http.Request, p *port) error {
	ct := r.Header.Get("Content-Type")
	mt := ""
	if ct != "" {
		var err error
		if mt, _, err = mime.ParseMediaType(ct); err != nil {
			return errorf(http.StatusUnsupportedMediaType, "Content-Type %q: %v", ct, err)
		}
	}
	var say func(ph *phone, j *job)
	var wait bool
	switch {
	case isWAVType(mt):
		pcm, err := ReadWAV(http.MaxBytesReader(w, r.Body, MaxWAVBytes))
		var big *http.MaxBytesError
		switch {
		case errors.As(err, &big):
			return errorf(http.StatusRequestEntityTooLarge, "WAV body larger than %d bytes", big.Limit)
		case errors.Is(err, ErrUnsupportedWAV):
			return errorf(http.StatusUnsupportedMediaType, "%v", err)
		case err != nil:
			return errorf(http.StatusBadRequest, "%v", err)
		case len(pcm) == 0:
			return errorf(http.StatusBadRequest, "WAV has no samples")
		}
		if q := r.URL.Query().Get("wait"); q != "" {
			if wait, err = strconv.ParseBool(q); err != nil {
				return errorf(http.StatusBadRequest, "wait: %q is not true or false", q)
			}
		}
		say = func(ph *phone, j *job) { ph.sayPCM(pcm, j) }
	case mt == "" || mt == "application/json":
		var req SendRequest
		if err := decodeJSON(w, r, &req, false); err != nil {
			return err
		}
		if !(req.ToneHz > 0 && req.ToneHz < boards.SampleRate/2) {
			return errorf(http.StatusBadRequest, "tone_hz: %v is outside 0-%d Hz (exclusive)", req.ToneHz, boards.SampleRate/2)
		}
		d, err := msField("ms", req.Ms, DefaultSendMs, 1, maxSendMs)
		if err != nil {
			return err
		}
		level, err := levelField("level_dbm0", req.LevelDBm0, DefaultSendDBm0)
		if err != nil {
			return err
		}
		tone := boards.Tone{Name: "send", LoopFrom: -1, Segments: []boards.Segment{
			{Freqs: []float64{req.ToneHz}, LevelDBm0: level, Duration: d},
		}}
		wait = req.Wait
		say = func(ph *phone, j *job) { ph.sayTone(tone, j) }
	default:
		return errorf(http.StatusUnsupportedMediaType, "Content-Type %q: want application/json or audio/wav", ct)
	}
	j := newJob()
	if !wait {
		// Nobody waits, but finish still closes done: harmless.
		return b.locked(w, p, func(ph *phone, _ time.Time) error {
			if err := onlyOffHook(p, "send"); err != nil {
				return err
			}
			say(ph, j)
			return nil
		})
	}
	p.mu.Lock()
	err := onlyOffHook(p, "send")
	if err == nil {
		say(p.phone, j)
	}
	p.mu.Unlock()
	if err != nil {
		return err
	}
	return b.await(w, r, p, j)
}

func (b *Board) getHeard(w http.ResponseWriter, r *http.Request, p *port) error {
	ms := DefaultHeardMs
	if q := r.URL.Query().Get("ms"); q != "" {
		v, err := strconv.Atoi(q)
		if err != nil || v < 1 || v > MaxHeardMs {
			return errorf(http.StatusBadRequest, "ms: %q is not a number of milliseconds in 1-%d", q, MaxHeardMs)
		}
		ms = v
	}
	p.mu.Lock()
	pcm := p.phone.recording(ms, p.now())
	p.mu.Unlock()
	w.Header().Set("Content-Type", "audio/wav")
	w.WriteHeader(http.StatusOK)
	// A write error means the client went away.
	_ = WriteWAV(w, pcm)
	return nil
}

func (b *Board) postDevice(w http.ResponseWriter, r *http.Request, p *port) error {
	p.mu.Lock()
	dev := p.phone.device
	p.mu.Unlock()
	// Fields not in the body keep their value.
	if err := decodeJSON(w, r, &dev, false); err != nil {
		return err
	}
	if err := dev.Validate(); err != nil {
		return errorf(http.StatusBadRequest, "%v", err)
	}
	return b.locked(w, p, func(ph *phone, _ time.Time) error {
		ph.device = dev
		return nil
	})
}
