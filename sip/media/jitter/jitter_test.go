package jitter

import (
	"cmp"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/tipring/tipring/boards"
	"github.com/tipring/tipring/boards/dsp"
)

const ms = time.Millisecond

// value is the sample at extended timestamp ts: a sawtooth, so every sample
// says where it came from and the output can be checked sample by sample.
func value(ts int64) int16 { return int16(1000 + ts%20000) }

type packet struct {
	ts     uint32
	n      int
	arrive time.Duration
}

// stream makes count packets of n samples from timestamp ts0, sent every
// n/8 ms from time zero, each arriving after delay(i).
func stream(ts0 uint32, n, count int, delay func(i int) time.Duration) []packet {
	ps := make([]packet, count)
	for i := range ps {
		sent := time.Duration(i*n) * time.Second / 8000
		ps[i] = packet{ts: ts0 + uint32(i*n), n: n, arrive: sent + delay(i)}
	}
	return ps
}

type run struct {
	out     []int16
	results []ReadResult
	puts    []PutResult
}

// play feeds the packets in arrival order and reads 20 ms frames every
// 20 ms starting at phase, until until.
func play(b *Buffer, ps []packet, phase, until time.Duration) run {
	ps = slices.Clone(ps)
	slices.SortStableFunc(ps, func(a, b packet) int { return cmp.Compare(a.arrive, b.arrive) })
	var r run
	frame := make([]int16, 160)
	pcm := make([]int16, MaxPacket)
	next := 0
	for t := phase; t < until; t += 20 * ms {
		for next < len(ps) && ps[next].arrive <= t {
			p := ps[next]
			for i := range p.n {
				pcm[i] = value(int64(p.ts) + int64(i))
			}
			r.puts = append(r.puts, b.Put(p.ts, pcm[:p.n], p.arrive))
			next++
		}
		r.results = append(r.results, b.Read(frame, t))
		r.out = append(r.out, frame...)
	}
	return r
}

// checkContinuous asserts that, from the first sample of audio on, the
// output is the sender's signal sample for sample, and returns the
// timestamp of that first sample.
func checkContinuous(t *testing.T, out []int16, ts0 uint32, count int) {
	t.Helper()
	first := slices.IndexFunc(out, func(v int16) bool { return v != 0 })
	if first < 0 {
		t.Fatal("no audio came out")
	}
	start := int64(ts0)
	// Find where in the stream playout started: the buffer anchors at an
	// arbitrary sample of the first packet or just before it.
	for off := int64(0); off < 400; off++ {
		if value(start+off) == out[first] {
			start += off
			break
		}
	}
	for i := range count {
		want := value(int64(uint32(start + int64(i))))
		if start+int64(i) > int64(ts0)+int64(^uint32(0)) {
			want = value(int64(uint32(start + int64(i))))
		}
		if got := out[first+i]; got != want {
			t.Fatalf("sample %d of audio = %d, want %d (stream not continuous)", i, got, want)
		}
	}
}

func TestSilenceBeforeAudio(t *testing.T) {
	b := New(Config{})
	out := []int16{1, 2, 3}
	if r := b.Read(out, 0); r != Silence || out[0]|out[1]|out[2] != 0 {
		t.Fatalf("Read before any packet = %v %v, want silence", r, out)
	}
}

func TestInOrderStreamIsExact(t *testing.T) {
	b := New(Config{})
	ps := stream(1000, 160, 100, func(int) time.Duration { return 3 * ms })
	r := play(b, ps, 7*ms, 2*time.Second)
	checkContinuous(t, r.out, 1000, 160*90)
	if s := b.Stats(); s.Concealed != 0 || s.Late != 0 || s.Duplicate != 0 {
		t.Errorf("clean stream: stats %+v", s)
	}
	if lvl := b.Level(); lvl < 15*ms || lvl > 60*ms {
		t.Errorf("playout delay %v, want near the 40 ms target", lvl)
	}
}

