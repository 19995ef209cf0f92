package runtime

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/berthd/berth/pkg/cgroups"
	"github.com/berthd/berth/pkg/errdefs"
	"github.com/berthd/berth/pkg/nsenter"
	"github.com/berthd/berth/pkg/seccomp"
	"github.com/berthd/berth/pkg/topdir"
)

// Runtime manages the containers whose state is under Root.
type Runtime struct {
	Root string
}

// New returns a Runtime with state under root (DefaultRoot if empty).
func New(root string) *Runtime {
	if root == "" {
		root = DefaultRoot
	}
	return &Runtime{Root: root}
}

// CreateOpts are the caller's side of a container creation.
type CreateOpts struct {
	ID     string
	Bundle string
	// Spec overrides Bundle/config.json when set.
	Spec *specs.Spec
	// Stdio for the container process when Spec.Process.Terminal is false;
	// nil means /dev/null.
	Stdin, Stdout, Stderr *os.File
	// ConsoleSocket receives the pty master (SCM_RIGHTS) when
	// Spec.Process.Terminal is true: a connected unix socket.
	ConsoleSocket *os.File
	// NoPivot moves the root with MS_MOVE instead of pivot_root, which is
	// needed when the host root is on ramfs.
	NoPivot bool
	// Seccomp is Spec.Linux.Seccomp already compiled (seccomp.Compile),
	// e.g. by a daemon that caches it per profile; nil compiles it here.
	Seccomp *seccomp.Program
	// Started, when set, is called with the init's PID as soon as the
	// process exists (its namespaces made), before it has prepared the
	// root and reported ready: a caller can set up its network meanwhile.
	Started func(pid int)
	// Ephemeral keeps the container in the returned Container only: no
	// state directory under Root (Load and List do not see it), and the
	// init waits for Start on a pipe instead of the exec FIFO. For a
	// caller that lives as long as the container and is its only user,
	// a shim: the state directory, its state file and the FIFO were
	// three inodes made and dropped per container.
	Ephemeral bool
}

// Container is a created container, running or not.
type Container struct {
	rt  *Runtime
	dir string
	st  *state
	// Init is set for the caller that created the container: it is this
	// process's child and can be waited for.
	Init *os.Process
	// seccomp is the compiled filter of the spec, kept for execs; nil
	// when the container was loaded rather than created here.
	seccomp *seccomp.Program
	// startW is an ephemeral container's start pipe (dir is empty), nil
	// once Start has written to it. A shim serves state, start and delete
	// requests concurrently: startMu guards it.
	startMu sync.Mutex
	startW  *os.File
	// specJSON is an adopted container's spec, not yet decoded (see
	// Snapshot); specMu guards it and st.Spec, which it becomes.
	specMu   sync.Mutex
	specJSON []byte
}

var validID = func(id string) bool {
	if id == "" || len(id) > 1024 || id == "." || id == ".." {
		return false
	}
	for _, c := range id {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune("_+-.", c)) {
			return false
		}
	}
	return true
}

// LoadSpec reads bundle/config.json.
func LoadSpec(bundle string) (*specs.Spec, error) {
	b, err := os.ReadFile(filepath.Join(bundle, "config.json"))
	if err != nil {
		return nil, err
	}
	var s specs.Spec
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, errdefs.InvalidParameter(fmt.Errorf("config.json: %w", err))
	}
	return &s, nil
}

func (r *Runtime) dir(id string) string { return filepath.Join(r.Root, id) }

// Load finds a container created earlier, possibly by another process.
func (r *Runtime) Load(id string) (*Container, error) {
	if !validID(id) {
		return nil, errdefs.InvalidParameter(fmt.Errorf("invalid container id %q", id))
	}
	st, err := loadState(r.dir(id))
	if err != nil {
		if os.IsNotExist(err) {
			return nil, errdefs.NotFound(fmt.Errorf("container %s does not exist", id))
		}
		return nil, err
	}
	return &Container{rt: r, dir: r.dir(id), st: st, seccomp: st.Seccomp}, nil
}

// List returns the IDs of every container with state under Root.
func (r *Runtime) List() ([]string, error) {
	entries, err := os.ReadDir(r.Root)
	if err != nil {
		if os.IsNotExist(err) {
			return nil, nil
		}
		return nil, err
	}
	var ids []string
	for _, e := range entries {
		if _, err := os.Stat(filepath.Join(r.Root, e.Name(), "state.json")); err == nil {
			ids = append(ids, e.Name())
		}
	}
	return ids, nil
}

