package cni

import (
	"bufio"
	"context"
	"fmt"
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
// puts the plugins these tests use.
const debianPlugins = "/usr/lib/cni"

// realNet is a bridge pod network of Debian's plugins, private to one
// test: its own bridge, subnet, host-local store and cache, and its own
// "host": a network namespace standing for the node, in which the plugins
// run and make the bridge, the host ends of the veths and portmap's
// iptables rules. The machine's own netfilter ruleset, which other
// packages' tests compare before and after, is never touched, and deleting
// that namespace removes whatever a failed test left in it.
type realNet struct {
	t       *testing.T
	m       *Manager
	host    nettest.Netns
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
	nettest.RequireTool(t, "ping", "inetutils-ping")

	dir := t.TempDir()
	_, subnet, _ := net.ParseCIDR("10.244.7.0/24")
	n := &realNet{t: t, host: nettest.NewNetns(t), name: nettest.Name("bcnitest"), bridge: nettest.Name("bcni"), subnet: subnet}
	if out, err := exec.Command("ip", "-n", n.host.Name, "link", "set", "lo", "up").CombinedOutput(); err != nil {
		t.Fatalf("lo up in the host namespace: %v: %s", err, out)
	}
	n.ipStore = filepath.Join(dir, "ipam")
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

// do runs f with the calling thread in the host namespace: sockets f
// opens and processes it starts (the plugins) live there.
func (n *realNet) do(f func()) {
	n.t.Helper()
	if err := inNetns(n.host.Path, f); err != nil {
		n.t.Fatalf("entering the host namespace: %v", err)
	}
}

// inNetns runs f on a thread switched into the namespace at path. A
// thread that cannot be switched back is not handed back to the runtime:
// it stays locked and ends with the goroutine.
func inNetns(path string, f func()) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			errc <- err
			return
		}
		defer orig.Close()
		target, err := netns.GetFromPath(path)
		if err != nil {
			errc <- err
			return
		}
		defer target.Close()
		if err := netns.Set(target); err != nil {
			errc <- err
			return
		}
		defer func() {
			if netns.Set(orig) == nil {
				runtime.UnlockOSThread()
			}
			errc <- nil
		}()
		f()
	}()
	return <-errc
}

func (n *realNet) setup(ctx context.Context, p Pod) (res *Result, err error) {
	n.do(func() { res, err = n.m.Setup(ctx, p) })
	return res, err
}

