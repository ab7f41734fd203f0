package billing

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/tipring/tipring/meter"
)

// Outage is the outage switch: how the /v1 API fails, if it does.
type Outage string

const (
	NoOutage   Outage = ""     // the API answers
	OutageDown Outage = "down" // every /v1 request gets 503
	OutageHang Outage = "hang" // no /v1 request is answered until its caller gives up
)

// MarshalJSON writes false, true or "hang", the values /dev/state accepts.
func (o Outage) MarshalJSON() ([]byte, error) {
	switch o {
	case NoOutage:
		return []byte("false"), nil
	case OutageDown:
		return []byte("true"), nil
	}
	return json.Marshal(string(o))
}

// UnmarshalJSON reads false, true, "down" or "hang".
func (o *Outage) UnmarshalJSON(b []byte) error {
	switch string(b) {
	case "false":
		*o = NoOutage
	case "true", `"down"`:
		*o = OutageDown
	case `"hang"`:
		*o = OutageHang
	default:
		return fmt.Errorf("outage %s: want true, false or \"hang\"", b)
	}
	return nil
}

// Change sets the switches given; nil fields stay as they are. It is the
// body of POST /dev/state.
type Change struct {
	Status       *meter.Status       `json:"status,omitempty"`
	Balance      *meter.Money        `json:"balance,omitempty"` // may be negative or huge, to test the device's checks
	Currency     *string             `json:"currency,omitempty"`
	AutoRecharge *meter.AutoRecharge `json:"auto_recharge,omitempty"`
	// Recharge is "approve" or "decline": the fate of new recharges.
	Recharge       *string `json:"recharge,omitempty"`
	DeclineMessage *string `json:"decline_message,omitempty"`
	Outage         *Outage `json:"outage,omitempty"`
	// Malformed cuts every 200 answer of /v1 in half (usage and recharges
	// are still applied): an answer the device must reject.
	Malformed    *bool   `json:"malformed,omitempty"`
	RatesVersion *string `json:"rates_version,omitempty"`
}

// State is the back end as GET /dev/state shows it.
type State struct {
	Account        string             `json:"account"`
	Currency       string             `json:"currency"`
	Status         meter.Status       `json:"status"`
	Balance        meter.Money        `json:"balance"`
	AutoRecharge   meter.AutoRecharge `json:"auto_recharge"`
	RatesVersion   string             `json:"rates_version"`
	Recharge       string             `json:"recharge"`
	DeclineMessage string             `json:"decline_message"`
	Outage         Outage             `json:"outage"`
	Hanging        int                `json:"hanging"` // requests held by the "hang" outage now
	Malformed      bool               `json:"malformed"`
	// Overdraft is usage the balance did not cover: a device that never
	// overspends leaves it at zero.
	Overdraft meter.Money `json:"overdraft"`
	// Recharges are the recharge requests received, in order.
	Recharges []RechargePost `json:"recharges"`
}

// UsagePost is one usage id received, with how often it was posted.
type UsagePost struct {
	ID    string      `json:"id"`
	Cost  meter.Money `json:"cost"` // of the first post, the one applied
	Posts int         `json:"posts"`
	// Conflicts counts repeats whose cost differed from the first: the
	// device changed a record it had already delivered.
	Conflicts int `json:"conflicts,omitempty"`
}

// RechargePost is one recharge id received and its outcome.
type RechargePost struct {
	ID      string      `json:"id"`
	Amount  meter.Money `json:"amount"`
	Reason  string      `json:"reason"`
	Result  string      `json:"result"`
	Message string      `json:"message"`
	Posts   int         `json:"posts"`
}

