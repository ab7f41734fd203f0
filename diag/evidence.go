package diag

import (
	"net/netip"
	"time"

	"github.com/tipring/tipring/diag/nat"
	"github.com/tipring/tipring/diag/netinfo"
	"github.com/tipring/tipring/diag/quality"
	"github.com/tipring/tipring/diag/router"
)

// SchemaVersion is the version of diag.json (docs/diag.md). It changes
// when a field changes meaning or goes away; new fields do not change it.
const SchemaVersion = 1

// Evidence is everything a bundle knows: diag.json. The firmware fills the
// parts that come from the other rooms (lines, calls, line test, account)
// in diag's own types, so that diag imports none of them.
type Evidence struct {
	Schema     int       `json:"schema"`
	Created    time.Time `json:"created"`
	Anonymized bool      `json:"anonymized"`

	Device   Device     `json:"device"`
	Customer Customer   `json:"customer"`
	Lines    []Line     `json:"lines"`
	Calls    []Call     `json:"calls"`
	Account  *Account   `json:"account,omitempty"`
	LineTest []LineTest `json:"line_test,omitempty"`

	Network *netinfo.Report `json:"network,omitempty"`
	Router  *router.Report  `json:"router,omitempty"`
	NAT     *nat.Report     `json:"nat,omitempty"`
	// Internet is what the device learnt about its ISP and access line
	// beyond what the router and the STUN server say.
	Internet *Internet `json:"internet,omitempty"`

	// Sections says how each collector fared (its data is in the fields
	// above); a missing part is explained here.
	Sections []Section `json:"sections"`
	Findings []Finding `json:"findings"`
}

// Device is the box itself.
type Device struct {
	Model         string `json:"model"`
	Board         string `json:"board"`
	Firmware      string `json:"firmware"`
	Build         string `json:"build,omitempty"`
	UptimeSeconds int64  `json:"uptime_s"`
	MAC           string `json:"mac,omitempty"`
	Serial        string `json:"serial,omitempty"`
	Account       string `json:"account,omitempty"` // the customer's account number
	Region        string `json:"region"`
	// Config is the configuration with every secret removed.
	Config string `json:"config"`
}

// Customer is what the customer typed when asking for help.
type Customer struct {
	Phone   string `json:"phone,omitempty"`   // make and model of the telephone
	Problem string `json:"problem,omitempty"` // in their words
}

// Line is one SIP line's registration story.
type Line struct {
	Port       int    `json:"port"`
	User       string `json:"user"`
	Registered bool   `json:"registered"`
	Server     string `json:"server,omitempty"`
	Transport  string `json:"transport"`
	LastCode   int    `json:"last_code"`
	LastReason string `json:"last_reason,omitempty"`
	LastError  string `json:"last_error,omitempty"` // a failure with no SIP answer (timeout, DNS)
	Failures   int    `json:"failures"`
	// PublicAddr is the address the registrar saw us at (received/rport).
	PublicAddr string     `json:"public_addr,omitempty"`
	Timeline   []RegEvent `json:"timeline"`
	// KeepAlivesSent and KeepAlivesFailed count the NAT keep-alives.
	KeepAlivesSent   int `json:"keepalives_sent"`
	KeepAlivesFailed int `json:"keepalives_failed"`
	// ALGSuspect says the provider saw our Via or Contact rewritten on the
	// way, with ALGWhy saying what was rewritten.
	ALGSuspect bool   `json:"alg_suspect"`
	ALGWhy     string `json:"alg_why,omitempty"`
}

// RegEvent is one REGISTER attempt.
type RegEvent struct {
	At        time.Time `json:"at"`
	Server    string    `json:"server"`
	Transport string    `json:"transport"`
	Code      int       `json:"code"` // 0: no answer
	Reason    string    `json:"reason,omitempty"`
	Failover  bool      `json:"failover,omitempty"` // moved to another server
}

