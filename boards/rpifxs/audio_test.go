package rpifxs

import (
	"encoding/binary"
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/tipring/tipring/boards"
	"github.com/tipring/tipring/boards/dsp"
)

// TestHWParamsLayout checks struct snd_pcm_hw_params against
// include/uapi/sound/asound.h for 32-bit (arm, mipsle) and 64-bit
// (amd64, arm64) kernels, whatever the host.
func TestHWParamsLayout(t *testing.T) {
	if got := hwParamsSize(4); got != 604 {
		t.Errorf("32-bit hw_params size %d, want 604", got)
	}
	if got := hwParamsSize(8); got != 608 {
		t.Errorf("64-bit hw_params size %d, want 608", got)
	}
	if hwIntervalsOff != 260 || hwRmaskOff != 512 || hwFifoOff != 536 {
		t.Errorf("offsets intervals %d rmask %d fifo_size %d, want 260 512 536", hwIntervalsOff, hwRmaskOff, hwFifoOff)
	}
	if got := swParamsSize(4); got != 104 {
		t.Errorf("32-bit sw_params size %d, want 104", got)
	}
	if got := swParamsSize(8); got != 136 {
		t.Errorf("64-bit sw_params size %d, want 136", got)
	}
	cfg := hwConfig{Channels: 2, Rate: 8000, PeriodSize: 160, Periods: 4}
	for _, word := range []int{4, 8} {
		b := encodeHWParams(cfg, word, binary.LittleEndian)
		if len(b) != hwParamsSize(word) {
			t.Fatalf("encoded %d bytes for word %d", len(b), word)
		}
		le := binary.LittleEndian
		if got := le.Uint32(b[4:]); got != 1<<accessRWInterleaved {
			t.Errorf("access mask %#x, want RW_INTERLEAVED only", got)
		}
		if got := le.Uint32(b[4+32:]); got != 1<<formatS16LE {
			t.Errorf("format mask %#x, want S16_LE only", got)
		}
		// RATE is interval 3: 260 + 3*12.
		if lo, hi, fl := le.Uint32(b[296:]), le.Uint32(b[300:]), le.Uint32(b[304:]); lo != 8000 || hi != 8000 || fl != 1<<2 {
			t.Errorf("rate interval %d-%d flags %#x, want 8000-8000 integer", lo, hi, fl)
		}
		if err := checkHWParams(b, cfg, binary.LittleEndian); err != nil {
			t.Error(err)
		}
		sw := encodeSWParams(swConfig{AvailMin: 160, StartThreshold: 320, StopThreshold: 640}, word, le)
		// avail_min follows three ints, aligned to a long.
		availOff := map[int]int{4: 12, 8: 16}[word]
		startOff := availOff + 2*word
		var avail, start uint64
		if word == 8 {
			avail, start = le.Uint64(sw[availOff:]), le.Uint64(sw[startOff:])
		} else {
			avail, start = uint64(le.Uint32(sw[availOff:])), uint64(le.Uint32(sw[startOff:]))
		}
		if avail != 160 || start != 320 {
			t.Errorf("word %d: sw_params avail_min %d start_threshold %d", word, avail, start)
		}
	}
	// Big-endian MIPS allocates the bitfield from the top bit.
	b := encodeHWParams(cfg, 4, binary.BigEndian)
	if fl := binary.BigEndian.Uint32(b[304:]); fl != 1<<29 {
		t.Errorf("big-endian integer flag %#x, want %#x", fl, 1<<29)
	}
	// A device that refused the rate is caught.
	setInterval(b, binary.BigEndian, hwParamRate, 8000, 48000, false)
	if err := checkHWParams(b, cfg, binary.BigEndian); err == nil {
		t.Error("a rate range 8000-48000 passed the check")
	}
}

// TestIoctlNumbers compares with the values the kernel headers give.
func TestIoctlNumbers(t *testing.T) {
	for _, c := range []struct {
		arch string
		word int
		want pcmRequests
	}{
		{"amd64", 8, pcmRequests{hwParams: 0xc2604111, swParams: 0xc0884113, prepare: 0x4140, start: 0x4142, drop: 0x4143, delay: 0x80084121, writeI: 0x40184150, readI: 0x80184151}},
		{"arm", 4, pcmRequests{hwParams: 0xc25c4111, swParams: 0xc0684113, prepare: 0x4140, start: 0x4142, drop: 0x4143, delay: 0x80044121, writeI: 0x400c4150, readI: 0x800c4151}},
		{"mipsle", 4, pcmRequests{hwParams: 0xc25c4111, swParams: 0xc0684113, prepare: 0x20004140, start: 0x20004142, drop: 0x20004143, delay: 0x40044121, writeI: 0x800c4150, readI: 0x400c4151}},
	} {
		if got := pcmRequestsFor(c.arch, c.word); got != c.want {
			t.Errorf("%s:\n got %#v\nwant %#v", c.arch, got, c.want)
		}
	}
	// SPI_IOC_MESSAGE(1) on arm and amd64.
	if got := ioctlNumber("arm", iocWrite, 'k', 0, 32); got != 0x40206b00 {
		t.Errorf("SPI_IOC_MESSAGE(1) %#x, want 0x40206b00", got)
	}
}