var nsFlags = map[specs.LinuxNamespaceType]uintptr{
	specs.PIDNamespace:     unix.CLONE_NEWPID,
	specs.NetworkNamespace: unix.CLONE_NEWNET,
	specs.MountNamespace:   unix.CLONE_NEWNS,
	specs.IPCNamespace:     unix.CLONE_NEWIPC,
	specs.UTSNamespace:     unix.CLONE_NEWUTS,
	specs.UserNamespace:    unix.CLONE_NEWUSER,
	specs.CgroupNamespace:  unix.CLONE_NEWCGROUP,
	specs.TimeNamespace:    unix.CLONE_NEWTIME,
}

// procNames are the /proc/PID/ns entry names, also nsenter's TYPE names.
var procNames = map[specs.LinuxNamespaceType]string{
	specs.PIDNamespace: "pid", specs.NetworkNamespace: "net", specs.MountNamespace: "mnt",
	specs.IPCNamespace: "ipc", specs.UTSNamespace: "uts", specs.UserNamespace: "user",
	specs.CgroupNamespace: "cgroup", specs.TimeNamespace: "time",
}

// Create sets the container up and leaves its init stage waiting for
// Start. On error nothing is left behind.
func (r *Runtime) Create(ctx context.Context, o CreateOpts) (c *Container, retErr error) {
	if !validID(o.ID) {
		return nil, errdefs.InvalidParameter(fmt.Errorf("invalid container id %q", o.ID))
	}
	spec := o.Spec
	bundle, err := filepath.Abs(o.Bundle)
	if err != nil {
		return nil, err
	}
	if spec == nil {
		if spec, err = LoadSpec(bundle); err != nil {
			return nil, err
		}
	}
	if spec.Process == nil || len(spec.Process.Args) == 0 {
		return nil, errdefs.InvalidParameter(errors.New("spec has no process args"))
	}
	if spec.Root == nil || spec.Root.Path == "" {
		return nil, errdefs.InvalidParameter(errors.New("spec has no root path"))
	}
	if spec.Linux == nil {
		spec.Linux = &specs.Linux{}
	}
	rootfs := spec.Root.Path
	if !filepath.IsAbs(rootfs) {
		rootfs = filepath.Join(bundle, rootfs)
	}
	if rootfs, err = filepath.EvalSymlinks(rootfs); err != nil {
		return nil, errdefs.InvalidParameter(fmt.Errorf("rootfs: %w", err))
	}
	if spec.Process.Terminal && o.ConsoleSocket == nil {
		return nil, errdefs.InvalidParameter(errors.New("terminal requested without a console socket"))
	}

	var dir string
	if !o.Ephemeral {
		dir = r.dir(o.ID)
		// One directory per container: spread over the filesystem's
		// block groups (pkg/topdir).
		if err := topdir.Mark(r.Root, 0o711); err != nil {
			return nil, err
		}
		if err := os.Mkdir(dir, 0o711); err != nil {
			if os.IsExist(err) {
				return nil, errdefs.Conflict(fmt.Errorf("container %s already exists", o.ID))
			}
			return nil, err
		}
	}
	cgPath := spec.Linux.CgroupsPath
	if cgPath == "" {
		cgPath = "/berth/" + o.ID
	}
	cg, err := cgroups.New(cgPath)
	if err != nil {
		if dir != "" {
			os.RemoveAll(dir)
		}
		return nil, err
	}
	var child *os.Process
	var startW *os.File
	defer func() {
		if retErr != nil {
			if child != nil {
				_ = child.Kill()
				_, _ = child.Wait()
			}
			_ = cg.Destroy()
			if dir != "" {
				_ = os.RemoveAll(dir)
			}
			if startW != nil {
				startW.Close()
			}
		}
	}()

	// What the init waits on until Start: the start pipe's read end, or
	// an O_PATH descriptor of the exec FIFO.
	var startFile *os.File
	var fifo string
	if o.Ephemeral {
		// A socket pair rather than a pipe: the init keeps its end open,
		// close-on-exec, after reading the start byte, so Start can wait
		// for the hang-up that the user process's execve causes.
		pair, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return nil, fmt.Errorf("start socket: %w", err)
		}
		startW = os.NewFile(uintptr(pair[0]), "start")
		startFile = os.NewFile(uintptr(pair[1]), "start-init")
	} else {
		fifo = filepath.Join(dir, "exec.fifo")
		if err := unix.Mkfifo(fifo, 0o600); err != nil {
			return nil, fmt.Errorf("mkfifo: %w", err)
		}
		fifoFd, err := unix.Open(fifo, unix.O_PATH|unix.O_CLOEXEC, 0)
		if err != nil {
			return nil, err
		}
		startFile = os.NewFile(uintptr(fifoFd), fifo)
	}
	defer startFile.Close()

	cfg := &stageConfig{
		ID: o.ID, Rootfs: rootfs, Spec: spec, Process: *spec.Process,
		NoPivot: o.NoPivot, Console: spec.Process.Terminal, CgroupV2: cgroups.IsV2(),
		Seccomp: o.Seccomp, StartPipe: o.Ephemeral,
	}
	if cfg.Seccomp == nil && spec.Linux.Seccomp != nil {
		// A bad profile now fails create, before any process exists.
		if cfg.Seccomp, err = seccomp.Compile(spec.Linux.Seccomp, spec.Process.NoNewPrivileges); err != nil {
			return nil, errdefs.InvalidParameter(err)
		}
	}
	if cfg.Seccomp != nil {
		cfg.Spec = WithoutSeccompProfile(spec)
	}
	var cloneFlags uintptr
	var joinEarly []string // namespaces the nsenter constructor must join
	for _, ns := range spec.Linux.Namespaces {
		flag, ok := nsFlags[ns.Type]
		if !ok {
			return nil, errdefs.InvalidParameter(fmt.Errorf("unknown namespace %q", ns.Type))
		}
		if ns.Path == "" {
			// A cgroup namespace is rooted where the process is when it
			// is created: the stage unshares it after joining the cgroup.
			if ns.Type == specs.CgroupNamespace {
				cfg.NewCgroupNS = true
			} else {
				cloneFlags |= flag
			}
			continue
		}
		switch ns.Type {
		case specs.PIDNamespace, specs.UserNamespace, specs.MountNamespace:
			// Only a single-threaded process can join these (pid: only
			// its children would be inside), so the constructor does it.
			joinEarly = append(joinEarly, procNames[ns.Type]+"="+ns.Path)
		}
	}
	if cloneFlags&unix.CLONE_NEWNS == 0 {
		return nil, errdefs.InvalidParameter(errors.New("the container needs a new mount namespace"))
	}
	if cloneFlags&unix.CLONE_NEWUSER != 0 {
		cfg.UserNS = true
	}
	if cfg.HostNetNS, err = hostNetNSFor(spec); err != nil {
		return nil, err
	}
	if cfg.UserNS && fifo != "" {
		// The stage opens the FIFO as the container's root, which is
		// nobody to a root-owned file.
		if err := unix.Chown(fifo, int(hostID(spec.Linux.UIDMappings, 0)), int(hostID(spec.Linux.GIDMappings, 0))); err != nil {
			return nil, err
		}
	}
	if !cfg.CgroupV2 {
		if cfg.Cgroups, err = v1CgroupMounts(cg); err != nil {
			return nil, err
		}
	}

	attr := &syscall.SysProcAttr{Cloneflags: cloneFlags}
	if cloneFlags&unix.CLONE_NEWUSER != 0 {
		for _, m := range spec.Linux.UIDMappings {
			attr.UidMappings = append(attr.UidMappings, syscall.SysProcIDMap{ContainerID: int(m.ContainerID), HostID: int(m.HostID), Size: int(m.Size)})
		}
		for _, m := range spec.Linux.GIDMappings {
			attr.GidMappings = append(attr.GidMappings, syscall.SysProcIDMap{ContainerID: int(m.ContainerID), HostID: int(m.HostID), Size: int(m.Size)})
		}
		attr.GidMappingsEnableSetgroups = true
		// Become the namespace's root right after the maps are written:
		// host uid 0 is unmapped in there and would have no privilege.
		attr.Credential = &syscall.Credential{Uid: 0, Gid: 0}
	}
	resources := withDeviceAllows(spec)
	// Make the cgroup and write its limits before the stage exists, so
	// that only the join is left between its start and its config.
	if err := cg.Apply(0); err != nil {
		return nil, fmt.Errorf("cgroup: %w", err)
	}
	// The pids limit waits for Start: the stage is a Go program whose
	// runtime starts threads, and a low limit would kill it while it sets
	// the container up.
	if resources != nil && resources.Pids != nil {
		r := *resources
		r.Pids = nil
		resources = &r
	}
	if err := cg.Set(resources); err != nil {
		return nil, fmt.Errorf("cgroup: %w", err)
	}
	p, err := spawn(ctx, spawnOpts{
		stage: stageInit, attr: attr, join: joinEarly,
		stdio: [3]*os.File{o.Stdin, o.Stdout, o.Stderr}, fifo: startFile, console: o.ConsoleSocket,
		cfg: cfg, cgroup: cg, started: o.Started,
	})
	if p != nil {
		child = p.proc
	}
	if err != nil {
		return nil, err
	}
	st := &state{
		ID: o.ID, Bundle: bundle, Rootfs: rootfs, Pid: p.pid, StartTime: procStartTime(p.pid),
		Created: time.Now().UTC(), CgroupPath: cgPath, Annotations: spec.Annotations, Spec: spec,
		Seccomp: cfg.Seccomp,
	}
	if dir != "" {
		if err := st.save(dir); err != nil {
			return nil, err
		}
	}
	return &Container{rt: r, dir: dir, st: st, Init: p.proc, seccomp: cfg.Seccomp, startW: startW}, nil
}

