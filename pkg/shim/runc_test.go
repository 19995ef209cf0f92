package shim_test

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/berthd/berth/pkg/shim"
)

func needRunc(t *testing.T) string {
	p, err := exec.LookPath("runc")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("runc not installed (Debian package runc)")
		}
		t.Skip("runc not installed")
	}
	return p
}

// The shim can drive an external OCI runtime (what --add-runtime selects)
// with the same protocol: start, logs, exec, pty, kill, exit status.
func TestShimWithExternalRuntime(t *testing.T) {
	runc := needRunc(t)
	c, _ := launch(t, sh(t, "echo started; exec sleep 30"), func(cfg *shim.Config) { cfg.Runtime = runc })
	ctx := context.Background()
	a, err := c.Attach(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if st, err := c.State(ctx); err != nil || st.Status != "running" {
		t.Fatalf("state %+v %v", st, err)
	}
	if _, p, err := a.Next(); err != nil || string(p) != "started\n" {
		t.Fatalf("attach: %q %v", p, err)
	}
	s, err := c.Exec(ctx, "x1", specs.Process{Args: []string{"sh", "-c", "hostname; exit 6"}, Env: []string{"PATH=/bin"}, Cwd: "/"})
	if err != nil {
		t.Fatal(err)
	}
	out, _, code, err := s.Collect()
	if err != nil || out != "berth-test\n" || code != 6 {
		t.Fatalf("exec: %q %d %v", out, code, err)
	}
	s, err = c.Exec(ctx, "x2", specs.Process{Terminal: true, Args: []string{"sh", "-c", "read x; stty size"}, Env: []string{"PATH=/bin"}, Cwd: "/"})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Resize(ctx, "x2", 55, 22); err != nil {
		t.Fatal(err)
	}
	s.Write([]byte("\n"))
	out, _, code, err = s.Collect()
	if err != nil || !strings.Contains(out, "22 55") || code != 0 {
		t.Fatalf("exec tty: %q %d %v", out, code, err)
	}
	if err := c.Kill(ctx, syscall.SIGKILL, false); err != nil {
		t.Fatal(err)
	}
	ex, err := c.Wait(ctx)
	if err != nil || ex.Code != 137 {
		t.Fatalf("exit %+v %v", ex, err)
	}
}

// A shim driving an external runtime is reborn too, and goes on driving
// it: exec and kill go through runc from the new image.
func TestShimRebornWithExternalRuntime(t *testing.T) {
	runc := needRunc(t)
	c, _ := launch(t, sh(t, "exec sleep 30"), func(cfg *shim.Config) { cfg.Runtime = runc })
	ctx := context.Background()
	st := startReborn(ctx, t, c)
	if now, err := c.State(ctx); err != nil || now.Status != "running" {
		t.Fatalf("state after rebirth %+v %v", now, err)
	}
	// runc, started by a shim that ignores SIGTERM, does not pass that on.
	if ignoresTerm(t, st.Pid) {
		t.Fatal("the container's process inherited the shim's ignored SIGTERM through runc")
	}
	s, err := c.Exec(ctx, "x1", specs.Process{Args: []string{"hostname"}, Env: []string{"PATH=/bin"}, Cwd: "/"})
	if err != nil {
		t.Fatal(err)
	}
	if out, _, code, err := s.Collect(); err != nil || out != "berth-test\n" || code != 0 {
		t.Fatalf("exec after rebirth: %q %d %v", out, code, err)
	}
	if err := c.Kill(ctx, syscall.SIGKILL, false); err != nil {
		t.Fatal(err)
	}
	if ex, err := c.Wait(ctx); err != nil || ex.Code != 137 {
		t.Fatalf("exit %+v %v", ex, err)
	}
}
