package rpifxs

import (
	"encoding/binary"
	"fmt"
	"strconv"
	"strings"
)

// The kernel's PCM interface (include/uapi/sound/asound.h), spoken
// through ioctl without alsa-lib so the firmware needs no cgo. The
// structures hold C longs (snd_pcm_uframes_t), so their layout depends on
// the word size: the encoders take it as a parameter and the tests check
// both 32-bit and 64-bit layouts on any host.

// Indices of struct snd_pcm_hw_params' masks and intervals
// (SNDRV_PCM_HW_PARAM_*).
const (
	hwParamAccess    = 0
	hwParamFormat    = 1
	hwParamSubformat = 2

	hwParamFirstInterval = 8
	hwParamSampleBits    = 8
	hwParamFrameBits     = 9
	hwParamChannels      = 10
	hwParamRate          = 11
	hwParamPeriodTime    = 12
	hwParamPeriodSize    = 13
	hwParamPeriodBytes   = 14
	hwParamPeriods       = 15
	hwParamBufferTime    = 16
	hwParamBufferSize    = 17
	hwParamBufferBytes   = 18
	hwParamTickTime      = 19
	hwParamLastInterval  = 19
)

const (
	accessRWInterleaved = 3 // SNDRV_PCM_ACCESS_RW_INTERLEAVED
	formatS16LE         = 2 // SNDRV_PCM_FORMAT_S16_LE
	subformatStd        = 0 // SNDRV_PCM_SUBFORMAT_STD
)

// struct snd_pcm_hw_params: flags, 3 masks + 5 reserved (32 bytes each),
// 12 intervals + 9 reserved (12 bytes each), six u32s, the FIFO size (a
// long), then 64 bytes (sync and reserved).
const (
	hwMasksOff     = 4
	hwMaskSize     = 32
	hwIntervalsOff = hwMasksOff + 8*hwMaskSize // 260
	hwIntervalSize = 12
	hwRmaskOff     = hwIntervalsOff + 21*hwIntervalSize // 512
	hwCmaskOff     = hwRmaskOff + 4
	hwInfoOff      = hwRmaskOff + 8
	hwMsbitsOff    = hwRmaskOff + 12
	hwRateNumOff   = hwRmaskOff + 16
	hwRateDenOff   = hwRmaskOff + 20
	hwFifoOff      = hwRmaskOff + 24 // 536, aligned for a long on 32 and 64 bits
)

// hwParamsSize is sizeof(struct snd_pcm_hw_params) for a word size of
// 4 or 8 bytes: 604 or 608.
func hwParamsSize(word int) int { return hwFifoOff + word + 64 }

// swParamsSize is sizeof(struct snd_pcm_sw_params): three ints, seven
// longs (after alignment), two u32s and 56 reserved bytes: 104 or 136.
func swParamsSize(word int) int { return swLongsOff(word) + 7*word + 8 + 56 }

func swLongsOff(word int) int {
	return (12 + word - 1) / word * word
}

// interval flag bits of struct snd_interval's bitfield (openmin, openmax,
// integer, empty). C compilers allocate bitfields from the low bit on
// little-endian targets and from the high bit on big-endian ones.
func intervalInteger(order binary.ByteOrder) uint32 {
	if order == binary.ByteOrder(binary.BigEndian) {
		return 1 << 29
	}
	return 1 << 2
}

// hwConfig is what we ask of the PCM device.
type hwConfig struct {
	Channels   int
	Rate       int
	PeriodSize int // frames
	Periods    int
}

// encodeHWParams builds a struct snd_pcm_hw_params that asks for
// interleaved S16_LE at exactly cfg's rate, channels and period, like
// alsa-lib's "any" followed by setting each parameter: every mask bit and
// range open except the ones we fix.
func encodeHWParams(cfg hwConfig, word int, order binary.ByteOrder) []byte {
	b := make([]byte, hwParamsSize(word))
	for m := range 3 {
		off := hwMasksOff + m*hwMaskSize
		for i := 0; i < hwMaskSize; i += 4 {
			order.PutUint32(b[off+i:], 0xffffffff)
		}
	}
	setMask := func(param int, bit uint) {
		off := hwMasksOff + param*hwMaskSize
		clear(b[off : off+hwMaskSize])
		order.PutUint32(b[off+int(bit/32)*4:], 1<<(bit%32))
	}
	setMask(hwParamAccess, accessRWInterleaved)
	setMask(hwParamFormat, formatS16LE)
	setMask(hwParamSubformat, subformatStd)
	for p := hwParamFirstInterval; p <= hwParamLastInterval; p++ {
		setInterval(b, order, p, 0, 0xffffffff, false)
	}
	setInterval(b, order, hwParamChannels, uint32(cfg.Channels), uint32(cfg.Channels), true)
	setInterval(b, order, hwParamRate, uint32(cfg.Rate), uint32(cfg.Rate), true)
	setInterval(b, order, hwParamPeriodSize, uint32(cfg.PeriodSize), uint32(cfg.PeriodSize), true)
	setInterval(b, order, hwParamPeriods, uint32(cfg.Periods), uint32(cfg.Periods), true)
	order.PutUint32(b[hwRmaskOff:], 0xffffffff)
	order.PutUint32(b[hwInfoOff:], 0xffffffff)
	return b
}

