//go:build linux

package nat

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The tests in this file build real NATs out of Linux network namespaces,
// veth pairs and nftables masquerade, and run Collect behind them. Each
// namespace has only the links the test makes and no route to the host, so
// no packet leaves the machine. The "Internet" is TEST-NET-2
// (198.51.100.0/24), the home LAN 10.0.0.0/24 and the carrier's network
// the shared space 100.64.0.0/10.
//
// Code runs inside a namespace by re-executing this test binary under
// `ip netns exec` (TestNetnsChild below): a Go program's threads cannot be
// moved into a namespace reliably one by one, a fresh process can.

const (
	// childRole tells a re-executed test binary what to do.
	childRole = "TIPRING_NAT_NETNS_ROLE"
	// childArg carries the role's argument: the STUN server's addresses
	// for "stun"; the server and the router's external address for
	// "collect".
	childArg = "TIPRING_NAT_NETNS_ARG"
	// childOut is the file the "collect" role writes its Report to.
	childOut = "TIPRING_NAT_NETNS_OUT"
)

// wanAddrs are the STUN server's two addresses (RFC 5780 needs two).
var wanAddrs = [2]netip.Addr{netip.MustParseAddr("198.51.100.10"), netip.MustParseAddr("198.51.100.11")}

// TestNetnsChild is not a test of its own: it is what the namespace tests
// run inside a namespace.
func TestNetnsChild(t *testing.T) {
	role := os.Getenv(childRole)
	if role == "" {
		t.Skip("runs only when re-executed inside a network namespace by the NAT tests")
	}
	arg := os.Getenv(childArg)
	switch role {
	case "stun":
		// The server reports the source address it sees (the NAT's
		// outside) and honours CHANGE-REQUEST; the namespaces' NAT does
		// the filtering.
		srv := newSTUNServer(t, serverConfig{twoAddrs: true, addrs: wanAddrs})
		fmt.Printf("stun-server %s\n", srv.addrPort(0, 0))
		// Serve until the parent closes our stdin (or dies).
		bufio.NewReader(os.Stdin).ReadString(0)
	case "collect":
		server, router, _ := strings.Cut(arg, ",")
		opts := Options{Server: server, LocalAddr: "0.0.0.0:0", Timeout: 300 * time.Millisecond, RTTSamples: 2}
		if router != "" {
			opts.RouterExternal = netip.MustParseAddr(router)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		rep, err := Collect(ctx, opts)
		if err != nil {
			t.Fatal(err)
		}
		b, err := json.Marshal(rep)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(os.Getenv(childOut), b, 0o600); err != nil {
			t.Fatal(err)
		}
	default:
		t.Fatalf("unknown role %q", role)
	}
}

// lab is a set of network namespaces made for one test and deleted after
// it, whatever happens.
type lab struct {
	t      *testing.T
	prefix string
}

// newLab checks that this machine lets a test build namespaces and
// nftables rules, and skips the test with the exact reason when it does
// not.
func newLab(t *testing.T) *lab {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("network namespaces need root (CAP_NET_ADMIN); running as uid", os.Geteuid())
	}
	for _, tool := range []string{"ip", "nft"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not found (%v): run scripts/install-peers.sh as root, which installs iproute2 and nftables", tool, err)
		}
	}
	// Unique per run: other test binaries (and other engineers) may build
	// their own namespaces at the same time.
	l := &lab{t: t, prefix: fmt.Sprintf("trnat%d-%x-", os.Getpid(), rand.Uint32())}
	probe := l.prefix + "probe"
	if out, err := exec.Command("ip", "netns", "add", probe).CombinedOutput(); err != nil {
		t.Skipf("cannot create a network namespace: ip netns add: %v: %s", err, strings.TrimSpace(string(out)))
	}
	defer exec.Command("ip", "netns", "del", probe).Run()
	out, err := exec.Command("ip", "netns", "exec", probe, "nft", "add", "table", "ip", "probe").CombinedOutput()
	if err != nil {
		t.Skipf("nftables unavailable in a network namespace: nft add table: %v: %s", err, strings.TrimSpace(string(out)))
	}
	return l
}

