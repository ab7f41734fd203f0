package ledger

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/tipring/tipring/meter"
)

// MaxIDLen bounds call and recharge IDs: they are keys, and IDs are short
// time-sortable strings in practice.
const MaxIDLen = 128

// timeKeyLen is the length of timeKey's result.
const timeKeyLen = 12

// timeKey encodes t so that byte order is time order, for any time
// including the zero time: seconds with the sign bit flipped, then
// nanoseconds, both big-endian.
func timeKey(t time.Time) []byte {
	b := make([]byte, timeKeyLen, timeKeyLen+MaxIDLen)
	binary.BigEndian.PutUint64(b[:8], uint64(t.Unix())^(1<<63))
	binary.BigEndian.PutUint32(b[8:], uint32(t.Nanosecond()))
	return b
}

// startKey is the by_start index key of a call.
func startKey(r meter.Record) []byte {
	return append(timeKey(r.Start), r.ID...)
}

func seqKey(n uint64) []byte {
	return binary.BigEndian.AppendUint64(nil, n)
}

// corrupt names the bucket and key of a value that cannot be read.
func corrupt(bucket string, key []byte, err error) error {
	return fmt.Errorf("ledger: bucket %q key %q: %w", bucket, key, err)
}

// checkID refuses IDs that cannot be keys.
func checkID(what, id string) error {
	if id == "" {
		return fmt.Errorf("%s without an ID", what)
	}
	if len(id) > MaxIDLen {
		return fmt.Errorf("%s ID %.20q… is longer than %d bytes", what, id, MaxIDLen)
	}
	return nil
}

func checkMoney(what string, m meter.Money) error {
	if m < -meter.MaxMoney || m > meter.MaxMoney {
		return fmt.Errorf("%s %d is beyond ±%s", what, int64(m), meter.MaxMoney)
	}
	return nil
}

// checkRecord refuses records that would not survive a round trip through
// the store, so that a bad record fails at the call, not at the next boot.
func checkRecord(r meter.Record) error {
	if err := checkID("call", r.ID); err != nil {
		return err
	}
	for _, m := range []struct {
		name string
		v    meter.Money
	}{
		{"usage_cost", r.UsageCost}, {"connect_fee", r.ConnectFee}, {"access_fee", r.AccessFee},
		{"cost", r.Cost}, {"balance_after", r.BalanceAfter},
	} {
		if err := checkMoney("call "+r.ID+": "+m.name, m.v); err != nil {
			return err
		}
	}
	if r.Cost < 0 {
		return fmt.Errorf("call %q: negative cost %s", r.ID, r.Cost)
	}
	for _, f := range []float64{r.Evidence.RTCPLossPercent, r.Evidence.JitterMS} {
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return fmt.Errorf("call %q: evidence holds %v", r.ID, f)
		}
	}
	return nil
}

func encodeRecord(r meter.Record) ([]byte, error) {
	b, err := json.Marshal(r)
	if err != nil {
		return nil, fmt.Errorf("call %q: encode: %w", r.ID, err)
	}
	return b, nil
}

// decodeRecord reads a stored record. The ID inside must be the key it is
// stored under, which catches values written to the wrong place.
func decodeRecord(bucket string, key, data []byte) (meter.Record, error) {
	var r meter.Record
	if err := json.Unmarshal(data, &r); err != nil {
		return meter.Record{}, corrupt(bucket, key, err)
	}
	if r.ID != string(key) {
		return meter.Record{}, corrupt(bucket, key, fmt.Errorf("holds call %q", r.ID))
	}
	if r.Disposition == "" {
		return meter.Record{}, corrupt(bucket, key, errors.New("record without a disposition"))
	}
	if err := checkRecord(r); err != nil {
		return meter.Record{}, corrupt(bucket, key, err)
	}
	if _, err := json.Marshal(r); err != nil {
		// A value that cannot be written back would fail every later
		// Update or Finish of this call; say so now.
		return meter.Record{}, corrupt(bucket, key, err)
	}
	return r, nil
}

// decodeJSON reads any other stored value.
func decodeJSON(bucket string, key, data []byte, v any) error {
	if err := json.Unmarshal(data, v); err != nil {
		return corrupt(bucket, key, err)
	}
	return nil
}

// storedAccount is the cached account with when the back end confirmed it.
type storedAccount struct {
	Account  meter.Account `json:"account"`
	SyncedAt time.Time     `json:"synced_at"`
}

// ratesMeta describes the stored raw rates.
type ratesMeta struct {
	Version string    `json:"version"`
	At      time.Time `json:"at"`
}
