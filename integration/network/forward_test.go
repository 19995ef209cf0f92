package network

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os/exec"
	"strings"
	"testing"

	"github.com/berthd/berth/integration/internal/harness"
)

// fwdHost is a network namespace standing in for a host that runs berthd
// and routes between two neighbours, A and B, each a namespace of its own
// on a veth /30 (198.18.0.0/15, the benchmarking range).
type fwdHost struct {
	ns, a, b   string
	aIP, bIP   netip.Addr
	aGw, bGw   netip.Addr
	forwardOff func()
}

func fwdNewHost(t *testing.T) fwdHost {
	t.Helper()
	harness.Require(t, exec.Command("busybox", "true").Run() == nil, "busybox on the host")
	tag := fmt.Sprintf("%06x", rand.IntN(1<<24))
	h := fwdHost{ns: "bfh" + tag, a: "bfa" + tag, b: "bfb" + tag}
	o := 8 * rand.IntN(1<<13)
	base := netip.AddrFrom4([4]byte{198, 18 + byte(o>>16&1), byte(o >> 8), byte(o & 0xff)})
	h.aGw = base.Next()
	h.aIP = h.aGw.Next()
	h.bGw = h.aIP.Next().Next().Next()
	h.bIP = h.bGw.Next()
	t.Cleanup(func() {
		for _, n := range []string{h.a, h.b, h.ns} {
			exec.Command("ip", "netns", "del", n).Run()
		}
	})
	run := func(args ...string) {
		t.Helper()
		if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("%v: %v %s", args, err, out)
		}
	}
	for _, n := range []string{h.ns, h.a, h.b} {
		run("ip", "netns", "add", n)
		run("ip", "-n", n, "link", "set", "lo", "up")
	}
	for _, side := range []struct {
		peer    string
		gw, ip  netip.Addr
		ifLocal string
	}{{h.a, h.aGw, h.aIP, "fa" + tag}, {h.b, h.bGw, h.bIP, "fb" + tag}} {
		run("ip", "-n", h.ns, "link", "add", side.ifLocal, "type", "veth", "peer", "name", "eth0", "netns", side.peer)
		run("ip", "-n", h.ns, "addr", "add", side.gw.String()+"/30", "dev", side.ifLocal)
		run("ip", "-n", h.ns, "link", "set", side.ifLocal, "up")
		run("ip", "-n", side.peer, "addr", "add", side.ip.String()+"/30", "dev", "eth0")
		run("ip", "-n", side.peer, "link", "set", "eth0", "up")
		run("ip", "-n", side.peer, "route", "add", "default", "via", side.gw.String())
	}
	h.forwardOff = func() { run("ip", "netns", "exec", h.ns, "sysctl", "-qw", "net.ipv4.ip_forward=0") }
	// The topology routes (forwarding on), then starts as a host that
	// does not (forwarding off, as on a fresh machine).
	run("ip", "netns", "exec", h.ns, "sysctl", "-qw", "net.ipv4.ip_forward=1")
	if !h.aReachesB() {
		t.Fatal("the neighbours do not reach each other through a forwarding host")
	}
	h.forwardOff()
	if h.aReachesB() {
		t.Fatal("the neighbours reach each other with forwarding off")
	}
	return h
}

func (h fwdHost) aReachesB() bool {
	return exec.Command("ip", "netns", "exec", h.a, "busybox", "ping", "-c", "1", "-W", "1", h.bIP.String()).Run() == nil
}

func (h fwdHost) forwarding(t *testing.T) string {
	out, err := exec.Command("ip", "netns", "exec", h.ns, "sysctl", "-n", "net.ipv4.ip_forward").CombinedOutput()
	if err != nil {
		t.Fatalf("%v %s", err, out)
	}
	return strings.TrimSpace(string(out))
}

// A daemon that turns IP forwarding on makes the host route its
// containers' traffic only, as dockerd's FORWARD policy drop does: two
// neighbours that could not reach each other through the host before still
// cannot, also after a restart (when forwarding is found on), while a
// container reaches out. --ip-forward-no-drop leaves the host routing.
func TestForwardingTurnedOnDropsForeignTraffic(t *testing.T) {
	h := fwdNewHost(t)
	dd := harness.Fresh(t, harness.Options{Args: poolArgs, Netns: h.ns})
	// Forwarding and rules come with the default bridge, in the
	// background; the network list waits for them.
	dd.DockerT(t, "network", "ls")
	if got := h.forwarding(t); got != "1" {
		t.Fatalf("the daemon did not turn forwarding on: ip_forward=%s", got)
	}
	if h.aReachesB() {
		out, _ := exec.Command("ip", "netns", "exec", h.ns, "nft", "list", "ruleset").CombinedOutput()
		t.Fatalf("the host forwards its neighbours' traffic after berth turned forwarding on:\n%s", out)
	}
	dd.LoadTestImages(t)
	out, stderr, err := dd.Docker("run", "--rm", img, "ping", "-c", "1", "-W", "2", h.aIP.String())
	if err != nil {
		t.Fatalf("a container cannot reach the neighbour: %v %s %s", err, out, stderr)
	}

	if err := dd.Restart(false); err != nil {
		t.Fatal(err)
	}
	dd.DockerT(t, "network", "ls")
	if h.aReachesB() {
		t.Fatal("after a restart (forwarding found on) the host forwards its neighbours' traffic")
	}
	if err := dd.Stop(); err != nil {
		t.Fatal(err)
	}
	if !h.aReachesB() {
		t.Fatal("a stopped daemon still drops the host's forwarded traffic")
	}

	t.Run("ip-forward-no-drop", func(t *testing.T) {
		h := fwdNewHost(t)
		dd := harness.Fresh(t, harness.Options{Args: poolArgs, Netns: h.ns}, "--ip-forward-no-drop")
		dd.DockerT(t, "network", "ls")
		if got := h.forwarding(t); got != "1" {
			t.Fatalf("the daemon did not turn forwarding on: ip_forward=%s", got)
		}
		if !h.aReachesB() {
			t.Fatal("with --ip-forward-no-drop the host does not forward its neighbours' traffic")
		}
	})
}
