package meter

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Money is an amount in micro-units (10⁻⁶) of the account's currency.
// Floating point never touches money: a balance of 12.34 is 12_340_000.
type Money int64

const (
	// Unit is one whole unit of the currency (one dollar, one pound).
	Unit Money = 1_000_000
	// MaxMoney bounds every amount the meter accepts from outside: a
	// billion units is beyond any prepaid account, and it keeps products
	// such as rate × seconds far from int64 overflow.
	MaxMoney = 1_000_000_000 * Unit
	// moneyDecimals is how many decimals a Money carries.
	moneyDecimals = 6
	// shownDecimals is the fewest decimals String prints, as the back end
	// writes balances ("12.3400").
	shownDecimals = 4
)

// ParseMoney reads a decimal string such as "12.34", "-0.0210" or "5".
// More than six decimals, exponents, thousands separators and amounts
// beyond MaxMoney are errors, never rounded away.
func ParseMoney(s string) (Money, error) {
	if s == "" {
		return 0, errors.New("meter: empty amount")
	}
	neg := false
	digits := s
	switch digits[0] {
	case '-':
		neg = true
		digits = digits[1:]
	case '+':
		digits = digits[1:]
	}
	whole, frac, hasDot := strings.Cut(digits, ".")
	if whole == "" || (hasDot && frac == "") {
		return 0, fmt.Errorf("meter: amount %q: want digits on both sides of the point", s)
	}
	if len(frac) > moneyDecimals {
		return 0, fmt.Errorf("meter: amount %q: more than %d decimals", s, moneyDecimals)
	}
	if !allDigits(whole) || !allDigits(frac) {
		return 0, fmt.Errorf("meter: amount %q is not a decimal number", s)
	}
	// Leading zeros are harmless; strip them so the length check below
	// bounds the value, not the spelling.
	whole = strings.TrimLeft(whole, "0")
	if len(whole) > 10 {
		return 0, fmt.Errorf("meter: amount %q is too large", s)
	}
	var units int64
	if whole != "" {
		var err error
		if units, err = strconv.ParseInt(whole, 10, 64); err != nil {
			return 0, fmt.Errorf("meter: amount %q: %w", s, err)
		}
	}
	var micro int64
	if frac != "" {
		f, err := strconv.ParseInt(frac+strings.Repeat("0", moneyDecimals-len(frac)), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("meter: amount %q: %w", s, err)
		}
		micro = f
	}
	m := Money(units)*Unit + Money(micro)
	if m > MaxMoney {
		return 0, fmt.Errorf("meter: amount %q is above the limit of %s", s, MaxMoney)
	}
	if neg {
		m = -m
	}
	return m, nil
}

func allDigits(s string) bool {
	for i := range len(s) {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// String writes the amount with at least four decimals and as many more as
// it needs: 12_340_000 is "12.3400", 350 is "0.00035".
func (m Money) String() string {
	sign := ""
	u := uint64(m)
	if m < 0 {
		sign = "-"
		u = uint64(-m) // MinInt64 stays itself as uint64, which prints right
	}
	frac := fmt.Sprintf("%06d", u%uint64(Unit))
	frac = strings.TrimRight(frac, "0")
	if len(frac) < shownDecimals {
		frac += strings.Repeat("0", shownDecimals-len(frac))
	}
	return fmt.Sprintf("%s%d.%s", sign, u/uint64(Unit), frac)
}

// MarshalJSON writes the amount as a decimal string, as the billing back end
// exchanges money.
func (m Money) MarshalJSON() ([]byte, error) {
	return []byte(`"` + m.String() + `"`), nil
}

// UnmarshalJSON reads a decimal string. A JSON number is refused: it would
// pass through floating point in most producers.
func (m *Money) UnmarshalJSON(b []byte) error {
	if len(b) < 2 || b[0] != '"' || b[len(b)-1] != '"' {
		return fmt.Errorf("meter: amount %s: want a decimal string", b)
	}
	v, err := ParseMoney(string(b[1 : len(b)-1]))
	if err != nil {
		return err
	}
	*m = v
	return nil
}
