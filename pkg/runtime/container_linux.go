package runtime

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/berthd/berth/pkg/cgroups"
	"github.com/berthd/berth/pkg/errdefs"
	"github.com/berthd/berth/pkg/procstat"
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
		ID: o.ID, Bundle: bundle, Rootfs: rootfs, Pid: p.pid, StartTime: procstat.StartTime(p.pid),
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

// hostID maps a container id to the host through the namespace's maps.
func hostID(maps []specs.LinuxIDMapping, id uint32) uint32 {
	for _, m := range maps {
		if id >= m.ContainerID && id-m.ContainerID < m.Size {
			return m.HostID + id - m.ContainerID
		}
	}
	return 65534
}
