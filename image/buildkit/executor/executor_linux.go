package executor

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	bk "github.com/moby/buildkit/executor"
	"github.com/moby/buildkit/executor/oci"
	resourcestypes "github.com/moby/buildkit/executor/resources/types"
	"github.com/moby/buildkit/identity"
	"github.com/moby/buildkit/solver/pb"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/berthd/berth/pkg/errdefs"
	"github.com/berthd/berth/pkg/runtime"
)

// Options configure an Executor.
type Options struct {
	// Root is the executor's scratch directory: one directory per running
	// step holding its mounted root, and the generated hosts and
	// resolv.conf files. Whatever a previous daemon left there is
	// unmounted and removed by New.
	Root string
	// Network makes the namespaces of steps on the default network. Nil
	// leaves only the none and host network modes working.
	Network NetworkProvider
	// DNS overrides the resolver configuration that steps on the default
	// and none networks get (the daemon's dns, dns-search and dns-opt);
	// nil derives it from the host's resolv.conf as dockerd's builder
	// does: loopback resolvers dropped, public ones as the fallback.
	DNS *DNS
	// CgroupParent is the cgroup under which each step gets
	// CgroupParent/buildkit/<id>; empty puts it at /buildkit/<id>. A
	// step's own cgroup-parent (Meta.CgroupParent) wins.
	CgroupParent string
	// NoPivot moves a step's root with MS_MOVE instead of pivot_root,
	// for a host whose root is on a ramdisk (DOCKER_RAMDISK).
	NoPivot bool
	// AppArmorProfile confines sandboxed steps (dockerd gives them
	// docker-default where the host has AppArmor); empty is none.
	AppArmorProfile string
}

// DNS is the resolver configuration of steps.
type DNS struct {
	Nameservers []string
	Search      []string
	Options     []string
}

// Executor runs BuildKit's build steps as berth runtime containers. It
// implements BuildKit's executor.Executor.
type Executor struct {
	root         string
	rt           *runtime.Runtime
	network      NetworkProvider
	dns          *oci.DNSConfig
	cgroupParent string
	noPivot      bool
	apparmor     string

	mu      sync.Mutex
	running map[string]*step
}

var _ bk.Executor = (*Executor)(nil)

// step is one Run, which Exec finds by id.
type step struct {
	// started is closed once the step's process runs, or once the step
	// ended without running.
	started chan struct{}
	// ended is closed when Run returns; err is its result by then.
	ended chan struct{}
	err   error
	// ctr and rootfs are set before started is closed; ctr stays nil
	// when the step never ran.
	ctr    *runtime.Container
	rootfs string
}

// New returns an executor working under opts.Root.
func New(opts Options) (*Executor, error) {
	if opts.Root == "" {
		return nil, errdefs.InvalidParameter(errors.New("executor: no root directory"))
	}
	if err := os.MkdirAll(opts.Root, 0o711); err != nil {
		return nil, err
	}
	root, err := filepath.Abs(opts.Root)
	if err != nil {
		return nil, err
	}
	if root, err = filepath.EvalSymlinks(root); err != nil {
		return nil, err
	}
	e := &Executor{
		root:         root,
		rt:           runtime.New(filepath.Join(root, "runtime")),
		network:      opts.Network,
		cgroupParent: opts.CgroupParent,
		noPivot:      opts.NoPivot,
		apparmor:     opts.AppArmorProfile,
		running:      map[string]*step{},
	}
	if opts.DNS != nil {
		e.dns = &oci.DNSConfig{Nameservers: opts.DNS.Nameservers, SearchDomains: opts.DNS.Search, Options: opts.DNS.Options}
	}
	if err := e.removeLeftovers(); err != nil {
		return nil, err
	}
	return e, nil
}