func (l *lab) name(ns string) string { return l.prefix + ns }

// ip runs `ip ARGS` and fails the test with ip's own message on error.
func (l *lab) ip(args ...string) {
	l.t.Helper()
	if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
		l.t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
}

// add creates namespaces with their loopback up.
func (l *lab) add(names ...string) {
	l.t.Helper()
	for _, ns := range names {
		l.ip("netns", "add", l.name(ns))
		l.t.Cleanup(func() {
			if out, err := exec.Command("ip", "netns", "del", l.name(ns)).CombinedOutput(); err != nil {
				l.t.Errorf("delete namespace %s: %v: %s", l.name(ns), err, out)
			}
		})
		l.ip("-n", l.name(ns), "link", "set", "lo", "up")
	}
}

// link joins namespaces a and b with a veth pair, the ends named aIf and
// bIf inside their namespaces (so the names cannot clash with the host's),
// with the given addresses.
func (l *lab) link(a, aIf, aAddr, b, bIf, bAddr string) {
	l.t.Helper()
	l.ip("-n", l.name(a), "link", "add", aIf, "type", "veth", "peer", "name", bIf, "netns", l.name(b))
	for _, end := range [][3]string{{a, aIf, aAddr}, {b, bIf, bAddr}} {
		l.ip("-n", l.name(end[0]), "addr", "add", end[2], "dev", end[1])
		l.ip("-n", l.name(end[0]), "link", "set", end[1], "up")
	}
}

func (l *lab) exec(ns string, args ...string) {
	l.t.Helper()
	l.ip(append([]string{"netns", "exec", l.name(ns)}, args...)...)
}

// router turns namespace ns into a router.
func (l *lab) router(ns string) {
	l.t.Helper()
	l.exec(ns, "sh", "-c", "echo 1 > /proc/sys/net/ipv4/ip_forward")
}

// nft replaces namespace ns's whole ruleset.
func (l *lab) nft(ns, ruleset string) {
	l.t.Helper()
	cmd := exec.Command("ip", "netns", "exec", l.name(ns), "nft", "-f", "-")
	cmd.Stdin = strings.NewReader("flush ruleset\n" + ruleset)
	if out, err := cmd.CombinedOutput(); err != nil {
		l.t.Fatalf("nft in %s: %v: %s\nruleset:\n%s", ns, err, strings.TrimSpace(string(out)), ruleset)
	}
}

// child starts this test binary inside namespace ns in a role.
func (l *lab) child(ns, role, arg string, extraEnv ...string) *exec.Cmd {
	l.t.Helper()
	exe, err := os.Executable()
	if err != nil {
		l.t.Fatal(err)
	}
	cmd := exec.Command("ip", "netns", "exec", l.name(ns), exe, "-test.run=^TestNetnsChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), childRole+"="+role, childArg+"="+arg)
	cmd.Env = append(cmd.Env, extraEnv...)
	return cmd
}

// stunServer starts a STUN server on wanAddrs in namespace ns and returns
// its primary address.
func (l *lab) stunServer(ns string) netip.AddrPort {
	l.t.Helper()
	cmd := l.child(ns, "stun", "")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		l.t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		l.t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		l.t.Fatalf("start STUN server in %s: %v", ns, err)
	}
	// Registered before the namespaces' own cleanups run (LIFO): the
	// server goes first.
	l.t.Cleanup(func() {
		stdin.Close()
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			if err != nil {
				l.t.Errorf("STUN server: %v: %s", err, stderr.String())
			}
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
			<-done
			l.t.Errorf("STUN server did not stop when asked")
		}
	})
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if s, ok := strings.CutPrefix(sc.Text(), "stun-server "); ok {
				lines <- s
				break
			}
		}
		// Drain so the child never blocks on a full pipe.
		for sc.Scan() {
		}
	}()
	select {
	case s := <-lines:
		ap, err := netip.ParseAddrPort(s)
		if err != nil {
			l.t.Fatalf("STUN server said %q: %v", s, err)
		}
		return ap
	case <-time.After(10 * time.Second):
		l.t.Fatalf("STUN server in %s did not start: %s", ns, stderr.String())
	}
	return netip.AddrPort{}
}

