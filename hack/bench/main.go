// Command bench prints berth's performance figures, and dockerd's beside
// them when a dockerd is installed, measured in the same run so that the
// ratio means something on a noisy machine. It is what `make bench` runs;
// figures are medians.
//
//	go run ./hack/bench [-berthd bin/berthd] [-dockerd /usr/bin/dockerd] [-n 20]
//
// Figures: daemon start to first /_ping, RSS of the daemon process tree 2 s
// after the start and idle (7 s after, once berthd dropped its start-up pages), PSS of the
// process tree, /_ping round trips per second over the unix socket from a
// Go client (one connection, and eight in parallel), and `docker load` and
// `docker save` throughput of a generated image (-image-mib MiB of random
// files in 5 layers; -image-runs runs, 0 to skip) beside GNU tar's speed
// at extracting the same layers (images.go); network setup cost in
// `docker run` and bridge vs loopback TCP throughput (network.go;
// -net-runs, 0 to skip); `docker push` and `docker pull` of a generated
// 512 MiB, 5-layer image to and from docker-registry on 127.0.0.1
// (registry.go; -registry-runs, 0 to skip); memory per running container
// from its shim's smaps_rollup and the runtime's create-to-exit time
// (shim.go; -shim-containers, 0 to skip); networks, ports and containers
// at scale (netscale.go; -netscale-networks, 0 to skip); pod start, stop
// and memory per pod at the CRI beside containerd 1.6 started through the
// offline critest kit (cri.go; -cri-runs, 0 to skip); BuildKit builds
// through buildx, cold, fully cached and with a warm cache mount
// (buildkit.go; -buildkit-runs, 0 to skip).
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/berthd/berth/pkg/procns"
)

// benchBridge is the bridge the benchmark's berthd creates, named per
// process so that two benchmarks at once do not share (and delete) one.
var benchBridge = fmt.Sprintf("btb%d", os.Getpid()%1000000)

type engine struct {
	name string
	bin  string
	args func(root string) []string
}

// berthCgroupDriver is -cgroup-driver, the berthds' exec-opt;
// berthSystemdPid is -systemd-pid, a private systemd (PID 1 of its own
// PID namespace) whose PID and mount namespaces they run in, where the
// host's PID 1 is not systemd.
var (
	berthCgroupDriver string
	berthSystemdPid   int
)

func berthArgs(root string) []string {
	return []string{
		"-H", "unix://" + filepath.Join(root, "d.sock"),
		"--data-root", filepath.Join(root, "data"),
		"--exec-root", filepath.Join(root, "exec"),
		"--pidfile", filepath.Join(root, "d.pid"),
		"--config-file", filepath.Join(root, "daemon.json"),
		"--bridge", benchBridge,
		"--exec-opt", "native.cgroupdriver=" + berthCgroupDriver,
	}
}

// dockerdArgs keeps dockerd off the host's socket, roots and network.
func dockerdArgs(root string) []string {
	return []string{
		"-H", "unix://" + filepath.Join(root, "d.sock"),
		"--data-root", filepath.Join(root, "data"),
		"--exec-root", filepath.Join(root, "exec"),
		"--pidfile", filepath.Join(root, "d.pid"),
		"--config-file", filepath.Join(root, "daemon.json"),
		"--bridge", "none", "--iptables=false", "--ip6tables=false",
	}
}

func client(sock string, conns int) *http.Client {
	return &http.Client{
		Timeout: 10 * time.Second,
		Transport: &http.Transport{
			DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
				var d net.Dialer
				return d.DialContext(ctx, "unix", sock)
			},
			MaxIdleConnsPerHost: conns,
		},
	}
}

func ping(c *http.Client) error {
	resp, err := c.Get("http://d/_ping")
	if err != nil {
		return err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		return fmt.Errorf("status %d", resp.StatusCode)
	}
	return nil
}

type running struct {
	cmd  *exec.Cmd
	sock string
}

// start runs the engine and returns once /_ping answers, with the time that took.
func start(e engine, root string) (*running, time.Duration, error) {
	return startWithin(e, root, 60*time.Second)
}

