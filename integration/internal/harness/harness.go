package harness

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
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
	"syscall"
	"testing"
	"time"

	"github.com/moby/moby/client"

	"github.com/berthd/berth/daemon/config"
	"github.com/berthd/berth/network/firewall"
	"github.com/berthd/berth/pkg/procns"
	"golang.org/x/sys/unix"
)

// InCI reports whether the tests run under CI, where a missing
// prerequisite fails instead of skipping.
func InCI() bool { return os.Getenv("CI") == "true" }

// Require fails the test under CI and skips it elsewhere when ok is false.
func Require(t testing.TB, ok bool, format string, args ...any) {
	t.Helper()
	if ok {
		return
	}
	if InCI() {
		t.Fatalf("missing prerequisite: "+format, args...)
	}
	t.Skipf("missing prerequisite: "+format, args...)
}

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// ModuleRoot is the directory holding berth's go.mod (for the hack/
// scripts a test runs).
func ModuleRoot() (string, error) { return moduleRoot() }

// moduleRoot finds the directory holding berth's go.mod.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if b, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil && bytes.Contains(b, []byte("module github.com/berthd/berth")) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("berth's go.mod not found above the working directory")
		}
		dir = parent
	}
}

// Binary returns a berthd built from this source tree, once per test
// binary. BERTHD_BINARY overrides it (CI builds once for all packages).
func Binary() (string, error) {
	buildOnce.Do(func() {
		if p := os.Getenv("BERTHD_BINARY"); p != "" {
			binPath = p
			return
		}
		binPath, buildErr = buildBerthd()
	})
	return binPath, buildErr
}

var (
	faultsOnce sync.Once
	faultsPath string
	faultsErr  error
)

// FaultsBinary returns a berthd built with the berth_faults tag (the
// named fault points of pkg/faultpoint, armed by BERTH_FAULT in its
// environment), once per test binary; use it through Options.Binary.
func FaultsBinary() (string, error) {
	faultsOnce.Do(func() { faultsPath, faultsErr = buildBerthd("-tags", "berth_faults") })
	return faultsPath, faultsErr
}

// buildBerthd builds ./cmd/berthd of this source tree into a temporary
// directory with the extra go build flags.
func buildBerthd(flags ...string) (string, error) {
	root, err := moduleRoot()
	if err != nil {
		return "", err
	}
	dir, err := os.MkdirTemp("", "berthd-bin-")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "berthd")
	cmd := exec.Command("go", append(append([]string{"build"}, flags...), "-o", bin, "./cmd/berthd")...)
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build berthd: %v\n%s", err, out)
	}
	return bin, nil
}

// NoEgressEnv keeps a test daemon from ever reaching a registry off this
// machine: a mistyped image name would otherwise send the CLI's implicit
// pull to Docker Hub. Every non-loopback request goes to a proxy address
// where nothing listens; loopback registries (the tests') are not proxied.
var NoEgressEnv = []string{
	"HTTP_PROXY=http://127.0.0.1:9", "HTTPS_PROXY=http://127.0.0.1:9",
	"http_proxy=http://127.0.0.1:9", "https_proxy=http://127.0.0.1:9",
	"NO_PROXY=localhost,127.0.0.1,::1", "no_proxy=localhost,127.0.0.1,::1",
}

// Options shape a daemon.
type Options struct {
	// Args are extra berthd flags.
	Args []string
	// Binary, when set, is the berthd to run instead of Binary()'s.
	Binary string
	// Env is added to the daemon's environment.
	Env []string
	// Config is the daemon.json content; "{}" when empty.
	Config string
	// CgroupV2 runs the daemon, on a cgroup v1 host, in a private mount
	// namespace with the unified hierarchy mounted on /sys/fs/cgroup, so
	// that it takes the host for a v2 one. That hierarchy carries no
	// resource controllers on a v1 host: limits cannot be tested so.
	CgroupV2 bool
	// Netns runs the daemon in that named network namespace (ip netns),
	// a host of its own: its bridges, rules and sysctls are the
	// namespace's, so a test may change what it would not on the host
	// (turning IP forwarding off and letting berth turn it on).
	Netns string
	// EnterPid runs the daemon in the PID and mount namespaces of that
	// process: a private systemd's (privsystemd), which can only place
	// processes of its own PID namespace in scopes. The daemon's PID is
	// still the host's, and the PIDs it reports are the namespace's.
	EnterPid int
	// DataRoot is a data-root of the test's own (a loop-mounted file
	// system, say) instead of one under the daemon's root. The test owns
	// it: Cleanup unmounts what the daemon left mounted below it but does
	// not remove it.
	DataRoot string
}

