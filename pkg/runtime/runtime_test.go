package runtime_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/berthd/berth/pkg/cgroups"
	"github.com/berthd/berth/pkg/runtime"
	"github.com/berthd/berth/pkg/runtime/bundletest"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func TestMain(m *testing.M) {
	// This test binary is also the init stage of the containers it runs.
	runtime.InitStage()
	os.Exit(m.Run())
}

type result struct {
	stdout, stderr string
	code           int
}

// newRuntime gives each test its own state root, removed afterwards.
func newRuntime(t *testing.T) *runtime.Runtime {
	return runtime.New(t.TempDir())
}

var seq struct {
	sync.Mutex
	n int
}

func nextID(t *testing.T) string {
	seq.Lock()
	defer seq.Unlock()
	seq.n++
	return fmt.Sprintf("t%d-%d", os.Getpid(), seq.n)
}

// create creates a container with pipes for stdio and registers its
// removal.
// syncBuf is a buffer that the copying goroutine and the test may use at
// the same time.
type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func create(t *testing.T, rt *runtime.Runtime, b *bundletest.Bundle) (*runtime.Container, *os.File, *syncBuf, *syncBuf, func()) {
	t.Helper()
	inR, inW, _ := os.Pipe()
	outR, outW, _ := os.Pipe()
	errR, errW, _ := os.Pipe()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, err := rt.Create(ctx, runtime.CreateOpts{ID: nextID(t), Bundle: b.Dir, Spec: b.Spec, Stdin: inR, Stdout: outW, Stderr: errW})
	inR.Close()
	outW.Close()
	errW.Close()
	if err != nil {
		inW.Close()
		outR.Close()
		errR.Close()
		t.Fatalf("create: %v", err)
	}
	var stdout, stderr syncBuf
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); _, _ = io.Copy(&stdout, outR) }()
	go func() { defer wg.Done(); _, _ = io.Copy(&stderr, errR) }()
	t.Cleanup(func() {
		inW.Close()
		if err := c.Delete(true); err != nil {
			t.Errorf("delete: %v", err)
		}
		if c.Init != nil {
			_, _ = c.Init.Wait()
		}
	})
	return c, inW, &stdout, &stderr, wg.Wait
}

// startWaiting creates and starts b, whose process prints "started" and
// then waits on stdin, and returns once it has printed it; the stdin pipe
// (for the test to close) ends it.
func startWaiting(t *testing.T, rt *runtime.Runtime, b *bundletest.Bundle) (*runtime.Container, *os.File) {
	t.Helper()
	c, in, stdout, _, _ := create(t, rt, b)
	if err := c.Start(); err != nil {
		in.Close()
		t.Fatal(err)
	}
	waitFor(t, func() bool { return strings.Contains(stdout.String(), "started") })
	return c, in
}

// execPiped runs script with sh in c, with the container's capabilities,
// cwd and PATH=/bin, and returns the process and the read end of the pipe
// its stdout and stderr go to.
func execPiped(t *testing.T, c *runtime.Container, cwd, script string) (*os.Process, *os.File) {
	t.Helper()
	outR, outW, _ := os.Pipe()
	p, err := c.Exec(context.Background(), runtime.ExecOpts{
		Process: specs.Process{Args: []string{"sh", "-c", script}, Env: []string{"PATH=/bin"}, Cwd: cwd,
			Capabilities: c.Spec().Process.Capabilities},
		Stdout: outW, Stderr: outW,
	})
	outW.Close()
	if err != nil {
		outR.Close()
		t.Fatal(err)
	}
	return p, outR
}

// run runs the bundle to completion.
func run(t *testing.T, b *bundletest.Bundle) result {
	t.Helper()
	rt := newRuntime(t)
	c, in, stdout, stderr, drain := create(t, rt, b)
	in.Close()
	if err := c.Start(); err != nil {
		t.Fatalf("start: %v", err)
	}
	st, err := c.Init.Wait()
	if err != nil {
		t.Fatal(err)
	}
	drain()
	return result{stdout.String(), stderr.String(), st.ExitCode()}
}

func sh(t *testing.T, script string) *bundletest.Bundle {
	return bundletest.New(t, "sh", "-c", script)
}

func TestRunTrue(t *testing.T) {
	r := run(t, bundletest.New(t, "true"))
	if r.code != 0 {
		t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
	}
}

func TestExitCodeAndOutput(t *testing.T) {
	r := run(t, sh(t, "echo out; echo err >&2; exit 7"))
	if r.code != 7 || r.stdout != "out\n" || r.stderr != "err\n" {
		t.Fatalf("got %+v", r)
	}
}

func TestNamespacesIsolated(t *testing.T) {
	r := run(t, sh(t, `hostname; echo pid=$$; ls /sys/class/net | tr '\n' ' '; echo; ipcs -q 2>/dev/null | wc -l`))
	lines := strings.Split(r.stdout, "\n")
	if r.code != 0 || len(lines) < 3 {
		t.Fatalf("got %+v", r)
	}
	if lines[0] != "berth-test" {
		t.Errorf("hostname %q", lines[0])
	}
	if lines[1] != "pid=1" {
		t.Errorf("shell is %q, want pid 1", lines[1])
	}
	if strings.TrimSpace(lines[2]) != "lo" {
		t.Errorf("interfaces %q, want only lo", lines[2])
	}
	// The other namespaces differ from the host's.
	for _, ns := range []string{"mnt", "uts", "ipc", "net", "pid", "cgroup"} {
		host, _ := os.Readlink("/proc/self/ns/" + ns)
		r := run(t, sh(t, "readlink /proc/self/ns/"+ns))
		if got := strings.TrimSpace(r.stdout); got == host || got == "" {
			t.Errorf("%s namespace %q is the host's %q", ns, got, host)
		}
	}
}

func TestMissingCommandFailsCreate(t *testing.T) {
	rt := newRuntime(t)
	b := bundletest.New(t, "/no/such/binary")
	_, err := rt.Create(context.Background(), runtime.CreateOpts{ID: nextID(t), Bundle: b.Dir, Spec: b.Spec})
	if err == nil || !strings.Contains(err.Error(), "no such file") {
		t.Fatalf("create: %v", err)
	}
	if !errors.Is(err, syscall.ENOENT) {
		t.Fatalf("create: %v does not carry ENOENT", err)
	}
	ids, _ := rt.List()
	if len(ids) != 0 {
		t.Fatalf("failed create left state: %v", ids)
	}
	cg, err := cgroups.New(b.Spec.Linux.CgroupsPath)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []string{"memory", "pids", "cpu", "devices", "freezer"} {
		if p := cg.Path(c); p != "" {
			if _, err := os.Stat(p); !os.IsNotExist(err) {
				t.Errorf("failed create left cgroup %s", p)
			}
		}
	}
}