// startWithin is start with a bound other than a minute (a dockerd
// restoring hundreds of networks takes minutes).
func startWithin(e engine, root string, limit time.Duration) (*running, time.Duration, error) {
	os.MkdirAll(root, 0o700)
	os.WriteFile(filepath.Join(root, "daemon.json"), []byte("{}"), 0o644)
	logf, _ := os.OpenFile(filepath.Join(root, "log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	defer logf.Close()
	sock := filepath.Join(root, "d.sock")
	c := client(sock, 1)
	cmd := exec.Command(e.bin, e.args(root)...)
	enter := 0
	if strings.HasPrefix(e.name, "berthd") {
		enter = berthSystemdPid
	}
	if enter != 0 {
		cmd = procns.WithMountNamespace(cmd, enter)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	t0 := time.Now()
	if err := procns.StartInPIDNamespace(cmd, enter); err != nil {
		return nil, 0, err
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	for {
		if ping(c) == nil {
			return &running{cmd: cmd, sock: sock}, time.Since(t0), nil
		}
		select {
		case <-exited:
			return nil, 0, fmt.Errorf("%s exited during start; see %s", e.name, filepath.Join(root, "log"))
		default:
		}
		if time.Since(t0) > limit {
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			return nil, 0, fmt.Errorf("%s did not answer /_ping in %s", e.name, limit)
		}
		time.Sleep(time.Millisecond)
	}
}

// stop ends the engine by its PID (and its process group, which holds a
// dockerd's own containerd) and waits for it.
func (r *running) stop() {
	syscall.Kill(-r.cmd.Process.Pid, syscall.SIGTERM)
	done := make(chan struct{})
	go func() {
		for r.cmd.ProcessState == nil {
			time.Sleep(10 * time.Millisecond)
		}
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		syscall.Kill(-r.cmd.Process.Pid, syscall.SIGKILL)
	}
	time.Sleep(100 * time.Millisecond)
}

func median(ds []time.Duration) time.Duration {
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	return ds[len(ds)/2]
}

// treeMemory sums VmRSS and Pss (KiB) over pid and its descendants.
func treeMemory(pid int) (rss, pss int) {
	children := map[int][]int{}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p))
		if err != nil {
			continue
		}
		s := string(b)
		fields := strings.Fields(s[strings.LastIndex(s, ")")+2:])
		if len(fields) > 1 {
			pp, _ := strconv.Atoi(fields[1])
			children[pp] = append(children[pp], p)
		}
	}
	var walk func(int)
	walk = func(p int) {
		rss += statusField(fmt.Sprintf("/proc/%d/status", p), "VmRSS:")
		pss += statusField(fmt.Sprintf("/proc/%d/smaps_rollup", p), "Pss:")
		for _, c := range children[p] {
			walk(c)
		}
	}
	walk(pid)
	return rss, pss
}

func statusField(path, key string) int {
	f, err := os.Open(path)
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), key) {
			v, _ := strconv.Atoi(strings.Fields(sc.Text())[1])
			return v
		}
	}
	return 0
}