// v1CgroupMounts lists, for a "cgroup" spec mount on a v1 host, one
// sub-mount per distinct hierarchy.
func v1CgroupMounts(cg cgroups.Manager) ([]cgroupMount, error) {
	hs, err := cgroups.V1Hierarchies()
	if err != nil {
		return nil, err
	}
	var out []cgroupMount
	for _, h := range hs {
		name := filepath.Base(h.MountPoint)
		var opts []string
		for _, o := range h.Options {
			if o != "rw" && o != "ro" {
				opts = append(opts, o)
			}
		}
		ctrl := strings.Split(name, ",")[0]
		if strings.HasPrefix(opts[0], "name=") {
			ctrl = opts[0]
		}
		out = append(out, cgroupMount{Name: name, Options: strings.Join(opts, ","), HostPath: cg.Path(ctrl)})
	}
	return out, nil
}

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
	env := []string{envStage + "=" + o.stage}
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

// ID is the container's name.
func (c *Container) ID() string { return c.st.ID }

// Pid is the container's init process on the host.
func (c *Container) Pid() int { return c.st.Pid }

// Bundle is the absolute bundle path.
func (c *Container) Bundle() string { return c.st.Bundle }

// Spec is the spec the container was created with.
func (c *Container) Spec() *specs.Spec {
	s, _ := c.spec()
	return s
}

