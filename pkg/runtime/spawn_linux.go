package runtime

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/berthd/berth/pkg/cgroups"
	"github.com/berthd/berth/pkg/faultpoint"
	"github.com/berthd/berth/pkg/nsenter"
)

type spawnOpts struct {
	stage   string
	attr    *syscall.SysProcAttr
	join    []string
	stdio   [3]*os.File
	fifo    *os.File
	console *os.File
	cfg     *stageConfig
	cgroup  cgroups.Manager
	started func(pid int)
}

type spawned struct {
	pid  int
	proc *os.Process
}

// spawn starts a stage from the sealed binary, puts it into the cgroup,
// sends it its config and waits for it to report ready (init) or to exec
// (exec). The caller kills p.proc on error.
func spawn(ctx context.Context, o spawnOpts) (*spawned, error) {
	exe, err := sealedExe()
	if err != nil {
		return nil, err
	}
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	parent := os.NewFile(uintptr(fds[0]), "sync-parent")
	childEnd := os.NewFile(uintptr(fds[1]), "sync-child")
	defer parent.Close()
	defer childEnd.Close()

	devnull, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		return nil, err
	}
	defer devnull.Close()
	files := make([]*os.File, 6)
	for i, f := range o.stdio {
		files[i] = f
		if f == nil {
			files[i] = devnull
		}
	}
	files[fdSync] = childEnd
	files[fdFifo] = o.fifo
	files[fdConsole] = o.console
	env := append([]string{envStage + "=" + o.stage}, faultpoint.Env()...)
	// Where it can, the stage joins its cgroup itself, before the Go
	// runtime starts (nsenter, cgroups.SelfJoiner); a stage in a new user
	// namespace is not host root and cannot, so its parent moves it.
	var selfJoin []string
	if sj, ok := o.cgroup.(cgroups.SelfJoiner); ok && o.attr.Cloneflags&unix.CLONE_NEWUSER == 0 {
		selfJoin = sj.TaskFiles()
		env = append(env, nsenter.EnvCgroupTasks+"="+strings.Join(selfJoin, "\n"))
	}

	var pidR, pidW *os.File
	if len(o.join) > 0 {
		if pidR, pidW, err = os.Pipe(); err != nil {
			return nil, err
		}
		defer pidR.Close()
		defer pidW.Close()
		files = append(files, pidW)
		env = append(env, nsenter.EnvNamespaces+"="+strings.Join(o.join, ","), nsenter.EnvPipe+"="+strconv.Itoa(len(files)-1))
	}
	for len(files) > 0 && files[len(files)-1] == nil {
		files = files[:len(files)-1]
	}
	start := func(attr *syscall.SysProcAttr) (*os.Process, error) {
		return os.StartProcess(fmt.Sprintf("/proc/self/fd/%d", exe.Fd()), []string{"berthd-" + o.stage}, &os.ProcAttr{
			Env: env, Files: files, Sys: attr,
		})
	}
	// On cgroup v2 the stage is created in its cgroup (CLONE_INTO_CGROUP,
	// cgroups.CloneTarget); a kernel without it (before 5.7) refuses the
	// clone, and the parent moves the stage instead.
	var intoCgroup bool
	var first *os.Process
	if ct, ok := o.cgroup.(cgroups.CloneTarget); ok && selfJoin == nil {
		if dir, derr := ct.OpenForClone(); derr == nil {
			a := *o.attr
			a.UseCgroupFD, a.CgroupFD = true, int(dir.Fd())
			first, err = start(&a)
			dir.Close()
			intoCgroup = err == nil
		}
	}
	if first == nil {
		if first, err = start(o.attr); err != nil {
			return nil, fmt.Errorf("start %s stage: %w", o.stage, err)
		}
	}
	childEnd.Close()
	sp := &spawned{pid: first.Pid, proc: first}
	if len(o.join) > 0 {
		// The constructor's intermediate reports the real child's PID,
		// then exits; CLONE_PARENT made that child ours.
		pidW.Close()
		line, rerr := bufio.NewReader(pidR).ReadString('\n')
		st, werr := first.Wait()
		if rerr != nil || !st.Success() || strings.HasPrefix(line, "error:") {
			return nil, fmt.Errorf("join namespaces: %s %v %v", strings.TrimSpace(line), rerr, werr)
		}
		pid, err := strconv.Atoi(strings.TrimSpace(line))
		if err != nil {
			return nil, fmt.Errorf("join namespaces: bad pid %q", line)
		}
		proc, err := os.FindProcess(pid)
		if err != nil {
			return nil, err
		}
		sp.pid, sp.proc = pid, proc
	}
	if o.started != nil {
		o.started(sp.pid)
	}
	parentMoves := o.cgroup != nil && selfJoin == nil && !intoCgroup
	o.cfg.AwaitCgroup = parentMoves
	o.cfg.AppArmor = o.cfg.Process.ApparmorProfile != "" && apparmorEnabled()
	enc := json.NewEncoder(parent)
	// A stage that failed on its own (it could not join its cgroup, a
	// command was not found) said why before it exited, which is the
	// error to report rather than our broken pipe. Once it is killed,
	// what it said or EOF is all there is to read.
	stageError := func(ours error) error {
		_ = sp.proc.Kill()
		var msg syncMsg
		if json.NewDecoder(parent).Decode(&msg) == nil && msg.Type == "error" {
			return msg.err()
		}
		return ours
	}
	if err := enc.Encode(o.cfg); err != nil {
		return sp, stageError(fmt.Errorf("send config to %s stage: %w", o.stage, err))
	}
	if parentMoves {
		// While the stage works on its config (see awaitCgroup).
		err := o.cgroup.Apply(sp.pid)
		if err == nil {
			err = enc.Encode(syncMsg{Type: "cgroup"})
		}
		if err != nil {
			return sp, stageError(fmt.Errorf("cgroup: %w", err))
		}
	}
	// The stage answers with one message; EOF without one means it
	// exec'd (the socket is close-on-exec) which is success for exec.
	done := make(chan struct{})
	defer close(done)
	go func() {
		select {
		case <-ctx.Done():
			_ = parent.SetReadDeadline(time.Now())
		case <-done:
		}
	}()
	var msg syncMsg
	err = json.NewDecoder(parent).Decode(&msg)
	switch {
	case err == io.EOF && o.stage == stageExec:
		return sp, nil
	case err != nil:
		if ctx.Err() != nil {
			return sp, ctx.Err()
		}
		return sp, fmt.Errorf("%s stage died before reporting: %w", o.stage, err)
	case msg.Type == "error":
		return sp, msg.err()
	case msg.Type == "ready" && o.stage == stageInit:
		return sp, nil
	}
	return sp, fmt.Errorf("unexpected message %q from %s stage", msg.Type, o.stage)
}
