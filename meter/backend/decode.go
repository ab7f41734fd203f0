package backend

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/tipring/tipring/meter"
)

// MaxBalance bounds every balance and amount the client accepts. No prepaid
// telephone account holds a million units of its currency; a larger figure
// is a fault at the back end (cents sent as units, a corrupted field), and
// believing it would let the device grant calls on credit that does not
// exist. meter.MaxMoney is the looser bound on any amount at all.
const MaxBalance = 1_000_000 * meter.Unit

const (
	// maxMessageBytes bounds the recharge message, which the history keeps
	// and support reads; a longer one is not a message.
	maxMessageBytes = 1024
	// maxVersionBytes bounds the rates version, an opaque label.
	maxVersionBytes = 256
)

// The answers' wire shapes. Pointers tell a missing field (or null) from a
// zero value; money comes as strings so that an error can name its field.
type (
	accountWire struct {
		Account      *string           `json:"account"`
		Status       *string           `json:"status"`
		Currency     *string           `json:"currency"`
		Balance      *string           `json:"balance"`
		AutoRecharge *autoRechargeWire `json:"auto_recharge"`
		RatesVersion *string           `json:"rates_version"`
	}
	autoRechargeWire struct {
		Enabled   *bool   `json:"enabled"`
		Threshold *string `json:"threshold"`
		Amount    *string `json:"amount"`
	}
	usageWire struct {
		Balance *string `json:"balance"`
		Status  *string `json:"status"`
	}
	ratesHead struct {
		Currency *string `json:"currency"`
	}
	rechargeWire struct {
		Result  *string `json:"result"`
		Message *string `json:"message"`
		Balance *string `json:"balance"`
	}
)

func missing(field string) error { return fmt.Errorf("missing field %q", field) }

// decodeAccount checks an account answer whole: it must be for account and,
// when currency is not empty, in that currency.
func decodeAccount(b []byte, account, currency string) (meter.Account, error) {
	var w accountWire
	if err := unmarshal(b, &w); err != nil {
		return meter.Account{}, err
	}
	var a meter.Account
	switch {
	case w.Account == nil:
		return a, missing("account")
	case *w.Account != account:
		return a, fmt.Errorf("account %q is not ours (%q)", *w.Account, account)
	}
	a.Account = *w.Account
	st, err := status(w.Status)
	if err != nil {
		return meter.Account{}, err
	}
	a.Status = st
	if a.Currency, err = checkCurrency(w.Currency, currency); err != nil {
		return meter.Account{}, err
	}
	if a.Balance, err = balance("balance", w.Balance); err != nil {
		return meter.Account{}, err
	}
	if a.AutoRecharge, err = autoRecharge(w.AutoRecharge); err != nil {
		return meter.Account{}, err
	}
	switch {
	case w.RatesVersion == nil:
		return meter.Account{}, missing("rates_version")
	case len(*w.RatesVersion) > maxVersionBytes:
		return meter.Account{}, fmt.Errorf("rates_version of %d bytes; at most %d", len(*w.RatesVersion), maxVersionBytes)
	}
	a.RatesVersion = *w.RatesVersion
	return a, nil
}

func autoRecharge(w *autoRechargeWire) (meter.AutoRecharge, error) {
	var ar meter.AutoRecharge
	if w == nil {
		return ar, missing("auto_recharge")
	}
	if w.Enabled == nil {
		return ar, missing("auto_recharge.enabled")
	}
	ar.Enabled = *w.Enabled
	// A disabled recharge may leave its figures out; given ones must still
	// be sane, since the history may show them.
	var err error
	if w.Threshold != nil || ar.Enabled {
		if ar.Threshold, err = balance("auto_recharge.threshold", w.Threshold); err != nil {
			return meter.AutoRecharge{}, err
		}
	}
	if w.Amount != nil || ar.Enabled {
		if ar.Amount, err = balance("auto_recharge.amount", w.Amount); err != nil {
			return meter.AutoRecharge{}, err
		}
		if ar.Enabled && ar.Amount == 0 {
			return meter.AutoRecharge{}, errors.New("auto_recharge.amount is zero while auto_recharge is enabled")
		}
	}
	return ar, nil
}

// decodeUsage checks the answer to a usage post.
func decodeUsage(b []byte) (meter.Money, meter.Status, error) {
	var w usageWire
	if err := unmarshal(b, &w); err != nil {
		return 0, "", err
	}
	bal, err := balance("balance", w.Balance)
	if err != nil {
		return 0, "", err
	}
	st, err := status(w.Status)
	if err != nil {
		return 0, "", err
	}
	return bal, st, nil
}

// decodeRecharge checks the answer to a recharge. The message may be left
// out: an approval needs no words.
func decodeRecharge(b []byte) (RechargeResult, error) {
	var w rechargeWire
	if err := unmarshal(b, &w); err != nil {
		return RechargeResult{}, err
	}
	var r RechargeResult
	switch {
	case w.Result == nil:
		return r, missing("result")
	case *w.Result == "approved":
		r.Approved = true
	case *w.Result == "declined":
	default:
		return r, fmt.Errorf("result %q: want \"approved\" or \"declined\"", *w.Result)
	}
	if w.Message != nil {
		if len(*w.Message) > maxMessageBytes {
			return RechargeResult{}, fmt.Errorf("message of %d bytes; at most %d", len(*w.Message), maxMessageBytes)
		}
		r.Message = *w.Message
	}
	var err error
	if r.Balance, err = balance("balance", w.Balance); err != nil {
		return RechargeResult{}, err
	}
	return r, nil
}

// ratesCurrency checks that a rates answer is one well-formed JSON object
// and returns its currency, which must match currency when that is not
// empty. The rows are meter.ParseRates' to judge. The whole body is
// scanned, not just up to the currency: a duplicate "currency" key later
// on would otherwise be the one ParseRates believes (the last one wins in
// both).
func ratesCurrency(b []byte, currency string) (string, error) {
	var h ratesHead
	if err := unmarshal(b, &h); err != nil {
		return "", err
	}
	return checkCurrency(h.Currency, currency)
}

func unmarshal(b []byte, v any) error {
	if len(b) == 0 {
		return errors.New("empty answer")
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("malformed JSON: %w", err)
	}
	return nil
}

func status(s *string) (meter.Status, error) {
	if s == nil {
		return "", missing("status")
	}
	switch st := meter.Status(*s); st {
	case meter.Active, meter.Suspended:
		return st, nil
	}
	return "", fmt.Errorf("status %q: want %q or %q", *s, meter.Active, meter.Suspended)
}

func checkCurrency(s *string, want string) (string, error) {
	switch {
	case s == nil:
		return "", missing("currency")
	case !meter.ValidCurrency(*s):
		return "", fmt.Errorf("currency %q: want three upper-case letters (ISO 4217)", *s)
	case want != "" && *s != want:
		return "", fmt.Errorf("currency %q differs from the account's %q", *s, want)
	}
	return *s, nil
}

// balance reads a non-negative amount no larger than MaxBalance.
func balance(field string, s *string) (meter.Money, error) {
	if s == nil {
		return 0, missing(field)
	}
	m, err := meter.ParseMoney(*s)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", field, err)
	}
	if m < 0 {
		return 0, fmt.Errorf("%s %s is negative", field, m)
	}
	if m > MaxBalance {
		return 0, fmt.Errorf("%s %s is above the sanity limit of %s", field, m, MaxBalance)
	}
	return m, nil
}
