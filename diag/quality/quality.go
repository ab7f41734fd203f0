// Package quality turns a call's media statistics into the figures support
// reads in the bundle's calls section: an ITU-T G.107 E-model transmission
// rating R, the MOS that R predicts, the estimated mouth-to-ear delay, a
// rating in words, and a one-way-audio flag.
//
// The model is G.107 for narrowband G.711 with every parameter the standard
// lets default left at its default (Table 3 of G.107): only the delay and the
// packet loss of the call vary. Loss enters through the effective equipment
// impairment Ie,eff, never as a fixed penalty per lost packet: a per-packet
// penalty makes a long call look worse than a short one with the same loss
// rate, which is not what listeners report.
package quality

import "math"

// Ratings in words, after the user-satisfaction bands of G.107 Annex B
// (Table B.1): R ≥ 90 very satisfied, 80–90 satisfied, 70–80 some users
// dissatisfied, 60–70 many dissatisfied, below 60 nearly all dissatisfied.
const (
	RatingExcellent = "excellent"
	RatingGood      = "good"
	RatingFair      = "fair"
	RatingPoor      = "poor"
	RatingBad       = "bad"
)

// One-way audio reasons, in plain words for summary.txt.
const (
	NoAudioReceived = "no audio received"
	NoAudioSent     = "no audio sent"
)

const (
	// packetisationMs is tipring's G.711 frame: 160 samples at 8 kHz.
	packetisationMs = 20
	// oneWayThresholdMs is how much audio one side must have sent before
	// silence from the other side counts as one-way audio rather than a call
	// that ended before anyone spoke.
	oneWayThresholdMs = 1000
	// maxDelayMs bounds the delay fed to the model. Idd saturates near 50
	// long before this, so the cap changes no answer; it keeps the sixth
	// powers in Idd finite for absurd inputs.
	maxDelayMs = 60_000

	// Packet-loss robustness of G.711 from G.113 Appendix I: without
	// concealment, and with the concealment of G.711 Appendix I. tipring
	// conceals loss, so a Call says PLC unless its media engine did not.
	bplNoPLC = 4.3
	bplPLC   = 25.1
)

// Call is what the media engine knows about one call when it ends.
type Call struct {
	// PacketsSent and PacketsReceived are RTP packet counts. They stand in
	// for AudioSentMs and AudioReceivedMs (at 20 ms a packet) only when both
	// of those are zero.
	PacketsSent, PacketsReceived uint64
	// LossFraction (0–1) is the share of expected received packets that
	// were not played: lost on the network or discarded late by the jitter
	// buffer. Both sound the same to the listener.
	LossFraction float64
	// JitterMs is the RFC 3550 interarrival jitter of the received stream.
	JitterMs float64
	// RTTms is the RTCP round-trip time; zero when no RTCP arrived.
	RTTms float64
	// JitterBufferMs is the mean playout delay the jitter buffer added;
	// zero means unknown, and twice the jitter is assumed.
	JitterBufferMs float64
	// PLC says the receiver concealed lost packets.
	PLC bool
	// AudioSentMs and AudioReceivedMs are how much audio went out and how
	// much came in and was played.
	AudioSentMs, AudioReceivedMs int64
	// Answered says the call reached 200 OK; only answered calls are rated.
	Answered bool
}

// Result is the quality verdict on one call. A call that was not answered
// had no conversation to rate: its Result is zero, with an empty Rating.
type Result struct {
	// R is the G.107 transmission rating, 0–100 (the model can go below
	// zero; that is reported as 0, which MOS maps to 1 anyway).
	R float64 `json:"r"`
	// MOS is the mean opinion score G.107 predicts from R, 1–4.5.
	MOS float64 `json:"mos"`
	// DelayMs is the estimated one-way mouth-to-ear delay used for R.
	DelayMs float64 `json:"delay_ms"`
	// OneWay is "", NoAudioReceived or NoAudioSent.
	OneWay string `json:"one_way"`
	// Rating is one of the Rating constants.
	Rating string `json:"rating"`
}

// Assess rates one call. Any input, however odd (negative, NaN, infinite),
// gives a Result within the documented ranges.
func Assess(c Call) Result {
	if !c.Answered {
		return Result{}
	}
	jb := finiteNonNeg(c.JitterBufferMs)
	if jb == 0 {
		// An adaptive buffer typically holds about two jitters of audio;
		// better than pretending it added nothing.
		jb = 2 * finiteNonNeg(c.JitterMs)
	}
	delay := finiteNonNeg(c.RTTms)/2 + jb + packetisationMs
	delay = math.Min(delay, maxDelayMs)

	bpl := bplNoPLC
	if c.PLC {
		bpl = bplPLC
	}
	loss := math.Min(finiteNonNeg(c.LossFraction), 1) * 100

	res := Result{DelayMs: delay, OneWay: oneWay(c)}
	r := rFactor(delay, loss, bpl)
	if res.OneWay == NoAudioReceived {
		// The user heard nothing: whatever the (absent) statistics say, the
		// call was unusable in the direction this device can judge.
		r = 0
	}
	res.R = math.Max(0, math.Min(r, 100))
	res.MOS = MOS(res.R)
	res.Rating = rating(res.R)
	return res
}

// oneWay flags a call where one side sent well over a second of audio and
// the other side got none. When both audio durations are zero, the packet
// counts are the evidence.
func oneWay(c Call) string {
	sent, recv := c.AudioSentMs, c.AudioReceivedMs
	if sent <= 0 && recv <= 0 {
		sent = packetsToMs(c.PacketsSent)
		recv = packetsToMs(c.PacketsReceived)
	}
	switch {
	case sent > oneWayThresholdMs && recv <= 0:
		return NoAudioReceived
	case recv > oneWayThresholdMs && sent <= 0:
		return NoAudioSent
	}
	return ""
}

func packetsToMs(n uint64) int64 {
	const limit = math.MaxInt64 / packetisationMs
	if n > limit {
		return math.MaxInt64
	}
	return int64(n) * packetisationMs
}

// MOS is the G.107 (Annex B, B-4) estimate of the mean opinion score for a
// transmission rating r.
func MOS(r float64) float64 {
	switch {
	case math.IsNaN(r) || r <= 0:
		return 1
	case r >= 100:
		return 4.5
	}
	// The cubic dips just under 1 for R below about 6.5; the MOS scale
	// ends at 1, so the dip is cut off there.
	return math.Max(1, 1+0.035*r+r*(r-60)*(100-r)*7e-6)
}

func rating(r float64) string {
	switch {
	case r >= 90:
		return RatingExcellent
	case r >= 80:
		return RatingGood
	case r >= 70:
		return RatingFair
	case r >= 60:
		return RatingPoor
	}
	return RatingBad
}

func finiteNonNeg(v float64) float64 {
	if math.IsNaN(v) || v < 0 {
		return 0
	}
	if math.IsInf(v, 1) {
		return math.MaxFloat64
	}
	return v
}