func TestReorderedPacketsPlayInOrder(t *testing.T) {
	b := New(Config{})
	// every pair arrives swapped: the odd packet 5 ms before the even one
	ps := stream(5000, 160, 100, func(i int) time.Duration {
		if i%2 == 0 {
			return 30 * ms
		}
		return 5 * ms
	})
	r := play(b, ps, 3*ms, 2*time.Second)
	checkContinuous(t, r.out, 5000, 160*90)
	if s := b.Stats(); s.Concealed != 0 || s.Late != 0 {
		t.Errorf("reordered stream: stats %+v", s)
	}
}

func TestDuplicatesDropped(t *testing.T) {
	b := New(Config{})
	ps := stream(0, 160, 50, func(int) time.Duration { return 2 * ms })
	for i := 10; i < 20; i++ {
		dup := ps[i]
		dup.arrive += 4 * ms
		ps = append(ps, dup)
	}
	r := play(b, ps, 11*ms, time.Second)
	checkContinuous(t, r.out, 0, 160*40)
	if s := b.Stats(); s.Duplicate != 10 {
		t.Errorf("Duplicate = %d, want 10", s.Duplicate)
	}
	if n := countResult(r.puts, Duplicate); n != 10 {
		t.Errorf("%d puts said Duplicate, want 10", n)
	}
}

func countResult[T comparable](s []T, v T) int {
	n := 0
	for _, x := range s {
		if x == v {
			n++
		}
	}
	return n
}

func TestLossIsConcealedAndCounted(t *testing.T) {
	b := New(Config{})
	ps := stream(0, 160, 100, func(int) time.Duration { return 2 * ms })
	ps = slices.Delete(ps, 40, 41) // packet 40 lost
	r := play(b, ps, 11*ms, 2*time.Second)
	if s := b.Stats(); s.Concealed < 1 || s.Concealed > 2 {
		t.Fatalf("Concealed = %d, want 1 or 2 frames (the gap may straddle two reads)", s.Concealed)
	}
	// The concealed stretch is not silence.
	lostAt := slices.Index(r.out, value(40*160-1)) + 1
	if lostAt <= 0 {
		t.Fatal("sample before the gap not found")
	}
	if meanMagnitude(r.out[lostAt:lostAt+80]) < 1000 {
		t.Errorf("gap filled with near silence: mean magnitude %d", meanMagnitude(r.out[lostAt:lostAt+80]))
	}
	if got := r.out[lostAt+160+200]; got != value(41*160+200) {
		t.Errorf("audio after the gap = %d, want %d", got, value(41*160+200))
	}
}

func TestTimestampWraparound(t *testing.T) {
	b := New(Config{})
	ts0 := uint32(1<<32 - 160*30)
	ps := stream(ts0, 160, 100, func(int) time.Duration { return 2 * ms })
	r := play(b, ps, 5*ms, 2*time.Second)
	first := slices.IndexFunc(r.out, func(v int16) bool { return v != 0 })
	if first < 0 {
		t.Fatal("no audio")
	}
	// Across the wrap, each sample follows the previous one as the uint32
	// timestamps do.
	for i := first + 1; i < first+160*85; i++ {
		prevTS := (int(r.out[i-1]) - 1000) // value(ts) = 1000 + ts%20000
		gotTS := int(r.out[i]) - 1000
		if gotTS != (prevTS+1)%20000 && !(uint32(prevTS) == (1<<32-1)%20000 && gotTS == 0) {
			t.Fatalf("discontinuity at output sample %d: %d then %d", i, r.out[i-1], r.out[i])
		}
	}
	if s := b.Stats(); s.Concealed != 0 || s.Late != 0 || s.Resyncs != 0 {
		t.Errorf("wraparound: stats %+v", s)
	}
}

func TestGrowsWithJitterAndShrinksWhenCalm(t *testing.T) {
	b := New(Config{})
	rng := rand.New(rand.NewPCG(1, 2))
	const jittery = 250 // packets: 5 s with up to 80 ms of jitter
	ps := stream(0, 160, 2000, func(i int) time.Duration {
		if i < jittery {
			return time.Duration(rng.IntN(80)) * ms
		}
		return 0
	})
	r := play(b, ps, 1*ms, 5*time.Second)
	grown := b.Delay()
	if grown < 80*ms {
		t.Errorf("after 5 s of up to 80 ms jitter, delay %v, want >= 80 ms", grown)
	}
	late := b.Stats().Late
	if late > jittery/20 {
		t.Errorf("%d of %d jittery packets late, want under 5%%", late, jittery)
	}
	// Now the network is calm: the delay comes down again, slowly.
	b2 := b
	_ = r
	r = play(b2, ps[jittery:], 5*time.Second+1*ms, 40*time.Second)
	if d := b2.Delay(); d >= grown || d > 40*ms {
		t.Errorf("after 35 calm seconds delay %v (was %v), want back down to <= 40 ms", d, grown)
	}
}