// Daemon is one berthd under test.
type Daemon struct {
	Root       string
	DataRoot   string
	ExecRoot   string
	Socket     string
	Pidfile    string
	ConfigFile string
	LogFile    string
	Bridge     string
	DockerCfg  string
	Options    Options

	cmd      *exec.Cmd
	done     chan struct{}
	cleanups []func()
}

// randomHex is n random bytes in hex: a short suffix, not a stringid ID,
// because a bridge name must fit in 15 bytes.
func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// New prepares a daemon's private root. Nothing runs until Start.
func New(o Options) (*Daemon, error) {
	hostForwarding()
	sweepOnce.Do(SweepDeadRoots)
	// Short paths: a unix socket path must fit in 108 bytes.
	root, err := os.MkdirTemp("", "bt-")
	if err != nil {
		return nil, err
	}
	d := &Daemon{
		Root:       root,
		DataRoot:   filepath.Join(root, "data"),
		ExecRoot:   filepath.Join(root, "exec"),
		Socket:     filepath.Join(root, "berthd.sock"),
		Pidfile:    filepath.Join(root, "berthd.pid"),
		ConfigFile: filepath.Join(root, "daemon.json"),
		LogFile:    filepath.Join(root, "berthd.log"),
		Bridge:     "bt" + randomHex(4),
		DockerCfg:  filepath.Join(root, "docker-cli"),
		Options:    o,
	}
	if o.DataRoot != "" {
		d.DataRoot = o.DataRoot
	}
	if err := os.MkdirAll(d.DockerCfg, 0o700); err != nil {
		return nil, err
	}
	cfg := o.Config
	if cfg == "" {
		cfg = "{}"
	}
	if err := os.WriteFile(d.ConfigFile, []byte(cfg), 0o644); err != nil {
		return nil, err
	}
	if err := d.writeOwner(); err != nil {
		return nil, err
	}
	return d, nil
}

// NftTable is the nftables table this daemon uses (the daemon's own rule).
func (d *Daemon) NftTable() string { return firewall.TableName(d.DataRoot, config.DefaultDataRoot) }

// Host is the DOCKER_HOST value for this daemon.
func (d *Daemon) Host() string { return "unix://" + d.Socket }

// BaseArgs are the flags that keep the daemon on its private root.
func (d *Daemon) BaseArgs() []string {
	return []string{
		"-H", d.Host(),
		"--data-root", d.DataRoot,
		"--exec-root", d.ExecRoot,
		"--pidfile", d.Pidfile,
		"--config-file", d.ConfigFile,
		"--bridge", d.Bridge,
	}
}

// Start runs berthd with BaseArgs, Options.Args and extra, and waits until
// /_ping answers.
func (d *Daemon) Start(extra ...string) error {
	if err := d.Spawn(extra...); err != nil {
		return err
	}
	if err := d.WaitReady(15 * time.Second); err != nil {
		d.Kill()
		return err
	}
	return nil
}

// Spawn starts berthd without waiting for it to be ready.
func (d *Daemon) Spawn(extra ...string) error {
	bin, err := Binary()
	if err != nil {
		return err
	}
	if d.Options.Binary != "" {
		bin = d.Options.Binary
	}
	args := append(d.BaseArgs(), d.Options.Args...)
	args = append(args, extra...)
	logf, err := os.OpenFile(d.LogFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	fmt.Fprintf(logf, "---- berthd %s\n", strings.Join(args, " "))
	cmd := exec.Command(bin, args...)
	if d.Options.CgroupV2 {
		// sh execs berthd: the PID stays the daemon's.
		cmd = exec.Command("unshare", append([]string{"--mount", "--propagation", "private", "--",
			"sh", "-c", `mount -t cgroup2 none /sys/fs/cgroup && exec "$0" "$@"`, bin}, args...)...)
	}
	if d.Options.Netns != "" {
		// nsenter execs berthd: the PID stays the daemon's. (Not ip
		// netns exec, whose fresh /sys has no cgroup mounts.)
		cmd = exec.Command("nsenter", append([]string{"--net=/run/netns/" + d.Options.Netns, "--", cmd.Path}, cmd.Args[1:]...)...)
	}
	if d.Options.EnterPid != 0 {
		cmd = procns.WithMountNamespace(cmd, d.Options.EnterPid)
	}
	cmd.Env = append(append(os.Environ(), NoEgressEnv...), d.Options.Env...)
	cmd.Stdout, cmd.Stderr = logf, logf
	// Its own process group, so a test's Ctrl-C does not reach it before
	// Cleanup does.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := procns.StartInPIDNamespace(cmd, d.Options.EnterPid); err != nil {
		logf.Close()
		return err
	}
	d.cmd = cmd
	d.done = make(chan struct{})
	go func() {
		cmd.Wait()
		logf.Close()
		close(d.done)
	}()
	return nil
}

