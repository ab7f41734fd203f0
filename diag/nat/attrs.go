package nat

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"

	"github.com/pion/stun/v3"
)

// ChangeRequest is the RFC 5780 CHANGE-REQUEST attribute (section 7.2):
// it asks the server to answer from its other IP, its other port, or both.
// pion/stun defines the attribute type but no value type for it.
type ChangeRequest struct {
	ChangeIP, ChangePort bool
}

const (
	changeIPFlag   = 0x04
	changePortFlag = 0x02
)

// AddTo adds the attribute to m.
func (c ChangeRequest) AddTo(m *stun.Message) error {
	var v [4]byte
	if c.ChangeIP {
		v[3] |= changeIPFlag
	}
	if c.ChangePort {
		v[3] |= changePortFlag
	}
	m.Add(stun.AttrChangeRequest, v[:])
	return nil
}

// GetFrom decodes the attribute from m. Unknown flag bits are ignored, as
// the RFC asks.
func (c *ChangeRequest) GetFrom(m *stun.Message) error {
	v, err := m.Get(stun.AttrChangeRequest)
	if err != nil {
		return err
	}
	if len(v) != 4 {
		return fmt.Errorf("CHANGE-REQUEST: %w: %d bytes, want 4", errBadAttr, len(v))
	}
	c.ChangeIP = v[3]&changeIPFlag != 0
	c.ChangePort = v[3]&changePortFlag != 0
	return nil
}

// ResponsePort is the RFC 5780 RESPONSE-PORT attribute (section 7.5): the
// port the server should send its answer to, at the request's source IP.
type ResponsePort uint16

// AddTo adds the attribute to m.
func (p ResponsePort) AddTo(m *stun.Message) error {
	var v [4]byte // port, then two bytes of padding
	binary.BigEndian.PutUint16(v[:2], uint16(p))
	m.Add(stun.AttrResponsePort, v[:])
	return nil
}

// GetFrom decodes the attribute from m.
func (p *ResponsePort) GetFrom(m *stun.Message) error {
	v, err := m.Get(stun.AttrResponsePort)
	if err != nil {
		return err
	}
	if len(v) != 4 {
		return fmt.Errorf("RESPONSE-PORT: %w: %d bytes, want 4", errBadAttr, len(v))
	}
	*p = ResponsePort(binary.BigEndian.Uint16(v[:2]))
	if *p == 0 {
		return fmt.Errorf("RESPONSE-PORT: %w: port 0", errBadAttr)
	}
	return nil
}

var errBadAttr = errors.New("malformed attribute")

// address decodes one of the address attributes (MAPPED-ADDRESS,
// XOR-MAPPED-ADDRESS, OTHER-ADDRESS, …). pion/stun accepts values of any
// length and pads short ones with zeros, which would turn a truncated
// attribute into a plausible wrong address; this checks the length first.
func address(m *stun.Message, t stun.AttrType, xored bool) (netip.AddrPort, error) {
	v, err := m.Get(t)
	if err != nil {
		return netip.AddrPort{}, err
	}
	switch {
	case len(v) == 8 && v[1] == 0x01, len(v) == 20 && v[1] == 0x02:
	case len(v) < 2:
		return netip.AddrPort{}, fmt.Errorf("%s: %w: %d bytes", t, errBadAttr, len(v))
	default:
		return netip.AddrPort{}, fmt.Errorf("%s: %w: family %d with %d bytes", t, errBadAttr, v[1], len(v))
	}
	var ip []byte
	var port int
	if xored {
		var a stun.XORMappedAddress
		if err := a.GetFromAs(m, t); err != nil {
			return netip.AddrPort{}, fmt.Errorf("%s: %w", t, err)
		}
		ip, port = a.IP, a.Port
	} else {
		var a stun.MappedAddress
		if err := a.GetFromAs(m, t); err != nil {
			return netip.AddrPort{}, fmt.Errorf("%s: %w", t, err)
		}
		ip, port = a.IP, a.Port
	}
	addr, ok := netip.AddrFromSlice(ip)
	if !ok || port == 0 {
		return netip.AddrPort{}, fmt.Errorf("%s: %w: address %v port %d", t, errBadAttr, ip, port)
	}
	return netip.AddrPortFrom(addr.Unmap(), uint16(port)), nil
}

// response is what a Binding success response told us.
type response struct {
	mapped netip.AddrPort
	// other is OTHER-ADDRESS, or RFC 3489's CHANGED-ADDRESS from old servers.
	other  netip.AddrPort
	origin netip.AddrPort
}

// errServer is a STUN error response; the caller reports it as such, not as
// a broken packet.
type errServer struct{ code stun.ErrorCodeAttribute }

func (e errServer) Error() string { return "STUN error response " + e.code.String() }

// parseResponse decodes a Binding response to the request with id. It
// returns errNotOurs for packets that are not STUN or answer another
// request (late retransmissions), so the caller keeps waiting.
func parseResponse(raw []byte, id [stun.TransactionIDSize]byte) (response, error) {
	var r response
	if !stun.IsMessage(raw) {
		return r, errNotOurs
	}
	m := &stun.Message{Raw: append([]byte(nil), raw...)}
	if err := m.Decode(); err != nil {
		return r, fmt.Errorf("STUN response: %w", err)
	}
	if m.TransactionID != id {
		return r, errNotOurs
	}
	switch m.Type {
	case stun.BindingSuccess:
	case stun.BindingError:
		var ec stun.ErrorCodeAttribute
		if err := ec.GetFrom(m); err != nil {
			return r, fmt.Errorf("STUN error response without a valid ERROR-CODE: %w", err)
		}
		return r, errServer{ec}
	default:
		return r, fmt.Errorf("STUN response: unexpected message type %s", m.Type)
	}
	var err error
	if m.Contains(stun.AttrXORMappedAddress) {
		r.mapped, err = address(m, stun.AttrXORMappedAddress, true)
	} else {
		// RFC 3489 servers only send MAPPED-ADDRESS.
		r.mapped, err = address(m, stun.AttrMappedAddress, false)
	}
	if err != nil {
		return r, fmt.Errorf("STUN response: %w", err)
	}
	for _, t := range []stun.AttrType{stun.AttrOtherAddress, stun.AttrChangedAddress} {
		if m.Contains(t) {
			if r.other, err = address(m, t, false); err != nil {
				return r, fmt.Errorf("STUN response: %w", err)
			}
			break
		}
	}
	if m.Contains(stun.AttrResponseOrigin) {
		if r.origin, err = address(m, stun.AttrResponseOrigin, false); err != nil {
			return r, fmt.Errorf("STUN response: %w", err)
		}
	}
	return r, nil
}

var errNotOurs = errors.New("not a response to this request")