func TestPCMPaths(t *testing.T) {
	p, c, err := pcmPaths("hw:1,2")
	if err != nil || p != "/dev/snd/pcmC1D2p" || c != "/dev/snd/pcmC1D2c" {
		t.Errorf("hw:1,2 -> %q %q %v", p, c, err)
	}
	if p, _, err := pcmPaths("hw:0"); err != nil || p != "/dev/snd/pcmC0D0p" {
		t.Errorf("hw:0 -> %q %v", p, err)
	}
	for _, bad := range []string{"default", "hw:x,0", "hw:0,../../x", "plughw:0,0", "hw:300,0"} {
		if _, _, err := pcmPaths(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// simulateDrift runs the capture clock at 8 kHz and the playback clock
// ppm faster (or slower) for d of virtual time, the audio loop writing
// what the guard says after every captured period. It returns the
// corrections and the lowest and highest queue seen.
func simulateDrift(ppm float64, d time.Duration) (g *driftGuard, underruns, lo, hi int) {
	g = newDriftGuard(playbackPrefill - framePeriod)
	playRate := sampleRate * (1 + ppm/1e6)
	written := float64(playbackPrefill)
	lo, hi = math.MaxInt, 0
	periods := int(d / boards.FrameDuration)
	for k := 1; k <= periods; k++ {
		t := float64(k*framePeriod) / sampleRate // when period k is captured
		queued := written - t*playRate
		if queued < 0 {
			underruns++
			written -= queued // the device restarts from empty
			queued = 0
		}
		q := int(queued)
		lo, hi = min(lo, q), max(hi, q)
		written += float64(g.frames(q))
	}
	return g, underruns, lo, hi
}

func TestDriftGuard(t *testing.T) {
	const run = 10 * time.Minute
	for _, c := range []struct {
		name string
		ppm  float64
	}{{"playback 0.1% fast", 1000}, {"playback 0.1% slow", -1000}, {"one clock", 0}} {
		t.Run(c.name, func(t *testing.T) {
			g, under, lo, hi := simulateDrift(c.ppm, run)
			if under > 0 {
				t.Errorf("%d underruns", under)
			}
			target := playbackPrefill - framePeriod
			if lo < target-framePeriod/2 || hi > target+framePeriod/2 {
				t.Errorf("queue wandered %d-%d frames, want within %d±%d", lo, hi, target, framePeriod/2)
			}
			// 0.1 % of 8000 samples/s is 8 corrections a second.
			want := math.Abs(c.ppm) / 1e6 * sampleRate * run.Seconds()
			got := float64(g.inserted + g.dropped)
			if math.Abs(got-want) > 0.05*want+2 {
				t.Errorf("%d inserted, %d dropped; want about %.0f corrections", g.inserted, g.dropped, want)
			}
			if c.ppm > 0 && g.dropped > 0 || c.ppm < 0 && g.inserted > 0 {
				t.Errorf("corrected the wrong way: %d inserted, %d dropped", g.inserted, g.dropped)
			}
		})
	}
}

func TestInterleave(t *testing.T) {
	frames := make([]boards.Frame, 2)
	for i := range framePeriod {
		frames[0][i] = int16(i)
		frames[1][i] = int16(-i)
	}
	out := make([]int16, (framePeriod+1)*2)
	for _, n := range []int{framePeriod - 1, framePeriod, framePeriod + 1} {
		got := interleave(out, frames, n)
		if len(got) != 2*n {
			t.Fatalf("n=%d: %d samples", n, len(got))
		}
		last := got[len(got)-2:]
		want := int16(min(n-1, framePeriod-1))
		if last[0] != want || last[1] != -want {
			t.Errorf("n=%d: last frame %v, want [%d %d]", n, last, want, -want)
		}
	}
	back := make([]boards.Frame, 2)
	deinterleave(interleave(out, frames, framePeriod), back)
	if back[0] != frames[0] || back[1] != frames[1] {
		t.Error("deinterleave(interleave(x)) != x")
	}
}

// TestDTMFFromLine checks that DTMF the phone sends is detected on the up
// audio while off-hook, and that a tone played reaches the down audio.
func TestDTMFFromLine(t *testing.T) {
	tb := newTestBoard(t, boards.Options{})
	p := tb.ports[0]
	tb.edge(1, true)
	drain(p.Events())
	samples := dsp.AppendTone(nil, dsp.DTMFTone('7', 100*time.Millisecond, 100*time.Millisecond, -10), 400*time.Millisecond)
	var down boards.Frame
	p.PlayTone(dsp.DTMFTone('1', time.Second, 0, -10))
	for i := 0; i+framePeriod <= len(samples); i += framePeriod {
		var up boards.Frame
		copy(up[:], samples[i:])
		tb.now = tb.now.Add(boards.FrameDuration)
		p.frame(&up, &down, tb.now)
	}
	evs := drain(p.Events())
	if got := kinds(evs); got != "digit:7 " {
		t.Fatalf("phone sent DTMF 7: events %q", got)
	}
	if evs[0].Pulse {
		t.Error("DTMF digit marked as pulse")
	}
	if lvl := dsp.LevelDBm0(down[:]); lvl < -15 {
		t.Errorf("played tone reached the line at %.1f dBm0", lvl)
	}
}

// FuzzPCMPaths checks that no device name panics and that whatever is
// accepted names a device file under /dev/snd.
func FuzzPCMPaths(f *testing.F) {
	f.Add("hw:0,0")
	f.Fuzz(func(t *testing.T, name string) {
		p, c, err := pcmPaths(name)
		if err != nil {
			return
		}
		for _, path := range []string{p, c} {
			var card, dev int
			var dir byte
			if n, _ := fmt.Sscanf(path, "/dev/snd/pcmC%dD%d%c", &card, &dev, &dir); n != 3 || fmt.Sprintf("/dev/snd/pcmC%dD%d%c", card, dev, dir) != path {
				t.Fatalf("%q gave device path %q", name, path)
			}
		}
	})
}
