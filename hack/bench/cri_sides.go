package main

// The two CRI runtimes issue 21's speed figures compare: a berthd of this
// tree serving the CRI on its exec root, and Debian's containerd 1.6
// started through the offline critest kit's containerd-reference.sh
// (../shared/cri). Each gets its own roots, CNI bridge and subnet, and
// both pull from the kit's registry on 127.0.0.1:5000 through hosts.toml
// mirrors, as hack/critest.sh and the kit do.

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// criSide is one running CRI runtime.
type criSide struct {
	name      string
	endpoint  string     // unix socket path of the CRI
	daemonPid int        // the process whose RSS is the daemon's share
	logPath   string     // the daemon's log (berthd's holds -D phase lines)
	stop      func()     // stops it and removes all it made
	bridge    string     // its CNI bridge, deleted by stop
	r         *running   // berthd only
	ctdEnv    []string   // containerd only: the kit script's environment
	kit       string     // containerd only: the kit directory
	logDir    string     // pod log directories go under here
	root      string     // removed by stop
	pods      []string   // sandboxes made, removed by stop if left
	client    *criClient // set once connected
}

// criNet is a side's CNI bridge and subnet, named per process so that a
// benchmark does not share (and delete) another's or critest's.
func criNet(side int) (bridge, subnet string) {
	n := os.Getpid() % 200
	return fmt.Sprintf("bcr%d%d", side, os.Getpid()%100000), fmt.Sprintf("10.%d.%d.0/24", 180+side, n)
}