// Cgroup returns the container's cgroup manager.
func (c *Container) Cgroup() (cgroups.Manager, error) { return cgroups.New(c.st.CgroupPath) }

func (c *Container) alive() bool {
	return c.st.Pid > 0 && c.st.StartTime != 0 && procStartTime(c.st.Pid) == c.st.StartTime
}

// Status is created, running, paused or stopped, as runc reports it.
func (c *Container) Status() specs.ContainerState {
	if !c.alive() {
		return specs.StateStopped
	}
	if c.created() {
		return specs.StateCreated
	}
	if cg, err := c.Cgroup(); err == nil {
		if frozen, _ := cg.Frozen(); frozen {
			return "paused"
		}
	}
	return specs.StateRunning
}

// created reports that Start has not run: the start pipe is still ours,
// or the exec FIFO still exists.
func (c *Container) created() bool {
	if c.dir == "" {
		c.startMu.Lock()
		defer c.startMu.Unlock()
		return c.startW != nil
	}
	_, err := os.Stat(filepath.Join(c.dir, "exec.fifo"))
	return err == nil
}

// State is the OCI state document.
func (c *Container) State() *specs.State {
	st := &specs.State{
		Version: specs.Version, ID: c.st.ID, Status: c.Status(), Bundle: c.st.Bundle,
		Annotations: c.st.Annotations,
	}
	if st.Status != specs.StateStopped {
		st.Pid = c.st.Pid
	}
	return st
}

// execWait bounds how long Start waits for the user process's execve. It
// is normally well under a millisecond; the bound keeps a stage that is
// stuck on the container's own files (a lookup on a FUSE mount) from
// holding Start, and the caller's locks, for longer.
const execWait = time.Second

