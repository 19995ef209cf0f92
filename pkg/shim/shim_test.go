package shim_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/berthd/berth/pkg/cgroups"
	"github.com/berthd/berth/pkg/runtime"
	"github.com/berthd/berth/pkg/runtime/bundletest"
	"github.com/berthd/berth/pkg/shim"
)

func TestMain(m *testing.M) {
	runtime.InitStage()
	if dir := os.Getenv("BERTH_TEST_DAEMON"); dir != "" {
		fakeDaemon(dir)
	}
	os.Exit(m.Run())
}

// fakeDaemon launches a shim and then idles until it is killed, standing
// in for a berthd that gets SIGKILL.
func fakeDaemon(dir string) {
	var cfg shim.Config
	b, _ := os.ReadFile(filepath.Join(dir, "want.json"))
	if err := json.Unmarshal(b, &cfg); err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
	if _, err := shim.Launch(context.Background(), launchOpts(dir, cfg)); err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
	if err := shim.Dial(dir).Start(context.Background()); err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
	fmt.Println("launched")
	time.Sleep(time.Hour)
	os.Exit(0)
}

func launchOpts(dir string, cfg shim.Config) shim.LaunchOpts {
	// The test binary becomes the shim in pkg/shim's init, as berthd does.
	return shim.LaunchOpts{Dir: dir, Config: cfg, Env: []string{"X=1"}}
}