// Run runs one process in a new container whose root is rootfs, until it
// exits or ctx is done. An exit code other than 0 (or one of
// Meta.ValidExitCodes) is a *gatewaypb.ExitError.
func (e *Executor) Run(ctx context.Context, id string, root bk.Mount, mounts []bk.Mount, process bk.ProcessInfo, started chan<- struct{}) (_ resourcestypes.Recorder, retErr error) {
	if id == "" {
		id = identity.NewID()
	}
	if err := bk.ValidContainerID(id); err != nil {
		return nil, err
	}
	st := &step{started: make(chan struct{}), ended: make(chan struct{})}
	if err := e.register(id, st); err != nil {
		return nil, err
	}
	var once sync.Once
	markStarted := func() {
		once.Do(func() {
			close(st.started)
			if started != nil {
				close(started)
			}
		})
	}
	defer func() {
		e.unregister(id)
		st.err = retErr
		markStarted()
		close(st.ended)
	}()

	meta := process.Meta
	netns, err := e.stepNetwork(ctx, meta)
	if err != nil {
		return nil, err
	}
	defer netns.Close()
	resolvConf, hostsFile, cleanFiles, err := e.etcFiles(ctx, meta)
	if err != nil {
		return nil, err
	}
	defer cleanFiles()

	rootfs, unmountRoot, err := e.mountRoot(ctx, id, root)
	if err != nil {
		return nil, err
	}
	defer unmountRoot()
	if content, ok := netns.resolvConf(); ok {
		resolvConf = filepath.Join(filepath.Dir(rootfs), "resolv.conf")
		if err := os.WriteFile(resolvConf, content, 0o644); err != nil {
			return nil, err
		}
	}
	defer bk.MountStubsCleaner(context.WithoutCancel(ctx), rootfs, mounts, meta.RemoveMountStubsRecursive)()

	spec, releaseMounts, err := e.spec(ctx, id, rootfs, meta, mounts, netns, resolvConf, hostsFile)
	if err != nil {
		return nil, err
	}
	defer releaseMounts()
	if root.Readonly {
		spec.Root.Readonly = true
	}

	io, err := newStdio(process, meta.Tty)
	if err != nil {
		return nil, err
	}
	defer io.close()
	ctr, err := e.rt.Create(ctx, runtime.CreateOpts{
		ID: id, Bundle: filepath.Dir(rootfs), Spec: spec, Ephemeral: true, NoPivot: e.noPivot,
		Stdin: io.child[0], Stdout: io.child[1], Stderr: io.child[2], ConsoleSocket: io.consoleChild,
	})
	if err != nil {
		return nil, notStarted(fmt.Errorf("create build container: %w", err))
	}
	// The container's processes are gone and its cgroup removed before
	// the deferred unmounts run.
	defer func() { _ = ctr.Delete(true) }()
	if err := io.attach(); err != nil {
		return nil, err
	}
	if err := ctr.Start(); err != nil {
		return nil, notStarted(fmt.Errorf("start build container: %w", err))
	}
	st.ctr, st.rootfs = ctr, rootfs
	markStarted()
	code, err := waitProcess(ctx, ctr.Init, process.Signal, func() { _ = ctr.Signal(killSignal, true) })
	io.wait()
	if err := exitError(ctx, code, err, meta.ValidExitCodes); err != nil {
		return nil, withOOM(err, ctr)
	}
	return nil, nil
}

// Exec runs another process in the running step id (a gateway container
// or `buildx debug`), with the step's own process settings where meta
// leaves them empty.
func (e *Executor) Exec(ctx context.Context, id string, process bk.ProcessInfo) error {
	st, err := e.awaitRunning(ctx, id)
	if err != nil {
		return err
	}
	meta := process.Meta
	proc := *st.ctr.Spec().Process
	proc.Args = meta.Args
	proc.Terminal = meta.Tty
	proc.ConsoleSize = nil
	if meta.Cwd != "" {
		proc.Cwd = meta.Cwd
	}
	if len(meta.Env) > 0 {
		proc.Env = meta.Env
	}
	if meta.User != "" {
		uid, gid, sgids, err := oci.GetUser(st.rootfs, meta.User)
		if err != nil {
			return err
		}
		proc.User = specs.User{UID: uid, GID: gid, AdditionalGids: sgids}
	}
	io, err := newStdio(process, meta.Tty)
	if err != nil {
		return err
	}
	defer io.close()
	p, err := st.ctr.Exec(ctx, runtime.ExecOpts{
		Process: proc, Stdin: io.child[0], Stdout: io.child[1], Stderr: io.child[2], ConsoleSocket: io.consoleChild,
	})
	if err != nil {
		return notStarted(fmt.Errorf("exec in build container %s: %w", id, err))
	}
	if err := io.attach(); err != nil {
		_ = p.Kill()
		_, _ = p.Wait()
		return err
	}
	code, err := waitProcess(ctx, p, process.Signal, func() { _ = p.Signal(killSignal) })
	io.wait()
	if err := exitError(ctx, code, err, meta.ValidExitCodes); err != nil {
		return withOOM(err, st.ctr)
	}
	return nil
}

