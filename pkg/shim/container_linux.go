package shim

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/berthd/berth/pkg/cgroups"
	"github.com/berthd/berth/pkg/runtime"
)

// container is what the shim drives: berth's own runtime in-process, or
// an external OCI runtime binary (runc) through its command line.
type container interface {
	Pid() int
	Status() string
	Start() error
	Signal(sig unix.Signal, all bool) error
	Pause() error
	Resume() error
	Exec(ctx context.Context, o runtime.ExecOpts) (*os.Process, error)
	Cgroup() (cgroups.Manager, error)
	Delete(force bool) error
	// Wait reaps the container's init, which has exited.
	Wait() (unix.WaitStatus, error)
	// snapshot describes the started container for the next image of
	// the shim (rebirth).
	snapshot() (containerSnapshot, error)
}

type builtin struct{ *runtime.Container }

func (b builtin) Status() string                       { return string(b.Container.Status()) }
func (b builtin) Wait() (unix.WaitStatus, error)       { return reap(b.Pid()) }
func (b builtin) Signal(s unix.Signal, all bool) error { return b.Container.Signal(s, all) }

// external drives `RUNTIME --root ROOT create|start|kill|…` the way
// containerd drives runc. The shim is a child subreaper, so the container
// processes that the runtime leaves behind when it exits become the
// shim's children and are waited for directly.
type external struct {
	bin, root, id, dir string
	cgroupPath         string
	pid                int
}

func (e *external) cmd(args ...string) *exec.Cmd {
	return exec.Command(e.bin, append([]string{"--root", e.root}, args...)...)
}

func (e *external) run(args ...string) error {
	var stderr bytes.Buffer
	c := e.cmd(args...)
	c.Stderr = &stderr
	if err := c.Run(); err != nil {
		words := strings.TrimSpace(stderr.String())
		return &runtime.Error{Msg: fmt.Sprintf("%s %s: %v: %s", filepath.Base(e.bin), args[0], err, words), Errno: externalErrno(words)}
	}
	return nil
}

// externalErrno is the errno behind a failure that an external runtime
// reported in words only, as runc does (`exec: "x": executable file not
// found in $PATH`): the one place berth reads an error's words, at the
// boundary with a runtime that gives nothing else, so that the daemon
// sees the same errno from every runtime.
func externalErrno(words string) unix.Errno {
	switch {
	case strings.Contains(words, "executable file not found"), strings.Contains(words, "no such file or directory"):
		return unix.ENOENT
	case strings.Contains(words, "permission denied"):
		return unix.EACCES
	case strings.Contains(words, "is a directory"):
		return unix.EISDIR
	}
	return 0
}

// createExternal writes the spec into a bundle of our own (the runtime
// reads config.json from disk) and runs `create`.
func createExternal(bin, root, dir string, o runtime.CreateOpts, consoleSock string) (*external, error) {
	spec := *o.Spec
	root0 := *spec.Root
	if !filepath.IsAbs(root0.Path) {
		root0.Path = filepath.Join(o.Bundle, root0.Path)
	}
	spec.Root = &root0
	linux := *spec.Linux
	if linux.CgroupsPath == "" {
		linux.CgroupsPath = "/berth/" + o.ID
	}
	spec.Linux = &linux
	bundle := filepath.Join(dir, "bundle")
	if err := os.MkdirAll(bundle, 0o700); err != nil {
		return nil, err
	}
	data, err := json.Marshal(&spec)
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(bundle, "config.json"), data, 0o600); err != nil {
		return nil, err
	}
	e := &external{bin: bin, root: root, id: o.ID, dir: dir, cgroupPath: linux.CgroupsPath}
	pidFile := filepath.Join(dir, "init.pid")
	args := []string{"create", "--bundle", bundle, "--pid-file", pidFile}
	if consoleSock != "" {
		args = append(args, "--console-socket", consoleSock)
	}
	c := e.cmd(append(args, o.ID)...)
	c.Stdin, c.Stdout = o.Stdin, o.Stdout
	var stderr bytes.Buffer
	if o.Stderr != nil {
		c.Stderr = o.Stderr
	} else {
		c.Stderr = &stderr
	}
	if err := c.Run(); err != nil {
		_ = e.run("delete", "--force", o.ID)
		return nil, fmt.Errorf("%s create: %v %s", filepath.Base(bin), err, strings.TrimSpace(stderr.String()))
	}
	if e.pid, err = readPid(pidFile); err != nil {
		return nil, err
	}
	return e, nil
}

