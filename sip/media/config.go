package media

import (
	"fmt"
	"log/slog"
	"net/netip"
	"strings"
	"time"

	"github.com/tipring/tipring/sip/media/g711"
	"github.com/tipring/tipring/sip/media/jitter"
)

// JitterConfig bounds the adaptive playout delay of received audio.
type JitterConfig struct {
	Target time.Duration // delay to start with; default 40 ms
	Min    time.Duration // default 20 ms
	Max    time.Duration // default 200 ms, at most 2 s
}

// Config is the media engine's settings. Zero fields take the defaults
// given in the comments.
type Config struct {
	// BindIP is the IP the RTP and RTCP sockets bind to, e.g. "127.0.0.1"
	// or "0.0.0.0". Required.
	BindIP string
	// AdvertiseIP is the IP written in SDP c= lines; default BindIP. It
	// must be a unicast address: with BindIP "0.0.0.0" it is required.
	AdvertiseIP string
	// PortMin and PortMax bound the ports used, inclusive: RTP on even
	// ports, RTCP on the next (odd) port; both must lie in the range.
	// Default 16384-16482.
	PortMin, PortMax int
	// Codecs in order of preference: "PCMU", "PCMA". Default both, PCMU
	// first.
	Codecs []string
	// DTMFPayloadType is the telephone-event payload type we offer (96-127);
	// default 101. We accept whatever the peer negotiates.
	DTMFPayloadType uint8
	Jitter          JitterConfig
	// RTPTimeout: how long an answered, not held call may go without RTP
	// before a Timeout event; default 30 s.
	RTPTimeout time.Duration
	// RTCPInterval between RTCP reports; default 5 s.
	RTCPInterval time.Duration
	// SessionName is the SDP s= line; default "tipring".
	SessionName string
	Logger      *slog.Logger
}

// Defaults.
const (
	DefaultPortMin      = 16384
	DefaultPortMax      = 16482
	DefaultDTMFPT       = 101
	DefaultRTPTimeout   = 30 * time.Second
	DefaultRTCPInterval = 5 * time.Second
	DefaultSessionName  = "tipring"
)

// codec is a payload format we can send and receive.
type codec uint8

const (
	noCodec codec = iota
	pcmu
	pcma
)

func (c codec) String() string {
	switch c {
	case pcmu:
		return "PCMU"
	case pcma:
		return "PCMA"
	}
	return ""
}

// staticPT is the payload type RFC 3551 assigns to the codec.
func (c codec) staticPT() uint8 {
	if c == pcma {
		return 8
	}
	return 0
}

func (c codec) encode(dst []byte, pcm []int16) int {
	if c == pcma {
		return g711.AlawEncodeFrame(dst, pcm)
	}
	return g711.UlawEncodeFrame(dst, pcm)
}

func (c codec) decode(dst []int16, src []byte) int {
	if c == pcma {
		return g711.AlawDecodeFrame(dst, src)
	}
	return g711.UlawDecodeFrame(dst, src)
}

// codecByName maps an rtpmap encoding name (case-insensitive, RFC 4855).
func codecByName(name string) codec {
	switch strings.ToUpper(name) {
	case "PCMU":
		return pcmu
	case "PCMA":
		return pcma
	}
	return noCodec
}

// codecByStaticPT maps a payload type that has no rtpmap.
func codecByStaticPT(pt uint8) codec {
	switch pt {
	case 0:
		return pcmu
	case 8:
		return pcma
	}
	return noCodec
}

// settings is a validated Config.
type settings struct {
	bind, advertise  netip.Addr
	portMin, portMax int // first RTP port, last RTCP port
	codecs           []codec
	dtmfPT           uint8
	jitter           jitter.Config
	rtpTimeout       time.Duration
	rtcpInterval     time.Duration
	sessionName      string
	log              *slog.Logger
}

