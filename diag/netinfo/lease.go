package netinfo

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// Lease is a DHCP lease as a client on the device recorded it.
type Lease struct {
	Source    string        `json:"source"` // the file it was read from
	Client    string        `json:"client"` // "dhclient" or "systemd-networkd"
	Interface string        `json:"interface,omitempty"`
	Address   netip.Prefix  `json:"address"` // the leased address with the subnet's length
	Routers   []netip.Addr  `json:"routers,omitempty"`
	DNS       []netip.Addr  `json:"dns,omitempty"`
	Server    netip.Addr    `json:"server,omitzero"`
	Domain    string        `json:"domain,omitempty"`
	LeaseTime time.Duration `json:"lease_time,omitempty"`
	Renew     time.Time     `json:"renew,omitzero"`
	Expire    time.Time     `json:"expire,omitzero"`
	// TFTPServer is DHCP option 66 ("tftp-server-name"), which phones
	// and ATAs take as their provisioning server; ProvisionURL is option
	// 160, the provisioning URL some vendors use instead.
	TFTPServer   string `json:"tftp_server,omitempty"`
	ProvisionURL string `json:"provision_url,omitempty"`
}

// dhclient's lease file is a sequence of `lease { ... }` blocks of
// `;`-terminated statements; dhclient appends a new block on every renewal,
// so the last block for an interface is the current lease.

type leaseToken struct {
	text   string
	quoted bool
}

func tokenizeLeases(r io.Reader) ([]leaseToken, error) {
	br := bufio.NewReader(r)
	var toks []leaseToken
	var word strings.Builder
	flush := func() {
		if word.Len() > 0 {
			toks = append(toks, leaseToken{text: word.String()})
			word.Reset()
		}
	}
	for {
		c, err := br.ReadByte()
		if errors.Is(err, io.EOF) {
			flush()
			return toks, nil
		}
		if err != nil {
			return nil, fmt.Errorf("lease file: %w", err)
		}
		switch {
		case c == '#':
			flush()
			if _, err := br.ReadString('\n'); err != nil && !errors.Is(err, io.EOF) {
				return nil, fmt.Errorf("lease file: %w", err)
			}
		case c == '"':
			flush()
			var s strings.Builder
			for {
				c, err := br.ReadByte()
				if err != nil {
					return nil, errors.New("lease file: unterminated string")
				}
				if c == '\\' {
					n, err := br.ReadByte()
					if err != nil {
						return nil, errors.New("lease file: unterminated string")
					}
					s.WriteByte(n)
					continue
				}
				if c == '"' {
					break
				}
				s.WriteByte(c)
			}
			toks = append(toks, leaseToken{text: s.String(), quoted: true})
		case c == '{' || c == '}' || c == ';':
			flush()
			toks = append(toks, leaseToken{text: string(c)})
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			flush()
		default:
			word.WriteByte(c)
		}
	}
}

// ParseDhclientLeases parses an ISC dhclient lease file (dhclient.leases(5))
// and returns its leases in file order.
func ParseDhclientLeases(r io.Reader) ([]Lease, error) {
	toks, err := tokenizeLeases(r)
	if err != nil {
		return nil, err
	}
	var leases []Lease
	for i := 0; i < len(toks); {
		// Top-level statements other than lease blocks (default-duid,
		// lease6 blocks) carry nothing support needs; skip them whole.
		if !toks[i].quoted && toks[i].text == "lease" && i+1 < len(toks) && toks[i+1].text == "{" {
			l, next, err := parseLeaseBlock(toks, i+2)
			if err != nil {
				return nil, err
			}
			leases = append(leases, l)
			i = next
			continue
		}
		next, err := skipStatement(toks, i)
		if err != nil {
			return nil, err
		}
		i = next
	}
	return leases, nil
}