func readPid(path string) (int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(strings.TrimSpace(string(b)))
}

func (e *external) Pid() int { return e.pid }

func (e *external) Status() string {
	out, err := e.cmd("state", e.id).Output()
	if err != nil {
		return string(specs.StateStopped)
	}
	var st specs.State
	if json.Unmarshal(out, &st) != nil {
		return "unknown"
	}
	return string(st.Status)
}

func (e *external) Start() error { return e.run("start", e.id) }

func (e *external) Signal(sig unix.Signal, all bool) error {
	args := []string{"kill"}
	if all {
		args = append(args, "--all")
	}
	return e.run(append(args, e.id, strconv.Itoa(int(sig)))...)
}

func (e *external) Pause() error  { return e.run("pause", e.id) }
func (e *external) Resume() error { return e.run("resume", e.id) }

func (e *external) Cgroup() (cgroups.Manager, error) { return cgroups.New(e.cgroupPath) }

func (e *external) Delete(force bool) error {
	if force {
		return e.run("delete", "--force", e.id)
	}
	return e.run("delete", e.id)
}

func (e *external) Wait() (unix.WaitStatus, error) { return reap(e.pid) }

// reap collects the exit status of pid, a child of ours: the init we
// created, or, being a subreaper, the one an external runtime left us.
// By its number, not through an os.Process: a reborn shim has none, and
// making one would start os's pidfd probe (a vfork) in every shim.
func reap(pid int) (unix.WaitStatus, error) {
	var ws unix.WaitStatus
	for {
		_, err := unix.Wait4(pid, &ws, 0, nil)
		if err != unix.EINTR {
			return ws, err
		}
	}
}

// Exec runs `exec --detach` and then waits for the process itself, which
// the runtime leaves to us.
func (e *external) Exec(ctx context.Context, o runtime.ExecOpts) (*os.Process, error) {
	tmp, err := os.MkdirTemp(e.dir, "exec")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	data, err := json.Marshal(&o.Process)
	if err != nil {
		return nil, err
	}
	procFile := filepath.Join(tmp, "process.json")
	if err := os.WriteFile(procFile, data, 0o600); err != nil {
		return nil, err
	}
	pidFile := filepath.Join(tmp, "pid")
	args := []string{"exec", "--detach", "--pid-file", pidFile, "--process", procFile}
	var console chan error
	if o.Process.Terminal {
		sock := filepath.Join(tmp, "console.sock")
		var l *unixListener
		if l, err = listenUnix(sock); err != nil {
			return nil, err
		}
		defer l.Close()
		console = relayConsole(l, o.ConsoleSocket)
		args = append(args, "--console-socket", sock)
	}
	c := exec.CommandContext(ctx, e.bin, append([]string{"--root", e.root}, append(args, e.id)...)...)
	c.Stdin, c.Stdout = o.Stdin, o.Stdout
	var stderr bytes.Buffer
	c.Stderr = &stderr
	if o.Stderr != nil && !o.Process.Terminal {
		c.Stderr = o.Stderr
	}
	if err := c.Run(); err != nil {
		words := strings.TrimSpace(stderr.String())
		return nil, &runtime.Error{Msg: fmt.Sprintf("%s exec: %v %s", filepath.Base(e.bin), err, words), Errno: externalErrno(words)}
	}
	if console != nil {
		if err := <-console; err != nil {
			return nil, err
		}
	}
	pid, err := readPid(pidFile)
	if err != nil {
		return nil, err
	}
	return os.FindProcess(pid)
}

// relayConsole accepts the runtime's connection on l and forwards the pty
// master it sends to dst, the socket the shim reads masters from.
func relayConsole(l *unixListener, dst *os.File) chan error {
	ch := make(chan error, 1)
	_ = l.SetDeadline(time.Now().Add(30 * time.Second))
	go func() {
		conn, err := l.Accept()
		if err != nil {
			ch <- fmt.Errorf("console socket: %w", err)
			return
		}
		defer conn.Close()
		_ = conn.SetReadDeadline(time.Now().Add(30 * time.Second))
		master, err := runtime.RecvConsole(conn.File)
		if err != nil {
			ch <- err
			return
		}
		defer master.Close()
		if dst == nil {
			ch <- errors.New("console socket: nowhere to send the pty")
			return
		}
		ch <- unix.Sendmsg(int(dst.Fd()), []byte(master.Name()), unix.UnixRights(int(master.Fd())), nil, 0)
	}()
	return ch
}