func (cfg Config) settings() (settings, error) {
	var s settings
	if cfg.BindIP == "" {
		return s, fmt.Errorf("media: Config.BindIP is empty")
	}
	bind, err := netip.ParseAddr(cfg.BindIP)
	if err != nil {
		return s, fmt.Errorf("media: Config.BindIP %q: %w", cfg.BindIP, err)
	}
	s.bind = bind.Unmap()
	adv := cfg.AdvertiseIP
	if adv == "" {
		adv = cfg.BindIP
	}
	a, err := netip.ParseAddr(adv)
	if err != nil {
		return s, fmt.Errorf("media: Config.AdvertiseIP %q: %w", adv, err)
	}
	a = a.Unmap()
	if a.IsUnspecified() || a.IsMulticast() {
		return s, fmt.Errorf("media: cannot advertise %s in SDP: set Config.AdvertiseIP to this device's address", a)
	}
	s.advertise = a

	s.portMin, s.portMax = cfg.PortMin, cfg.PortMax
	if s.portMin == 0 && s.portMax == 0 {
		s.portMin, s.portMax = DefaultPortMin, DefaultPortMax
	}
	if s.portMin%2 == 1 {
		s.portMin++ // RTP uses even ports (RFC 3550 section 11)
	}
	if s.portMin < 1024 || s.portMax > 65535 || s.portMin+1 > s.portMax {
		return s, fmt.Errorf("media: port range %d-%d must hold an even/odd pair within 1024-65535", cfg.PortMin, cfg.PortMax)
	}

	names := cfg.Codecs
	if len(names) == 0 {
		names = []string{"PCMU", "PCMA"}
	}
	for _, n := range names {
		c := codecByName(n)
		if c == noCodec {
			return s, fmt.Errorf("media: unknown codec %q in Config.Codecs (supported: PCMU, PCMA)", n)
		}
		for _, have := range s.codecs {
			if have == c {
				return s, fmt.Errorf("media: codec %q listed twice in Config.Codecs", n)
			}
		}
		s.codecs = append(s.codecs, c)
	}

	s.dtmfPT = cfg.DTMFPayloadType
	if s.dtmfPT == 0 {
		s.dtmfPT = DefaultDTMFPT
	}
	if s.dtmfPT < 96 || s.dtmfPT > 127 {
		return s, fmt.Errorf("media: Config.DTMFPayloadType %d is not a dynamic payload type (96-127)", s.dtmfPT)
	}

	j := cfg.Jitter
	if j.Target == 0 {
		j.Target = jitter.DefaultTarget
	}
	if j.Min == 0 {
		j.Min = jitter.DefaultMin
	}
	if j.Max == 0 {
		j.Max = jitter.DefaultMax
	}
	if j.Min < 0 || j.Min > j.Target || j.Target > j.Max || j.Max > jitter.MaxDelay {
		return s, fmt.Errorf("media: Config.Jitter wants 0 < Min <= Target <= Max <= %v, got Min %v, Target %v, Max %v",
			jitter.MaxDelay, j.Min, j.Target, j.Max)
	}
	s.jitter = jitter.Config{Target: j.Target, Min: j.Min, Max: j.Max}

	s.rtpTimeout = cfg.RTPTimeout
	if s.rtpTimeout == 0 {
		s.rtpTimeout = DefaultRTPTimeout
	}
	s.rtcpInterval = cfg.RTCPInterval
	if s.rtcpInterval == 0 {
		s.rtcpInterval = DefaultRTCPInterval
	}
	if s.rtpTimeout < 0 || s.rtcpInterval < 10*time.Millisecond {
		return s, fmt.Errorf("media: Config.RTPTimeout %v and Config.RTCPInterval %v must be positive (RTCPInterval at least 10ms)",
			cfg.RTPTimeout, cfg.RTCPInterval)
	}

	s.sessionName = cfg.SessionName
	if s.sessionName == "" {
		s.sessionName = DefaultSessionName
	}
	if strings.ContainsAny(s.sessionName, "\r\n\x00") {
		return s, fmt.Errorf("media: Config.SessionName %q contains a line break", s.sessionName)
	}

	s.log = cfg.Logger
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	return s, nil
}
