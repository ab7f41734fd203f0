package ledger

import (
	"bytes"
	"encoding/json"
	"testing"
)

// FuzzDecodeRecord feeds arbitrary stored values to the decoder: an error,
// never a panic; and whatever it accepts can be stored again unchanged.
func FuzzDecodeRecord(f *testing.F) {
	good, err := encodeRecord(rec("c1", t0))
	if err != nil {
		f.Fatal(err)
	}
	f.Add("c1", good)
	f.Add("c1", []byte(`{"id":"c1","disposition":"answered","cost":"0.0210","start":"2026-03-01T09:00:00+01:00"}`))
	f.Add("c1", []byte(`{"id":"c1","disposition":"in_progress","cost":12}`))
	f.Add("x", []byte(`null`))
	f.Fuzz(func(t *testing.T, id string, data []byte) {
		r, err := decodeRecord(bucketCalls, []byte(id), data)
		if err != nil {
			return
		}
		if r.ID != id {
			t.Fatalf("decoded %q under key %q", r.ID, id)
		}
		once, err := encodeRecord(r)
		if err != nil {
			t.Fatalf("accepted a record it cannot store: %v", err)
		}
		r2, err := decodeRecord(bucketCalls, []byte(id), once)
		if err != nil {
			t.Fatalf("cannot read back what it stored: %v\n%s", err, once)
		}
		twice, _ := json.Marshal(r2)
		if !bytes.Equal(once, twice) {
			t.Fatalf("round trip changed the record:\n%s\n%s", once, twice)
		}
	})
}