func (n *realNet) teardown(ctx context.Context, p Pod) (err error) {
	n.do(func() { err = n.m.Teardown(ctx, p) })
	return err
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
func (n *realNet) bridgePorts() string {
	out, err := exec.Command("ip", "-n", n.host.Name, "-o", "link", "show", "master", n.bridge).CombinedOutput()
	if err != nil {
		n.t.Fatalf("ip link show master %s: %v: %s", n.bridge, err, out)
	}
	return strings.TrimSpace(string(out))
}

// hostportRules lists portmap's nat rules for pod id.
func (n *realNet) hostportRules(id string) []string {
	var out []byte
	n.do(func() { out, _ = exec.Command("iptables", "-t", "nat", "-S").Output() })
	var rules []string
	for _, l := range strings.Split(string(out), "\n") {
		if strings.Contains(l, id) {
			rules = append(rules, l)
		}
	}
	return rules
}

func (n *realNet) ping(ip string) error {
	var out []byte
	var err error
	n.do(func() { out, err = exec.Command("ping", "-c", "1", "-w", "3", ip).CombinedOutput() })
	if err != nil {
		return fmt.Errorf("ping %s: %v: %s", ip, err, out)
	}
	return nil
}

// greeting dials addr from the host namespace and returns the first line
// the listener sends.
func (n *realNet) greeting(addr string) (line string, err error) {
	n.do(func() {
		var c net.Conn
		if c, err = net.DialTimeout("tcp", addr, 3*time.Second); err != nil {
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(3 * time.Second))
		line, err = bufio.NewReader(c).ReadString('\n')
	})
	return line, err
}

// listenIn serves a greeting on a TCP port inside the pod's namespace
// until the test ends. The socket keeps the namespace it was made in, so
// only its creation needs the thread switched.
func listenIn(t *testing.T, nsPath string, port int) {
	t.Helper()
	var l net.Listener
	var err error
	if nsErr := inNetns(nsPath, func() { l, err = net.Listen("tcp", ":"+strconv.Itoa(port)) }); nsErr != nil || err != nil {
		t.Fatalf("listening in %s: %v %v", nsPath, nsErr, err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			fmt.Fprintln(c, "hello from the pod")
			c.Close()
		}
	}()
}

func podID(prefix string) string { return prefix + nettest.Name("")[:8] }

func TestRealPluginsAttachAndDetachAPod(t *testing.T) {
	n := newRealNet(t)
	pod := nettest.NewNetns(t)
	const hostPort = 18080
	p := Pod{ID: podID("berthcnitest"), Name: "web", Namespace: "default", UID: "u1", NetnsPath: pod.Path,
		PortMappings: []PortMapping{{HostPort: hostPort, ContainerPort: 8080, Protocol: "TCP", HostIP: "127.0.0.1"}}}
	t.Cleanup(func() { n.teardown(context.Background(), p) }) // also when an assertion below fails

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	res, err := n.setup(ctx, p)
	if err != nil {
		t.Fatalf("Setup: %v", err)
	}
	if len(res.IPs) != 1 || !n.subnet.Contains(res.IPs[0]) {
		t.Fatalf("IPs = %v, want one in %v", res.IPs, n.subnet)
	}
	ip := res.IPs[0].String()
	if out, err := pod.Exec("ip", "-4", "-o", "addr", "show", "dev", "eth0"); err != nil || !strings.Contains(out, " "+ip+"/24 ") {
		t.Fatalf("eth0 in the pod: %v: %s; want %s", err, out, ip)
	}
	if got := n.allocations(); len(got) != 1 || got[0] != ip {
		t.Fatalf("host-local allocations = %v, want [%s]", got, ip)
	}
	if ports := n.bridgePorts(); strings.Count(ports, "\n") != 0 || ports == "" {
		t.Fatalf("bridge %s ports = %q, want the pod's veth", n.bridge, ports)
	}

	if err := n.ping(ip); err != nil {
		t.Fatal(err)
	}
	listenIn(t, pod.Path, 8080)
	if g, err := n.greeting(net.JoinHostPort(ip, "8080")); err != nil || g != "hello from the pod\n" {
		t.Fatalf("TCP from the host to the pod: %q, %v", g, err)
	}
	hp := net.JoinHostPort("127.0.0.1", strconv.Itoa(hostPort))
	if g, err := n.greeting(hp); err != nil || g != "hello from the pod\n" {
		t.Fatalf("hostPort %s (portmap) to the pod: %q, %v; rules: %q", hp, g, err, n.hostportRules(p.ID))
	}

	if err := n.teardown(ctx, p); err != nil {
		t.Fatalf("Teardown: %v", err)
	}
	if got := n.allocations(); len(got) != 0 {
		t.Errorf("host-local allocations after Teardown = %v", got)
	}
	if got := n.bridgePorts(); got != "" {
		t.Errorf("bridge ports after Teardown = %q", got)
	}
	if out, _ := pod.Exec("ip", "-o", "link", "show"); strings.Contains(out, "eth0") {
		t.Errorf("eth0 is still in the pod after Teardown: %s", out)
	}
	if r := n.hostportRules(p.ID); len(r) != 0 {
		t.Errorf("portmap rules after Teardown: %q", r)
	}
	if _, err := n.greeting(hp); err == nil {
		t.Errorf("hostPort %s still answers after Teardown", hp)
	}
	if err := n.teardown(ctx, p); err != nil {
		t.Errorf("a second Teardown: %v", err)
	}
}

// A sandbox whose namespace went away (a crash, a reboot) is still torn
// down: the address and the hostPort rules are released.
func TestRealPluginsTeardownAfterTheNamespaceIsGone(t *testing.T) {
	n := newRealNet(t)
	pod := nettest.NewNetns(t)
	p := Pod{ID: podID("berthcnitest"), Name: "gone", Namespace: "default", UID: "u2", NetnsPath: pod.Path,
		PortMappings: []PortMapping{{HostPort: 18081, ContainerPort: 80, Protocol: "TCP", HostIP: "127.0.0.1"}}}
	t.Cleanup(func() { n.teardown(context.Background(), p) })
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := n.setup(ctx, p); err != nil {
		t.Fatalf("Setup: %v", err)
	}
	if len(n.hostportRules(p.ID)) == 0 {
		t.Fatalf("portmap made no rule for the pod")
	}
	if out, err := exec.Command("ip", "netns", "del", pod.Name).CombinedOutput(); err != nil {
		t.Fatalf("ip netns del: %v: %s", err, out)
	}
	if err := n.teardown(ctx, p); err != nil {
		t.Fatalf("Teardown with the namespace gone: %v", err)
	}
	if got := n.allocations(); len(got) != 0 {
		t.Errorf("host-local allocations after Teardown = %v", got)
	}
	if r := n.hostportRules(p.ID); len(r) != 0 {
		t.Errorf("portmap rules after Teardown: %q", r)
	}
	if got := n.bridgePorts(); got != "" {
		t.Errorf("bridge ports after Teardown = %q", got)
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
		ps[i] = Pod{ID: podID(fmt.Sprintf("berthcnimany%d", i)), Name: fmt.Sprintf("p%d", i), Namespace: "default",
			UID: strconv.Itoa(i), NetnsPath: nettest.NewNetns(t).Path,
			PortMappings: []PortMapping{{HostPort: int32(18100 + i), ContainerPort: 80, Protocol: "TCP", HostIP: "127.0.0.1"}}}
		p := ps[i]
		t.Cleanup(func() { n.teardown(context.Background(), p) })
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
			var s setup
			if err := inNetns(n.host.Path, func() { s.res, s.err = n.m.Setup(ctx, p) }); err != nil {
				s.err = err
			}
			results <- s
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
		if err := n.ping(ip); err != nil {
			t.Fatal(err)
		}
	}

	errs := make(chan error, pods)
	start = time.Now()
	for _, p := range ps {
		go func() {
			var err error
			if nsErr := inNetns(n.host.Path, func() { err = n.m.Teardown(ctx, p) }); nsErr != nil {
				err = nsErr
			}
			errs <- err
		}()
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
	if got := n.bridgePorts(); got != "" {
		t.Errorf("bridge ports after Teardown = %q", got)
	}
	for _, p := range ps {
		if r := n.hostportRules(p.ID); len(r) != 0 {
			t.Errorf("portmap rules of %s after Teardown: %q", p.Name, r)
		}
	}
}