// Exited reports whether the daemon process has ended.
func (d *Daemon) Exited() bool {
	if d.done == nil {
		return true
	}
	select {
	case <-d.done:
		return true
	default:
		return false
	}
}

// ExitCode is the daemon's exit status once Exited.
func (d *Daemon) ExitCode() int {
	if d.cmd == nil || d.cmd.ProcessState == nil {
		return -1
	}
	return d.cmd.ProcessState.ExitCode()
}

// WaitExit waits for the daemon to end on its own.
func (d *Daemon) WaitExit(timeout time.Duration) error {
	if d.done == nil {
		return nil
	}
	select {
	case <-d.done:
		return nil
	case <-time.After(timeout):
		return fmt.Errorf("berthd still running after %s", timeout)
	}
}

// WaitReady polls /_ping until it answers OK.
func (d *Daemon) WaitReady(timeout time.Duration) error {
	hc := d.HTTPClient()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if d.Exited() {
			return fmt.Errorf("berthd exited during startup (status %d):\n%s", d.ExitCode(), d.LogTail(30))
		}
		resp, err := hc.Get("http://berthd/_ping")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	return fmt.Errorf("berthd did not answer /_ping within %s:\n%s", timeout, d.LogTail(30))
}

// Pid is the daemon's process ID, 0 when not running.
func (d *Daemon) Pid() int {
	if d.cmd == nil || d.cmd.Process == nil || d.Exited() {
		return 0
	}
	return d.cmd.Process.Pid
}

// Signal sends sig to the daemon.
func (d *Daemon) Signal(sig os.Signal) error {
	if d.Pid() == 0 {
		return errors.New("berthd not running")
	}
	return d.cmd.Process.Signal(sig)
}

// Stop asks the daemon to shut down (SIGTERM) and kills it after 20s.
func (d *Daemon) Stop() error {
	if d.Pid() == 0 {
		return nil
	}
	d.Signal(syscall.SIGTERM)
	if err := d.WaitExit(20 * time.Second); err != nil {
		d.Kill()
		return err
	}
	return nil
}

// Kill ends the daemon with SIGKILL, as a crash would.
func (d *Daemon) Kill() error {
	if d.Pid() == 0 {
		return nil
	}
	d.cmd.Process.Kill()
	return d.WaitExit(10 * time.Second)
}

// Restart stops (or, with kill, SIGKILLs) the daemon and starts it again on
// the same roots with the given extra flags.
func (d *Daemon) Restart(kill bool, extra ...string) error {
	if kill {
		d.Kill()
	} else if err := d.Stop(); err != nil {
		return err
	}
	return d.Start(extra...)
}

// Log returns the daemon's log so far.
func (d *Daemon) Log() string {
	b, _ := os.ReadFile(d.LogFile)
	return string(b)
}

