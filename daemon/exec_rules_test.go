package daemon

import (
	"context"
	"io"
	"slices"
	"strings"
	"testing"

	"github.com/moby/moby/api/types/container"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// execStart starts exec id detached and returns the process the daemon
// asked the shim for (the fake runs none, so the start itself fails).
func (d *fakeDaemon) execStart(t *testing.T, container, id string) specs.Process {
	t.Helper()
	d.ContainerExecStart(context.Background(), id, containerExecDetached, func(bool) (io.ReadWriteCloser, error) { return nil, io.EOF })
	s := d.rt.shim(d.shimDir(container))
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.execs) == 0 {
		t.Fatal("the exec reached no shim")
	}
	return s.execs[len(s.execs)-1]
}

var containerExecDetached = container.ExecStartRequest{Detach: true}

// An exec's process is the container's environment with the exec's on
// top (by key), the exec's working directory or else the container's,
// PATH, HOSTNAME and the user's HOME (root's without a passwd) as
// dockerd adds them; an exec starts once, and an
// unknown one is 404.
func TestExecProcessAndBookkeeping(t *testing.T) {
	d := newFakeDaemon(t)
	id := d.run(t, "web", func(cfg *container.Config, _ *container.HostConfig) {
		cfg.Env = []string{"A=1", "B=2"}
		cfg.WorkingDir = "/srv"
		cfg.Hostname = "webhost"
	})
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		req  container.ExecCreateRequest
		cwd  string
		env  []string
	}{
		{name: "the container's settings", req: container.ExecCreateRequest{Cmd: []string{"sh", "-c", "x"}},
			cwd: "/srv", env: []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOSTNAME=webhost", "A=1", "B=2", "HOME=/"}},
		{name: "the exec's own on top", req: container.ExecCreateRequest{Cmd: []string{"env"}, Env: []string{"B=3", "C=4", "PATH=/bin"}, WorkingDir: "/tmp"},
			cwd: "/tmp", env: []string{"HOSTNAME=webhost", "A=1", "B=3", "C=4", "PATH=/bin", "HOME=/"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			execID, err := d.ContainerExecCreate(ctx, "web", tc.req)
			if err != nil {
				t.Fatal(err)
			}
			p := d.execStart(t, id, execID)
			if !slices.Equal(p.Args, tc.req.Cmd) || p.Cwd != tc.cwd || !slices.Equal(p.Env, tc.env) {
				t.Errorf("process args %q cwd %q env %q; want %q %q %q", p.Args, p.Cwd, p.Env, tc.req.Cmd, tc.cwd, tc.env)
			}
			err = d.ContainerExecStart(ctx, execID, containerExecDetached, nil)
			if statusOf(err) != 409 || !strings.Contains(strings.ToLower(err.Error()), "exec command "+execID+" has already run") {
				t.Errorf("second start: %d %v", statusOf(err), err)
			}
		})
	}
	_, err := d.ContainerExecInspect("nosuch")
	if statusOf(err) != 404 || err.Error() != "No such exec instance: nosuch" {
		t.Errorf("unknown exec: %d %v", statusOf(err), err)
	}
}