func TestGrowsDuringContinuousAudio(t *testing.T) {
	// The sawtooth is never quiet, so only late packets can make the buffer
	// stretch: after the first ones, it must, and then play cleanly.
	b := New(Config{})
	ps := stream(0, 160, 150, func(i int) time.Duration {
		if i >= 20 && i%2 == 0 {
			return 45 * ms
		}
		return 1 * ms
	})
	r := play(b, ps, 7*ms, 3*time.Second)
	if b.Level() < 50*ms {
		t.Errorf("playout delay %v with 45 ms reordering, want >= 50 ms", b.Level())
	}
	if s := b.Stats(); s.Late == 0 || s.Late > 4 || s.Stretched == 0 {
		t.Errorf("stats %+v: want a few late packets, then stretching", s)
	}
	checkTail(t, r.out, 160*60)
}

func TestLatePacketGrowsDelay(t *testing.T) {
	b := New(Config{Target: 20 * ms, Min: 20 * ms, Max: 200 * ms})
	ps := stream(0, 160, 100, func(i int) time.Duration {
		if i == 50 {
			return 150 * ms
		}
		return 0
	})
	r := play(b, ps, 1*ms, 2500*ms)
	if n := countResult(r.puts, Late); n != 1 {
		t.Fatalf("%d late puts, want 1", n)
	}
	if b.Delay() < 150*ms {
		t.Errorf("delay %v after a packet 150 ms late, want >= 150 ms", b.Delay())
	}
}

func TestTimestampJumpResyncs(t *testing.T) {
	for _, jump := range []int64{+3 * 8000, -3 * 8000, +300 * 8, -300 * 8} {
		b := New(Config{})
		ps := stream(100000, 160, 50, func(int) time.Duration { return 2 * ms })
		more := stream(uint32(100000+50*160+jump), 160, 50, func(int) time.Duration { return time.Second + 2*ms })
		r := play(b, append(ps, more...), 3*ms, 2*time.Second)
		// The last 300 ms must be the second stream, continuous.
		t.Logf("jump %+d: stats %+v", jump, b.Stats())
		checkTail(t, r.out, 2400)
	}
}

func TestLongerPacketsThanFrames(t *testing.T) {
	b := New(Config{})
	ps := stream(0, 240, 60, func(int) time.Duration { return 1 * ms }) // 30 ms packets
	r := play(b, ps, 13*ms, 1800*ms)
	checkContinuous(t, r.out, 0, 160*70)
	if s := b.Stats(); s.Concealed != 0 {
		t.Errorf("30 ms packets: stats %+v", s)
	}
}

func TestClockDriftIsAbsorbed(t *testing.T) {
	b := New(Config{})
	// The sender's clock runs 0.5% fast; speech comes in 1 s talkspurts
	// with 200 ms pauses so the buffer can drop frames unheard.
	const count = 3000
	ps := make([]packet, 0, count)
	for i := range count {
		if i%60 >= 50 { // pause
			continue
		}
		sent := time.Duration(float64(i) * 20 * float64(ms) / 1.005)
		ps = append(ps, packet{ts: uint32(i * 160), n: 160, arrive: sent + 2*ms})
	}
	play(b, ps, 5*ms, count*20*ms)
	if lvl := b.Level(); lvl > 80*ms || lvl < 0 {
		t.Errorf("after 60 s of a 0.5%% fast sender the playout delay is %v", lvl)
	}
	if b.Stats().Dropped == 0 {
		t.Error("no frame was dropped to absorb the drift")
	}
}

