package jitter

import (
	"encoding/binary"
	"testing"
	"time"
)

// FuzzBuffer drives a buffer with arbitrary timestamps, sizes and arrival
// times. Each 8-byte record is: timestamp delta (int32), arrival delta in
// 0.1 ms (uint16), packet length (uint8), reads to do before it (uint8).
func FuzzBuffer(f *testing.F) {
	rec := func(dts int32, dt uint16, n, reads uint8) []byte {
		b := make([]byte, 8)
		binary.BigEndian.PutUint32(b, uint32(dts))
		binary.BigEndian.PutUint16(b[4:], dt)
		b[6], b[7] = n, reads
		return b
	}
	var steady []byte
	for range 20 {
		steady = append(steady, rec(160, 200, 160, 1)...)
	}
	f.Add(steady)
	f.Add(append(rec(160, 200, 160, 1), rec(-160, 10, 160, 0)...))
	f.Add(append(rec(1<<30, 200, 160, 1), rec(-1<<31, 200, 255, 3)...))
	f.Fuzz(func(t *testing.T, data []byte) {
		b := New(Config{Target: 40 * ms, Min: 20 * ms, Max: 200 * ms})
		pcm := make([]int16, 255)
		for i := range pcm {
			pcm[i] = int16(i * 100)
		}
		out := make([]int16, 160)
		var ts uint32
		var now time.Duration
		// A few hundred packets reach every state; longer inputs only make
		// the fuzzer's minimisation slow.
		for records := 0; len(data) >= 8 && records < 300; records++ {
			ts += binary.BigEndian.Uint32(data)
			now += time.Duration(binary.BigEndian.Uint16(data[4:])) * 100 * time.Microsecond
			n := int(data[6])
			for range int(data[7] % 8) {
				now += 20 * ms
				b.Read(out, now)
			}
			b.Put(ts, pcm[:n], now)
			data = data[8:]
			if d := b.Delay(); d < 20*ms || d > 200*ms {
				t.Fatalf("delay %v outside [20ms, 200ms]", d)
			}
		}
		b.Read(out, now+20*ms)
	})
}
