package dsp

import (
	"encoding/binary"
	"errors"
	"testing"
	"time"

	"github.com/tipring/tipring/boards"
)

// Whatever decodes must encode again to a message that decodes to the same
// caller ID; whatever does not decode must say why with one of our errors.
func FuzzDecodeCallerIDMessage(f *testing.F) {
	// The corpus in testdata/fuzz holds the known vectors; these add a few
	// shapes the fuzzer would take long to build.
	f.Add([]byte{0x80, 0x06, 0x04, 0x01, 0x50, 0x08, 0x01, 0x50, 0xCC})
	f.Add([]byte{0x04, 0x09, '0', '9', '3', '0', '1', '2', '2', '4', 'O', 0x0F})
	f.Fuzz(func(t *testing.T, msg []byte) {
		cid, err := DecodeCallerIDMessage(msg)
		if err != nil {
			for _, e := range []error{ErrCallerIDTruncated, ErrCallerIDTrailing, ErrCallerIDChecksum,
				ErrCallerIDMessageType, ErrCallerIDParameter, ErrCallerIDEmpty} {
				if errors.Is(err, e) {
					return
				}
			}
			t.Fatalf("error %v is none of the package's caller-ID errors", err)
		}
		enc := EncodeMDMF
		if msg[0] == cidMsgSDMF {
			enc = EncodeSDMF
		}
		again, err := enc(cid)
		if err != nil {
			t.Fatalf("decoded %+v from % x but cannot encode it: %v", cid, msg, err)
		}
		back, err := DecodeCallerIDMessage(again)
		if err != nil {
			t.Fatalf("re-encoded % x does not decode: %v", again, err)
		}
		if !cidSameID(back, cid) {
			t.Fatalf("% x → %+v → % x → %+v", msg, cid, again, back)
		}
	})
}

// Random audio must not crash the receiver, whatever the standard. The
// input is read as little-endian samples.
func FuzzCallerIDReceiver(f *testing.F) {
	f.Fuzz(func(t *testing.T, std byte, audio []byte) {
		r := NewCallerIDReceiver(boards.CallerIDStandard(std % 6))
		var fr boards.Frame
		for i := 0; i < len(audio); {
			for j := range fr {
				if i+1 < len(audio) {
					fr[j] = int16(binary.LittleEndian.Uint16(audio[i:]))
				} else {
					fr[j] = 0
				}
				i += 2
			}
			if cid, ok := r.Process(&fr); ok {
				// Anything reported passed every check, so it is a caller
				// ID we could have sent.
				if _, err := EncodeMDMF(cid); err != nil {
					t.Fatalf("reported %+v, which cannot be sent: %v", cid, err)
				}
			}
		}
	})
}

// Any caller ID NewCallerIDSignal accepts, the receiver of the same standard
// reads back as sent (less what the standard cannot carry).
func FuzzCallerIDRoundTrip(f *testing.F) {
	f.Fuzz(func(t *testing.T, std byte, number, name string, flags byte, unix int64, level byte) {
		s := boards.CallerIDStandard(1 + std%4)
		cid := boards.CallerID{Number: number, Name: name, Withheld: flags&1 != 0, Unavailable: flags&2 != 0}
		if flags&4 != 0 {
			cid.Time = time.Unix(unix%(1<<40), 0).UTC()
		}
		// The DTMF detector's floor is -30 dBm0 a tone: stay above it.
		lvl := -5 - float64(level%20)
		sig, err := NewCallerIDSignal(s, cid, lvl)
		if err != nil {
			return
		}
		want := cidExpect(s, cid)
		got := cidReceive(NewCallerIDReceiver(s), cidLine(cidDrain(t, sig), 480, lvl, 0, 0))
		if len(got) != 1 || !cidSameID(got[0], want) {
			t.Fatalf("%v at %v dBm0: sent %+v, received %+v, want [%+v]", s, lvl, cid, got, want)
		}
	})
}
