package meter

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"
)

// Ledger is the meter's crash-safe store (meter/ledger implements it).
type Ledger interface {
	Begin(r Record) error
	Update(rs ...Record) error
	Finish(r Record) (Record, error)
	Open() ([]Record, error)
	Calls(limit int) ([]Record, error)
	Pending() ([]Record, error)
	Acknowledge(id string, balance Money, status Status, at time.Time) error
	SaveAccount(a Account, at time.Time) error
	Account() (a Account, syncedAt time.Time, ok bool, err error)
	SaveRates(raw []byte, version string, at time.Time) error
	Rates() (raw []byte, version string, at time.Time, ok bool, err error)
	Balance() (Money, error)
	AddRecharge(r Recharge) error
}

// Backend is the provider's billing back end (meter/backend implements it,
// firmware adapts it).
type Backend interface {
	Account(ctx context.Context) (Account, error)
	Rates(ctx context.Context) ([]byte, error)
	PostUsage(ctx context.Context, r Record) (Money, Status, error)
	// Recharge asks for a top-up and returns its outcome (Result, Message,
	// BalanceAfter filled).
	Recharge(ctx context.Context, id string, amount Money, reason string) (Recharge, error)
}

// Config is what a Meter needs. Ledger is required; without a Backend the
// meter keeps the history but meters nothing (metering is off).
type Config struct {
	Ledger  Ledger
	Backend Backend
	// Checkpoint is how often answered calls' "billed up to" is committed:
	// the most usage a power cut can lose.
	Checkpoint time.Duration
	// WarnBefore are the times before the limit at which the caller is
	// warned (default 60 s and 10 s).
	WarnBefore []time.Duration
	// OfflineGrace is how long the cached balance and rates are trusted
	// without a successful sync with the back end.
	OfflineGrace time.Duration
	// SyncEvery is how often the account is fetched when nothing else
	// prompts it.
	SyncEvery time.Duration
	// ClockSynced tells whether the wall clock can be trusted (NTP);
	// records say so. Nil: assume it is.
	ClockSynced func() bool
	Logger      *slog.Logger
}

// Meter authorizes, meters and records calls against the prepaid balance.
// Its methods are safe for concurrent use.
type Meter struct {
	cfg  Config
	log  *slog.Logger
	kick chan struct{} // wakes the sync loop: usage to deliver

	mu       sync.Mutex
	account  Account
	synced   time.Time // last successful contact with the back end
	haveAcct bool
	table    *Table
	calls    []*Call // active, in the order they were authorized
	lastRate *Rate   // the last outgoing metered call's, for the balance prompt
	// rechargeArmed: the balance was at or above the auto-recharge
	// threshold since the last request, so a crossing may ask again.
	rechargeArmed bool
	notice        string // for the user at the next off-hook
}

// Refusal is why the meter will not let a call be dialled.
type Refusal struct {
	Reason RefusalReason
	Detail string
}

// RefusalReason names a refusal; the line picks the announcement by it.
type RefusalReason string

const (
	RefusedSuspended    RefusalReason = "account suspended"
	RefusedCredit       RefusalReason = "insufficient credit"
	RefusedBlocked      RefusalReason = "destination not allowed"
	RefusedRatesUnknown RefusalReason = "rates unknown"
)

func (r *Refusal) Error() string {
	if r.Detail == "" {
		return "meter: call refused: " + string(r.Reason)
	}
	return "meter: call refused: " + string(r.Reason) + ": " + r.Detail
}

// Notice tells the line about the call's credit.
type Notice struct {
	Kind      NoticeKind
	Remaining time.Duration // talk time left when the notice was sent
}

// NoticeKind is a warning or the end of credit.
type NoticeKind int

const (
	Warning   NoticeKind = iota + 1 // play the warning to the local phone
	Exhausted                       // the credit is spent: hang up now
)

// Notices for the user at off-hook.
const (
	NoticeRechargeDeclined = "recharge_declined"
)

// Attempt is a call the line is about to dial (or an incoming call).
type Attempt struct {
	Port      int
	Direction string // "outgoing" or "incoming"
	Dialled   string // digits as dialled (or the caller for incoming)
	Number    string // after the dial plan's transforms
	Emergency bool
}

