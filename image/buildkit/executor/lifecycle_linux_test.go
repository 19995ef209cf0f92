package executor

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	bk "github.com/moby/buildkit/executor"
	"github.com/moby/buildkit/solver/pb"
)

// longStep starts `sleep` as step id and returns once it runs, with a
// cancel for it and the channel on which Run's error arrives.
func longStep(t *testing.T, e *Executor, id string, signals chan syscall.Signal, script string) (context.CancelFunc, <-chan error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	started := make(chan struct{})
	done := make(chan error, 1)
	returned := make(chan struct{})
	root := testRoot(t)
	go func() {
		defer close(returned)
		_, err := e.Run(ctx, id, root, nil, bk.ProcessInfo{
			Meta:   bk.Meta{Args: sh(script), Env: testPath, Cwd: "/", NetMode: pb.NetMode_NONE},
			Signal: signals,
		}, started)
		done <- err
	}()
	select {
	case <-started:
	case err := <-done:
		cancel()
		t.Fatalf("step ended before it started: %v", err)
	case <-time.After(10 * time.Second):
		cancel()
		t.Fatal("step did not start")
	}
	t.Cleanup(func() {
		cancel()
		select {
		case <-returned:
		case <-time.After(10 * time.Second):
		}
	})
	return cancel, done
}

func awaitRun(t *testing.T, done <-chan error) error {
	t.Helper()
	select {
	case err := <-done:
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return")
		return nil
	}
}

// Cancelling a step's context kills its processes (the forked ones
// too), removes its cgroup and unmounts its root.
func TestRunCancelLeavesNothing(t *testing.T) {
	e := newTestExecutor(t, Options{})
	cancel, done := longStep(t, e, "cancelled", nil, "sleep 1000 & sleep 1000")
	e.mu.Lock()
	ctr := e.running["cancelled"].ctr
	e.mu.Unlock()
	cg, err := ctr.Cgroup()
	if err != nil {
		t.Fatal(err)
	}
	var pids []int
	for i := 0; i < 500 && len(pids) < 2; i++ {
		time.Sleep(5 * time.Millisecond)
		pids, _ = cg.Pids()
	}
	if len(pids) < 2 {
		t.Fatalf("step's cgroup holds %v, want its two sleeps (the shell execs the last)", pids)
	}
	if len(mountsUnder(t, e.root)) == 0 {
		t.Fatal("no root mounted while the step runs")
	}
	cancel()
	err = awaitRun(t, done)
	if exitCode(t, err) != 137 || !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled step: error %v, want exit code 137 wrapping the cancellation", err)
	}
	for _, pid := range pids {
		if _, err := os.Stat("/proc/" + strconv.Itoa(pid)); err == nil {
			st, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
			if !strings.Contains(string(st), ") Z ") {
				t.Errorf("process %d of the cancelled step lives on", pid)
			}
		}
	}
	if !cgroupGone(t, e, "cancelled") {
		t.Error("the cancelled step's cgroup remains")
	}
	if ms := mountsUnder(t, e.root); len(ms) > 0 {
		t.Errorf("left mounted: %v", ms)
	}
	if _, err := os.Stat(filepath.Join(e.root, "cancelled")); !os.IsNotExist(err) {
		t.Errorf("the step's directory remains: %v", err)
	}
}