// Call is one call as support needs it: its story, its charge and its
// quality.
type Call struct {
	ID          string    `json:"id"`
	Start       time.Time `json:"start"`
	Port        int       `json:"port"`
	Direction   string    `json:"direction"`
	Number      string    `json:"number"`
	Disposition string    `json:"disposition"`
	SIPCode     int       `json:"sip_code,omitempty"`
	Reason      string    `json:"reason,omitempty"`
	HungUpBy    string    `json:"hung_up_by,omitempty"`
	RingMS      int64     `json:"ring_ms"`
	TalkMS      int64     `json:"talk_ms"`
	Cost        string    `json:"cost,omitempty"` // in the account's currency
	EarlyMedia  bool      `json:"early_media"`
	// Media as the device measured it, and its assessment.
	RTPSent         uint64         `json:"rtp_sent"`
	RTPReceived     uint64         `json:"rtp_received"`
	AudioSentMS     int64          `json:"audio_sent_ms"`
	AudioReceivedMS int64          `json:"audio_received_ms"`
	LossPercent     float64        `json:"loss_percent"`
	JitterMS        float64        `json:"jitter_ms"`
	RTTms           float64        `json:"rtt_ms"`
	Quality         quality.Result `json:"quality"`
}

// Internet names the ISP and hints at the access line.
type Internet struct {
	// PublicAddr is the address the ISP gave (from STUN, else the router).
	PublicAddr netip.Addr `json:"public_addr,omitzero"`
	// PTR is PublicAddr's reverse-DNS name and ISP the provider it names
	// (nat.ISPFromPTR); empty when there is none or it names no ISP.
	PTR string `json:"ptr,omitempty"`
	ISP string `json:"isp,omitempty"`
	// CableModem is the address of a DOCSIS cable modem that answered on
	// its well-known management address; empty when none did or no probe
	// was allowed.
	CableModem string `json:"cable_modem,omitempty"`
	// RouterSkipped and STUNSkipped say why the router was not asked or
	// no STUN test ran, when that was the device's choice (configuration).
	RouterSkipped string `json:"router_skipped,omitempty"`
	STUNSkipped   string `json:"stun_skipped,omitempty"`
	// Errors say what could not be found out, and why.
	Errors []string `json:"errors,omitempty"`
}

// Account is the prepaid account as the device last knew it.
type Account struct {
	Status   string    `json:"status"`
	Balance  string    `json:"balance"`
	Currency string    `json:"currency"`
	LastSync time.Time `json:"last_sync,omitzero"`
	// Minutes is what the balance buys at the last call's rate (-1 when
	// unlimited or unknown).
	Minutes int `json:"minutes"`
	// Low is the balance below what a few minutes cost.
	Low bool `json:"low"`
}

// LineTest is the board's test of one phone port (GR-909).
type LineTest struct {
	Port          int       `json:"port"`
	At            time.Time `json:"at"`
	Hook          string    `json:"hook"`
	InCall        bool      `json:"in_call"`
	LoopCurrentMA float64   `json:"loop_current_ma"`
	RingerREN     float64   `json:"ringer_ren"`
	DCVolts       float64   `json:"dc_volts"`
	ACVolts       float64   `json:"ac_volts"`
	LeakageKOhm   float64   `json:"leakage_kohm"` // capped at the meter's range
	Verdicts      []Verdict `json:"verdicts"`
	DialMode      string    `json:"dial_mode,omitempty"` // "dtmf", "pulse"
	FlashesMS     []int64   `json:"flashes_ms,omitempty"`
	Digits        []Digit   `json:"digits,omitempty"`
}

// Verdict is one line-test check.
type Verdict struct {
	Check   string `json:"check"`
	Pass    bool   `json:"pass"`
	Value   string `json:"value"`
	Limit   string `json:"limit"`
	Meaning string `json:"meaning"`
}

// Digit is one DTMF digit as the line received it.
type Digit struct {
	Digit      string  `json:"digit"`
	LowDBm0    float64 `json:"low_dbm0"`
	HighDBm0   float64 `json:"high_dbm0"`
	TwistDB    float64 `json:"twist_db"`
	DurationMS int64   `json:"duration_ms"`
}

// Finding is a likely cause, with the evidence that fired it and what to
// tell the customer.
type Finding struct {
	ID       string   `json:"id"`
	Severity Severity `json:"severity"`
	Title    string   `json:"title"`
	Evidence []string `json:"evidence"`
	Advice   string   `json:"advice"`
}

// Severity orders findings: problems first.
type Severity string

const (
	Problem Severity = "problem" // the likely cause of what the customer reports
	Warning Severity = "warning" // degrades service, or will
	Info    Severity = "info"    // worth knowing
)
