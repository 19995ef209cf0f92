package cni

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/berthd/berth/network/internal/nettest"
	"github.com/vishvananda/netns"
)

// debianPlugins is where Debian's containernetworking-plugins (make deps)
// puts the plugins this test uses.
const debianPlugins = "/usr/lib/cni"

// realNet is a bridge pod network of Debian's plugins, private to one
// test: its own bridge name, subnet, host-local store and cache.
type realNet struct {
	t       *testing.T
	m       *Manager
	name    string // network name
	bridge  string
	subnet  *net.IPNet
	ipStore string // host-local's dataDir for this network
}

func newRealNet(t *testing.T) *realNet {
	t.Helper()
	nettest.RequireRoot(t)
	for _, p := range []string{"bridge", "host-local", "portmap"} {
		_, err := os.Stat(filepath.Join(debianPlugins, p))
		nettest.Require(t, err == nil, "CNI plugin %s/%s (Debian package containernetworking-plugins)", debianPlugins, p)
	}
	nettest.RequireTool(t, "iptables", "iptables")
	leaveNetfilterAsFound(t)

	dir := t.TempDir()
	n := &realNet{t: t, name: nettest.Name("bcnitest"), bridge: nettest.Name("bcni"), subnet: freeSubnet(t)}
	n.ipStore = filepath.Join(dir, "ipam")
	nettest.CleanupLink(t, n.bridge)
	conf := fmt.Sprintf(`{"cniVersion":"1.0.0","name":%q,"plugins":[
	  {"type":"bridge","bridge":%q,"isGateway":true,"ipMasq":false,"hairpinMode":true,
	   "ipam":{"type":"host-local","ranges":[[{"subnet":%q}]],"dataDir":%q}},
	  {"type":"portmap","capabilities":{"portMappings":true},"snat":true}]}`,
		n.name, n.bridge, n.subnet.String(), n.ipStore)
	confDir := filepath.Join(dir, "net.d")
	os.MkdirAll(confDir, 0o755)
	if err := os.WriteFile(filepath.Join(confDir, "10-test.conflist"), []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	n.m = New(Config{BinDirs: []string{filepath.Join(dir, "nothing-here"), debianPlugins}, ConfDir: confDir, CacheDir: filepath.Join(dir, "cache")})
	if err := n.m.Ready(); err != nil {
		t.Fatalf("Ready: %v", err)
	}
	return n
}

// freeSubnet picks a /24 in 10.0.0.0/8 that no route on the host overlaps.
func freeSubnet(t *testing.T) *net.IPNet {
	t.Helper()
	out, err := exec.Command("ip", "-4", "route", "show", "table", "all").Output()
	if err != nil {
		t.Fatalf("ip route: %v", err)
	}
	for range 100 {
		_, sn, _ := net.ParseCIDR(fmt.Sprintf("10.%d.%d.0/24", 200+rand.IntN(50), rand.IntN(256)))
		if !strings.Contains(string(out), strings.TrimSuffix(sn.IP.String(), "0")) {
			return sn
		}
	}
	t.Fatal("no free /24 in 10.200-249.x.0")
	return nil
}

// allocations lists host-local's reserved addresses of this network.
func (n *realNet) allocations() []string {
	entries, _ := os.ReadDir(filepath.Join(n.ipStore, n.name))
	var out []string
	for _, e := range entries {
		if net.ParseIP(e.Name()) != nil {
			out = append(out, e.Name())
		}
	}
	return out
}

// bridgePorts lists the host-side veths attached to the bridge.
func (n *realNet) bridgePorts() []string {
	entries, _ := os.ReadDir(filepath.Join("/sys/class/net", n.bridge, "brif"))
	var out []string
	for _, e := range entries {
		out = append(out, e.Name())
	}
	return out
}

// hostportRules lists portmap's per-pod rules for pod id.
func hostportRules(t *testing.T, id string) []string {
	out, _ := exec.Command("iptables", "-t", "nat", "-S").Output()
	var rules []string
	for _, l := range strings.Split(string(out), "\n") {
		if strings.Contains(l, id) {
			rules = append(rules, l)
		}
	}
	return rules
}

// listenIn opens a TCP listener inside a network namespace and serves a
// greeting on it until the test ends. The socket keeps the namespace it
// was made in, so only its creation needs the thread switched.
func listenIn(t *testing.T, nsPath string, port int) {
	t.Helper()
	type made struct {
		l   net.Listener
		err error
	}
	ch := make(chan made)
	go func() {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			ch <- made{err: err}
			return // the thread stays locked and dies with the goroutine
		}
		target, err := netns.GetFromPath(nsPath)
		if err != nil {
			ch <- made{err: err}
			return
		}
		defer target.Close()
		if err := netns.Set(target); err != nil {
			ch <- made{err: err}
			return
		}
		l, err := net.Listen("tcp", ":"+strconv.Itoa(port))
		if netns.Set(orig) == nil {
			runtime.UnlockOSThread()
		}
		ch <- made{l, err}
	}()
	mk := <-ch
	if mk.err != nil {
		t.Fatalf("listening in %s: %v", nsPath, mk.err)
	}
	t.Cleanup(func() { mk.l.Close() })
	go func() {
		for {
			c, err := mk.l.Accept()
			if err != nil {
				return
			}
			fmt.Fprintln(c, "hello from the pod")
			c.Close()
		}
	}()
}

