package rpifxs

import (
	"fmt"
	"sync"
	"time"
)

// The SLIC is a Silicon Labs Si3226x-class dual-channel ProSLIC on SPI.
// Every access is one transaction: a control byte, a register address,
// then one data byte out (write) or in (read). The control byte carries
// the channel in its low five bits, bit-reversed (the ProSLIC daisy-chain
// numbering), 0x20 for a register access and 0x40 for a read.
//
// The register numbers are those of the ProSLIC register map shared by the
// Si3217x and Si3226x; check them against your module's datasheet when
// bringing up a different chip.
const (
	regID       = 0
	regReset    = 1
	regIRQ1     = 18 // IRQ1..IRQ4 (18..21) are cleared by reading them
	regIRQ2     = 19
	regIRQEN2   = 23
	regPCMMode  = 11
	regPCMTXLo  = 12
	regPCMTXHi  = 13
	regPCMRXLo  = 14
	regPCMRXHi  = 15
	regLinefeed = 30
	regLCRRTP   = 34
)

// LINEFEED states.
const (
	lfOpen      = 0
	lfFwdActive = 1
	lfRinging   = 4
	lfRevActive = 5
)

// Bits of LCRRTP and IRQ2.
const (
	bitRTP = 1 << 0 // ring trip
	bitLCR = 1 << 1 // loop closure: off-hook
)

// pcmModeLinear16 enables the PCM bus with 16-bit linear samples, as the
// ALSA side carries them (PCMMODE: PCM_EN and the linear format).
const pcmModeLinear16 = 0x13

// RegBus is the SLIC's SPI connection: periph's spi.Conn, or the
// driver's own spidev.
type RegBus interface {
	Tx(w, r []byte) error
}

// slic is the chip: register access serialised between the audio loop
// (linefeed writes) and the interrupt loop (status reads).
type slic struct {
	mu  sync.Mutex
	bus RegBus
	buf [3]byte
	in  [3]byte
}

func channelBits(ch int) byte {
	// Five-bit reversal: channel 1 is 0x10, channel 2 is 0x08.
	var r byte
	for i := range 5 {
		if ch&(1<<i) != 0 {
			r |= 1 << (4 - i)
		}
	}
	return r
}

func (s *slic) write(ch int, reg, v byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.buf = [3]byte{0x20 | channelBits(ch), reg, v}
	if err := s.bus.Tx(s.buf[:], nil); err != nil {
		return fmt.Errorf("SLIC channel %d register %d: write: %w", ch, reg, err)
	}
	return nil
}

func (s *slic) read(ch int, reg byte) (byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.buf = [3]byte{0x60 | channelBits(ch), reg, 0}
	if err := s.bus.Tx(s.buf[:], s.in[:]); err != nil {
		return 0, fmt.Errorf("SLIC channel %d register %d: read: %w", ch, reg, err)
	}
	return s.in[2], nil
}

// setup brings the channels from reset to an idle, powered line: checks
// that a ProSLIC answers, puts each channel's audio in its PCM time slot,
// enables the hook and ring-trip interrupts and powers the line.
//
// The module's DC-DC converter and calibration presets come from the
// module's own setup (see docs/boards.md); setup does not replace them.
func (s *slic) setup(channels int) error {
	id, err := s.read(0, regID)
	if err != nil {
		return err
	}
	if id == 0x00 || id == 0xff {
		return fmt.Errorf("no SLIC answers on SPI (ID register reads %#02x): check the module's SPI wiring, power and reset pin", id)
	}
	for ch := range channels {
		// Time slot in PCM clocks: channel n carries the n-th 16-bit
		// word of the frame, as the ALSA side interleaves them.
		slot := ch * 16
		for _, w := range [][2]byte{
			{regPCMMode, pcmModeLinear16},
			{regPCMTXLo, byte(slot)}, {regPCMTXHi, byte(slot >> 8)},
			{regPCMRXLo, byte(slot)}, {regPCMRXHi, byte(slot >> 8)},
			{regIRQEN2, bitLCR | bitRTP},
			{regLinefeed, lfFwdActive},
		} {
			if err := s.write(ch, w[0], w[1]); err != nil {
				return fmt.Errorf("SLIC setup: %w", err)
			}
		}
	}
	return nil
}

// hook reads the channel's loop-closure status and clears its interrupts.
func (s *slic) hook(ch int) (offHook bool, err error) {
	if _, err := s.read(ch, regIRQ2); err != nil {
		return false, err
	}
	v, err := s.read(ch, regLCRRTP)
	if err != nil {
		return false, err
	}
	return v&bitLCR != 0, nil
}

// resetPulse holds the chip in reset long enough for it to notice (the
// ProSLIC wants 250 µs or more) and lets it start.
const resetPulse = 10 * time.Millisecond
