package billing

import "github.com/tipring/tipring/meter"

// DefaultRatesVersion is the version of DefaultRates.
const DefaultRatesVersion = "dev-1"

// TestNumberRate is what the development provider's test numbers cost a
// minute (docs/devprovider.md): cheap, but not free, so that trying them
// shows a charge in the history.
const TestNumberRate meter.Money = 60_000 // 0.0600

// DefaultRates is the development rate table: a few dozen destinations with
// the plans a real provider mixes (1/1, 60/6, 30/6, 6/6, 60/60), connect
// fees, mobile access fees, a premium prefix with a minimum duration, free
// grace periods, and the development provider's test numbers. Emergency
// numbers are deliberately absent: the device never rates them. (Note that
// "911" would otherwise match India's "91": emergency numbers must be
// recognized before rating.) docs/devbilling.md lists the table; a test
// keeps the two equal.
func DefaultRates() []meter.Rate {
	// Money in micro-units: 21_000 is 0.0210.
	const mobileFee = "mobile access fee"
	rows := []struct {
		prefix, destination    string
		perMinute              meter.Money
		first, next            int
		connectFee, accessFee  meter.Money
		accessLabel            string
		minDuration, graceSecs int
	}{
		{"1", "United States and Canada", 10_000, 1, 1, 0, 0, "", 0, 0},
		{"1809", "Dominican Republic", 150_000, 60, 60, 0, 0, "", 0, 0},
		{"1876", "Jamaica", 215_000, 60, 60, 0, 0, "", 0, 0},
		{"1900", "United States premium (900)", 1_990_000, 60, 60, 0, 0, "", 60, 0},
		{"20", "Egypt", 150_000, 60, 60, 0, 0, "", 0, 0},
		{"234", "Nigeria", 140_000, 60, 60, 100_000, 0, "", 0, 0},
		{"27", "South Africa", 70_000, 60, 1, 0, 0, "", 0, 0},
		{"31", "Netherlands", 22_000, 6, 6, 0, 0, "", 0, 0},
		{"33", "France", 20_000, 30, 30, 0, 0, "", 0, 0},
		{"336", "France mobile", 45_000, 30, 30, 0, 30_000, mobileFee, 0, 0},
		{"34", "Spain", 18_000, 60, 1, 0, 0, "", 0, 0},
		{"353", "Ireland", 25_000, 60, 6, 0, 0, "", 0, 0},
		{"39", "Italy", 19_000, 60, 60, 0, 0, "", 0, 0},
		{"41", "Switzerland", 30_000, 60, 6, 0, 0, "", 0, 0},
		{"44", "United Kingdom", 21_000, 60, 6, 0, 0, "", 0, 0},
		{"447", "United Kingdom mobile", 35_000, 60, 6, 0, 50_000, mobileFee, 0, 0},
		{"46", "Sweden", 15_000, 1, 1, 0, 0, "", 0, 0},
		{"48", "Poland", 23_000, 60, 6, 0, 0, "", 0, 0},
		{"49", "Germany", 19_000, 30, 6, 0, 0, "", 0, 0},
		{"4915", "Germany mobile", 60_000, 30, 6, 0, 0, "", 0, 0},
		{"4916", "Germany mobile", 60_000, 30, 6, 0, 0, "", 0, 0},
		{"4917", "Germany mobile", 60_000, 30, 6, 0, 0, "", 0, 0},
		{"52", "Mexico", 32_000, 60, 60, 50_000, 0, "", 0, 0},
		{"521", "Mexico mobile", 55_000, 60, 60, 50_000, 0, "", 0, 0},
		{"54", "Argentina", 45_000, 60, 60, 0, 0, "", 0, 0},
		{"55", "Brazil", 35_000, 30, 6, 0, 0, "", 0, 0},
		{"57", "Colombia", 40_000, 60, 60, 20_000, 0, "", 0, 0},
		{"600", "tipring test number (tone)", TestNumberRate, 1, 1, 0, 0, "", 0, 0},
		{"601", "tipring test number (echo)", TestNumberRate, 1, 1, 0, 0, "", 0, 0},
		{"602", "tipring test number (busy)", TestNumberRate, 1, 1, 0, 0, "", 0, 0},
		{"603", "tipring test number (call-back)", TestNumberRate, 1, 1, 0, 0, "", 0, 0},
		{"604", "tipring test number (early media)", TestNumberRate, 1, 1, 0, 0, "", 0, 0},
		{"61", "Australia", 25_000, 30, 6, 0, 0, "", 0, 0},
		{"63", "Philippines", 120_000, 60, 60, 0, 0, "", 0, 0},
		{"7", "Russia and Kazakhstan", 90_000, 60, 60, 0, 0, "", 0, 0},
		{"81", "Japan", 45_000, 30, 6, 0, 0, "", 0, 0},
		{"82", "South Korea", 30_000, 6, 6, 0, 0, "", 0, 3},
		{"86", "China", 15_000, 6, 6, 0, 0, "", 0, 6},
		{"880", "Bangladesh", 45_000, 60, 60, 0, 0, "", 0, 0},
		{"8816", "Iridium satellite", 6_950_000, 60, 60, 500_000, 0, "", 60, 0},
		{"91", "India", 15_000, 60, 60, 0, 0, "", 0, 0},
		{"92", "Pakistan", 90_000, 60, 60, 0, 0, "", 0, 0},
		{"971", "United Arab Emirates", 220_000, 60, 60, 0, 0, "", 0, 0},
	}
	out := make([]meter.Rate, len(rows))
	for i, r := range rows {
		out[i] = meter.Rate{
			Prefix: r.prefix, Destination: r.destination, PerMinute: r.perMinute,
			FirstIncrement: r.first, NextIncrement: r.next,
			ConnectFee: r.connectFee, AccessFee: r.accessFee, AccessFeeLabel: r.accessLabel,
			MinDuration: r.minDuration, Grace: r.graceSecs,
		}
	}
	return out
}
