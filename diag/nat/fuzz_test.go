package nat

import (
	"bytes"
	"net"
	"testing"

	"github.com/pion/stun/v3"
)

func FuzzParseResponse(f *testing.F) {
	for _, m := range seedMessages() {
		f.Add(m)
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		var id [stun.TransactionIDSize]byte
		if len(raw) >= 20 {
			copy(id[:], raw[8:20]) // reach past the transaction check
		}
		r, err := parseResponse(raw, id)
		if err != nil {
			return
		}
		if !r.mapped.IsValid() || r.mapped.Port() == 0 {
			t.Fatalf("accepted a response without a usable mapped address: %+v", r)
		}
		if r.other.IsValid() && r.other.Port() == 0 {
			t.Fatalf("OTHER-ADDRESS with port 0 accepted")
		}
	})
}

func FuzzAttributes(f *testing.F) {
	f.Add([]byte{0, 0, 0, 6})
	f.Add([]byte{0, 0, 0, 2})
	f.Add([]byte{0x0d, 0x96, 0, 0})
	f.Add([]byte{0, 1, 0x0d, 0x96, 127, 0, 0, 2})
	f.Add([]byte{0, 2, 0x0d, 0x96, 0x20, 1, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1})
	f.Add([]byte{0, 2, 0x0d, 0x96, 127, 0, 0, 2})
	f.Fuzz(func(t *testing.T, value []byte) {
		for _, typ := range []stun.AttrType{stun.AttrChangeRequest, stun.AttrResponsePort, stun.AttrOtherAddress, stun.AttrXORMappedAddress} {
			m, err := stun.Build(stun.TransactionID, stun.BindingSuccess, stun.RawAttribute{Type: typ, Value: value})
			if err != nil {
				return
			}
			var cr ChangeRequest
			if err := cr.GetFrom(m); err == nil {
				again, _ := stun.Build(stun.NewTransactionIDSetter(m.TransactionID), stun.BindingRequest, cr)
				var back ChangeRequest
				if back.GetFrom(again) != nil || back != cr {
					t.Fatalf("CHANGE-REQUEST %x does not round-trip: %+v → %+v", value, cr, back)
				}
			}
			var rp ResponsePort
			if err := rp.GetFrom(m); err == nil && rp == 0 {
				t.Fatal("RESPONSE-PORT 0 accepted")
			}
			a, err := address(m, typ, typ == stun.AttrXORMappedAddress)
			if err == nil && (!a.IsValid() || a.Port() == 0) {
				t.Fatalf("unusable address %v accepted from %x", a, value)
			}
		}
	})
}

// seedMessages are Binding responses as servers send them: RFC 5780 full,
// RFC 3489 style (MAPPED-ADDRESS, CHANGED-ADDRESS), an error, and a
// truncated address.
func seedMessages() [][]byte {
	id := [stun.TransactionIDSize]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}
	build := func(setters ...stun.Setter) []byte {
		m, err := stun.Build(append([]stun.Setter{stun.NewTransactionIDSetter(id)}, setters...)...)
		if err != nil {
			panic(err)
		}
		return bytes.Clone(m.Raw)
	}
	pub := net.IPv4(203, 0, 113, 7).To4()
	return [][]byte{
		build(stun.BindingSuccess, &stun.XORMappedAddress{IP: pub, Port: 40000},
			&stun.OtherAddress{IP: net.IPv4(127, 0, 0, 2).To4(), Port: 3479},
			&stun.ResponseOrigin{IP: net.IPv4(127, 0, 0, 1).To4(), Port: 3478}, stun.Fingerprint),
		build(stun.BindingSuccess, &stun.MappedAddress{IP: pub, Port: 40000},
			stun.RawAttribute{Type: stun.AttrChangedAddress, Value: []byte{0, 1, 0x0d, 0x97, 127, 0, 0, 2}}),
		build(stun.BindingSuccess, &stun.XORMappedAddress{IP: net.ParseIP("2001:db8::1"), Port: 40000}),
		build(stun.BindingError, stun.ErrorCodeAttribute{Code: stun.CodeUnknownAttribute, Reason: []byte("Unknown Attribute")}),
		build(stun.BindingSuccess, stun.RawAttribute{Type: stun.AttrXORMappedAddress, Value: []byte{0, 2, 0x9c, 0x40, 1, 2, 3, 4}}),
	}
}