func TestResetStartsOver(t *testing.T) {
	b := New(Config{})
	ps := stream(0, 160, 20, func(int) time.Duration { return 0 })
	play(b, ps, 1*ms, 400*ms)
	b.Reset()
	if b.Delay() != DefaultTarget {
		t.Errorf("delay after Reset %v", b.Delay())
	}
	ps = stream(777777, 160, 50, func(int) time.Duration { return 0 })
	for i := range ps {
		ps[i].arrive += 400 * ms
	}
	r := play(b, ps, 401*ms, 1400*ms)
	checkTail(t, r.out, 160*40)
}

// checkTail asserts that the last n samples of out are the sender's signal
// without a break.
func checkTail(t *testing.T, out []int16, n int) {
	t.Helper()
	tail := out[len(out)-n:]
	for i := 1; i < len(tail); i++ {
		if (int(tail[i]) - 1000) != (int(tail[i-1])-1000+1)%20000 {
			t.Fatalf("output not continuous at the end (sample %d of %d: %d then %d)", i, n, tail[i-1], tail[i])
		}
	}
}

func TestRejectsBadPackets(t *testing.T) {
	b := New(Config{})
	if r := b.Put(0, nil, 0); r != Rejected {
		t.Errorf("empty packet: %v", r)
	}
	if r := b.Put(0, make([]int16, MaxPacket+1), 0); r != Rejected {
		t.Errorf("oversized packet: %v", r)
	}
}

func TestNoAllocations(t *testing.T) {
	b := New(Config{})
	pcm := make([]int16, 160)
	out := make([]int16, 160)
	var ts uint32
	now := time.Duration(0)
	allocs := testing.AllocsPerRun(1000, func() {
		b.Put(ts, pcm, now)
		b.Read(out, now+3*ms)
		ts += 160
		now += 20 * ms
	})
	if allocs != 0 {
		t.Fatalf("Put+Read allocate %.1f times per frame", allocs)
	}
}

func BenchmarkPutRead(b *testing.B) {
	buf := New(Config{})
	pcm := make([]int16, 160)
	for i := range pcm {
		pcm[i] = value(int64(i))
	}
	out := make([]int16, 160)
	var ts uint32
	now := time.Duration(0)
	b.ReportAllocs()
	for b.Loop() {
		buf.Put(ts, pcm, now)
		buf.Read(out, now+3*ms)
		ts += 160
		now += 20 * ms
	}
}

func TestConcealmentAtAnyAlignment(t *testing.T) {
	// A lost packet usually straddles two reads, at any offset: every
	// alignment must conceal a tone without dips or phase jumps.
	const level = -7.0 // dBm0
	tone := boards.Tone{LoopFrom: -1, Segments: []boards.Segment{{Freqs: []float64{1004}, LevelDBm0: level}}}
	for phase := time.Duration(0); phase < 20*ms; phase += 375 * time.Microsecond {
		b := New(Config{Target: 60 * ms, Min: 60 * ms, Max: 60 * ms})
		gen := dsp.NewToneGen(tone)
		frame := make([]int16, 160)
		var pcm boards.Frame
		var out []int16
		for i := range 100 {
			now := time.Duration(i) * 20 * ms
			gen.Fill(&pcm)
			if i < 40 || i%10 != 5 {
				b.Put(uint32(i*160), pcm[:], now+time.Millisecond)
			}
			b.Read(frame, now+phase)
			out = append(out, frame...)
		}
		if c := b.Stats().Concealed; c < 5 {
			t.Fatalf("phase %v: only %d concealed reads", phase, c)
		}
		for i := 45 * 160; i+160 <= len(out); i += 160 {
			blk := out[i : i+160]
			g, all := dsp.ToneLevelDBm0(blk, 1004), dsp.LevelDBm0(blk)
			// At least 80 % of the tone's amplitude and 90 % of the power.
			amplitude, purity := math.Pow(10, (g-level)/20), math.Pow(10, (g-all)/10)
			if amplitude < 0.8 || purity < 0.9 {
				t.Fatalf("read phase %v, block %d: tone at %.0f%% level, %.0f%% of the power", phase, i/160, 100*amplitude, 100*purity)
			}
		}
	}
}
