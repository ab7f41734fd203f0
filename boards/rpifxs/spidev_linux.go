//go:build linux

package rpifxs

import (
	"errors"
	"fmt"
	"runtime"
	"sync"
	"unsafe"

	"golang.org/x/sys/unix"
)

// spidev is the kernel's SPI device (/dev/spidevB.C), spoken to directly:
// periph's sysfs package would do it too, but links its I²C, LED and
// thermal drivers along with it, 130 kB of firmware for three ioctls.
type spidev struct {
	mu  sync.Mutex
	fd  int
	hz  uint32
	req uintptr
}

// spiTransfer is struct spi_ioc_transfer: 32 bytes, the same on every
// architecture (the buffers are u64 whatever the pointer size).
type spiTransfer struct {
	tx, rx      uint64
	length, hz  uint32
	delayUsecs  uint16
	bitsPerWord uint8
	csChange    uint8
	txNbits     uint8
	rxNbits     uint8
	wordDelay   uint8
	_           uint8
}

const spiModeCPOL, spiModeCPHA = 0x2, 0x1

func openSPIDev(bus, cs, hz int) (*spidev, error) {
	path := fmt.Sprintf("/dev/spidev%d.%d", bus, cs)
	fd, err := unix.Open(path, unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w (enable SPI: dtparam=spi=on)", path, err)
	}
	s := &spidev{fd: fd, hz: uint32(hz), req: ioctlNumber(runtime.GOARCH, iocWrite, 'k', 0, unsafe.Sizeof(spiTransfer{}))}
	// The ProSLIC samples on the rising edge with the clock idle high:
	// SPI mode 3.
	mode := uint8(spiModeCPOL | spiModeCPHA)
	bits := uint8(8)
	speed := uint32(hz)
	for _, set := range []struct {
		what string
		req  uintptr
		arg  unsafe.Pointer
	}{
		{"mode", ioctlNumber(runtime.GOARCH, iocWrite, 'k', 1, 1), unsafe.Pointer(&mode)},
		{"bits per word", ioctlNumber(runtime.GOARCH, iocWrite, 'k', 3, 1), unsafe.Pointer(&bits)},
		{"speed", ioctlNumber(runtime.GOARCH, iocWrite, 'k', 4, 4), unsafe.Pointer(&speed)},
	} {
		if err := ioctlPtr(fd, set.req, set.arg); err != nil {
			_ = unix.Close(fd)
			return nil, fmt.Errorf("%s: set SPI %s: %w", path, set.what, err)
		}
	}
	return s, nil
}

// Tx runs one transaction: w out, r (if any, as long as w) in.
func (s *spidev) Tx(w, r []byte) error {
	if len(w) == 0 || (r != nil && len(r) != len(w)) {
		return errors.New("spidev: a transaction writes at least one byte and reads as many as it writes")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t := spiTransfer{tx: uint64(uintptr(unsafe.Pointer(&w[0]))), length: uint32(len(w)), hz: s.hz, bitsPerWord: 8}
	if r != nil {
		t.rx = uint64(uintptr(unsafe.Pointer(&r[0])))
	}
	err := ioctlPtr(s.fd, s.req, unsafe.Pointer(&t))
	runtime.KeepAlive(w)
	runtime.KeepAlive(r)
	if err != nil {
		return fmt.Errorf("spidev transfer: %w", err)
	}
	return nil
}

func (s *spidev) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fd < 0 {
		return nil
	}
	err := unix.Close(s.fd)
	s.fd = -1
	return err
}