// collect runs Collect inside namespace ns.
func (l *lab) collect(ns string, server netip.AddrPort, routerExternal string) Report {
	l.t.Helper()
	out := filepath.Join(l.t.TempDir(), "report.json")
	cmd := l.child(ns, "collect", server.String()+","+routerExternal, childOut+"="+out)
	done := make(chan struct{})
	timer := time.AfterFunc(15*time.Second, func() {
		select {
		case <-done:
		default:
			cmd.Process.Kill()
		}
	})
	b, err := cmd.CombinedOutput()
	close(done)
	timer.Stop()
	if err != nil {
		l.t.Fatalf("Collect in %s: %v\n%s", ns, err, b)
	}
	raw, err := os.ReadFile(out)
	if err != nil {
		l.t.Fatalf("Collect in %s wrote no report: %v\n%s", ns, err, b)
	}
	var rep Report
	if err := json.Unmarshal(raw, &rep); err != nil {
		l.t.Fatalf("report: %v: %s", err, raw)
	}
	return rep
}

// Rulesets for the home router; wan is the router's outside interface.
const (
	// masquerade is what every Linux home router does. Conntrack lets in
	// only replies from the exact address and port a packet went to:
	// address-and-port-dependent filtering.
	masquerade = `table ip nat {
	chain post { type nat hook postrouting priority srcnat; policy accept; oifname "wan" masquerade; }
}
`
	// sameHost adds a filter that also lets in packets from any port of a
	// host the LAN has sent to: each packet out records (remote address,
	// our public port) in a set, and a packet in from an address in the set
	// is forwarded to the LAN host: address-dependent filtering.
	sameHost = `table ip nat {
	set talked { type ipv4_addr . inet_service; flags dynamic,timeout; timeout 2m; }
	chain post { type nat hook postrouting priority srcnat; policy accept; oifname "wan" masquerade; }
	# After srcnat, so the port recorded is the public one.
	chain note { type filter hook postrouting priority 200; policy accept; oifname "wan" meta l4proto udp update @talked { ip daddr . udp sport }; }
	chain pre { type nat hook prerouting priority dstnat; policy accept; iifname "wan" ip saddr . udp dport @talked dnat to 10.0.0.2; }
}
`
	// exposedHost forwards every unsolicited UDP packet to the LAN host
	// (a router's "DMZ" or "exposed host" setting): endpoint-independent
	// filtering, since masquerade keeps the LAN host's port.
	exposedHost = `table ip nat {
	chain post { type nat hook postrouting priority srcnat; policy accept; oifname "wan" masquerade; }
	chain pre { type nat hook prerouting priority dstnat; policy accept; iifname "wan" udp dport 1024-65535 dnat to 10.0.0.2; }
}
`
)