// LogTail returns the last n lines of the log.
func (d *Daemon) LogTail(n int) string {
	lines := strings.Split(strings.TrimRight(d.Log(), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// HTTPClient talks plain HTTP to the daemon's unix socket; use any host
// name in URLs.
func (d *Daemon) HTTPClient() *http.Client {
	return &http.Client{
		Timeout: 30 * time.Second,
		Transport: &http.Transport{
			DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
				var dialer net.Dialer
				return dialer.DialContext(ctx, "unix", d.Socket)
			},
			DisableKeepAlives: true,
		},
	}
}

// Do sends one request to the daemon's API over its socket, body as JSON
// when there is one, and returns the response with its body read.
func (d *Daemon) Do(t testing.TB, method, path, body string) (*http.Response, string) {
	t.Helper()
	return Request(t, d.HTTPClient(), method, path, body)
}

// Request sends one API request through c (a client bound to an engine's
// socket: Daemon.HTTPClient, Dockerd.Client), body as JSON when there is
// one, and returns the response with its body read; a failed round trip
// fails t.
func Request(t testing.TB, c *http.Client, method, path, body string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, "http://engine"+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// Client returns a Go Engine API client for this daemon.
func (d *Daemon) Client() (*client.Client, error) {
	return client.New(client.WithHost(d.Host()))
}

// DockerCmd prepares the real docker CLI pointed at this daemon.
func (d *Daemon) DockerCmd(args ...string) *exec.Cmd {
	cmd := exec.Command("docker", args...)
	cmd.Env = append(os.Environ(),
		"DOCKER_HOST="+d.Host(),
		"DOCKER_CONFIG="+d.DockerCfg,
		"DOCKER_CLI_HINTS=false",
		"DOCKER_BUILDKIT=0",
	)
	return cmd
}

// Docker runs the docker CLI and returns its stdout and stderr.
func (d *Daemon) Docker(args ...string) (stdout, stderr string, err error) {
	cmd := d.DockerCmd(args...)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err = cmd.Run()
	return o.String(), e.String(), err
}

// DockerT runs the docker CLI and fails the test if it fails.
func (d *Daemon) DockerT(t testing.TB, args ...string) string {
	t.Helper()
	out, errOut, err := d.Docker(args...)
	if err != nil {
		t.Fatalf("docker %s: %v\nstdout: %s\nstderr: %s", strings.Join(args, " "), err, out, errOut)
	}
	return out
}

// AddCleanup registers work for Cleanup (later managers' cgroups, rules…).
func (d *Daemon) AddCleanup(f func()) { d.cleanups = append(d.cleanups, f) }

// Cleanup stops the daemon, runs registered cleanups, unmounts everything
// under the root, deletes the bridge if it exists, and removes the root.
func (d *Daemon) Cleanup() {
	if err := d.Stop(); err != nil {
		d.Kill()
	}
	for i := len(d.cleanups) - 1; i >= 0; i-- {
		d.cleanups[i]()
	}
	d.releaseHost()
}

// releaseHost removes what the daemon may have left on the host once it is
// stopped: its containers' processes and cgroups, mounts, netfilter tables
// and bridges, and the root. Cleanup calls it, and so does the sweep of a
// root whose test binary died before its Cleanup ran (sweep.go).
func (d *Daemon) releaseHost() {
	KillContainers(d.DataRoot)
	UnmountUnder(d.Root)
	if d.Options.DataRoot != "" {
		// The data-root itself stays mounted: it is the test's.
		UnmountBelow(d.DataRoot)
	}
	// A daemon stopped with live-restore keeps its table for its
	// containers' NAT, and one that crashed cannot remove it.
	exec.Command("nft", "delete", "table", "inet", d.NftTable()).Run()
	// The administrators' table outlives berth by design; a test
	// daemon's goes with its test.
	exec.Command("nft", "delete", "table", "inet", firewall.UserTable(d.NftTable())).Run()
	if _, err := net.InterfaceByName(d.Bridge); err == nil {
		exec.Command("ip", "link", "del", d.Bridge).Run()
	}
	// The bridges of the networks a test left behind outlive the daemon
	// (as dockerd's do); left on the host, they take the default address
	// pools from every later daemon ("all predefined address pools have
	// been fully subnetted").
	for _, br := range networkBridges(d.DataRoot) {
		if _, err := net.InterfaceByName(br); err == nil {
			exec.Command("ip", "link", "del", br).Run()
		}
	}
	os.RemoveAll(d.Root)
}

// networkBridges lists the bridges of the networks recorded under the
// data-root dataRoot.
func networkBridges(dataRoot string) []string {
	files, _ := filepath.Glob(filepath.Join(dataRoot, "network", "networks", "*.json"))
	var out []string
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		var r struct {
			Bridge string `json:"bridge"`
		}
		if json.Unmarshal(b, &r) == nil && r.Bridge != "" {
			out = append(out, r.Bridge)
		}
	}
	return out
}

// KillContainers ends what is left of the containers of the daemon whose
// data-root is dataRoot: a daemon stopped with live-restore, killed, or
// stopped while a container was paused leaves them running (a frozen one
// for good), and their shims with them. Each container's cgroup (the
// default parent, /berth/<id>, in every hierarchy) is thawed, its
// processes are killed, and it is removed; the shims then record the exit
// and go. Only processes of this daemon's containers (and managed
// plugins) are touched.
func KillContainers(dataRoot string) {
	killCgroups(filepath.Join(dataRoot, "containers"), "berth")
	// Managed plugins run as containers of their own, in /berth-plugins.
	killCgroups(filepath.Join(dataRoot, "plugins"), "berth-plugins")
}

// killCgroups ends the processes of the cgroups parent/<id> for each ID
// directory in dir, and removes the cgroups.
func killCgroups(dir, parent string) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range ents {
		id := e.Name()
		if len(id) != 64 {
			continue
		}
		dirs, _ := filepath.Glob("/sys/fs/cgroup/*/" + parent + "/" + id)
		if v2, err := os.Stat("/sys/fs/cgroup/" + parent + "/" + id); err == nil && v2.IsDir() {
			dirs = append(dirs, "/sys/fs/cgroup/"+parent+"/"+id)
		}
		for _, dir := range dirs {
			os.WriteFile(filepath.Join(dir, "freezer.state"), []byte("THAWED"), 0)
			os.WriteFile(filepath.Join(dir, "cgroup.freeze"), []byte("0"), 0)
		}
		for _, dir := range dirs {
			b, _ := os.ReadFile(filepath.Join(dir, "cgroup.procs"))
			for _, f := range strings.Fields(string(b)) {
				if pid, err := strconv.Atoi(f); err == nil && pid > 1 {
					unix.Kill(pid, unix.SIGKILL)
				}
			}
		}
		for _, dir := range dirs {
			for i := 0; i < 100; i++ {
				if err := unix.Rmdir(dir); err == nil || errors.Is(err, unix.ENOENT) {
					break
				}
				time.Sleep(20 * time.Millisecond)
			}
		}
	}
}

// UnmountUnder lazily unmounts dir and every mount point below it,
// deepest first.
func UnmountUnder(dir string) { unmount(dir, true) }

// UnmountBelow lazily unmounts every mount point strictly below dir,
// deepest first, and leaves a mount on dir itself.
func UnmountBelow(dir string) { unmount(dir, false) }

func unmount(dir string, self bool) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return
	}
	defer f.Close()
	var points []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) > 4 {
			mp := unescapeMount(fields[4])
			if (self && mp == dir) || strings.HasPrefix(mp, dir+"/") {
				points = append(points, mp)
			}
		}
	}
	sort.Slice(points, func(i, j int) bool { return len(points[i]) > len(points[j]) })
	for _, p := range points {
		unix.Unmount(p, unix.MNT_DETACH)
	}
}

