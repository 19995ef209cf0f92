package runtime

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/berthd/berth/pkg/errdefs"
	"github.com/berthd/berth/pkg/seccomp"
)

// ExecOpts describe a new process in a running container.
type ExecOpts struct {
	Process               specs.Process
	Stdin, Stdout, Stderr *os.File
	ConsoleSocket         *os.File
}

// Exec starts a process in the container's namespaces and cgroup. The
// returned process is a child of the caller (CLONE_PARENT in the nsenter
// constructor makes it so) and is waited for like any other.
func (c *Container) Exec(ctx context.Context, o ExecOpts) (*os.Process, error) {
	if !c.alive() {
		return nil, errdefs.Conflict(fmt.Errorf("container %s is not running", c.st.ID))
	}
	if len(o.Process.Args) == 0 {
		return nil, errdefs.InvalidParameter(errors.New("exec: no command"))
	}
	if o.Process.Terminal && o.ConsoleSocket == nil {
		return nil, errdefs.InvalidParameter(errors.New("terminal requested without a console socket"))
	}
	join, err := c.namespacePaths()
	if err != nil {
		return nil, err
	}
	cg, err := c.Cgroup()
	if err != nil {
		return nil, err
	}
	spec, err := c.spec()
	if err != nil {
		return nil, err
	}
	cfg := &stageConfig{ID: c.st.ID, Process: o.Process, Console: o.Process.Terminal, Spec: spec}
	// The container's own program (the code does not depend on
	// no_new_privs, which the stage applies from o.Process at load time),
	// else one compiled from the spec's profile.
	cfg.Seccomp = c.seccomp
	if cfg.Seccomp == nil && spec.Linux != nil && spec.Linux.Seccomp != nil {
		if cfg.Seccomp, err = seccomp.Compile(spec.Linux.Seccomp, o.Process.NoNewPrivileges); err != nil {
			return nil, err
		}
	}
	if cfg.Seccomp != nil {
		// The stage loads the program; the spec was only its source.
		cfg.Spec = nil
	}
	p, err := spawn(ctx, spawnOpts{
		stage: stageExec, attr: &syscall.SysProcAttr{}, join: join,
		stdio: [3]*os.File{o.Stdin, o.Stdout, o.Stderr}, console: o.ConsoleSocket,
		cfg: cfg, cgroup: cg,
	})
	if err != nil {
		if p != nil && p.proc != nil {
			_ = p.proc.Kill()
			_, _ = p.proc.Wait()
		}
		return nil, err
	}
	return p.proc, nil
}

// namespacePaths lists the init's namespaces that differ from ours: those
// are the ones an exec joins.
func (c *Container) namespacePaths() ([]string, error) {
	var join []string
	for _, name := range []string{"user", "ipc", "uts", "net", "pid", "cgroup", "time", "mnt"} {
		theirs := filepath.Join("/proc", fmt.Sprint(c.st.Pid), "ns", name)
		var a, b syscall.Stat_t
		if err := syscall.Stat(theirs, &a); err != nil {
			if os.IsNotExist(err) && !strings.Contains(err.Error(), "no such process") {
				continue
			}
			return nil, err
		}
		if err := syscall.Stat("/proc/self/ns/"+name, &b); err == nil && a.Ino == b.Ino && a.Dev == b.Dev {
			continue
		}
		join = append(join, name+"="+theirs)
	}
	return join, nil
}
