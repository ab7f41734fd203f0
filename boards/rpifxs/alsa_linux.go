//go:build linux

package rpifxs

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"runtime"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// alsaPCM is the kernel PCM device pair (playback and capture) of one
// ALSA hw device, driven by ioctl.
type alsaPCM struct {
	play, capt int
	channels   int
	period     int // frames
	req        pcmRequests
}

var _ PCM = (*alsaPCM)(nil)

// xferi is struct snd_xferi: a long, a pointer and an unsigned long,
// which are Go's int, unsafe.Pointer and uintptr on every linux target.
type xferi struct {
	result int
	buf    unsafe.Pointer
	frames uintptr
}

// pollSlice bounds each wait so that a cancelled context is noticed.
const pollSlice = 100 * time.Millisecond

// openALSA opens name ("hw:0,0") for 8 kHz S16_LE with one channel per
// port and 20 ms periods, and primes the playback side with silence.
func openALSA(name string, channels int) (*alsaPCM, error) {
	pp, cp, err := pcmPaths(name)
	if err != nil {
		return nil, err
	}
	word := int(unsafe.Sizeof(uintptr(0)))
	a := &alsaPCM{play: -1, capt: -1, channels: channels, period: framePeriod, req: pcmRequestsFor(runtime.GOARCH, word)}
	if a.play, err = unix.Open(pp, unix.O_RDWR|unix.O_NONBLOCK|unix.O_CLOEXEC, 0); err != nil {
		return nil, fmt.Errorf("open %s: %w (is the SLIC's PCM overlay loaded? see docs/boards.md)", pp, err)
	}
	if a.capt, err = unix.Open(cp, unix.O_RDWR|unix.O_NONBLOCK|unix.O_CLOEXEC, 0); err != nil {
		a.Close()
		return nil, fmt.Errorf("open %s: %w", cp, err)
	}
	hw := hwConfig{Channels: channels, Rate: sampleRate, PeriodSize: framePeriod, Periods: bufferPeriods}
	for _, fd := range []struct {
		fd    int
		path  string
		start int
	}{{a.play, pp, playbackPrefill}, {a.capt, cp, 1}} {
		b := encodeHWParams(hw, word, binary.NativeEndian)
		if err := ioctlPtr(fd.fd, a.req.hwParams, unsafe.Pointer(&b[0])); err != nil {
			a.Close()
			return nil, fmt.Errorf("%s: set 8 kHz S16_LE, %d channels, 20 ms periods: %w", fd.path, channels, err)
		}
		if err := checkHWParams(b, hw, binary.NativeEndian); err != nil {
			a.Close()
			return nil, fmt.Errorf("%s: %w", fd.path, err)
		}
		sw := encodeSWParams(swConfig{AvailMin: framePeriod, StartThreshold: fd.start, StopThreshold: framePeriod * bufferPeriods}, word, binary.NativeEndian)
		if err := ioctlPtr(fd.fd, a.req.swParams, unsafe.Pointer(&sw[0])); err != nil {
			a.Close()
			return nil, fmt.Errorf("%s: software parameters: %w", fd.path, err)
		}
	}
	if err := a.prepare(); err != nil {
		a.Close()
		return nil, err
	}
	return a, nil
}

// prepare (re)starts both directions after opening or an xrun: playback
// gets its prefill of silence, capture starts at once.
func (a *alsaPCM) prepare() error {
	for _, fd := range []int{a.play, a.capt} {
		if err := ioctlPtr(fd, a.req.prepare, nil); err != nil {
			return fmt.Errorf("prepare PCM: %w", err)
		}
	}
	silence := make([]int16, playbackPrefill*a.channels)
	if err := a.Write(silence); err != nil {
		return err
	}
	if err := ioctlPtr(a.capt, a.req.start, nil); err != nil && !errors.Is(err, unix.EBADFD) {
		return fmt.Errorf("start capture: %w", err)
	}
	return nil
}

func (a *alsaPCM) Read(ctx context.Context, buf []int16) error {
	frames := len(buf) / a.channels
	done := 0
	for done < frames {
		if err := ctx.Err(); err != nil {
			return err
		}
		x := xferi{buf: unsafe.Pointer(&buf[done*a.channels]), frames: uintptr(frames - done)}
		err := ioctlPtr(a.capt, a.req.readI, unsafe.Pointer(&x))
		switch {
		case err == nil:
			done += x.result
		case errors.Is(err, unix.EAGAIN):
			if err := a.wait(a.capt, unix.POLLIN); err != nil {
				return err
			}
		case errors.Is(err, unix.EPIPE):
			// Overrun: we were too slow; restart and keep going, the
			// lost audio is a click, not a dropped call.
			if err := a.prepare(); err != nil {
				return fmt.Errorf("recover from capture overrun: %w", err)
			}
		default:
			return fmt.Errorf("read PCM: %w", err)
		}
	}
	return nil
}

func (a *alsaPCM) Write(buf []int16) error {
	frames := len(buf) / a.channels
	done := 0
	for done < frames {
		x := xferi{buf: unsafe.Pointer(&buf[done*a.channels]), frames: uintptr(frames - done)}
		err := ioctlPtr(a.play, a.req.writeI, unsafe.Pointer(&x))
		switch {
		case err == nil:
			done += x.result
		case errors.Is(err, unix.EAGAIN):
			if err := a.wait(a.play, unix.POLLOUT); err != nil {
				return err
			}
		case errors.Is(err, unix.EPIPE):
			// Underrun: refill the prefill and carry on.
			if err := ioctlPtr(a.play, a.req.prepare, nil); err != nil {
				return fmt.Errorf("recover from playback underrun: %w", err)
			}
		default:
			return fmt.Errorf("write PCM: %w", err)
		}
	}
	return nil
}

func (a *alsaPCM) wait(fd int, events int16) error {
	fds := []unix.PollFd{{Fd: int32(fd), Events: events}}
	_, err := unix.Poll(fds, int(pollSlice/time.Millisecond))
	if err != nil && !errors.Is(err, unix.EINTR) {
		return fmt.Errorf("poll PCM: %w", err)
	}
	return nil
}

func (a *alsaPCM) Queued() (int, error) {
	var d int
	if err := ioctlPtr(a.play, a.req.delay, unsafe.Pointer(&d)); err != nil {
		return 0, fmt.Errorf("PCM delay: %w", err)
	}
	return d, nil
}

func (a *alsaPCM) Close() error {
	var errs []error
	for _, fd := range []*int{&a.play, &a.capt} {
		if *fd >= 0 {
			_ = ioctlPtr(*fd, a.req.drop, nil)
			errs = append(errs, unix.Close(*fd))
			*fd = -1
		}
	}
	return errors.Join(errs...)
}

func ioctlPtr(fd int, req uintptr, arg unsafe.Pointer) error {
	_, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), req, uintptr(arg))
	if e != 0 {
		return e
	}
	return nil
}