func (e *Executor) register(id string, st *step) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if _, ok := e.running[id]; ok {
		return errdefs.Conflict(fmt.Errorf("build container %s already exists", id))
	}
	e.running[id] = st
	return nil
}

func (e *Executor) unregister(id string) {
	e.mu.Lock()
	delete(e.running, id)
	e.mu.Unlock()
}

// awaitRunning waits until the step id runs: BuildKit may call Exec as
// soon as it called Run.
func (e *Executor) awaitRunning(ctx context.Context, id string) (*step, error) {
	e.mu.Lock()
	st, ok := e.running[id]
	e.mu.Unlock()
	if !ok {
		return nil, errdefs.NotFound(fmt.Errorf("build container %s not found", id))
	}
	select {
	case <-ctx.Done():
		return nil, context.Cause(ctx)
	case <-st.started:
	}
	select {
	case <-st.ended:
		if st.err != nil {
			return nil, fmt.Errorf("build container %s has exited with error: %w", id, st.err)
		}
		return nil, fmt.Errorf("build container %s has stopped", id)
	default:
	}
	if st.ctr == nil {
		return nil, fmt.Errorf("build container %s did not start", id)
	}
	return st, nil
}

// stepNetwork is the namespace that meta's network mode asks for.
func (e *Executor) stepNetwork(ctx context.Context, meta bk.Meta) (*stepNetwork, error) {
	if meta.Proxy != nil {
		return nil, errdefs.NotImplemented(errors.New("the network proxy of builds is not supported by this engine"))
	}
	switch meta.NetMode {
	case pb.NetMode_HOST:
		return &stepNetwork{host: true}, nil
	case pb.NetMode_NONE:
		return &stepNetwork{}, nil
	case pb.NetMode_UNSET:
		if e.network == nil {
			return nil, errdefs.Unavailable(errors.New("the default network of builds is not available; use --network=none or host"))
		}
		ns, err := e.network.New(ctx, meta.Hostname)
		if err != nil {
			return nil, fmt.Errorf("build network: %w", err)
		}
		return &stepNetwork{joined: ns}, nil
	}
	return nil, errdefs.InvalidParameter(fmt.Errorf("unknown network mode %s", meta.NetMode))
}

// etcFiles writes the step's resolv.conf and hosts under the root, as
// BuildKit's own executors do.
func (e *Executor) etcFiles(ctx context.Context, meta bk.Meta) (resolvConf, hosts string, clean func(), err error) {
	dir, err := os.OpenRoot(e.root)
	if err != nil {
		return "", "", nil, err
	}
	defer dir.Close()
	resolvName, err := oci.GetResolvConf(ctx, dir, nil, e.dns, meta.NetMode)
	if err != nil {
		return "", "", nil, err
	}
	hostsName, cleanHosts, err := oci.GetHostsFile(ctx, dir, meta.ExtraHosts, nil, meta.Hostname)
	if err != nil {
		return "", "", nil, err
	}
	if cleanHosts == nil {
		cleanHosts = func() {}
	}
	return filepath.Join(e.root, resolvName), filepath.Join(e.root, hostsName), cleanHosts, nil
}
