// Package prompts holds the spoken prompts the handset hears from the meter:
// the balance (star code), "you have N minutes for this call", the warnings
// before credit runs out, the cut-off message and the refusals.
//
// The prompts are short G.711 μ-law recordings (8 kHz, no header) made once
// by scripts/prompts.sh with espeak-ng and shipped beside the firmware, one
// file per key in data/. Sentences with numbers and money are spoken by
// concatenating keys: NumberWords, MoneyWords and MinutesWords turn values
// into keys, the sentence helpers put whole sentences together, and
// Set.Clip turns keys into audio.
//
// Keys is the single list of prompts: the generator speaks exactly these
// keys and Load refuses data that does not match it.
package prompts

import "strconv"

// Phrases: whole sentences or the fixed parts of sentences with numbers.
const (
	BalanceIs           = "balance_is"            // "your balance is"
	WhichBuysAbout      = "which_buys_about"      // "which buys about"
	AtLastCallRate      = "at_last_call_rate"     // "at the rate of your last call"
	YouHave             = "you_have"              // "you have"
	ForThisCall         = "for_this_call"         // "for this call"
	Remaining           = "remaining"             // "remaining"
	OneMinuteRemaining  = "one_minute_remaining"  // "one minute remaining"
	TenSecondsRemaining = "ten_seconds_remaining" // "ten seconds remaining"
	CreditExhausted     = "credit_exhausted"      // "your credit is exhausted, goodbye"
	AccountSuspended    = "account_suspended"     // "your account is suspended, please contact customer support"
	InsufficientCredit  = "insufficient_credit"   // "you do not have enough credit for this call"
	DestinationBlocked  = "destination_blocked"   // "this destination cannot be called from this line"
	ServiceUnavailable  = "service_unavailable"   // "calls are not possible right now, please try again later"
	RechargeDeclined    = "recharge_declined"     // "your automatic recharge was declined"
	BalanceUnavailable  = "balance_unavailable"   // "your balance is not available right now"
	SendingReport       = "sending_report"        // "please wait while a report is sent to support"
	ReportSent          = "report_sent"           // "the report was sent, your ticket number is"
	ReportFailed        = "report_failed"         // "the report could not be sent, please try again later"
)

// Words used inside numbers, amounts and durations. Numbers themselves are
// keys "n_0" … "n_19", "n_20", "n_30" … "n_90" (see NumberWords).
const (
	Hundred  = "hundred"
	Thousand = "thousand"
	And      = "and"
	Point    = "point"
	Minus    = "minus"
	Dollar   = "dollar"
	Dollars  = "dollars"
	Cent     = "cent"
	Cents    = "cents"
	Pound    = "pound"
	Pounds   = "pounds"
	Penny    = "penny"
	Pence    = "pence"
	Euro     = "euro"
	Euros    = "euros"
	Minute   = "minute"
	Minutes  = "minutes"
	Second   = "second"
	Seconds  = "seconds"
)

// Keys lists every prompt, in a fixed order: numbers, then words, then
// phrases. It returns a new slice on every call, so callers may keep or
// change it.
func Keys() []string {
	keys := make([]string, 0, 64)
	for n := range 20 {
		keys = append(keys, numberKey(n))
	}
	for n := 20; n < 100; n += 10 {
		keys = append(keys, numberKey(n))
	}
	return append(keys,
		Hundred, Thousand, And, Point, Minus,
		Dollar, Dollars, Cent, Cents, Pound, Pounds, Penny, Pence, Euro, Euros,
		Minute, Minutes, Second, Seconds,
		BalanceIs, WhichBuysAbout, AtLastCallRate, YouHave, ForThisCall,
		Remaining, OneMinuteRemaining, TenSecondsRemaining,
		CreditExhausted, AccountSuspended, InsufficientCredit,
		DestinationBlocked, ServiceUnavailable, RechargeDeclined,
		BalanceUnavailable, SendingReport, ReportSent, ReportFailed,
	)
}

// numberKey is the key of a number that has its own recording: 0-19 and
// the tens.
func numberKey(n int) string { return "n_" + strconv.Itoa(n) }