// writeMirrors writes hosts.toml files mapping the kit's registries to
// its local registry, the image names kept.
func writeMirrors(dir, registry string) error {
	for _, h := range []string{"registry.k8s.io", "k8s.gcr.io", "gcr.io"} {
		if err := os.MkdirAll(filepath.Join(dir, h), 0o755); err != nil {
			return err
		}
		toml := fmt.Sprintf("server = \"https://%s\"\n\n[host.\"http://%s\"]\n  capabilities = [\"pull\", \"resolve\"]\n", h, registry)
		if err := os.WriteFile(filepath.Join(dir, h, "hosts.toml"), []byte(toml), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// writeConflist writes a bridge + host-local + portmap network, as the
// kit's reference containerd has.
func writeConflist(dir, bridge, subnet, state string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	conf := fmt.Sprintf(`{
  "cniVersion": "1.0.0",
  "name": "berth-bench",
  "plugins": [
    {"type": "bridge", "bridge": %q, "isGateway": true, "ipMasq": false, "hairpinMode": true,
     "ipam": {"type": "host-local", "ranges": [[{"subnet": %q}]], "routes": [{"dst": "0.0.0.0/0"}], "dataDir": %q}},
    {"type": "portmap", "capabilities": {"portMappings": true}}
  ]
}
`, bridge, subnet, state)
	return os.WriteFile(filepath.Join(dir, "10-bench.conflist"), []byte(conf), 0o644)
}

func cniBinDir() (string, error) {
	for _, d := range []string{"/usr/lib/cni", "/opt/cni/bin"} {
		if _, err := os.Stat(filepath.Join(d, "bridge")); err == nil {
			return d, nil
		}
	}
	return "", fmt.Errorf("no CNI plugins in /usr/lib/cni or /opt/cni/bin")
}

// startBerthCRI starts berthd in debug mode (its start phases are in the
// log) with the CRI on root/exec/cri.sock.
func startBerthCRI(bin, registry string) (*criSide, error) {
	cniBin, err := cniBinDir()
	if err != nil {
		return nil, err
	}
	root, err := os.MkdirTemp("", "bench-cri-berthd-")
	if err != nil {
		return nil, err
	}
	bridge, subnet := criNet(0)
	s := &criSide{name: "berthd", root: root, bridge: bridge, logDir: filepath.Join(root, "logs"),
		endpoint: filepath.Join(root, "exec", "cri.sock"), logPath: filepath.Join(root, "log")}
	s.stop = func() {
		if s.r != nil {
			s.removePods()
			s.r.stop()
		}
		exec.Command("ip", "link", "del", bridge).Run()
		unmountUnder(root)
		os.RemoveAll(root)
	}
	if err := writeMirrors(filepath.Join(root, "certs.d"), registry); err != nil {
		s.stop()
		return nil, err
	}
	if err := writeConflist(filepath.Join(root, "net.d"), bridge, subnet, filepath.Join(root, "cni-state")); err != nil {
		s.stop()
		return nil, err
	}
	e := engine{name: "berthd", bin: bin, args: func(root string) []string {
		return []string{
			"-D", "-H", "unix://" + filepath.Join(root, "d.sock"),
			"--data-root", filepath.Join(root, "data"), "--exec-root", filepath.Join(root, "exec"),
			"--pidfile", filepath.Join(root, "d.pid"), "--config-file", filepath.Join(root, "daemon.json"),
			"--bridge", "none", "--cni-conf-dir", filepath.Join(root, "net.d"), "--cni-bin-dir", cniBin,
			"--registry-config-dir", filepath.Join(root, "certs.d"),
			"--pod-sandbox-image", "registry.k8s.io/pause:3.9",
		}
	}}
	if s.r, _, err = start(e, root); err != nil {
		s.stop()
		return nil, err
	}
	s.daemonPid = s.r.cmd.Process.Pid
	if err := waitSocket(s.endpoint, 10*time.Second); err != nil {
		s.stop()
		return nil, err
	}
	return s, nil
}

// containerdUnavailable says why the containerd side cannot run here, or "".
func containerdUnavailable(kit string) string {
	if _, err := exec.LookPath("containerd"); err != nil {
		return "containerd not installed (apt-get install containerd)"
	}
	if _, err := exec.LookPath("containerd-shim-runc-v2"); err != nil {
		return "containerd-shim-runc-v2 not installed"
	}
	if _, err := os.Stat(filepath.Join(kit, "containerd-reference.sh")); err != nil {
		return "no critest kit at " + kit
	}
	return ""
}

// startContainerdCRI starts the kit's reference containerd on private
// roots under a new directory, un-niced so that the comparison is fair,
// and leaves the kit's registry running (KEEP_REGISTRY=1).
func startContainerdCRI(kit, kitWork, registry string) (*criSide, error) {
	root, err := os.MkdirTemp("", "bench-cri-containerd-")
	if err != nil {
		return nil, err
	}
	bridge, subnet := criNet(1)
	ctd := filepath.Join(root, "containerd")
	s := &criSide{name: "containerd", root: root, bridge: bridge, kit: kit, logDir: filepath.Join(root, "logs"),
		endpoint: filepath.Join(ctd, "containerd.sock"), logPath: filepath.Join(ctd, "containerd.log")}
	s.ctdEnv = append(os.Environ(), "CONTAINERD_DIR="+ctd, "CNI_BRIDGE="+bridge, "CNI_SUBNET="+subnet,
		"REGISTRY_ADDR="+registry, "KEEP_REGISTRY=1", "NICE=env", "CRI_KIT_WORK="+kitWork)
	script := filepath.Join(kit, "containerd-reference.sh")
	s.stop = func() {
		s.removePods()
		cmd := exec.Command(script, "stop", kitWork)
		cmd.Env = s.ctdEnv
		if out, err := cmd.CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "containerd-reference.sh stop: %v\n%s", err, out)
		}
		unmountUnder(root)
		os.RemoveAll(root)
	}
	cmd := exec.Command(script, "start", kitWork)
	cmd.Env = s.ctdEnv
	if out, err := cmd.CombinedOutput(); err != nil {
		s.stop()
		return nil, fmt.Errorf("containerd-reference.sh start: %v\n%s", err, out)
	}
	b, err := os.ReadFile(filepath.Join(ctd, "containerd.pid"))
	if err == nil {
		s.daemonPid, err = strconv.Atoi(strings.TrimSpace(string(b)))
	}
	if err != nil {
		s.stop()
		return nil, fmt.Errorf("containerd's pid: %v", err)
	}
	return s, nil
}

// removePods stops and removes every sandbox the benchmark made that is
// still there, through the CRI, so that CNI DEL runs for each.
func (s *criSide) removePods() {
	if s.client == nil {
		return
	}
	for _, id := range s.pods {
		s.client.removePod(id)
	}
	s.pods = nil
	s.client.close()
	s.client = nil
}

func waitSocket(path string, limit time.Duration) error {
	for t0 := time.Now(); time.Since(t0) < limit; time.Sleep(10 * time.Millisecond) {
		if fi, err := os.Stat(path); err == nil && fi.Mode()&os.ModeSocket != 0 {
			return nil
		}
	}
	return fmt.Errorf("no socket at %s after %s", path, limit)
}

// unmountUnder detaches whatever is still mounted under dir, deepest
// first, so that removing dir cannot reach into a mount.
func unmountUnder(dir string) {
	b, _ := os.ReadFile("/proc/self/mountinfo")
	var mounts []string
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) > 4 && strings.HasPrefix(f[4], dir+"/") {
			mounts = append(mounts, f[4])
		}
	}
	for i := len(mounts) - 1; i >= 0; i-- {
		syscall.Unmount(mounts[i], syscall.MNT_DETACH)
	}
}

// registryUp says whether the kit's registry answers at addr.
func registryUp(addr string) bool {
	c := &http.Client{Timeout: 3 * time.Second}
	resp, err := c.Get("http://" + addr + "/v2/")
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}