// awaitExec waits until the init's end of the start socket is closed:
// by its execve (the descriptor is close-on-exec by then) or by its exit.
// Start then returns with the user's command running, as runc's start
// followed by dockerd's bookkeeping appears to clients: `docker top` right
// after `docker run -d` shows the command, not the init stage.
func awaitExec(start *os.File) {
	deadline := time.Now().Add(execWait)
	buf := make([]byte, 1)
	for {
		left := time.Until(deadline)
		if left <= 0 {
			return
		}
		fds := []unix.PollFd{{Fd: int32(start.Fd()), Events: unix.POLLIN}}
		n, err := unix.Poll(fds, int(left/time.Millisecond)+1)
		if err == unix.EINTR {
			continue
		}
		if err != nil || n == 0 {
			return
		}
		if fds[0].Revents&(unix.POLLHUP|unix.POLLERR) != 0 {
			return
		}
		if r, err := unix.Read(int(start.Fd()), buf); r == 0 || (err != nil && err != unix.EAGAIN && err != unix.EINTR) {
			return
		}
	}
}

// Start lets the user process run: a byte on the start pipe, or opening
// the FIFO's read side, releases the init stage blocked on it.
func (c *Container) Start() error {
	if c.Status() != specs.StateCreated {
		return errdefs.Conflict(fmt.Errorf("container %s is not in created state", c.st.ID))
	}
	// The stage now waits on the FIFO with all its threads started; only
	// execve is left for it, so the pids limit can apply from here.
	spec, err := c.spec()
	if err != nil {
		return err
	}
	if r := spec.Linux.Resources; r != nil && r.Pids != nil {
		cg, err := c.Cgroup()
		if err != nil {
			return err
		}
		if err := cg.Set(&specs.LinuxResources{Pids: r.Pids}); err != nil {
			return fmt.Errorf("cgroup: %w", err)
		}
	}
	if c.dir == "" {
		c.startMu.Lock()
		defer c.startMu.Unlock()
		if c.startW == nil {
			return errdefs.Conflict(fmt.Errorf("container %s is not in created state", c.st.ID))
		}
		_, err := c.startW.Write([]byte{'0'})
		if err == nil {
			awaitExec(c.startW)
		}
		c.startW.Close()
		c.startW = nil
		if err != nil {
			// EPIPE: the init is gone.
			return errors.New("container init exited before start")
		}
		return nil
	}
	// Non-blocking so a dead init cannot hang us; it is ready by now.
	fifo := filepath.Join(c.dir, "exec.fifo")
	fd, err := unix.Open(fifo, unix.O_RDONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return &os.PathError{Op: "open", Path: fifo, Err: err}
	}
	defer unix.Close(fd)
	// Wait in poll(2) for the init's byte rather than in sleeps between
	// reads: the init opens its end as soon as ours is open and writes
	// at once, and a start should not wait out a sleep's granularity.
	// (Before any writer has opened a FIFO, poll reports no hang-up.)
	// The timeout only paces the check that the init is still there.
	buf := make([]byte, 1)
	for {
		fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		n, err := unix.Poll(fds, 10)
		if err != nil && err != unix.EINTR {
			return fmt.Errorf("wait for the init: %w", err)
		}
		if n > 0 && fds[0].Revents&(unix.POLLIN|unix.POLLHUP) != 0 {
			if r, rerr := unix.Read(fd, buf); r > 0 {
				break
			} else if rerr != nil && rerr != unix.EAGAIN {
				return fmt.Errorf("wait for the init: %w", rerr)
			}
			if fds[0].Revents&unix.POLLHUP != 0 {
				return errors.New("container init exited before start")
			}
		}
		if !c.alive() {
			return errors.New("container init exited before start")
		}
	}
	// A process as quick as `true` may be gone, and its state deleted by
	// the caller, before we get here.
	if err := os.Remove(fifo); err != nil && !os.IsNotExist(err) {
		return err
	}
	return nil
}

// Signal sends sig to the init process, or to every process in the
// container's cgroup when all is set.
func (c *Container) Signal(sig unix.Signal, all bool) error {
	if all {
		cg, err := c.Cgroup()
		if err != nil {
			return err
		}
		if sig == unix.SIGKILL {
			// Frozen tasks do not die until thawed.
			_ = cg.Freeze()
			defer func() { _ = cg.Thaw() }()
		}
		pids, err := cg.Pids()
		if err != nil && !os.IsNotExist(err) {
			return err
		}
		for _, p := range pids {
			_ = unix.Kill(p, sig)
		}
		return nil
	}
	if !c.alive() {
		return errdefs.NotFound(fmt.Errorf("container %s is not running", c.st.ID))
	}
	return unix.Kill(c.st.Pid, sig)
}