// skipStatement moves past one statement or block starting at i.
func skipStatement(toks []leaseToken, i int) (int, error) {
	depth := 0
	for ; i < len(toks); i++ {
		if toks[i].quoted {
			continue
		}
		switch toks[i].text {
		case "{":
			depth++
		case "}":
			depth--
			if depth < 0 {
				return 0, errors.New("lease file: unbalanced '}'")
			}
			if depth == 0 {
				return i + 1, nil
			}
		case ";":
			if depth == 0 {
				return i + 1, nil
			}
		}
	}
	if depth != 0 {
		return 0, errors.New("lease file: block not closed")
	}
	return i, nil
}

func parseLeaseBlock(toks []leaseToken, i int) (Lease, int, error) {
	l := Lease{Client: "dhclient"}
	var mask netip.Addr
	var addr netip.Addr
	for {
		if i >= len(toks) {
			return Lease{}, 0, errors.New("lease file: lease block not closed")
		}
		if !toks[i].quoted && toks[i].text == "}" {
			i++
			break
		}
		if !toks[i].quoted && toks[i].text == "{" {
			next, err := skipStatement(toks, i)
			if err != nil {
				return Lease{}, 0, err
			}
			i = next
			continue
		}
		var st []leaseToken
		for i < len(toks) && (toks[i].quoted || (toks[i].text != ";" && toks[i].text != "}" && toks[i].text != "{")) {
			st = append(st, toks[i])
			i++
		}
		if i >= len(toks) || toks[i].text != ";" {
			return Lease{}, 0, fmt.Errorf("lease file: statement %q not ended by ';'", joinTokens(st))
		}
		i++
		if err := leaseStatement(&l, &addr, &mask, st); err != nil {
			return Lease{}, 0, err
		}
	}
	if addr.IsValid() {
		bits := addr.BitLen()
		if mask.IsValid() && mask.Is4() && addr.Is4() {
			b, err := maskBits(mask)
			if err != nil {
				return Lease{}, 0, fmt.Errorf("lease file: subnet-mask: %w", err)
			}
			bits = b
		}
		l.Address = netip.PrefixFrom(addr, bits)
	}
	return l, i, nil
}

func joinTokens(st []leaseToken) string {
	s := make([]string, len(st))
	for i, t := range st {
		s[i] = t.text
	}
	return strings.Join(s, " ")
}

func leaseStatement(l *Lease, addr, mask *netip.Addr, st []leaseToken) error {
	if len(st) == 0 {
		return nil
	}
	args := st[1:]
	var err error
	switch st[0].text {
	case "interface":
		if len(args) > 0 {
			l.Interface = args[0].text
		}
	case "fixed-address":
		if len(args) > 0 {
			*addr, err = netip.ParseAddr(args[0].text)
		}
	case "renew":
		l.Renew, err = dhclientTime(args)
	case "expire":
		l.Expire, err = dhclientTime(args)
	case "option":
		if len(args) < 2 {
			return nil
		}
		val := strings.Join(strings.Fields(joinTokens(args[1:])), "")
		switch args[0].text {
		case "subnet-mask":
			*mask, err = netip.ParseAddr(val)
		case "routers":
			l.Routers, err = addrList(val)
		case "domain-name-servers":
			l.DNS, err = addrList(val)
		case "dhcp-server-identifier":
			l.Server, err = netip.ParseAddr(val)
		case "domain-name":
			l.Domain = args[1].text
		case "tftp-server-name":
			l.TFTPServer, err = optionText(args[1:])
		case "unknown-160", "provision-url":
			// dhclient names an undeclared option unknown-NNN; declared
			// as docs/boards.md shows, it is provision-url.
			l.ProvisionURL, err = optionText(args[1:])
		case "dhcp-lease-time":
			var s uint64
			s, err = strconv.ParseUint(val, 10, 32)
			l.LeaseTime = time.Duration(s) * time.Second
		}
	}
	if err != nil {
		return fmt.Errorf("lease file: %s: %w", joinTokens(st), err)
	}
	return nil
}

