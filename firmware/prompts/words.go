package prompts

import (
	"strconv"
	"strings"
)

// maxSpoken is the largest number NumberWords says as words; larger ones
// are read digit by digit, which is still right, just less natural, and
// spares a "million" recording that a prepaid balance never needs.
const maxSpoken = 999_999

// microPerUnit is meter.Money's scale: amounts are int64 micro-units of the
// currency (this package takes the int64 so that it does not import meter).
const microPerUnit = 1_000_000

// NumberWords returns the keys that speak n, US style without "and":
// 1234 → one thousand two hundred thirty four
// (["n_1" "thousand" "n_2" "hundred" "n_30" "n_4"]). Negative numbers start
// with "minus"; numbers beyond 999 999 are read digit by digit.
func NumberWords(n int) []string {
	if n < 0 {
		// Through uint64 so that the most negative int has a magnitude.
		return append([]string{Minus}, magnitudeWords(uint64(-(n+1))+1)...)
	}
	return magnitudeWords(uint64(n))
}

func magnitudeWords(u uint64) []string {
	if u > maxSpoken {
		return digitWords(strconv.FormatUint(u, 10))
	}
	if u == 0 {
		return []string{numberKey(0)}
	}
	var w []string
	if th := u / 1000; th > 0 {
		w = appendBelow1000(w, int(th))
		w = append(w, Thousand)
	}
	if r := u % 1000; r > 0 {
		w = appendBelow1000(w, int(r))
	}
	return w
}

// appendBelow1000 appends the words for 1 ≤ n ≤ 999.
func appendBelow1000(w []string, n int) []string {
	if n >= 100 {
		w = append(w, numberKey(n/100), Hundred)
		n %= 100
	}
	switch {
	case n == 0:
	case n < 20:
		w = append(w, numberKey(n))
	default:
		w = append(w, numberKey(n/10*10))
		if n%10 != 0 {
			w = append(w, numberKey(n%10))
		}
	}
	return w
}

// digitWords reads a string of decimal digits one by one.
func digitWords(digits string) []string {
	w := make([]string, 0, len(digits))
	for _, d := range digits {
		w = append(w, numberKey(int(d-'0')))
	}
	return w
}

// currencyUnits are the spoken names of a currency's units: singular and
// plural of the major and the minor unit (a hundredth of the major one).
type currencyUnits struct {
	major, majors, minor, minors string
}

// unitsFor knows the currencies we have recordings for; others are spoken
// as a plain number.
func unitsFor(code string) (currencyUnits, bool) {
	switch strings.ToUpper(strings.TrimSpace(code)) {
	case "USD":
		return currencyUnits{Dollar, Dollars, Cent, Cents}, true
	case "GBP":
		return currencyUnits{Pound, Pounds, Penny, Pence}, true
	case "EUR":
		return currencyUnits{Euro, Euros, Cent, Cents}, true
	}
	return currencyUnits{}, false
}

// MoneyWords returns the keys that speak an amount of money given in
// micro-units (int64(meter.Money)) of the ISO 4217 currency.
//
// The amount is cut (not rounded) to hundredths, so a spoken balance never
// claims more than the account holds: 12.349 USD is "twelve dollars and
// thirty four cents". USD, GBP and EUR are spoken with their units, singular
// or plural as English needs ("one dollar", "one penny", "two pence", "zero
// euros"; "five cents" when there are no whole units). Other currencies,
// whose unit names we have no recordings for, are spoken as a number with
// at most two decimals: 12.30 → "twelve point three". Negative amounts start
// with "minus".
func MoneyWords(amountMicro int64, currency string) []string {
	neg := amountMicro < 0
	mag := uint64(amountMicro)
	if neg {
		mag = uint64(-(amountMicro + 1)) + 1
	}
	major := mag / microPerUnit
	hundredths := mag % microPerUnit / (microPerUnit / 100)

	var w []string
	if neg && (major > 0 || hundredths > 0) {
		w = append(w, Minus)
	}
	units, known := unitsFor(currency)
	if !known {
		w = append(w, magnitudeWords(major)...)
		if hundredths > 0 {
			frac := strings.TrimRight(strconv.FormatUint(100+hundredths, 10)[1:], "0")
			w = append(w, Point)
			w = append(w, digitWords(frac)...)
		}
		return w
	}
	if major > 0 || hundredths == 0 {
		w = append(w, magnitudeWords(major)...)
		w = append(w, plural(major, units.major, units.majors))
	}
	if hundredths > 0 {
		if major > 0 {
			w = append(w, And)
		}
		w = append(w, magnitudeWords(hundredths)...)
		w = append(w, plural(hundredths, units.minor, units.minors))
	}
	return w
}

func plural(n uint64, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// MinutesWords speaks a number of whole minutes: "one minute", "forty
// minutes". A negative count is spoken as zero: a duration the caller
// could not compute should not be heard as "minus".
func MinutesWords(minutes int) []string {
	minutes = max(minutes, 0)
	return append(NumberWords(minutes), plural(uint64(minutes), Minute, Minutes))
}

// secondsWords speaks a number of whole seconds, like MinutesWords.
func secondsWords(seconds int) []string {
	seconds = max(seconds, 0)
	return append(NumberWords(seconds), plural(uint64(seconds), Second, Seconds))
}

// BalanceSentence is what the balance star code says: "your balance is
// twelve dollars and thirty four cents, which buys about fifty minutes at
// the rate of your last call". With minutes < 0 (no call yet, or its rate
// is unknown) the sentence stops after the amount.
func BalanceSentence(amountMicro int64, currency string, minutes int) []string {
	w := append([]string{BalanceIs}, MoneyWords(amountMicro, currency)...)
	if minutes < 0 {
		return w
	}
	w = append(w, WhichBuysAbout)
	w = append(w, MinutesWords(minutes)...)
	return append(w, AtLastCallRate)
}

// CallLimitSentence is said before connecting a metered call: "you have
// twelve minutes for this call".
func CallLimitSentence(minutes int) []string {
	w := append([]string{YouHave}, MinutesWords(minutes)...)
	return append(w, ForThisCall)
}

// ReportSentSentence is said once the report code's report reached
// support: "the report was sent, your ticket number is four eight two
// one", the ticket read digit by digit as it is typed. Anything but a
// digit is left out: it has no recording.
func ReportSentSentence(ticket string) []string {
	digits := strings.Map(func(r rune) rune {
		if '0' <= r && r <= '9' {
			return r
		}
		return -1
	}, ticket)
	return append([]string{ReportSent}, digitWords(digits)...)
}

// RemainingSentence is the warning before the credit runs out, seconds
// before the end: "one minute remaining" and "ten seconds remaining" have
// their own recordings (they are the defaults); other whole minutes are
// "two minutes remaining", anything else "forty five seconds remaining".
func RemainingSentence(seconds int) []string {
	switch {
	case seconds == 60:
		return []string{OneMinuteRemaining}
	case seconds == 10:
		return []string{TenSecondsRemaining}
	case seconds > 0 && seconds%60 == 0:
		return append(MinutesWords(seconds/60), Remaining)
	}
	return append(secondsWords(seconds), Remaining)
}
