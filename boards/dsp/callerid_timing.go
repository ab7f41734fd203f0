package dsp

import (
	"time"

	"github.com/tipring/tipring/boards"
)

// The numbers the standards give for caller ID on the line, in one place.
// Where a standard gives a range, we pick a value inside it with margin on
// both sides, so that a phone built to the edge of the range still works.
const (
	// FSK preamble. GR-30: 30 bytes of 0x55 (300 alternating bits), then
	// 180 mark bits. EN 300 659-1: 300 alternating bits, then 180 ± 25
	// marks. BT SIN 227 asks receivers to cope with 96-315 and 55-90.
	cidSeizureBits = 300
	cidMarkBits    = 180
	// cidTrailMarks follow the checksum. The standards neither ask for nor
	// forbid them; they let a receiver's filters see the last stop bit
	// before the carrier stops (our receiver copes without them).
	cidTrailMarks = 10

	// DT-AS, the dual-tone alerting signal before ETSI FSK (EN 300 659-1
	// §6.1.1, BT SIN 227): 2130 + 2750 Hz for 88-110 ms.
	cidDTASLowHz  = 2130
	cidDTASHighHz = 2750
	cidDTASLength = 100 * time.Millisecond
	// cidDTASGap is silence between DT-AS and the FSK seizure. SIN 227: at
	// least 45 ms (the phone applies its AC load 15-25 ms after DT-AS);
	// EN 300 659-1 allows up to 500 ms.
	cidDTASGap = 60 * time.Millisecond
	// Each DT-AS tone is 3 dB below the FSK level, so the pair carries the
	// same power as the FSK that follows and cannot clip at 0 dBm0.
	cidDTASToneBelowDB = 3

	// DTMF caller ID (ETSI TS 101 154 / EN 300 659-1 annex): 'A' number 'C',
	// or 'B' and a two-digit code 'C' when there is no number. Tones of 70
	// ms with 70 ms pauses sit inside every national variant (50-80 ms).
	cidDTMFStartNumber = 'A'
	cidDTMFStartInfo   = 'B'
	cidDTMFEnd         = 'C'
	cidDTMFUnavailable = "00"
	cidDTMFPrivate     = "10"
	cidDTMFOn          = 70 * time.Millisecond
	cidDTMFOff         = 70 * time.Millisecond
	// Each DTMF tone is 3 dB below the requested level, so the digit as a
	// whole has the requested power.
	cidDTMFToneBelowDB = 3

	// Signal levels a CallerIDSignal may be built at: GR-30 sends at
	// -13.5 dBm0; 0 dBm0 is the loudest that does not clip.
	cidMaxLevelDBm0 = 0
	cidMinLevelDBm0 = -60

	// After the first ring (GR-30; EN 300 659-1 §6.1.2 likewise): FSK
	// starts at least 500 ms after the ring ends and ends at least 200 ms
	// before the next ring.
	cidAfterRingLeadIn  = 600 * time.Millisecond
	cidAfterRingLeadOut = 300 * time.Millisecond
	// Before the first ring with DT-AS (EN 300 659-1 §6.1.1, SIN 227):
	// line reversal, at least 100 ms, DT-AS, FSK, then at least 200 ms to
	// the first ring (SIN 227: the exchange then restores polarity or rings).
	cidETSIReversalLeadIn = 150 * time.Millisecond
	cidETSILeadOut        = 300 * time.Millisecond
	// DTMF before the first ring (EN 300 659-1 annex, TS 101 154): line
	// reversal, at least 200 ms, digits, first ring 200-500 ms after the
	// last digit, normal polarity restored after the digits.
	cidDTMFReversalLeadIn = 250 * time.Millisecond
	cidDTMFLeadOut        = 300 * time.Millisecond
)

// CallerIDTiming says what a board does around a CallerIDSignal, so that a
// board sequences ring, line reversal and caller ID without knowing the
// standards:
//
//   - BeforeFirstRing: reverse the line if Reverse, wait LeadIn, play the
//     signal, wait LeadOut, restore normal polarity if Restore, then ring.
//   - otherwise: ring once (the first on-period of the cadence), wait
//     LeadIn after it ends, play the signal, and let at least LeadOut pass
//     before the next ring, stretching the cadence's off-period if it is too
//     short for LeadIn + Duration + LeadOut.
type CallerIDTiming struct {
	// BeforeFirstRing: send before the first ring (ETSI before-ring, DTMF)
	// rather than after it (Bell 202, ETSI after-ring).
	BeforeFirstRing bool
	// Reverse the line polarity before the signal (before-ring variants).
	Reverse bool
	// Restore normal polarity once LeadOut has passed, before the first
	// ring. Only meaningful with Reverse.
	Restore bool
	// LeadIn is the delay from the end of the first ring (after-ring) or
	// the line reversal (before-ring) to the start of the signal.
	LeadIn time.Duration
	// LeadOut is the least delay from the end of the signal to the next
	// ring.
	LeadOut time.Duration
}

// CallerIDTimingFor returns the sequencing for a standard; the zero
// CallerIDTiming for CallerIDNone and unknown standards.
func CallerIDTimingFor(std boards.CallerIDStandard) CallerIDTiming {
	switch std {
	case boards.CallerIDBell202, boards.CallerIDETSIFSKAfterRing:
		return CallerIDTiming{LeadIn: cidAfterRingLeadIn, LeadOut: cidAfterRingLeadOut}
	case boards.CallerIDETSIFSK:
		return CallerIDTiming{BeforeFirstRing: true, Reverse: true, Restore: true,
			LeadIn: cidETSIReversalLeadIn, LeadOut: cidETSILeadOut}
	case boards.CallerIDDTMF:
		return CallerIDTiming{BeforeFirstRing: true, Reverse: true, Restore: true,
			LeadIn: cidDTMFReversalLeadIn, LeadOut: cidDTMFLeadOut}
	}
	return CallerIDTiming{}
}
