package meter

import (
	"cmp"

	"github.com/tipring/tipring/internal/order"
)

// Statement is a month of billing activity: what support reads out when a
// customer asks "where is my billing activity?".
type Statement struct {
	Month    string `json:"month"` // "2026-11"
	Currency string `json:"currency"`
	Opening  Money  `json:"opening_balance"`
	Closing  Money  `json:"closing_balance"`

	Calls        int                `json:"calls"` // attempts, answered or not
	Answered     int                `json:"answered"`
	Destinations []DestinationTotal `json:"destinations"`
	Usage        Money              `json:"usage"` // per-minute charges
	ConnectFees  Money              `json:"connect_fees"`
	AccessFees   []FeeTotal         `json:"access_fees"`
	CallCosts    Money              `json:"call_costs"` // everything calls cost

	Recharges      []Recharge `json:"recharges"`
	RechargesTotal Money      `json:"recharges_total"` // approved ones
	// Adjustments are balance changes the back end made that no call or
	// recharge on this device explains (a refund, a correction).
	Adjustments Money `json:"adjustments"`

	Records []Record `json:"records"`
}

// DestinationTotal sums one destination's calls.
type DestinationTotal struct {
	Destination   string `json:"destination"`
	Calls         int    `json:"calls"`
	BilledSeconds int    `json:"billed_seconds"`
	Cost          Money  `json:"cost"`
}

// FeeTotal sums one kind of access fee, by its label.
type FeeTotal struct {
	Label  string `json:"label"`
	Count  int    `json:"count"`
	Amount Money  `json:"amount"`
}

// BuildStatement totals a month. The closing balance is derived, so that
// opening − call costs + recharges + adjustments = closing holds by
// construction; the caller compares it with the ledger's own closing
// balance to catch a gap.
func BuildStatement(month, currency string, opening Money, records []Record, recharges []Recharge, adjustments Money) Statement {
	s := Statement{Month: month, Currency: currency, Opening: opening, Adjustments: adjustments}
	dest := map[string]*DestinationTotal{}
	fees := map[string]*FeeTotal{}
	for _, r := range records {
		s.Calls++
		if r.Evidence.AnsweredAt.IsZero() {
			s.Records = append(s.Records, r)
			continue
		}
		s.Answered++
		name := r.Destination
		if name == "" {
			name = r.Number
		}
		d := dest[name]
		if d == nil {
			d = &DestinationTotal{Destination: name}
			dest[name] = d
		}
		d.Calls++
		d.BilledSeconds += r.BilledSeconds
		d.Cost += r.Cost
		s.Usage += r.UsageCost
		s.ConnectFees += r.ConnectFee
		if r.AccessFee > 0 {
			label := r.AccessFeeLabel
			if label == "" {
				label = "access fee"
			}
			f := fees[label]
			if f == nil {
				f = &FeeTotal{Label: label}
				fees[label] = f
			}
			f.Count++
			f.Amount += r.AccessFee
		}
		s.CallCosts += r.Cost
		s.Records = append(s.Records, r)
	}
	for _, d := range dest {
		s.Destinations = append(s.Destinations, *d)
	}
	order.Sort(s.Destinations, func(a, b DestinationTotal) int {
		return cmp.Or(cmp.Compare(b.Cost, a.Cost), cmp.Compare(a.Destination, b.Destination))
	})
	for _, f := range fees {
		s.AccessFees = append(s.AccessFees, *f)
	}
	order.Sort(s.AccessFees, func(a, b FeeTotal) int { return cmp.Compare(a.Label, b.Label) })
	for _, r := range recharges {
		s.Recharges = append(s.Recharges, r)
		if r.Result == "approved" {
			s.RechargesTotal += r.Amount
		}
	}
	s.Closing = s.Opening - s.CallCosts + s.RechargesTotal + s.Adjustments
	return s
}