// TestNATInNamespaces: one home router between the device and the
// Internet, with three filtering set-ups.
func TestNATInNamespaces(t *testing.T) {
	l := newLab(t)
	l.add("lan", "home", "net")
	l.link("lan", "eth0", "10.0.0.2/24", "home", "lan", "10.0.0.1/24")
	l.link("home", "wan", "198.51.100.1/24", "net", "eth0", wanAddrs[0].String()+"/24")
	l.ip("-n", l.name("net"), "addr", "add", wanAddrs[1].String()+"/24", "dev", "eth0")
	l.ip("-n", l.name("lan"), "route", "add", "default", "via", "10.0.0.1")
	l.router("home")
	srv := l.stunServer("net")
	public := netip.MustParseAddr("198.51.100.1")

	for _, tc := range []struct {
		name, ruleset, filtering string
	}{
		{"masquerade", masquerade, AddressAndPortDependent},
		{"masquerade and same-host filter", sameHost, AddressDependent},
		{"masquerade and exposed host", exposedHost, EndpointIndependent},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := &lab{t: t, prefix: l.prefix}
			l.nft("home", tc.ruleset)
			rep := l.collect("lan", srv, "")
			if len(rep.Errors) != 0 {
				t.Errorf("Errors = %q", rep.Errors)
			}
			if rep.Mapped.Addr() != public {
				t.Errorf("public address %v, want the router's outside address %v", rep.Mapped, public)
			}
			// Linux conntrack keeps the source port when no other mapping
			// holds it.
			if rep.Mapped.Port() != rep.Local.Port() {
				t.Errorf("public port %d, local port %d: masquerade should keep the port", rep.Mapped.Port(), rep.Local.Port())
			}
			b := rep.Behaviour
			if b == nil {
				t.Fatalf("no behaviour: %s", rep.BehaviourNote)
			}
			if b.NoNAT || b.Mapping != EndpointIndependent || b.Filtering != tc.filtering {
				t.Errorf("NoNAT %v, mapping %s, filtering %s; want a NAT with endpoint-independent mapping and %s filtering", b.NoNAT, b.Mapping, b.Filtering, tc.filtering)
			}
			if rep.CGNAT || rep.DoubleNAT {
				t.Errorf("one NAT reported as CGNAT=%v DoubleNAT=%v: %q", rep.CGNAT, rep.DoubleNAT, rep.Evidence)
			}
		})
	}
}

// TestDoubleNATInNamespaces: the home router's outside is in the carrier's
// shared space, and a carrier-grade NAT translates again to the Internet.
func TestDoubleNATInNamespaces(t *testing.T) {
	l := newLab(t)
	l.add("lan", "home", "cgn", "net")
	l.link("lan", "eth0", "10.0.0.2/24", "home", "lan", "10.0.0.1/24")
	l.link("home", "wan", "100.64.0.2/24", "cgn", "sub", "100.64.0.1/24")
	l.link("cgn", "wan", "198.51.100.1/24", "net", "eth0", wanAddrs[0].String()+"/24")
	l.ip("-n", l.name("net"), "addr", "add", wanAddrs[1].String()+"/24", "dev", "eth0")
	l.ip("-n", l.name("lan"), "route", "add", "default", "via", "10.0.0.1")
	l.ip("-n", l.name("home"), "route", "add", "default", "via", "100.64.0.1")
	l.router("home")
	l.router("cgn")
	l.nft("home", masquerade)
	l.nft("cgn", masquerade)
	srv := l.stunServer("net")

	// What the home router says over UPnP is its own outside address; the
	// router collector passes it on as RouterExternal.
	rep := l.collect("lan", srv, "100.64.0.2")
	if len(rep.Errors) != 0 {
		t.Errorf("Errors = %q", rep.Errors)
	}
	if want := netip.MustParseAddr("198.51.100.1"); rep.Mapped.Addr() != want {
		t.Errorf("public address %v, want the carrier NAT's outside %v", rep.Mapped, want)
	}
	if !rep.CGNAT || !rep.DoubleNAT {
		t.Errorf("CGNAT=%v DoubleNAT=%v, want both: %q", rep.CGNAT, rep.DoubleNAT, rep.Evidence)
	}
	if !strings.Contains(strings.Join(rep.Evidence, "\n"), "100.64.0.2 is in the carriers' shared space") {
		t.Errorf("evidence does not name the shared address: %q", rep.Evidence)
	}
	if b := rep.Behaviour; b == nil || b.Mapping != EndpointIndependent || b.Filtering != AddressAndPortDependent {
		t.Errorf("behaviour through two masquerades: %+v (%s)", b, rep.BehaviourNote)
	}

	// Without the router's word, a STUN server on the Internet sees one
	// public address and cannot tell how many NATs are on the way: the
	// report must not claim either.
	rep = l.collect("lan", srv, "")
	if rep.CGNAT || rep.DoubleNAT {
		t.Errorf("STUN alone claimed CGNAT=%v DoubleNAT=%v: %q", rep.CGNAT, rep.DoubleNAT, rep.Evidence)
	}
}