// Pause freezes every process of the container.
func (c *Container) Pause() error {
	cg, err := c.Cgroup()
	if err != nil {
		return err
	}
	return cg.Freeze()
}

// Resume thaws it.
func (c *Container) Resume() error {
	cg, err := c.Cgroup()
	if err != nil {
		return err
	}
	return cg.Thaw()
}

// Delete removes a stopped container's cgroup and state. With force a
// running container is killed first.
func (c *Container) Delete(force bool) error {
	if c.alive() {
		if !force {
			return errdefs.Conflict(fmt.Errorf("container %s is %s, stop it first", c.st.ID, c.Status()))
		}
		_ = c.Signal(unix.SIGKILL, true)
		_ = unix.Kill(c.st.Pid, unix.SIGKILL)
		for i := 0; i < 500 && c.alive(); i++ {
			time.Sleep(2 * time.Millisecond)
		}
	}
	cg, err := c.Cgroup()
	if err == nil {
		// Processes that outlived init (host pid namespace) must go too,
		// or the cgroup cannot be removed.
		if pids, _ := cg.Pids(); len(pids) > 0 {
			_ = c.Signal(unix.SIGKILL, true)
			for i := 0; i < 500; i++ {
				if pids, _ := cg.Pids(); len(pids) == 0 {
					break
				}
				time.Sleep(2 * time.Millisecond)
			}
		}
		err = cg.Destroy()
	}
	c.startMu.Lock()
	if c.startW != nil {
		c.startW.Close()
		c.startW = nil
	}
	c.startMu.Unlock()
	if c.dir == "" {
		return err
	}
	if rerr := os.RemoveAll(c.dir); rerr != nil {
		return rerr
	}
	return err
}

// hostID maps a container id to the host through the namespace's maps.
func hostID(maps []specs.LinuxIDMapping, id uint32) uint32 {
	for _, m := range maps {
		if id >= m.ContainerID && id-m.ContainerID < m.Size {
			return m.HostID + id - m.ContainerID
		}
	}
	return 65534
}

// withDeviceAllows appends to the spec's device rules the nodes the
// runtime itself always creates (and the spec's own devices), as runc
// does: a spec that denies everything must still get a working /dev/null
// and pty.
func withDeviceAllows(spec *specs.Spec) *specs.LinuxResources {
	r := spec.Linux.Resources
	if r == nil || len(r.Devices) == 0 {
		return r
	}
	out := *r
	all := append([]specs.LinuxDeviceCgroup(nil), r.Devices...)
	all = append(all, DefaultDeviceRules()[1:]...)
	for _, d := range spec.Linux.Devices {
		major, minor := d.Major, d.Minor
		all = append(all, specs.LinuxDeviceCgroup{Allow: true, Type: d.Type, Major: &major, Minor: &minor, Access: "rwm"})
	}
	out.Devices = dedupeAllows(all)
	return &out
}

// dedupeAllows drops an allow rule that repeats one made since the last
// deny: a daemon's spec (dockerd's) already lists the default devices
// that a runtime adds again, and on cgroup v1 each rule is a write.
func dedupeAllows(rules []specs.LinuxDeviceCgroup) []specs.LinuxDeviceCgroup {
	key := func(d specs.LinuxDeviceCgroup) string {
		k := fmt.Sprintf("%s:%s", d.Type, d.Access)
		for _, n := range []*int64{d.Major, d.Minor} {
			if n == nil {
				k += ":*"
			} else {
				k += ":" + strconv.FormatInt(*n, 10)
			}
		}
		return k
	}
	seen := map[string]bool{}
	out := rules[:0:0]
	for _, d := range rules {
		if !d.Allow {
			// A deny may revoke what an earlier allow gave.
			clear(seen)
			out = append(out, d)
			continue
		}
		if k := key(d); !seen[k] {
			seen[k] = true
			out = append(out, d)
		}
	}
	return out
}

// WithoutSeccompProfile returns a shallow copy of spec without its seccomp
// profile, for a process that gets the compiled program instead: the
// profile is most of a spec's JSON, which it would decode for nothing.
func WithoutSeccompProfile(spec *specs.Spec) *specs.Spec {
	if spec.Linux == nil || spec.Linux.Seccomp == nil {
		return spec
	}
	s, l := *spec, *spec.Linux
	l.Seccomp = nil
	s.Linux = &l
	return &s
}