// launch starts a shim for the bundle and registers the cleanup that
// kills whatever is left.
func launch(t testing.TB, b *bundletest.Bundle, mod func(*shim.Config)) (*shim.Client, string) {
	t.Helper()
	dir := t.TempDir()
	cfg := shim.Config{
		ID: fmt.Sprintf("shim-%d-%s", os.Getpid(), filepath.Base(dir)), Bundle: b.Dir, Spec: b.Spec,
		RuntimeRoot: filepath.Join(dir, "runtime"), LogPath: filepath.Join(dir, "container.log"),
	}
	if mod != nil {
		mod(&cfg)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	l, err := shim.Launch(ctx, launchOpts(dir, cfg))
	if err != nil {
		t.Fatalf("launch: %v", err)
	}
	c := shim.Dial(dir)
	t.Cleanup(func() { cleanup(t, c, dir, l.Pid) })
	if st, err := c.State(ctx); err != nil || st.Pid != l.InitPid || st.ShimPid != l.Pid {
		t.Fatalf("launched %+v, state %+v %v", l, st, err)
	}
	return c, dir
}

func cleanup(t testing.TB, c *shim.Client, dir string, pid int) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := shim.ReadExit(dir); err != nil {
		_ = c.Kill(ctx, syscall.SIGKILL, true)
		if _, err := c.Wait(ctx); err != nil {
			t.Errorf("cleanup wait: %v", err)
		}
	}
	// The shim exits on its own once the exit is recorded.
	for i := 0; i < 500; i++ {
		if err := syscall.Kill(pid, 0); err != nil {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Errorf("shim %d still running", pid)
	_ = syscall.Kill(pid, syscall.SIGKILL)
}

func sh(t *testing.T, script string) *bundletest.Bundle {
	return bundletest.New(t, "sh", "-c", script)
}

func TestShimRunsLogsAndRecordsExit(t *testing.T) {
	c, dir := launch(t, sh(t, "echo hello; echo oops >&2; exit 3"), nil)
	ctx := context.Background()
	if st, err := c.State(ctx); err != nil || st.Status != "created" {
		t.Fatalf("state %+v %v", st, err)
	}
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	ex, err := c.Wait(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if ex.Code != 3 || ex.OOMKilled {
		t.Fatalf("exit %+v", ex)
	}
	onDisk, err := shim.ReadExit(dir)
	if err != nil || onDisk.Code != 3 {
		t.Fatalf("exit.json %+v %v", onDisk, err)
	}
	got := readLog(t, filepath.Join(dir, "container.log"))
	if strings.Join(got, "|") != "stdout:hello\n|stderr:oops\n" && strings.Join(got, "|") != "stderr:oops\n|stdout:hello\n" {
		t.Fatalf("log %q", got)
	}
}

func TestShimReportsOOMKill(t *testing.T) {
	b := sh(t, "exec tail /dev/zero")
	limit := int64(16 << 20)
	b.Spec.Linux.Resources.Memory = &specs.LinuxMemory{Limit: &limit, Swap: &limit}
	c, _ := launch(t, b, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	events := make(chan []string, 1)
	go func() {
		var seen []string
		_ = c.Events(ctx, func(e shim.Event) bool {
			seen = append(seen, e.Type)
			return true
		})
		events <- seen
	}()
	// Let the events connection register before the container runs.
	time.Sleep(100 * time.Millisecond)
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	ex, err := c.Wait(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if seen := <-events; strings.Join(seen, ",") != "oom,exit" {
		t.Errorf("events %v, want oom then exit", seen)
	}
	if !ex.OOMKilled || ex.Code != 137 {
		t.Fatalf("exit %+v, want OOM kill with 137", ex)
	}
}

func TestShimExecAndKill(t *testing.T) {
	c, _ := launch(t, bundletest.New(t, "sleep", "30"), nil)
	ctx := context.Background()
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	s, err := c.Exec(ctx, "e1", specs.Process{Args: []string{"sh", "-c", "read x; echo out:$x:$(hostname); echo err >&2; exit 5"}, Env: []string{"PATH=/bin"}, Cwd: "/"})
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintln(s, "in")
	s.CloseStdin()
	out, errOut, code, err := s.Collect()
	if err != nil || out != "out:in:berth-test\n" || errOut != "err\n" || code != 5 {
		t.Fatalf("exec: %q %q %d %v", out, errOut, code, err)
	}
	st, _ := c.State(ctx)
	if pids, err := c.Pids(ctx); err != nil || len(pids) != 1 || pids[0] != st.Pid {
		t.Fatalf("pids %v %v, init %d", pids, err, st.Pid)
	}
	limit := int64(48 << 20)
	if err := c.Update(ctx, &specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: &limit}}); err != nil {
		t.Fatal(err)
	}
	raw, err := c.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var stats cgroups.Stats
	if err := json.Unmarshal(raw, &stats); err != nil || stats.Memory.Limit != uint64(limit) || stats.Pids.Current != 1 {
		t.Fatalf("stats after update: %+v %v", stats, err)
	}
	if err := c.Kill(ctx, syscall.SIGKILL, false); err != nil {
		t.Fatal(err)
	}
	ex, err := c.Wait(ctx)
	if err != nil || ex.Code != 137 || ex.OOMKilled {
		t.Fatalf("exit %+v %v", ex, err)
	}
}

func TestShimPtyResize(t *testing.T) {
	b := sh(t, "read x; stty size; tty")
	b.Spec.Process.Terminal = true
	c, _ := launch(t, b, nil)
	ctx := context.Background()
	a, err := c.Attach(ctx, true)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if err := c.Resize(ctx, "", 77, 33); err != nil {
		t.Fatal(err)
	}
	fmt.Fprint(a, "go\n")
	out, _, _, _ := a.Collect()
	if !strings.Contains(out, "33 77") || !strings.Contains(out, "/dev/pts/0") {
		t.Fatalf("terminal output %q", out)
	}
	ex, err := c.Wait(ctx)
	if err != nil || ex.Code != 0 {
		t.Fatalf("exit %+v %v", ex, err)
	}
}

func TestShimExecWithPty(t *testing.T) {
	c, _ := launch(t, bundletest.New(t, "sleep", "30"), nil)
	ctx := context.Background()
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	s, err := c.Exec(ctx, "tty1", specs.Process{Terminal: true, Args: []string{"sh", "-c", "read x; stty size"}, Env: []string{"PATH=/bin"}, Cwd: "/",
		ConsoleSize: &specs.Box{Height: 10, Width: 20}})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Resize(ctx, "tty1", 91, 44); err != nil {
		t.Fatal(err)
	}
	fmt.Fprint(s, "x\n")
	out, _, code, err := s.Collect()
	if err != nil || !strings.Contains(out, "44 91") || code != 0 {
		t.Fatalf("exec tty: %q %d %v", out, code, err)
	}
}

// startFakeDaemon runs this test binary as a daemon (fakeDaemon) that
// launches and starts a shim for cfg in dir, and returns it once it has.
func startFakeDaemon(t *testing.T, dir string, cfg shim.Config) *exec.Cmd {
	t.Helper()
	data, _ := json.Marshal(cfg)
	if err := os.WriteFile(filepath.Join(dir, "want.json"), data, 0o600); err != nil {
		t.Fatal(err)
	}
	daemon := exec.Command(os.Args[0])
	daemon.Env = append(os.Environ(), "BERTH_TEST_DAEMON="+dir)
	out, _ := daemon.StdoutPipe()
	if err := daemon.Start(); err != nil {
		t.Fatal(err)
	}
	line, _ := bufio.NewReader(out).ReadString('\n')
	if strings.TrimSpace(line) != "launched" {
		_ = daemon.Process.Kill()
		_ = daemon.Wait()
		t.Fatalf("fake daemon: %q", line)
	}
	return daemon
}

func TestShimSurvivesDaemonKill(t *testing.T) {
	b := sh(t, "read x; exit 4")
	dir := t.TempDir()
	daemon := startFakeDaemon(t, dir, shim.Config{ID: fmt.Sprintf("shim-%d-survive", os.Getpid()), Bundle: b.Dir, Spec: b.Spec, RuntimeRoot: filepath.Join(dir, "runtime"), OpenStdin: true})
	c := shim.Dial(dir)
	var shimPid int
	if st, err := c.State(context.Background()); err == nil {
		shimPid = st.ShimPid
	}
	t.Cleanup(func() { cleanup(t, c, dir, shimPid) })
	if err := daemon.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = daemon.Wait()
	ctx := context.Background()
	st, err := c.State(ctx)
	if err != nil || st.Status != "running" || st.ShimPid != shimPid {
		t.Fatalf("after daemon kill: %+v %v", st, err)
	}
	a, err := c.Attach(ctx, true)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprint(a, "bye\n")
	a.Close()
	ex, err := c.Wait(ctx)
	if err != nil || ex.Code != 4 {
		t.Fatalf("exit %+v %v", ex, err)
	}
}

// A container in the host's PID namespace leaves orphans to the shim (its
// subreaper): they must be reaped, not left as zombies.
func TestShimReapsOrphans(t *testing.T) {
	b := sh(t, "sh -c 'sleep 0.1 &' ; echo spawned; read x")
	var ns []specs.LinuxNamespace
	for _, n := range b.Spec.Linux.Namespaces {
		if n.Type != specs.PIDNamespace {
			ns = append(ns, n)
		}
	}
	b.Spec.Linux.Namespaces = ns
	c, _ := launch(t, b, func(cfg *shim.Config) { cfg.OpenStdin = true })
	ctx := context.Background()
	a, err := c.Attach(ctx, true)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if _, p, err := a.Next(); err != nil || string(p) != "spawned\n" {
		t.Fatalf("%q %v", p, err)
	}
	st, err := c.State(ctx)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		zombies := 0
		entries, _ := os.ReadDir("/proc")
		for _, e := range entries {
			b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
			if err != nil {
				continue
			}
			f := strings.Fields(string(b)[strings.LastIndexByte(string(b), ')')+1:])
			if len(f) > 1 && f[0] == "Z" && f[1] == fmt.Sprint(st.ShimPid) {
				zombies++
			}
		}
		if zombies == 0 && time.Since(deadline) > -3*time.Second {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d zombies left under the shim", zombies)
		}
		time.Sleep(100 * time.Millisecond)
	}
	a.Write([]byte("\n"))
	if ex, err := c.Wait(ctx); err != nil || ex.Code != 0 {
		t.Fatalf("%+v %v", ex, err)
	}
}

// Nothing the shim holds (socket, log file, pipes of other streams)
// reaches the container: only stdio, plus the directory ls itself opens.
func TestShimLeaksNoDescriptors(t *testing.T) {
	c, dir := launch(t, sh(t, "ls /proc/self/fd | tr '\\n' ' '"), nil)
	ctx := context.Background()
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, "container.log"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"log":"0 1 2 3 "`) {
		t.Fatalf("container saw descriptors: %s", b)
	}
}
