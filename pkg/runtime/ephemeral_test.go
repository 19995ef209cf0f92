package runtime_test

import (
	"context"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/berthd/berth/pkg/runtime"
	"github.com/berthd/berth/pkg/runtime/bundletest"
)

// An ephemeral container leaves nothing under the runtime's root, waits
// on its start pipe until Start and then runs as any other.
func TestEphemeralCreateStart(t *testing.T) {
	rt := newRuntime(t)
	b := sh(t, "echo hello")
	outR, outW, _ := os.Pipe()
	defer outR.Close()
	c, err := rt.Create(context.Background(), runtime.CreateOpts{ID: nextID(t), Bundle: b.Dir, Spec: b.Spec, Stdout: outW, Ephemeral: true})
	outW.Close()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Delete(true) })
	if ents, _ := os.ReadDir(rt.Root); len(ents) != 0 {
		t.Errorf("runtime root holds %v, want nothing", ents)
	}
	if st := c.Status(); st != specs.StateCreated {
		t.Fatalf("status %q before start, want created", st)
	}
	// Not before Start.
	time.Sleep(50 * time.Millisecond)
	if st := c.Status(); st != specs.StateCreated {
		t.Fatalf("status %q without start, want created", st)
	}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	if err := c.Start(); err == nil {
		t.Error("a second start succeeded")
	}
	out := make([]byte, 64)
	n, _ := outR.Read(out)
	if got := strings.TrimSpace(string(out[:n])); got != "hello" {
		t.Errorf("output %q", got)
	}
	st, err := c.Init.Wait()
	if err != nil || st.ExitCode() != 0 {
		t.Fatalf("exit %v %v", st, err)
	}
	if err := c.Delete(false); err != nil {
		t.Fatal(err)
	}
}

// Deleting an ephemeral container that was never started ends its init
// instead of leaving it waiting on its start pipe.
func TestEphemeralDeleteUnstarted(t *testing.T) {
	rt := newRuntime(t)
	b := bundletest.New(t, "true")
	c, err := rt.Create(context.Background(), runtime.CreateOpts{ID: nextID(t), Bundle: b.Dir, Spec: b.Spec, Ephemeral: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Delete(true); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _, _ = c.Init.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the init still waits after delete")
	}
}

// Start of an ephemeral container returns once the user's command runs:
// its /proc/<pid>/comm is the command's, never the init stage's, and the
// wait for that stays far below the bound (execWait).
func TestEphemeralStartReturnsAfterExec(t *testing.T) {
	rt := newRuntime(t)
	b := bundletest.New(t, "sleep", "30")
	var slowest time.Duration
	for i := 0; i < 10; i++ {
		c, err := rt.Create(context.Background(), runtime.CreateOpts{ID: nextID(t), Bundle: b.Dir, Spec: b.Spec, Ephemeral: true})
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		if err := c.Start(); err != nil {
			c.Delete(true)
			t.Fatal(err)
		}
		slowest = max(slowest, time.Since(start))
		comm, _ := os.ReadFile("/proc/" + strconv.Itoa(c.Init.Pid) + "/comm")
		c.Delete(true)
		if got := strings.TrimSpace(string(comm)); got != "sleep" {
			t.Fatalf("start %d: comm %q right after Start, want sleep", i, got)
		}
	}
	if slowest > 500*time.Millisecond {
		t.Errorf("slowest start took %v: waited out the bound instead of the execve", slowest)
	}
}