func setInterval(b []byte, order binary.ByteOrder, param int, lo, hi uint32, integer bool) {
	off := hwIntervalsOff + (param-hwParamFirstInterval)*hwIntervalSize
	order.PutUint32(b[off:], lo)
	order.PutUint32(b[off+4:], hi)
	var flags uint32
	if integer {
		flags = intervalInteger(order)
	}
	order.PutUint32(b[off+8:], flags)
}

// interval reads back an interval the kernel refined.
func interval(b []byte, order binary.ByteOrder, param int) (lo, hi uint32) {
	off := hwIntervalsOff + (param-hwParamFirstInterval)*hwIntervalSize
	return order.Uint32(b[off:]), order.Uint32(b[off+4:])
}

// checkHWParams says what the device refused: it must have granted exactly
// what we asked, or the 20 ms frame clock would be wrong.
func checkHWParams(b []byte, cfg hwConfig, order binary.ByteOrder) error {
	for _, want := range []struct {
		param int
		name  string
		v     int
	}{
		{hwParamChannels, "channels", cfg.Channels},
		{hwParamRate, "rate", cfg.Rate},
		{hwParamPeriodSize, "period size", cfg.PeriodSize},
		{hwParamPeriods, "periods", cfg.Periods},
	} {
		lo, hi := interval(b, order, want.param)
		if lo != uint32(want.v) || hi != uint32(want.v) {
			return fmt.Errorf("the device gave %s %d-%d, not %d", want.name, lo, hi, want.v)
		}
	}
	return nil
}

// swConfig is the software side of the PCM: when it starts and wakes us.
type swConfig struct {
	AvailMin       int
	StartThreshold int
	StopThreshold  int
}

func encodeSWParams(cfg swConfig, word int, order binary.ByteOrder) []byte {
	b := make([]byte, swParamsSize(word))
	putWord := func(off int, v uint64) {
		if word == 8 {
			order.PutUint64(b[off:], v)
		} else {
			order.PutUint32(b[off:], uint32(v))
		}
	}
	order.PutUint32(b[4:], 1) // period_step
	l := swLongsOff(word)
	putWord(l, uint64(cfg.AvailMin))
	// xfer_align (l+word) is obsolete and stays 0.
	putWord(l+2*word, uint64(cfg.StartThreshold))
	putWord(l+3*word, uint64(cfg.StopThreshold))
	// silence_threshold, silence_size 0; boundary is the kernel's to set.
	return b
}

// ioctl request numbers, as include/uapi/asm-generic/ioctl.h and the MIPS
// and PowerPC variants build them.
const (
	iocNone = iota
	iocWrite
	iocRead
)

func ioctlNumber(goarch string, dir, typ, nr, size uintptr) uintptr {
	switch goarch {
	case "mips", "mipsle", "mips64", "mips64le", "ppc64", "ppc64le":
		// Three direction bits: none 1, read 2, write 4.
		d := uintptr(1)
		if dir != iocNone {
			d = 0
			if dir&iocRead != 0 {
				d |= 2
			}
			if dir&iocWrite != 0 {
				d |= 4
			}
		}
		return d<<29 | (size&0x1fff)<<16 | typ<<8 | nr
	}
	return dir<<30 | (size&0x3fff)<<16 | typ<<8 | nr
}

// pcmRequests are the PCM ioctls for one architecture.
type pcmRequests struct {
	hwParams, swParams, prepare, start, drop, delay, writeI, readI uintptr
}

func pcmRequestsFor(goarch string, word int) pcmRequests {
	const a = 'A'
	return pcmRequests{
		hwParams: ioctlNumber(goarch, iocRead|iocWrite, a, 0x11, uintptr(hwParamsSize(word))),
		swParams: ioctlNumber(goarch, iocRead|iocWrite, a, 0x13, uintptr(swParamsSize(word))),
		delay:    ioctlNumber(goarch, iocRead, a, 0x21, uintptr(word)),
		prepare:  ioctlNumber(goarch, iocNone, a, 0x40, 0),
		start:    ioctlNumber(goarch, iocNone, a, 0x42, 0),
		drop:     ioctlNumber(goarch, iocNone, a, 0x43, 0),
		writeI:   ioctlNumber(goarch, iocWrite, a, 0x50, uintptr(3*word)),
		readI:    ioctlNumber(goarch, iocRead, a, 0x51, uintptr(3*word)),
	}
}

// pcmPaths turns an ALSA hw device name ("hw:0,0", "hw:1") into the
// kernel's playback and capture device files.
func pcmPaths(name string) (playback, capture string, err error) {
	spec, ok := strings.CutPrefix(name, "hw:")
	if !ok {
		return "", "", fmt.Errorf("audio device %q: only ALSA hw devices (\"hw:CARD,DEVICE\") can be opened without alsa-lib", name)
	}
	card, dev, _ := strings.Cut(spec, ",")
	if dev == "" {
		dev = "0"
	}
	c, err1 := strconv.ParseUint(card, 10, 8)
	d, err2 := strconv.ParseUint(dev, 10, 8)
	if err1 != nil || err2 != nil {
		return "", "", fmt.Errorf("audio device %q: card and device must be numbers (see `cat /proc/asound/pcm`)", name)
	}
	base := fmt.Sprintf("/dev/snd/pcmC%dD%d", c, d)
	return base + "p", base + "c", nil
}
