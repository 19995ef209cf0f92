package cri

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/berthd/berth/integration/internal/harness"
)

// debianCNI is where Debian's containernetworking-plugins (make deps)
// puts bridge, host-local, portmap and loopback.
const debianCNI = "/usr/lib/cni"

// podNet is a berthd of the test's own, in a network namespace standing
// for the node, with a bridge+host-local+portmap pod network private to
// the test: the plugins' bridge, veths and iptables rules are made in
// that namespace, so deleting it removes whatever a failed test left, and
// the machine's netfilter is never touched.
type podNet struct {
	ns      string
	dd      *harness.Daemon
	name    string // CNI network name
	bridge  string
	subnet  *net.IPNet
	ipStore string // host-local's dataDir
}

// podNetOptions shape a podNet.
type podNetOptions struct {
	// failAfterBridge adds a plugin after bridge that fails every ADD.
	failAfterBridge bool
	// config is the daemon.json.
	config string
}

func randHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func run(t testing.TB, args ...string) string {
	t.Helper()
	out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

func newPodNet(t *testing.T, o podNetOptions) *podNet {
	t.Helper()
	for _, p := range []string{"bridge", "host-local", "portmap", "loopback"} {
		_, err := os.Stat(filepath.Join(debianCNI, p))
		harness.Require(t, err == nil, "CNI plugin %s/%s (Debian package containernetworking-plugins)", debianCNI, p)
	}
	_, err := exec.LookPath("iptables")
	harness.Require(t, err == nil, "iptables (portmap needs it)")

	suffix := randHex(3)
	pn := &podNet{ns: "bcri" + suffix, name: "bcri-" + suffix, bridge: "bcri" + suffix}
	_, pn.subnet, _ = net.ParseCIDR("10.88.91.0/24")
	run(t, "ip", "netns", "add", pn.ns)
	// Registered first, so it runs after the daemon's cleanup.
	t.Cleanup(func() { exec.Command("ip", "netns", "del", pn.ns).Run() })
	run(t, "ip", "-n", pn.ns, "link", "set", "lo", "up")

	dir := t.TempDir()
	pn.ipStore = filepath.Join(dir, "ipam")
	confDir, binDir := filepath.Join(dir, "net.d"), filepath.Join(dir, "bin")
	for _, d := range []string{confDir, binDir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	plugins := []string{fmt.Sprintf(`{"type":"bridge","bridge":%q,"isGateway":true,"ipMasq":false,"hairpinMode":true,
	   "ipam":{"type":"host-local","ranges":[[{"subnet":%q}]],"dataDir":%q}}`, pn.bridge, pn.subnet, pn.ipStore)}
	if o.failAfterBridge {
		plugins = append(plugins, `{"type":"berth-fail"}`)
		if err := os.WriteFile(filepath.Join(binDir, "berth-fail"), []byte(failingPlugin), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	plugins = append(plugins, `{"type":"portmap","capabilities":{"portMappings":true},"snat":true}`)
	conf := fmt.Sprintf(`{"cniVersion":"1.0.0","name":%q,"plugins":[%s]}`, pn.name, strings.Join(plugins, ","))
	if err := os.WriteFile(filepath.Join(confDir, "10-berth-test.conflist"), []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	pn.dd = harness.Fresh(t, harness.Options{Netns: pn.ns, Config: o.config, Args: []string{
		"--cni-conf-dir", confDir, "--cni-bin-dir", binDir, "--cni-bin-dir", debianCNI, "--pod-sandbox-image", pauseImage,
	}})
	setup(t, pn.dd)
	return pn
}

// failingPlugin fails every ADD (after bridge attached the pod and
// host-local gave it an address) and lets DEL succeed.
const failingPlugin = `#!/bin/sh
case "$CNI_COMMAND" in
VERSION) echo '{"cniVersion":"1.0.0","supportedVersions":["0.3.0","0.3.1","0.4.0","1.0.0"]}' ;;
ADD) cat >/dev/null; echo '{"cniVersion":"1.0.0","code":999,"msg":"berth-test: failing half-way"}'; exit 1 ;;
*) cat >/dev/null ;;
esac
`

// inNode runs a command in the node's namespace.
func (pn *podNet) inNode(args ...string) (string, error) {
	out, err := exec.Command("ip", append([]string{"netns", "exec", pn.ns}, args...)...).CombinedOutput()
	return string(out), err
}

// veths lists the veths in the node's namespace.
func (pn *podNet) veths(t testing.TB) string {
	return strings.TrimSpace(run(t, "ip", "-n", pn.ns, "-o", "link", "show", "type", "veth"))
}

// allocations lists host-local's reserved addresses of the network.
func (pn *podNet) allocations() []string {
	entries, _ := os.ReadDir(filepath.Join(pn.ipStore, pn.name))
	var out []string
	for _, e := range entries {
		if net.ParseIP(e.Name()) != nil {
			out = append(out, e.Name())
		}
	}
	return out
}

// natRulesFor is the node's nat rules that mention port.
func (pn *podNet) natRulesFor(t testing.TB, port int) []string {
	out, err := pn.inNode("iptables-save", "-t", "nat")
	if err != nil {
		t.Fatalf("iptables-save: %v %s", err, out)
	}
	var rules []string
	for _, l := range strings.Split(out, "\n") {
		if strings.Contains(l, fmt.Sprintf("--dport %d ", port)) || strings.HasSuffix(l, fmt.Sprintf("--dport %d", port)) {
			rules = append(rules, l)
		}
	}
	return rules
}

// wantNothingLeft checks the node holds no veth, address or hostPort
// rule of a pod.
func (pn *podNet) wantNothingLeft(t testing.TB, hostPort int) {
	t.Helper()
	if v := pn.veths(t); v != "" {
		t.Errorf("veths left in the node:\n%s", v)
	}
	if a := pn.allocations(); len(a) > 0 {
		t.Errorf("host-local allocations left: %v", a)
	}
	if hostPort > 0 {
		if r := pn.natRulesFor(t, hostPort); len(r) > 0 {
			t.Errorf("hostPort rules left: %v", r)
		}
	}
}

// TestSandboxPodNetwork: a pod on a CNI bridge network gets an address
// the node reaches, its hostPort answers on 127.0.0.1, its hostname and
// loopback are set, and stopping it leaves no veth, address or rule.
func TestSandboxPodNetwork(t *testing.T) {
	pn := newPodNet(t, podNetOptions{})
	rt, _ := clientsOf(t, pn.dd)
	st, err := rt.Status(ctxT(t), &runtimeapi.StatusRequest{})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range st.GetStatus().GetConditions() {
		if !c.GetStatus() {
			t.Fatalf("condition %s false with a network configured: %s %s", c.GetType(), c.GetReason(), c.GetMessage())
		}
	}

	hostPort := 12000 + int(randByte()%200)
	cfg := podConfig(t, false)
	cfg.Hostname = "web-0"
	cfg.DnsConfig = &runtimeapi.DNSConfig{Servers: []string{"10.96.0.10"}, Searches: []string{"svc.cluster.local"}, Options: []string{"ndots:5"}}
	cfg.PortMappings = []*runtimeapi.PortMapping{{Protocol: runtimeapi.Protocol_TCP, ContainerPort: 80, HostPort: int32(hostPort)}}
	id := runPod(t, rt, cfg)
	s := podStatus(t, rt, id).GetStatus()
	ip := net.ParseIP(s.GetNetwork().GetIp())
	if s.GetState() != runtimeapi.PodSandboxState_SANDBOX_READY || ip == nil || !pn.subnet.Contains(ip) {
		t.Fatalf("status %v: want READY with an address in %s", s, pn.subnet)
	}
	if got := pn.allocations(); len(got) != 1 || got[0] != ip.String() {
		t.Fatalf("host-local allocations %v, want [%s]", got, ip)
	}
	if lo := pn.dd.DockerT(t, "exec", id, "ip", "-o", "link", "show", "lo"); !strings.Contains(lo, ",UP") {
		t.Errorf("the pod's loopback is down: %s", lo)
	}
	resolv := pn.dd.DockerT(t, "exec", id, "cat", "/etc/resolv.conf")
	for _, want := range []string{"nameserver 10.96.0.10", "search svc.cluster.local", "options ndots:5"} {
		if !strings.Contains(resolv, want) {
			t.Errorf("resolv.conf lacks %q:\n%s", want, resolv)
		}
	}
	// A server in the pod's network namespace answers with its hostname.
	pn.dd.DockerT(t, "exec", id, "httpd", "-p", "80", "-h", "/etc")
	for _, url := range []string{fmt.Sprintf("http://%s/hostname", ip), fmt.Sprintf("http://127.0.0.1:%d/hostname", hostPort)} {
		out, err := pn.inNode("curl", "-sS", "-m", "5", url)
		if err != nil || strings.TrimSpace(out) != "web-0" {
			t.Errorf("GET %s from the node: %v %q, want web-0", url, err, out)
		}
	}

	ps, err := rt.PodSandboxStats(ctxT(t), &runtimeapi.PodSandboxStatsRequest{PodSandboxId: id})
	if err != nil {
		t.Fatal(err)
	}
	if eth0 := ps.GetStats().GetLinux().GetNetwork().GetDefaultInterface(); eth0.GetName() != "eth0" || eth0.GetRxBytes().GetValue() == 0 || eth0.GetTxBytes().GetValue() == 0 {
		t.Errorf("pod network figures after two requests: %v", ps.GetStats().GetLinux().GetNetwork())
	}

	if _, err := rt.StopPodSandbox(ctxT(t), &runtimeapi.StopPodSandboxRequest{PodSandboxId: id}); err != nil {
		t.Fatal(err)
	}
	pn.wantNothingLeft(t, hostPort)
	if _, err := rt.RemovePodSandbox(ctxT(t), &runtimeapi.RemovePodSandboxRequest{PodSandboxId: id}); err != nil {
		t.Fatal(err)
	}
}

// TestSandboxCNIFailsHalfWay: a plugin failing after bridge attached the
// pod makes RunPodSandbox fail with the plugin's message, and nothing of
// the pod is left: no container, veth, address or hostPort rule.
func TestSandboxCNIFailsHalfWay(t *testing.T) {
	pn := newPodNet(t, podNetOptions{failAfterBridge: true})
	rt, _ := clientsOf(t, pn.dd)
	before := dockerPsAll(t, pn.dd)
	cfg := podConfig(t, false)
	hostPort := 12300 + int(randByte()%200)
	cfg.PortMappings = []*runtimeapi.PortMapping{{Protocol: runtimeapi.Protocol_TCP, ContainerPort: 80, HostPort: int32(hostPort)}}
	_, err := rt.RunPodSandbox(ctxT(t), &runtimeapi.RunPodSandboxRequest{Config: cfg})
	if err == nil || !strings.Contains(err.Error(), "failing half-way") {
		t.Fatalf("RunPodSandbox with a failing plugin: %v, want the plugin's message", err)
	}
	if after := dockerPsAll(t, pn.dd); after != before {
		t.Errorf("containers left:\nbefore:\n%s\nafter:\n%s", before, after)
	}
	if ids := listIDs(t, rt, nil); len(ids) != 0 {
		t.Errorf("pods listed after a failed run: %v", ids)
	}
	pn.wantNothingLeft(t, hostPort)
	recs, _ := filepath.Glob(filepath.Join(pn.dd.DataRoot, "cri", "sandboxes", "*.json"))
	if len(recs) != 0 {
		t.Errorf("records left: %v", recs)
	}
}

// TestSandboxNetworkNotReady: without a network configuration Status says
// why, and a pod needing a network is refused with nothing made.
func TestSandboxNetworkNotReady(t *testing.T) {
	rt, _ := clients(t)
	if hasCNIConfig() {
		t.Fatal("the shared daemon's conf dir holds a network")
	}
	st, err := rt.Status(ctxT(t), &runtimeapi.StatusRequest{})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range st.GetStatus().GetConditions() {
		if c.GetType() == runtimeapi.NetworkReady && (c.GetStatus() || c.GetReason() == "" || c.GetMessage() == "") {
			t.Fatalf("NetworkReady without a config: %v", c)
		}
	}
	before := dockerPsAll(t, d)
	_, err = rt.RunPodSandbox(ctxT(t), &runtimeapi.RunPodSandboxRequest{Config: podConfig(t, false)})
	wantCode(t, "pod network without a config", err, codes.Unavailable)
	if !strings.Contains(err.Error(), "network") {
		t.Errorf("message does not say why: %v", err)
	}
	if after := dockerPsAll(t, d); after != before {
		t.Fatalf("a refused pod left containers:\n%s", after)
	}
}

func randByte() byte {
	b := make([]byte, 1)
	rand.Read(b)
	return b[0]
}

// TestSandboxesInParallel: kubelet starts and stops pods at once; each
// gets its own address and nothing is left after.
func TestSandboxesInParallel(t *testing.T) {
	pn := newPodNet(t, podNetOptions{})
	rt, _ := clientsOf(t, pn.dd)
	const n = 5
	ids := make([]string, n)
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		go func(i int) {
			cfg := podConfig(t, false)
			cfg.Metadata.Name += fmt.Sprintf("-%d", i)
			cfg.Metadata.Uid += fmt.Sprintf("-%d", i)
			resp, err := rt.RunPodSandbox(ctxT(t), &runtimeapi.RunPodSandboxRequest{Config: cfg})
			ids[i] = resp.GetPodSandboxId()
			errs <- err
		}(i)
	}
	for i := 0; i < n; i++ {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	seen := map[string]bool{}
	for _, id := range ids {
		if id == "" {
			continue
		}
		ip := podStatus(t, rt, id).GetStatus().GetNetwork().GetIp()
		if ip == "" || seen[ip] {
			t.Errorf("pod %s address %q (empty or shared)", id[:12], ip)
		}
		seen[ip] = true
	}
	for _, id := range ids {
		go func(id string) {
			_, err := rt.RemovePodSandbox(ctxT(t), &runtimeapi.RemovePodSandboxRequest{PodSandboxId: id})
			errs <- err
		}(id)
	}
	for i := 0; i < n; i++ {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	pn.wantNothingLeft(t, 0)
	if ps := strings.TrimSpace(dockerPsAll(t, pn.dd)); ps != "" {
		t.Errorf("containers left:\n%s", ps)
	}
}

// TestSandboxStopWithRunningContainers: StopPodSandbox of a pod on a CNI
// network whose containers run (one ignores SIGTERM) answers only once
// every container has exited and the network is detached — the kills
// run beside the CNI DEL, and the stop still waits for both.
func TestSandboxStopWithRunningContainers(t *testing.T) {
	pn := newPodNet(t, podNetOptions{})
	rt, _ := clientsOf(t, pn.dd)
	cfg := podConfig(t, false)
	cfg.LogDirectory = t.TempDir()
	id := runPod(t, rt, cfg)
	var ctrs []string
	for _, c := range []*runtimeapi.ContainerConfig{
		containerConfig("sleeper", "sleep", "100000"),
		containerConfig("stubborn", "sh", "-c", `trap "" TERM; while :; do sleep 1; done`),
	} {
		resp, err := rt.CreateContainer(ctxT(t), &runtimeapi.CreateContainerRequest{PodSandboxId: id, Config: c, SandboxConfig: cfg})
		if err != nil {
			t.Fatalf("CreateContainer %s: %v", c.Metadata.Name, err)
		}
		if _, err := rt.StartContainer(ctxT(t), &runtimeapi.StartContainerRequest{ContainerId: resp.ContainerId}); err != nil {
			t.Fatalf("StartContainer %s: %v", c.Metadata.Name, err)
		}
		ctrs = append(ctrs, resp.ContainerId)
	}
	if pn.veths(t) == "" {
		t.Fatal("no veth in the node for the running pod")
	}

	if _, err := rt.StopPodSandbox(ctxT(t), &runtimeapi.StopPodSandboxRequest{PodSandboxId: id}); err != nil {
		t.Fatal(err)
	}
	for _, c := range ctrs {
		resp, err := rt.ContainerStatus(ctxT(t), &runtimeapi.ContainerStatusRequest{ContainerId: c})
		if err != nil {
			t.Fatal(err)
		}
		if st := resp.GetStatus(); st.GetState() != runtimeapi.ContainerState_CONTAINER_EXITED || st.GetExitCode() != 137 {
			t.Errorf("container %s right after StopPodSandbox: %v exit %d, want EXITED 137 (killed)", st.GetMetadata().GetName(), st.GetState(), st.GetExitCode())
		}
	}
	if s := podStatus(t, rt, id).GetStatus(); s.GetState() != runtimeapi.PodSandboxState_SANDBOX_NOTREADY || s.GetNetwork().GetIp() != "" {
		t.Errorf("pod after StopPodSandbox: %v ip %q, want NOTREADY without an address", s.GetState(), s.GetNetwork().GetIp())
	}
	pn.wantNothingLeft(t, 0)
}