// greeting dials addr and returns the first line it sends.
func greeting(addr string) (string, error) {
	c, err := net.DialTimeout("tcp", addr, 3*time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(3 * time.Second))
	return bufio.NewReader(c).ReadString('\n')
}

func freePort(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func TestRealPluginsAttachAndDetachAPod(t *testing.T) {
	n := newRealNet(t)
	ns := nettest.NewNetns(t)
	hostPort := freePort(t)
	p := Pod{ID: "berthcnitest" + nettest.Name("")[:8], Name: "web", Namespace: "default", UID: "u1", NetnsPath: ns.Path,
		PortMappings: []PortMapping{{HostPort: int32(hostPort), ContainerPort: 8080, Protocol: "TCP", HostIP: "127.0.0.1"}}}
	t.Cleanup(func() { n.m.Teardown(context.Background(), p) }) // also when an assertion below fails

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	res, err := n.m.Setup(ctx, p)
	if err != nil {
		t.Fatalf("Setup: %v", err)
	}
	if len(res.IPs) != 1 || !n.subnet.Contains(res.IPs[0]) {
		t.Fatalf("IPs = %v, want one in %v", res.IPs, n.subnet)
	}
	ip := res.IPs[0].String()
	if out, err := ns.Exec("ip", "-4", "-o", "addr", "show", "dev", "eth0"); err != nil || !strings.Contains(out, " "+ip+"/24 ") {
		t.Fatalf("eth0 in the pod: %v: %s; want %s", err, out, ip)
	}
	if got := n.allocations(); len(got) != 1 || got[0] != ip {
		t.Fatalf("host-local allocations = %v, want [%s]", got, ip)
	}
	if len(n.bridgePorts()) != 1 {
		t.Fatalf("bridge %s ports = %v, want the pod's veth", n.bridge, n.bridgePorts())
	}

	if out, err := exec.Command("ping", "-c", "1", "-w", "3", ip).CombinedOutput(); err != nil {
		t.Fatalf("ping %s from the host: %v: %s", ip, err, out)
	}
	listenIn(t, ns.Path, 8080)
	if g, err := greeting(net.JoinHostPort(ip, "8080")); err != nil || g != "hello from the pod\n" {
		t.Fatalf("TCP from the host to the pod: %q, %v", g, err)
	}
	hp := net.JoinHostPort("127.0.0.1", strconv.Itoa(hostPort))
	if g, err := greeting(hp); err != nil || g != "hello from the pod\n" {
		t.Fatalf("hostPort %s (portmap) to the pod: %q, %v; rules: %q", hp, g, err, hostportRules(t, p.ID))
	}

	if err := n.m.Teardown(ctx, p); err != nil {
		t.Fatalf("Teardown: %v", err)
	}
	if got := n.allocations(); len(got) != 0 {
		t.Errorf("host-local allocations after Teardown = %v", got)
	}
	if got := n.bridgePorts(); len(got) != 0 {
		t.Errorf("bridge ports after Teardown = %v", got)
	}
	if out, _ := ns.Exec("ip", "-o", "link", "show"); strings.Contains(out, "eth0") {
		t.Errorf("eth0 is still in the pod after Teardown: %s", out)
	}
	if r := hostportRules(t, p.ID); len(r) != 0 {
		t.Errorf("portmap rules after Teardown: %q", r)
	}
	if _, err := greeting(hp); err == nil {
		t.Errorf("hostPort %s still answers after Teardown", hp)
	}
	if err := n.m.Teardown(ctx, p); err != nil {
		t.Errorf("a second Teardown: %v", err)
	}
}

// A sandbox whose namespace went away (a crash, a reboot) is still torn
// down: the address and the hostPort rules are released.
func TestRealPluginsTeardownAfterTheNamespaceIsGone(t *testing.T) {
	n := newRealNet(t)
	ns := nettest.NewNetns(t)
	p := Pod{ID: "berthcnitest" + nettest.Name("")[:8], Name: "gone", Namespace: "default", UID: "u2", NetnsPath: ns.Path,
		PortMappings: []PortMapping{{HostPort: int32(freePort(t)), ContainerPort: 80, Protocol: "TCP", HostIP: "127.0.0.1"}}}
	t.Cleanup(func() { n.m.Teardown(context.Background(), p) })
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := n.m.Setup(ctx, p); err != nil {
		t.Fatalf("Setup: %v", err)
	}
	if len(hostportRules(t, p.ID)) == 0 {
		t.Fatalf("portmap made no rule for the pod")
	}
	if out, err := exec.Command("ip", "netns", "del", ns.Name).CombinedOutput(); err != nil {
		t.Fatalf("ip netns del: %v: %s", err, out)
	}
	if err := n.m.Teardown(ctx, p); err != nil {
		t.Fatalf("Teardown with the namespace gone: %v", err)
	}
	if got := n.allocations(); len(got) != 0 {
		t.Errorf("host-local allocations after Teardown = %v", got)
	}
	if r := hostportRules(t, p.ID); len(r) != 0 {
		t.Errorf("portmap rules after Teardown: %q", r)
	}
	if got := n.bridgePorts(); len(got) != 0 {
		t.Errorf("bridge ports after Teardown = %v", got)
	}
}

// Pods attached and detached at the same time get distinct addresses and
// leave nothing behind: the Manager adds no shared state that concurrent
// sandboxes could trip over, and host-local's store and portmap's
// iptables calls take their own locks.
func TestRealPluginsManyPodsAtOnce(t *testing.T) {
	n := newRealNet(t)
	const pods = 6
	ps := make([]Pod, pods)
	for i := range ps {
		ns := nettest.NewNetns(t)
		ps[i] = Pod{ID: fmt.Sprintf("berthcnimany%d%s", i, nettest.Name("")[:8]), Name: fmt.Sprintf("p%d", i), Namespace: "default",
			UID: strconv.Itoa(i), NetnsPath: ns.Path,
			PortMappings: []PortMapping{{HostPort: int32(freePort(t)), ContainerPort: 80, Protocol: "TCP", HostIP: "127.0.0.1"}}}
		p := ps[i]
		t.Cleanup(func() { n.m.Teardown(context.Background(), p) })
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	type setup struct {
		res *Result
		err error
	}
	results := make(chan setup, pods)
	start := time.Now()
	for _, p := range ps {
		go func() {
			res, err := n.m.Setup(ctx, p)
			results <- setup{res, err}
		}()
	}
	seen := map[string]bool{}
	for range ps {
		r := <-results
		if r.err != nil {
			t.Fatalf("Setup: %v", r.err)
		}
		ip := r.res.IPs[0].String()
		if seen[ip] {
			t.Fatalf("address %s given twice", ip)
		}
		seen[ip] = true
	}
	t.Logf("%d concurrent Setups: %v", pods, time.Since(start))
	for ip := range seen {
		if out, err := exec.Command("ping", "-c", "1", "-w", "3", ip).CombinedOutput(); err != nil {
			t.Fatalf("ping %s: %v: %s", ip, err, out)
		}
	}

	errs := make(chan error, pods)
	start = time.Now()
	for _, p := range ps {
		go func() { errs <- n.m.Teardown(ctx, p) }()
	}
	for range ps {
		if err := <-errs; err != nil {
			t.Fatalf("Teardown: %v", err)
		}
	}
	t.Logf("%d concurrent Teardowns: %v", pods, time.Since(start))
	if got := n.allocations(); len(got) != 0 {
		t.Errorf("host-local allocations after Teardown = %v", got)
	}
	if got := n.bridgePorts(); len(got) != 0 {
		t.Errorf("bridge ports after Teardown = %v", got)
	}
	for _, p := range ps {
		if r := hostportRules(t, p.ID); len(r) != 0 {
			t.Errorf("portmap rules of %s after Teardown: %q", p.Name, r)
		}
	}
}