func unescapeMount(s string) string {
	r := strings.NewReplacer(`\040`, " ", `\011`, "\t", `\012`, "\n", `\134`, `\`)
	return r.Replace(s)
}

// Preflight checks what every integration package needs (root, the
// docker CLI). When something is missing it says so and returns false
// with the exit code for os.Exit: 1 under CI, 0 (skipped) elsewhere.
func Preflight() (code int, ok bool) {
	missing := ""
	if os.Geteuid() != 0 {
		missing = "integration tests need root"
	} else if _, err := exec.LookPath("docker"); err != nil {
		missing = "integration tests need the docker CLI on PATH"
	}
	if missing == "" {
		return 0, true
	}
	fmt.Fprintln(os.Stderr, missing)
	if InCI() {
		return 1, false
	}
	return 0, false
}

// Main is the body of an integration package's TestMain: it checks for
// root, starts one daemon for the package into *out, runs the tests and
// always cleans up. It returns the exit code for os.Exit.
func Main(m *testing.M, o Options, out **Daemon) int {
	if code, ok := Preflight(); !ok {
		return code
	}
	d, err := New(o)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer d.Cleanup()
	if err := d.Start(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	*out = d
	code := m.Run()
	if code != 0 {
		fmt.Fprintf(os.Stderr, "---- berthd log tail (%s)\n%s\n", d.LogFile, d.LogTail(60))
	}
	return code
}

// hostForwarding turns the host's IP forwarding on before any test
// daemon does. A daemon that turns it on itself drops the forwarded
// traffic that is not its own (dockerd's FORWARD policy drop), and on a
// fresh CI machine the first daemon to start would then drop the traffic
// of every other test daemon running beside it. Tests of that drop run a
// daemon in a network namespace of their own (Options.Netns).
func hostForwarding() {
	for _, p := range []string{"/proc/sys/net/ipv4/ip_forward", "/proc/sys/net/ipv6/conf/default/forwarding", "/proc/sys/net/ipv6/conf/all/forwarding"} {
		if b, err := os.ReadFile(p); err == nil && strings.TrimSpace(string(b)) == "0" {
			os.WriteFile(p, []byte("1"), 0o644)
		}
	}
}

// Fresh starts a separate daemon for one test (config, TLS and restart
// tests) and registers its cleanup.
func Fresh(t testing.TB, o Options, extra ...string) *Daemon {
	t.Helper()
	d, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Cleanup)
	if err := d.Start(extra...); err != nil {
		t.Fatal(err)
	}
	return d
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