// New opens the meter on its ledger: loads the cached account and rates
// and closes calls a power cut left open.
func New(cfg Config) (*Meter, error) {
	if cfg.Ledger == nil {
		return nil, errors.New("meter: no ledger")
	}
	if cfg.Checkpoint <= 0 {
		cfg.Checkpoint = 10 * time.Second
	}
	if cfg.WarnBefore == nil {
		cfg.WarnBefore = []time.Duration{60 * time.Second, 10 * time.Second}
	}
	cfg.WarnBefore = slices.Clone(cfg.WarnBefore)
	slices.Sort(cfg.WarnBefore)
	slices.Reverse(cfg.WarnBefore) // longest first
	if cfg.OfflineGrace <= 0 {
		cfg.OfflineGrace = 72 * time.Hour
	}
	if cfg.SyncEvery <= 0 {
		cfg.SyncEvery = 5 * time.Minute
	}
	if cfg.ClockSynced == nil {
		cfg.ClockSynced = func() bool { return true }
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	m := &Meter{cfg: cfg, log: cfg.Logger, kick: make(chan struct{}, 1), rechargeArmed: true}
	if err := m.loadCache(); err != nil {
		return nil, err
	}
	if err := m.recover(); err != nil {
		return nil, err
	}
	return m, nil
}

func (m *Meter) loadCache() error {
	a, at, ok, err := m.cfg.Ledger.Account()
	if err != nil {
		return fmt.Errorf("meter: cached account: %w", err)
	}
	if ok {
		m.account, m.synced, m.haveAcct = a, at, true
	}
	raw, _, _, ok, err := m.cfg.Ledger.Rates()
	if err != nil {
		return fmt.Errorf("meter: cached rates: %w", err)
	}
	if ok {
		t, err := ParseRates(raw)
		if err != nil {
			// Validated before it was stored; a bad cache means a new
			// firmware is stricter. Fetch again rather than refuse to boot.
			m.log.Error("meter: cached rates no longer valid; waiting for the back end", "err", err)
		} else {
			m.table = t
		}
	}
	recent, err := m.cfg.Ledger.Calls(50)
	if err != nil {
		return fmt.Errorf("meter: recent calls: %w", err)
	}
	for _, r := range recent {
		if r.Metered && r.Rate != nil {
			rate := *r.Rate
			m.lastRate = &rate
			break
		}
	}
	return nil
}

// recover closes the records of calls that were open when power was lost:
// billed up to their last checkpoint, never beyond their limit.
func (m *Meter) recover() error {
	open, err := m.cfg.Ledger.Open()
	if err != nil {
		return fmt.Errorf("meter: open records: %w", err)
	}
	for _, r := range open {
		talk := time.Duration(r.BilledUpToMS) * time.Millisecond
		r.TalkMS = r.BilledUpToMS
		if r.Evidence.AnsweredAt.IsZero() {
			talk, r.TalkMS = 0, 0
		}
		settle(&r, talk)
		r.Disposition = Interrupted
		r.Reason = "interrupted (power loss)"
		r.BilledUpToMS = 0
		if _, err := m.cfg.Ledger.Finish(r); err != nil {
			return fmt.Errorf("meter: close interrupted call %s: %w", r.ID, err)
		}
		m.log.Warn("meter: closed a call interrupted by a power loss", "id", r.ID, "billed_s", r.BilledSeconds, "cost", r.Cost)
	}
	return nil
}

// settle prices a record for talk, capped at its granted limit: a cut-off
// that lands a few milliseconds late is the device's lateness, not talk
// the caller pays for.
func settle(r *Record, talk time.Duration) {
	if !r.Metered || r.Rate == nil {
		r.BilledSeconds, r.UsageCost, r.ConnectFee, r.AccessFee, r.Cost = 0, 0, 0, 0, 0
		return
	}
	if r.LimitMS > 0 && talk > time.Duration(r.LimitMS)*time.Millisecond {
		talk = time.Duration(r.LimitMS) * time.Millisecond
	}
	c := Price(*r.Rate, talk)
	r.BilledSeconds = c.BilledSeconds
	r.UsageCost, r.ConnectFee, r.AccessFee, r.Cost = c.Usage, c.ConnectFee, c.AccessFee, c.Total
	r.AccessFeeLabel = r.Rate.AccessFeeLabel
}

// Metering tells whether calls are metered (a back end is configured).
func (m *Meter) Metering() bool { return m.cfg.Backend != nil }

// Authorize decides whether a call may be dialled and commits its record
// before returning, so that every attempt is in the history whatever
// happens next. A refused call gets a finished record and a *Refusal.
// Emergency and incoming calls are always allowed and never metered.
func (m *Meter) Authorize(a Attempt) (*Call, error) {
	now := time.Now()
	if a.Direction == "" {
		a.Direction = "outgoing"
	}
	rec := Record{
		ID:          newID(now, a.Port),
		Start:       now,
		ClockSynced: m.cfg.ClockSynced(),
		Port:        a.Port,
		Direction:   a.Direction,
		Dialled:     a.Dialled,
		Number:      a.Number,
		Disposition: InProgress,
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	c := &Call{m: m, rec: rec, begun: now, notices: make(chan Notice, 4), warned: map[time.Duration]bool{}}
	if a.Emergency {
		c.emergency = true
		c.rec.Destination = "emergency"
	} else if a.Direction == "outgoing" && m.Metering() {
		if refusal := m.grant(c, now); refusal != nil {
			rec := c.rec
			if err := m.cfg.Ledger.Begin(rec); err != nil {
				return nil, fmt.Errorf("meter: record refused call: %w", err)
			}
			rec.Disposition = Refused
			rec.Reason = refusal.Error()
			rec.Metered, rec.LimitMS = false, 0
			if _, err := m.cfg.Ledger.Finish(rec); err != nil {
				return nil, fmt.Errorf("meter: record refused call: %w", err)
			}
			m.log.Info("meter: call refused", "number", a.Number, "reason", refusal.Reason, "detail", refusal.Detail)
			return nil, refusal
		}
	}
	if err := m.cfg.Ledger.Begin(c.rec); err != nil {
		if c.rec.Metered {
			// No record, no call: a metered call that cannot be recorded
			// could not be billed or explained.
			return nil, fmt.Errorf("meter: record call: %w", err)
		}
		// An emergency call goes through even when the flash fails.
		m.log.Error("meter: could not record call; placing it anyway", "err", err, "emergency", a.Emergency)
	}
	m.calls = append(m.calls, c)
	if c.rec.Metered {
		m.reschedule(now)
	}
	return c, nil
}

// grant checks the account and prices the call; c.mu held by m.mu.
func (m *Meter) grant(c *Call, now time.Time) *Refusal {
	switch {
	case !m.haveAcct || m.table == nil:
		return &Refusal{Reason: RefusedRatesUnknown, Detail: "no balance or rates from the back end yet"}
	case now.Sub(m.synced) > m.cfg.OfflineGrace:
		return &Refusal{Reason: RefusedRatesUnknown, Detail: fmt.Sprintf("no contact with the back end since %s", m.synced.Format(time.RFC3339))}
	case m.account.Status == Suspended:
		return &Refusal{Reason: RefusedSuspended}
	}
	rate, ok := m.table.Lookup(c.rec.Number)
	if !ok {
		return &Refusal{Reason: RefusedBlocked, Detail: "no rate for " + c.rec.Number}
	}
	c.rec.Metered = true
	c.rec.Rate = &rate
	c.rec.RatesVersion = m.table.Version()
	c.rec.Destination = rate.Destination
	balance, err := m.cfg.Ledger.Balance()
	if err != nil {
		return &Refusal{Reason: RefusedRatesUnknown, Detail: "balance unreadable: " + err.Error()}
	}
	running, _ := m.running(now, c)
	limits := Limits(balance, running)
	limit := limits[len(limits)-1]
	if limit <= 0 {
		c.rec.Metered = false
		return &Refusal{Reason: RefusedCredit, Detail: fmt.Sprintf("balance %s %s", balance, m.account.Currency)}
	}
	c.limit = limit
	c.rec.LimitMS = limit.Milliseconds()
	m.lastRate = &rate
	return nil
}

// running lists the metered calls for Limits, with extra (if not nil) last;
// the second result maps each entry back to its call.
func (m *Meter) running(now time.Time, extra *Call) ([]Running, []*Call) {
	var rs []Running
	var cs []*Call
	for _, c := range append(slices.Clip(m.calls), extra) {
		if c == nil || !c.rec.Metered || c.ended {
			continue
		}
		// A call past its limit is being cut and is billed to the limit
		// (settle): counting its few milliseconds beyond would start a new
		// pulse and wrongly extend it to that pulse's end.
		elapsed := c.elapsed(now)
		if c.limit > 0 {
			elapsed = min(elapsed, c.limit)
		}
		rs = append(rs, Running{Rate: *c.rec.Rate, Elapsed: elapsed})
		cs = append(cs, c)
	}
	return rs, cs
}

// reschedule recomputes every metered call's limit on the shared balance
// and sets its warning and cut-off timers. m.mu held.
func (m *Meter) reschedule(now time.Time) {
	balance, err := m.cfg.Ledger.Balance()
	if err != nil {
		// Keep the limits already granted: they were safe when computed.
		m.log.Error("meter: balance unreadable; limits unchanged", "err", err)
		return
	}
	running, calls := m.running(now, nil)
	if len(running) == 0 {
		return
	}
	limits := Limits(balance, running)
	for i, c := range calls {
		if limits[i] != c.limit {
			m.log.Debug("meter: limit recomputed", "id", c.rec.ID, "from", c.limit, "to", limits[i])
		}
		c.limit = limits[i]
		c.rec.LimitMS = c.limit.Milliseconds()
		c.arm(now)
	}
}

// Call is one call's metering, from authorization to its record.
type Call struct {
	m         *Meter
	notices   chan Notice
	emergency bool

	// Guarded by m.mu.
	rec      Record
	begun    time.Time // monotonic
	answered time.Time // monotonic; zero before the answer
	limit    time.Duration
	timers   []*time.Timer
	warned   map[time.Duration]bool
	ended    bool
}

// ID is the record's id.
func (c *Call) ID() string { return c.rec.ID }

// Notices delivers warnings and the end of credit of an answered call.
func (c *Call) Notices() <-chan Notice { return c.notices }

// Limit is the talk time the credit covers now (0 when not metered).
func (c *Call) Limit() time.Duration {
	c.m.mu.Lock()
	defer c.m.mu.Unlock()
	if !c.rec.Metered {
		return 0
	}
	return c.limit
}

// Metered tells whether the call is charged.
func (c *Call) Metered() bool {
	c.m.mu.Lock()
	defer c.m.mu.Unlock()
	return c.rec.Metered
}

// EarlyMedia notes that the far end sent media before answering (never
// billed).
func (c *Call) EarlyMedia() {
	m := c.m
	m.mu.Lock()
	defer m.mu.Unlock()
	if c.rec.Evidence.EarlyMedia || c.ended {
		return
	}
	c.rec.Evidence.EarlyMedia = true
	c.rec.RingMS = time.Since(c.begun).Milliseconds()
	// Evidence for a dispute ("I was charged while it rang"): it must
	// survive a power cut before the answer.
	if err := m.cfg.Ledger.Update(c.rec); err != nil {
		m.log.Error("meter: commit early media", "id", c.rec.ID, "err", err)
	}
}

// Answered starts metering, on the monotonic clock, and commits the answer.
func (c *Call) Answered(by string) {
	m := c.m
	now := time.Now()
	m.mu.Lock()
	defer m.mu.Unlock()
	if c.ended || !c.answered.IsZero() {
		return
	}
	c.answered = now
	c.rec.RingMS = now.Sub(c.begun).Milliseconds()
	c.rec.Evidence.AnsweredAt = now
	c.rec.Evidence.AnsweredBy = by
	if err := m.cfg.Ledger.Update(c.rec); err != nil {
		m.log.Error("meter: commit answer", "id", c.rec.ID, "err", err)
	}
	if c.rec.Metered {
		m.reschedule(now)
	}
}

func (c *Call) elapsed(now time.Time) time.Duration {
	if c.answered.IsZero() {
		return 0
	}
	return now.Sub(c.answered)
}

// arm sets the call's timers for its current limit. m.mu held.
func (c *Call) arm(now time.Time) {
	for _, t := range c.timers {
		t.Stop()
	}
	c.timers = c.timers[:0]
	if c.answered.IsZero() || c.ended || c.limit >= Unlimited {
		return
	}
	elapsed := c.elapsed(now)
	fireNow := false
	for i, w := range c.m.cfg.WarnBefore {
		if c.warned[w] || c.limit <= w {
			// A call granted less than w never hears "w remaining".
			continue
		}
		at := c.limit - w
		if at > elapsed {
			w := w
			c.timers = append(c.timers, time.AfterFunc(at-elapsed, func() { c.warn(w) }))
			continue
		}
		// The limit came nearer (another call started): warn once, with
		// the nearest warning that is due.
		c.warned[w] = true
		nextDue := i+1 < len(c.m.cfg.WarnBefore) && c.limit-c.m.cfg.WarnBefore[i+1] <= elapsed
		if !nextDue {
			fireNow = true
		}
	}
	if fireNow {
		c.send(Notice{Kind: Warning, Remaining: c.limit - elapsed})
	}
	c.timers = append(c.timers, time.AfterFunc(c.limit-elapsed, c.exhaust))
}

func (c *Call) warn(w time.Duration) {
	c.m.mu.Lock()
	defer c.m.mu.Unlock()
	if c.ended || c.warned[w] {
		return
	}
	c.warned[w] = true
	c.send(Notice{Kind: Warning, Remaining: c.limit - c.elapsed(time.Now())})
}

func (c *Call) exhaust() {
	c.m.mu.Lock()
	defer c.m.mu.Unlock()
	if c.ended || c.elapsed(time.Now()) < c.limit {
		return // the limit moved since this timer was set
	}
	c.send(Notice{Kind: Exhausted})
}

// send never blocks the meter: a line that is not listening loses only
// a duplicate warning, and an Exhausted notice always finds room because
// at most len(WarnBefore) warnings precede it.
func (c *Call) send(n Notice) {
	select {
	case c.notices <- n:
	default:
		c.m.log.Warn("meter: notice dropped", "id", c.rec.ID, "kind", n.Kind)
	}
}

// End is how a call ended, from the line.
type End struct {
	Disposition Disposition // for an emergency call: what happened to it
	SIPCode     int
	Reason      string
	HungUpBy    string // "local", "remote" or "meter"
	Evidence    Evidence
}

// End closes the call: prices it, commits its record, releases its share
// of the balance and recomputes the other calls' limits. It returns the
// finished record.
func (c *Call) End(e End) Record {
	m := c.m
	now := time.Now()
	m.mu.Lock()
	defer m.mu.Unlock()
	if c.ended {
		return c.rec
	}
	c.ended = true
	for _, t := range c.timers {
		t.Stop()
	}
	m.calls = slices.DeleteFunc(m.calls, func(x *Call) bool { return x == c })
	r := &c.rec
	answeredAt, answeredBy, early := r.Evidence.AnsweredAt, r.Evidence.AnsweredBy, r.Evidence.EarlyMedia
	r.Evidence = e.Evidence
	r.Evidence.AnsweredAt, r.Evidence.AnsweredBy = answeredAt, answeredBy
	r.Evidence.EarlyMedia = r.Evidence.EarlyMedia || early
	r.Disposition, r.SIPCode, r.Reason, r.HungUpBy = e.Disposition, e.SIPCode, e.Reason, e.HungUpBy
	if r.SIPCode == 0 && !c.answered.IsZero() {
		// An answered call's final answer was a 200 OK, whoever hung up.
		r.SIPCode = 200
	}
	if c.answered.IsZero() {
		r.RingMS = now.Sub(c.begun).Milliseconds()
	} else {
		// Whole milliseconds, so that the record's talk_ms explains its
		// own charge exactly.
		talk := now.Sub(c.answered).Truncate(time.Millisecond)
		r.TalkMS = talk.Milliseconds()
		settle(r, talk)
		if r.Disposition == "" {
			r.Disposition = Answered
		}
		if r.Cost > 0 && r.Evidence.RTPReceived == 0 {
			r.RefundCandidate = true
			r.RefundReason = "answered, but no audio ever arrived from the far end"
		}
	}
	if c.emergency {
		if r.Reason == "" {
			r.Reason = string(e.Disposition)
		}
		r.Disposition = Emergency
	}
	r.BilledUpToMS = 0
	done, err := m.cfg.Ledger.Finish(*r)
	if err != nil {
		m.log.Error("meter: commit call record", "id", r.ID, "err", err)
	} else {
		c.rec = done
	}
	m.reschedule(now)
	select {
	case m.kick <- struct{}{}:
	default:
	}
	return c.rec
}

// checkpoint commits "billed up to" for every answered call, and the ring
// time of the others, in one transaction.
func (m *Meter) checkpoint() {
	now := time.Now()
	m.mu.Lock()
	defer m.mu.Unlock()
	var rs []Record
	for _, c := range m.calls {
		if c.ended {
			continue
		}
		if c.answered.IsZero() {
			c.rec.RingMS = now.Sub(c.begun).Milliseconds()
			rs = append(rs, c.rec)
			continue
		}
		talk := c.elapsed(now)
		if c.rec.Metered && talk > c.limit {
			talk = c.limit
		}
		c.rec.BilledUpToMS = talk.Milliseconds()
		c.rec.TalkMS = talk.Milliseconds()
		rs = append(rs, c.rec)
	}
	if len(rs) == 0 {
		return
	}
	if err := m.cfg.Ledger.Update(rs...); err != nil {
		m.log.Error("meter: checkpoint", "calls", len(rs), "err", err)
	}
}

func newID(t time.Time, port int) string {
	var b [4]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read does not fail on Linux
	return fmt.Sprintf("%s-p%d-%s", t.UTC().Format("20060102T150405.000Z"), port, hex.EncodeToString(b[:]))
}