// pingRate is /_ping round trips per second over conns parallel keep-alive
// connections for d.
func pingRate(sock string, conns int, d time.Duration) float64 {
	c := client(sock, conns)
	var n atomic.Int64
	deadline := time.Now().Add(d)
	var wg sync.WaitGroup
	for i := 0; i < conns; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(deadline) {
				if ping(c) == nil {
					n.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	return float64(n.Load()) / d.Seconds()
}

type figures struct {
	startup  time.Duration
	rss, pss int
	// early are rss and pss 2 s after the start, before berthd's
	// start-up trim (daemon/memory.go) has run.
	earlyRSS, earlyPSS int
	ping1, ping8       float64
}

func measure(e engine, n int) (figures, error) {
	var f figures
	root, err := os.MkdirTemp("", "bench-"+e.name+"-")
	if err != nil {
		return f, err
	}
	defer os.RemoveAll(root)
	// The first start creates the roots; it is not counted.
	r, _, err := start(e, root)
	if err != nil {
		return f, err
	}
	r.stop()
	var starts []time.Duration
	for i := 0; i < n; i++ {
		r, d, err := start(e, root)
		if err != nil {
			return f, err
		}
		starts = append(starts, d)
		if i < n-1 {
			r.stop()
			continue
		}
		// Last run: idle memory after a few requests, then throughput.
		for j := 0; j < 10; j++ {
			ping(client(r.sock, 1))
		}
		time.Sleep(2 * time.Second)
		f.earlyRSS, f.earlyPSS = treeMemory(r.cmd.Process.Pid)
		// Idle is after berthd has dropped the pages its start-up
		// touched (5 s after its restore); a dockerd does nothing then.
		time.Sleep(5 * time.Second)
		f.rss, f.pss = treeMemory(r.cmd.Process.Pid)
		f.ping1 = pingRate(r.sock, 1, 2*time.Second)
		f.ping8 = pingRate(r.sock, 8, 2*time.Second)
		r.stop()
	}
	f.startup = median(starts)
	return f, nil
}

func main() {
	berthd := flag.String("berthd", "bin/berthd", "berthd binary")
	dockerd := flag.String("dockerd", "", "dockerd binary to compare with (default: dockerd on PATH, if any)")
	n := flag.Int("n", 20, "daemon starts to take the median of")
	imageMiB := flag.Int("image-mib", 512, "size of the generated image for the load/save figures")
	imageRuns := flag.Int("image-runs", 3, "load/save runs to take the median of (0: no image figures)")
	netRuns := flag.Int("net-runs", 20, "docker runs per network mode to take the median of (0: no network figures; network.go)")
	netMiB := flag.Int("net-mib", 1024, "MiB per TCP throughput run")
	buildRuns := flag.Int("build-runs", 5, "cold and cached builds to take the median of (0: no build figures; build.go)")
	buildkitRuns := flag.Int("buildkit-runs", 5, "cold, cached and cache-mount BuildKit builds to take the median of (0: none; buildkit.go)")
	buildkitBin := flag.String("buildkit-bin", "/var/tmp/berth-buildkit/bin", "where hack/buildkit-clients.sh put docker-buildx")
	regRuns := flag.Int("registry-runs", 3, "pushes and pulls to take the median of (0: no registry figures; registry.go)")
	shimContainers := flag.Int("shim-containers", 10, "containers running at once for the per-container memory figures (0: none; shim.go)")
	psContainers := flag.Int("ps-containers", 1000, "created containers for the docker ps -a figure (0: none; ps.go)")
	scaleNets := flag.Int("netscale-networks", 500, "user networks for the network scale figures (0: none; netscale.go)")
	scalePorts := flag.Int("netscale-ports", 1000, "published ports on one container for the network scale figures")
	scaleCtrs := flag.Int("netscale-containers", 200, "containers on one network for the network scale figures")
	lifeRuns := flag.Int("lifecycle-runs", 20, "starts, execs, stops and run --rm at the API to take the median of (0: none; lifecycle.go)")
	criRuns := flag.Int("cri-runs", 20, "pods started and removed at the CRI to take the median of, beside containerd (0: none; cri.go)")
	criPods := flag.Int("cri-pods", 20, "pods running at once for the CRI memory-per-pod figures (0: none)")
	criKit := flag.String("cri-kit", filepath.Join("..", "shared", "cri"), "the offline critest kit (its registry and containerd-reference.sh)")
	criKitWork := flag.String("cri-kit-work", "/var/tmp/berth-cri", "the kit's WORKDIR (built tools, stand-in images)")
	flag.StringVar(&berthCgroupDriver, "cgroup-driver", "cgroupfs", "berthd's cgroup driver: cgroupfs or systemd")
	flag.IntVar(&berthSystemdPid, "systemd-pid", 0, "run berthd in the PID and mount namespaces of this private systemd (hack/private-systemd.sh)")
	flag.Parse()
	// berthd creates the bridge it is given; leave none behind, also on
	// a failure (fail runs this before it exits).
	defer removeBenchBridge()
	if os.Geteuid() != 0 {
		fmt.Fprintln(os.Stderr, "bench needs root")
		fail()
	}
	engines := []engine{{name: "berthd", bin: *berthd, args: berthArgs}}
	if *dockerd == "" {
		if p, err := exec.LookPath("dockerd"); err == nil {
			*dockerd = p
		}
	}
	if *dockerd != "" {
		engines = append(engines, engine{name: "dockerd", bin: *dockerd, args: dockerdArgs})
	}
	results := map[string]figures{}
	for _, e := range engines {
		f, err := measure(e, *n)
		if err != nil {
			fmt.Fprintf(os.Stderr, "%s: %v\n", e.name, err)
			if e.name == "berthd" {
				fail()
			}
			continue
		}
		results[e.name] = f
	}
	fmt.Printf("%-34s %14s %14s %10s\n", "figure (median of "+strconv.Itoa(*n)+" starts)", "berthd", "dockerd", "ratio")
	row := func(name string, get func(figures) float64, unit string, lowerIsBetter bool) {
		b := get(results["berthd"])
		line := fmt.Sprintf("%-34s %14s", name, fmt.Sprintf("%.2f %s", b, unit))
		if dres, ok := results["dockerd"]; ok {
			dv := get(dres)
			ratio := dv / b
			if !lowerIsBetter {
				ratio = b / dv
			}
			line += fmt.Sprintf(" %14s %9.1fx", fmt.Sprintf("%.2f %s", dv, unit), ratio)
		}
		fmt.Println(line)
	}
	row("daemon start to first /_ping", func(f figures) float64 { return float64(f.startup.Microseconds()) / 1000 }, "ms", true)
	row("RSS 2 s after start, process tree", func(f figures) float64 { return float64(f.earlyRSS) / 1024 }, "MiB", true)
	row("idle RSS, daemon process tree", func(f figures) float64 { return float64(f.rss) / 1024 }, "MiB", true)
	row("idle PSS, daemon process tree", func(f figures) float64 { return float64(f.pss) / 1024 }, "MiB", true)
	row("/_ping round trips, 1 connection", func(f figures) float64 { return f.ping1 }, "/s", false)
	row("/_ping round trips, 8 connections", func(f figures) float64 { return f.ping8 }, "/s", false)
	if *imageRuns > 0 {
		imgs, untar, err := measureImages(engines, *imageMiB, *imageRuns)
		if err != nil {
			fmt.Fprintf(os.Stderr, "image figures: %v\n", err)
			fail()
		}
		img := func(name string, get func(imageFigures) float64) {
			b := get(imgs["berthd"])
			line := fmt.Sprintf("%-34s %14s", name, fmt.Sprintf("%.1f MB/s", b))
			if dres, ok := imgs["dockerd"]; ok {
				line += fmt.Sprintf(" %14s %9.1fx", fmt.Sprintf("%.1f MB/s", get(dres)), b/get(dres))
			}
			fmt.Println(line)
		}
		fmt.Printf("%-34s (median of %d runs, %d MiB, 5 layers, random content)\n", "image figures", *imageRuns, *imageMiB)
		img("docker load throughput", func(f imageFigures) float64 { return f.load })
		img("docker save throughput", func(f imageFigures) float64 { return f.save })
		fmt.Printf("%-34s %14s\n", "untar of the same layers + sync", fmt.Sprintf("%.1f MB/s", untar))
		fmt.Printf("%-34s %14s\n", "berthd load / untar", fmt.Sprintf("%.0f%%", 100*imgs["berthd"].load/untar))
	}
	if *lifeRuns > 0 {
		if err := lifecycleBenchFigures(engines, *lifeRuns); err != nil {
			fmt.Fprintf(os.Stderr, "lifecycle figures: %v\n", err)
			fail()
		}
	}
	if *criRuns > 0 {
		o := criOptions{berthd: *berthd, kit: *criKit, kitWork: *criKitWork, registry: "127.0.0.1:5000", runs: *criRuns, pods: *criPods}
		if err := criBenchFigures(o); err != nil {
			fmt.Fprintf(os.Stderr, "CRI figures: %v\n", err)
			fail()
		}
	}
	if *shimContainers > 0 {
		if err := shimFigures(engines, *shimContainers); err != nil {
			fmt.Fprintf(os.Stderr, "shim figures: %v\n", err)
			fail()
		}
	}
	if *psContainers > 0 {
		if err := printPsFigures(engines, *psContainers, 10); err != nil {
			fmt.Fprintf(os.Stderr, "ps figures: %v\n", err)
			fail()
		}
	}
	if *netRuns > 0 {
		nf, err := measureNetwork(*berthd, *netRuns, *netMiB)
		if err != nil {
			fmt.Fprintf(os.Stderr, "network figures: %v\n", err)
			fail()
		}
		printNetwork(nf, *netRuns, *netMiB)
	}
	if *scaleNets > 0 {
		if err := printNetScale(engines, *scaleNets, *scalePorts, *scaleCtrs); err != nil {
			fmt.Fprintf(os.Stderr, "network scale figures: %v\n", err)
			fail()
		}
	}
	if *regRuns > 0 {
		if err := registryFigures(engines, *regRuns); err != nil {
			fmt.Fprintf(os.Stderr, "registry figures: %v\n", err)
			fail()
		}
	}
	if *buildRuns > 0 {
		if err := buildBenchFigures(engines, *buildRuns); err != nil {
			fmt.Fprintf(os.Stderr, "build figures: %v\n", err)
			fail()
		}
	}
	if *buildkitRuns > 0 {
		if err := buildkitBenchFigures(engines, *buildkitBin, *buildkitRuns); err != nil {
			fmt.Fprintf(os.Stderr, "BuildKit build figures: %v\n", err)
			fail()
		}
	}
	fmt.Println("ratio: how many times better berthd is (dockerd/berthd for times and memory, berthd/dockerd for rates)")
}

// removeBenchBridge deletes the bridge the benchmark's berthd made.
func removeBenchBridge() { _ = exec.Command("ip", "link", "del", benchBridge).Run() }

// fail ends the benchmark with status 1, leaving no bridge behind (a
// deferred call does not run on os.Exit).
func fail() {
	removeBenchBridge()
	os.Exit(1)
}
