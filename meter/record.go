package meter

import "time"

// Rate is one row of the provider's rate table, as the billing back end
// sends it (GET /v1/rates).
type Rate struct {
	Prefix      string `json:"prefix"`
	Destination string `json:"destination"`
	PerMinute   Money  `json:"per_minute"`
	// FirstIncrement and NextIncrement are the billing pulses in seconds:
	// 60/60, 30/6, 6/6, 1/1 …
	FirstIncrement int   `json:"first_increment"`
	NextIncrement  int   `json:"next_increment"`
	ConnectFee     Money `json:"connect_fee"`
	// AccessFee is charged once per answered call and shown as its own
	// line in the history, under AccessFeeLabel.
	AccessFee      Money  `json:"access_fee"`
	AccessFeeLabel string `json:"access_fee_label"`
	// MinDuration is the fewest seconds an answered call is billed (once
	// past the grace period); Grace is how short a call may be and cost
	// nothing at all.
	MinDuration int `json:"min_duration"`
	Grace       int `json:"grace"`
}

// Account is the cached state of the prepaid account (GET /v1/accounts/…).
type Account struct {
	Account      string       `json:"account"`
	Status       Status       `json:"status"`
	Currency     string       `json:"currency"`
	Balance      Money        `json:"balance"`
	AutoRecharge AutoRecharge `json:"auto_recharge"`
	RatesVersion string       `json:"rates_version"`
}

// Status is the account's standing at the provider.
type Status string

const (
	Active    Status = "active"
	Suspended Status = "suspended"
)

// AutoRecharge is the account's automatic top-up: when the balance falls
// below Threshold, the device asks for Amount, once per crossing.
type AutoRecharge struct {
	Enabled   bool  `json:"enabled"`
	Threshold Money `json:"threshold"`
	Amount    Money `json:"amount"`
}

// Disposition is how a call attempt ended, as the history shows it.
type Disposition string

const (
	Answered    Disposition = "answered"
	Busy        Disposition = "busy"
	NoAnswer    Disposition = "no_answer"
	Cancelled   Disposition = "cancelled" // the caller hung up before the answer
	Failed      Disposition = "failed"    // SIPCode and Reason say why
	Refused     Disposition = "refused"   // the meter refused it before dialling; Reason says why
	CutCredit   Disposition = "cut_credit"
	Interrupted Disposition = "interrupted" // power was lost during the call
	Emergency   Disposition = "emergency"   // never metered, never cut
	InProgress  Disposition = "in_progress" // open: the call has not ended yet
)

// Record is the history of one call attempt, answered or not. It is what
// the ledger keeps, what /api/v1/calls lists and what the device posts to
// the back end as usage (ID is the idempotency key).
type Record struct {
	ID          string      `json:"id"`
	Start       time.Time   `json:"start"`
	ClockSynced bool        `json:"clock_synced"` // whether Start comes from a synchronized clock
	Port        int         `json:"port"`
	Direction   string      `json:"direction"` // "outgoing" or "incoming"
	Dialled     string      `json:"dialled"`   // the digits as dialled
	Number      string      `json:"number"`    // after the dial plan's transforms: what was rated
	Destination string      `json:"destination,omitempty"`
	Disposition Disposition `json:"disposition"`
	SIPCode     int         `json:"sip_code,omitempty"`
	Reason      string      `json:"reason,omitempty"`
	HungUpBy    string      `json:"hung_up_by,omitempty"` // "local", "remote" or "meter"

	RingMS int64 `json:"ring_ms"` // from INVITE to answer or failure
	TalkMS int64 `json:"talk_ms"` // from answer to hang-up, monotonic clock

	// Charge. Metered is false for emergency and incoming calls.
	Metered        bool   `json:"metered"`
	Rate           *Rate  `json:"rate,omitempty"` // the row applied
	RatesVersion   string `json:"rates_version,omitempty"`
	BilledSeconds  int    `json:"billed_seconds"`
	UsageCost      Money  `json:"usage_cost"` // per-minute part
	ConnectFee     Money  `json:"connect_fee"`
	AccessFee      Money  `json:"access_fee"`
	AccessFeeLabel string `json:"access_fee_label,omitempty"`
	Cost           Money  `json:"cost"` // everything together
	BalanceAfter   Money  `json:"balance_after"`
	LimitMS        int64  `json:"limit_ms,omitempty"` // the talk time granted at dialling

	// BilledUpToMS is the last checkpoint of an open call: what a power
	// cut would leave billed.
	BilledUpToMS int64 `json:"billed_up_to_ms,omitempty"`

	Evidence Evidence `json:"evidence"`

	// RefundCandidate flags a charge support should look at, with why.
	RefundCandidate bool   `json:"refund_candidate,omitempty"`
	RefundReason    string `json:"refund_reason,omitempty"`
}

// Evidence is what the device saw of the call, to settle disputes.
type Evidence struct {
	AnsweredAt      time.Time `json:"answered_at,omitzero"`
	AnsweredBy      string    `json:"answered_by,omitempty"` // the 200 OK's Contact or From
	EarlyMedia      bool      `json:"early_media"`
	RTPReceived     uint64    `json:"rtp_received"`
	RTPSent         uint64    `json:"rtp_sent"`
	AudioReceivedMS int64     `json:"audio_received_ms"`
	AudioSentMS     int64     `json:"audio_sent_ms"`
	RTCPLossPercent float64   `json:"rtcp_loss_percent"`
	JitterMS        float64   `json:"jitter_ms"`
	// RTTMS is the RTCP round trip to the far end (RFC 3550 LSR/DLSR);
	// zero when no report came back.
	RTTMS float64 `json:"rtt_ms,omitempty"`
}

// Recharge is one top-up request and its outcome.
type Recharge struct {
	ID           string    `json:"id"`
	At           time.Time `json:"at"`
	Amount       Money     `json:"amount"`
	Reason       string    `json:"reason"` // "auto" or "manual"
	Result       string    `json:"result"` // "approved", "declined" or "error"
	Message      string    `json:"message,omitempty"`
	BalanceAfter Money     `json:"balance_after"`
}