// Apply checks every field of c and then sets them all, or none.
func (s *Server) Apply(c Change) error {
	if c.Status != nil && *c.Status != meter.Active && *c.Status != meter.Suspended {
		return fmt.Errorf("status %q: want %q or %q", *c.Status, meter.Active, meter.Suspended)
	}
	// Any currency string is allowed so that tests can make the device see
	// a wrong one; an empty one would only confuse.
	if c.Currency != nil && *c.Currency == "" {
		return errors.New("empty currency")
	}
	if c.Recharge != nil && *c.Recharge != "approve" && *c.Recharge != "decline" {
		return fmt.Errorf("recharge %q: want \"approve\" or \"decline\"", *c.Recharge)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	set(&s.status, c.Status)
	set(&s.balance, c.Balance)
	set(&s.currency, c.Currency)
	set(&s.autoRecharge, c.AutoRecharge)
	set(&s.recharge, c.Recharge)
	set(&s.declineMessage, c.DeclineMessage)
	set(&s.outage, c.Outage)
	set(&s.malformed, c.Malformed)
	set(&s.ratesVersion, c.RatesVersion)
	return nil
}

func set[T any](dst *T, v *T) {
	if v != nil {
		*dst = *v
	}
}

// State returns the account and the switches.
func (s *Server) State() State {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := State{
		Account: s.account, Currency: s.currency, Status: s.status, Balance: s.balance,
		AutoRecharge: s.autoRecharge, RatesVersion: s.ratesVersion, Recharge: s.recharge,
		DeclineMessage: s.declineMessage, Outage: s.outage, Hanging: s.hanging, Malformed: s.malformed,
		Overdraft: s.overdraft, Recharges: []RechargePost{},
	}
	for _, id := range s.rechargeOrder {
		e := s.recharges[id]
		st.Recharges = append(st.Recharges, RechargePost{
			ID: id, Amount: e.req.Amount, Reason: e.req.Reason, Result: e.answer.Result,
			Message: e.answer.Message, Posts: e.posts,
		})
	}
	return st
}

// Usage returns every usage id received, in the order first received.
func (s *Server) Usage() []UsagePost {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]UsagePost, 0, len(s.usageOrder))
	for _, id := range s.usageOrder {
		e := s.usage[id]
		out = append(out, UsagePost{ID: id, Cost: e.cost, Posts: e.posts, Conflicts: e.conflicts})
	}
	return out
}

// SetRates replaces the rate table. An empty version names it
// "dev-upload-N". The rows are served as given, unchecked: a test may want
// the device to refuse them.
func (s *Server) SetRates(version string, rates []meter.Rate) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ratesUploads++
	if version == "" {
		version = fmt.Sprintf("dev-upload-%d", s.ratesUploads)
	}
	s.ratesVersion = version
	s.rates = append([]meter.Rate(nil), rates...)
	s.rawRates = nil
}

// SetRawRates makes GET /v1/rates answer body verbatim, whatever it holds,
// until the next SetRates. The account's rates_version stays as it is.
func (s *Server) SetRawRates(body []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rawRates = append([]byte{}, body...)
}

func (s *Server) getState(w http.ResponseWriter, _ *http.Request) {
	writeAnswer(w, s.State(), false)
}

func (s *Server) postState(w http.ResponseWriter, r *http.Request) {
	var c Change
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxRequestBytes))
	// A misspelt switch must not be silently ignored.
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		writeError(w, http.StatusBadRequest, "bad JSON body: "+err.Error())
		return
	}
	if err := s.Apply(c); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	st := s.State()
	s.log.Info("devbilling: state changed", "status", st.Status, "balance", st.Balance, "currency", st.Currency,
		"recharge", st.Recharge, "outage", string(st.Outage), "malformed", st.Malformed, "rates_version", st.RatesVersion)
	writeAnswer(w, st, false)
}

func (s *Server) getUsage(w http.ResponseWriter, _ *http.Request) {
	writeAnswer(w, s.Usage(), false)
}

// postRates takes {"version":"…","rates":[…]}; with ?raw=1 the body is
// served verbatim instead, however broken.
func (s *Server) postRates(w http.ResponseWriter, r *http.Request) {
	if r.URL.Query().Get("raw") == "1" {
		buf, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxRatesUpload))
		if err != nil {
			writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("reading the body (at most %d bytes): %v", maxRatesUpload, err))
			return
		}
		s.SetRawRates(buf)
		s.log.Info("devbilling: raw rates answer set", "bytes", len(buf))
		writeAnswer(w, map[string]int{"bytes": len(buf)}, false)
		return
	}
	var up struct {
		Version string        `json:"version"`
		Rates   *[]meter.Rate `json:"rates"`
	}
	if !readJSON(w, r, maxRatesUpload, &up) {
		return
	}
	if up.Rates == nil {
		writeError(w, http.StatusBadRequest, `missing field "rates"`)
		return
	}
	s.SetRates(up.Version, *up.Rates)
	st := s.State()
	s.log.Info("devbilling: rates replaced", "version", st.RatesVersion, "rows", len(*up.Rates))
	writeAnswer(w, map[string]any{"version": st.RatesVersion, "rows": len(*up.Rates)}, false)
}
