// Package peers starts the real interop peers — Kamailio, SIPp and
// baresip, from Debian 12's packages — on free loopback ports for Go tests,
// and stops them when the test ends. It also provides Phone, a small sipgo
// user agent that stands in for the device where a test needs one.
//
// Every peer binds 127.0.0.1 only, and every option that could move it off
// loopback is set by this package. A missing peer fails the test (it is
// never skipped) with a message saying to run scripts/install-peers.sh,
// which `make test` runs first.
//
// # Kamailio
//
// StartKamailio runs Kamailio 5.6 in the foreground (-DD -E) with a
// configuration generated from scripts/kamailio/kamailio.cfg: a provider's
// registrar and proxy with digest authentication against a db_text
// subscriber table written to the test's temporary directory, usrloc in
// memory, Record-Route, and rport/NAT handling (force_rport,
// fix_nated_register, fix_nated_contact) so a device that sends from a
// port other than its Contact is reached the way a provider reaches it.
// INVITEs go to registered users (lookup) and get 404 otherwise.
//
// Who may call without credentials: a request whose From user is a
// subscriber must answer a 407 challenge (as the device's own calls do); a
// request from anyone else is accepted as a call arriving from the
// provider's trunk, but only towards local users (403 otherwise). So a
// SIPp far end calls the device with any non-subscriber caller ID and no
// credentials, while the device's outgoing calls are challenged.
//
// Registered and Bindings ask usrloc itself over Kamailio's JSON-RPC
// datagram control socket (jsonrpcs on a loopback UDP port): the
// registrar's own view, including the "received" address it will send
// calls to. RegisterContact registers another peer (a SIPp far end) as a
// user's location, so the device can call it through Kamailio.
//
// # SIPp
//
// StartSIPp runs SIPp 3.6.1 with a scenario from scripts/sipp (or any
// file), bound to 127.0.0.1 for SIP, media and its control socket (-i, -mi,
// -ci, with -cp on a free port: SIPp would otherwise open 0.0.0.0:8888).
// Its message and error traces (-trace_msg, -trace_err) are written to its
// directory and parsed by Messages and ReceivedCodes. Wait returns its exit
// code; Stop sends the two signals SIPp needs to quit.
//
// Far-end audio: the scenarios send tones with SIPp's rtp_stream action,
// which plays raw G.711 from a file; StartSIPp writes one second of
// 1004 Hz and of 800 Hz μ-law (tone_1004.ulaw, tone_800.ulaw, at
// SIPpToneLevelDBm0) next to the scenario, generated at test time. SIPp's
// rtp_stream does not take a path from -key, hence the fixed names.
//
// Checking what a far end received: SIPp cannot record RTP, so there are two
// ways. With uas_echo.xml and -rtp_echo SIPp returns every RTP packet to its
// sender, and the device hearing its own audio proves both directions. When
// the test needs the far end's recording, use baresip, whose sndfile module
// writes the decoded audio of each call to a WAV file (Baresip.ReceivedAudio).
//
// # baresip
//
// StartBaresip runs baresip 1.0 with a generated configuration directory
// (-f): sip_listen and net_interface on 127.0.0.1 (net_interface wants an
// address, not "lo"), G.711 only, audio from a generated WAV through
// aufile, received audio recorded by sndfile, and the aubridge module as
// the player so no sound card is needed. It is driven over its ctrl_tcp
// module (netstring JSON on loopback) — Dial, Answer, Hangup — and reports
// events (REGISTER_OK, CALL_INCOMING, CALL_ESTABLISHED, CALL_CLOSED, …)
// for WaitEvent. baresip also binds its SIP port + 1 for TLS; the ports are
// chosen with that in mind.
//
// Start-up times on the development machine: Kamailio about 100 ms, SIPp
// about 20 ms, baresip about 50 ms.
package peers
