package dsp

import (
	"math"

	"github.com/tipring/tipring/boards"
)

// fskModem is a binary FSK modem as used for on-hook caller ID.
type fskModem struct {
	markHz  float64 // logical 1, also the idle (stop bit, mark signal) tone
	spaceHz float64 // logical 0
	baud    float64
}

// The two caller-ID modems. Both run at 1200 baud; they differ in tones.
// Bell 202 per Telcordia GR-30-CORE, V.23 per ETSI EN 300 659-1.
const (
	fskBell202MarkHz  = 1200
	fskBell202SpaceHz = 2200
	fskV23MarkHz      = 1300
	fskV23SpaceHz     = 2100
	fskBaud           = 1200
)

// fskModemFor reports the modem of a caller-ID standard; false for
// standards that do not use FSK.
func fskModemFor(std boards.CallerIDStandard) (fskModem, bool) {
	switch std {
	case boards.CallerIDBell202:
		return fskModem{markHz: fskBell202MarkHz, spaceHz: fskBell202SpaceHz, baud: fskBaud}, true
	case boards.CallerIDETSIFSK, boards.CallerIDETSIFSKAfterRing:
		return fskModem{markHz: fskV23MarkHz, spaceHz: fskV23SpaceHz, baud: fskBaud}, true
	}
	return fskModem{}, false
}

// fskModulator renders phase-continuous FSK into a sample buffer. Bit
// boundaries fall on fractional sample positions (1200 baud is 6⅔ samples a
// bit at 8 kHz); each sample takes the tone of the bit it falls in, and the
// phase carries on across the change, as GR-30 requires ("phase-coherent").
type fskModulator struct {
	modem fskModem
	amp   float64
	phase float64 // radians, kept in [0, 2π)
	end   float64 // where the current bit ends, in samples
	out   []int16
}

func newFSKModulator(m fskModem, amp float64, out []int16) *fskModulator {
	return &fskModulator{modem: m, amp: amp, end: float64(len(out)), out: out}
}

func (m *fskModulator) bit(one bool) {
	f := m.modem.spaceHz
	if one {
		f = m.modem.markHz
	}
	step := 2 * math.Pi * f / boards.SampleRate
	m.end += boards.SampleRate / m.modem.baud
	for float64(len(m.out)) < m.end {
		m.out = append(m.out, saturate(m.amp*math.Sin(m.phase)))
		m.phase = math.Mod(m.phase+step, 2*math.Pi)
	}
}

// seizure sends n bits of alternating 0 and 1, starting with 0: the same
// bits as n/10 bytes of 0x55 with start and stop bits.
func (m *fskModulator) seizure(n int) {
	for i := range n {
		m.bit(i%2 == 1)
	}
}

func (m *fskModulator) marks(n int) {
	for range n {
		m.bit(true)
	}
}

// byte sends one asynchronous character: a start bit (0), eight data bits
// least significant first, a stop bit (1).
func (m *fskModulator) byte(b byte) {
	m.bit(false)
	for i := range 8 {
		m.bit(b>>i&1 == 1)
	}
	m.bit(true)
}
