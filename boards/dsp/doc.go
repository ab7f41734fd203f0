// Package dsp is the signal processing a board without a DSP chip does in
// software, on 20 ms frames of 8 kHz audio (boards.Frame): generating
// call-progress and DTMF tones (ToneGen, DTMFTone, DTMFString), detecting
// DTMF digits (DTMFDetector), decoding the hook switch into off-hook,
// // on-hook, flash and dial-pulse events (HookDecoder), caller ID, and ringing
// with caller ID placed where the standard says (Ringer). Port puts these
// together into the part of a boards.Port that every such board shares. The
// sim board's virtual telephone also uses it to tell what it hears
// (Listener).
//
// Levels follow ITU-T G.711: a full-scale sine is +3.17 dBm0 (see
// AmplitudeForDBm0 and DBm0). LevelDBm0 and ToneLevelDBm0 measure the level
// of a block of audio, and AppendTone renders a tone ahead of time: the
// yardsticks and test signals that tests elsewhere in the tree share. Apart
// from Port's boards.Port methods, which take the board's lock, none of the
// types is safe for concurrent use; each belongs to one port's audio loop.
package dsp