// optionText reads a text option as dhclient writes it: a quoted string,
// or, when it holds a byte it cannot print, hex bytes separated by ':'.
func optionText(args []leaseToken) (string, error) {
	if len(args) == 1 && args[0].quoted {
		return args[0].text, nil
	}
	raw := joinTokens(args)
	var b strings.Builder
	for _, h := range strings.Split(raw, ":") {
		v, err := strconv.ParseUint(h, 16, 8)
		if err != nil || len(h) > 2 {
			return "", fmt.Errorf("want a quoted string or hex bytes like 68:74, got %q", raw)
		}
		if v != 0 { // dhclient keeps a server's trailing NUL
			b.WriteByte(byte(v))
		}
	}
	return b.String(), nil
}

func addrList(s string) ([]netip.Addr, error) {
	var out []netip.Addr
	for _, f := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' }) {
		a, err := netip.ParseAddr(f)
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, nil
}

// dhclientTime reads "W YYYY/MM/DD HH:MM:SS" (UTC, W the weekday), the
// "epoch N" form written with db-time-format local, and "never".
func dhclientTime(args []leaseToken) (time.Time, error) {
	switch {
	case len(args) == 1 && args[0].text == "never":
		return time.Time{}, nil
	case len(args) == 2 && args[0].text == "epoch":
		n, err := strconv.ParseInt(args[1].text, 10, 64)
		if err != nil || n < 0 {
			return time.Time{}, fmt.Errorf("epoch %q is not a time", args[1].text)
		}
		return time.Unix(n, 0).UTC(), nil
	case len(args) == 3:
		return time.Parse("2006/01/02 15:04:05", args[1].text+" "+args[2].text)
	}
	return time.Time{}, fmt.Errorf("time %q not understood", joinTokens(args))
}

// ParseNetworkdLease parses a systemd-networkd lease file
// (/run/systemd/netif/leases/IFINDEX): KEY=value lines. systemd calls the
// format private, so unknown keys are ignored and only the well-known ones
// are read; NetworkManager's internal client writes the same format.
// mtime, when known, turns LIFETIME into an expiry time.
func ParseNetworkdLease(r io.Reader, mtime time.Time) (Lease, error) {
	l := Lease{Client: "systemd-networkd"}
	var addr, mask netip.Addr
	sc := bufio.NewScanner(r)
	line := 0
	for sc.Scan() {
		line++
		text := strings.TrimSpace(sc.Text())
		if text == "" || text[0] == '#' {
			continue
		}
		k, v, ok := strings.Cut(text, "=")
		if !ok {
			return Lease{}, fmt.Errorf("networkd lease line %d: no '=' in %q", line, text)
		}
		var err error
		switch k {
		case "ADDRESS":
			addr, err = netip.ParseAddr(v)
		case "NETMASK":
			mask, err = netip.ParseAddr(v)
		case "ROUTER":
			l.Routers, err = addrList(v)
		case "DNS":
			l.DNS, err = addrList(v)
		case "SERVER_ADDRESS":
			l.Server, err = netip.ParseAddr(v)
		case "DOMAINNAME":
			l.Domain = v
		case "LIFETIME":
			var s uint64
			s, err = strconv.ParseUint(v, 10, 32)
			l.LeaseTime = time.Duration(s) * time.Second
		}
		if err != nil {
			return Lease{}, fmt.Errorf("networkd lease line %d: %s: %w", line, k, err)
		}
	}
	if err := sc.Err(); err != nil {
		return Lease{}, fmt.Errorf("networkd lease: %w", err)
	}
	if !addr.IsValid() {
		return Lease{}, errors.New("networkd lease: no ADDRESS")
	}
	bits := addr.BitLen()
	if mask.IsValid() && mask.Is4() && addr.Is4() {
		b, err := maskBits(mask)
		if err != nil {
			return Lease{}, fmt.Errorf("networkd lease: NETMASK: %w", err)
		}
		bits = b
	}
	l.Address = netip.PrefixFrom(addr, bits)
	if !mtime.IsZero() && l.LeaseTime > 0 {
		l.Expire = mtime.Add(l.LeaseTime).UTC()
	}
	return l, nil
}