// Exec runs a second process in a running step, in its namespaces, with
// its own streams and exit code; it fails once the step has ended.
func TestExecIntoRun(t *testing.T) {
	e := newTestExecutor(t, Options{})
	cancel, done := longStep(t, e, "gateway", nil, "echo step > /tmp/mark; exec sleep 1000")
	var stdout, stderr safeBuffer
	err := e.Exec(context.Background(), "gateway", bk.ProcessInfo{
		Meta:   bk.Meta{Args: sh(`cat /tmp/mark; cat /proc/1/cmdline | tr '\0' ' '; read line; echo "in:$line"; id -u; pwd; echo err >&2; exit 5`), User: "nobody", Cwd: "/tmp"},
		Stdin:  io.NopCloser(strings.NewReader("typed\n")),
		Stdout: &stdout, Stderr: &stderr,
	})
	if exitCode(t, err) != 5 {
		t.Errorf("exec: %v, want exit code 5", err)
	}
	if want := "step\nsleep 1000 in:typed\n65534\n/tmp\n"; stdout.String() != want {
		t.Errorf("exec stdout %q, want %q", stdout.String(), want)
	}
	if stderr.String() != "err\n" {
		t.Errorf("exec stderr %q", stderr.String())
	}
	// The step's environment is the exec's when it names none.
	stdout = safeBuffer{}
	if err := e.Exec(context.Background(), "gateway", bk.ProcessInfo{Meta: bk.Meta{Args: []string{"/bin/sh", "-c", "echo $PATH"}}, Stdout: &stdout}); err != nil {
		t.Fatal(err)
	}
	if stdout.String() != strings.TrimPrefix(testPath[0], "PATH=")+"\n" {
		t.Errorf("exec's PATH %q", stdout.String())
	}
	// A cancelled exec is killed; the step runs on.
	ctx, cancelExec := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancelExec()
	if err := e.Exec(ctx, "gateway", bk.ProcessInfo{Meta: bk.Meta{Args: []string{"sleep", "1000"}}}); exitCode(t, err) != 137 {
		t.Errorf("cancelled exec: %v", err)
	}
	cancel()
	awaitRun(t, done)
	if err := e.Exec(context.Background(), "gateway", bk.ProcessInfo{Meta: bk.Meta{Args: []string{"true"}}}); err == nil {
		t.Error("exec into an ended step succeeded")
	}
}

// Signals from BuildKit reach the step's process.
func TestRunForwardsSignals(t *testing.T) {
	e := newTestExecutor(t, Options{})
	signals := make(chan syscall.Signal, 1)
	_, done := longStep(t, e, "signalled", signals, `trap "exit 7" TERM; while true; do sleep 0.05; done`)
	// Until the shell has set its trap, TERM is ignored: it is the
	// namespace's init.
	var err error
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); {
		select {
		case signals <- syscall.SIGTERM:
			time.Sleep(20 * time.Millisecond)
			continue
		case err = <-done:
		}
		break
	}
	if exitCode(t, err) != 7 {
		t.Errorf("signalled step: %v, want exit code 7 from its trap", err)
	}
}

// Exec waits for a step that BuildKit started but that does not run yet,
// and refuses an id that no Run has.
func TestExecWaitsForRun(t *testing.T) {
	e := newTestExecutor(t, Options{})
	if err := e.Exec(context.Background(), "nosuch", bk.ProcessInfo{Meta: bk.Meta{Args: []string{"true"}}}); err == nil {
		t.Error("exec into an unknown step succeeded")
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, err := e.Run(ctx, "early", testRoot(t), nil, bk.ProcessInfo{Meta: bk.Meta{Args: []string{"sleep", "1000"}, Env: testPath, Cwd: "/", NetMode: pb.NetMode_NONE}}, nil)
		done <- err
	}()
	for {
		e.mu.Lock()
		_, ok := e.running["early"]
		e.mu.Unlock()
		if ok {
			break
		}
		time.Sleep(time.Millisecond)
	}
	var out safeBuffer
	if err := e.Exec(context.Background(), "early", bk.ProcessInfo{Meta: bk.Meta{Args: []string{"echo", "ran"}}, Stdout: &out}); err != nil || out.String() != "ran\n" {
		t.Errorf("exec right after Run: %v %q", err, out.String())
	}
	cancel()
	awaitRun(t, done)
}

// A second Run under a running step's id is refused.
func TestRunDuplicateID(t *testing.T) {
	e := newTestExecutor(t, Options{})
	longStep(t, e, "twice", nil, "sleep 1000")
	_, err := e.Run(context.Background(), "twice", testRoot(t), nil, bk.ProcessInfo{Meta: bk.Meta{Args: []string{"true"}, NetMode: pb.NetMode_NONE}}, nil)
	if err == nil {
		t.Error("a second step with the same id ran")
	}
}
