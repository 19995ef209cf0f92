package daemon

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/moby/moby/api/types/jsonstream"
	"github.com/sirupsen/logrus"

	ctr "github.com/berthd/berth/container"
	"github.com/berthd/berth/daemon/backend"
	"github.com/berthd/berth/network/cni"
	"github.com/berthd/berth/pkg/errdefs"
	"github.com/berthd/berth/pkg/phases"
	"github.com/berthd/berth/pkg/stringid"
)

// A pod sandbox is a container of the pause image holding the pod's
// network, IPC and UTS namespaces (and PID when shared) for the pod's
// life; its ID is the sandbox ID, its record (pod_sandbox_record.go) what
// the container does not hold. The network is CNI's: the pause container
// starts with network none and its namespace is then attached.
//
// Why a pause process and not pinned namespace files: pod containers join
// the sandbox through the engine's existing container:<id> modes, which
// already share the network, IPC, PID and UTS namespaces and the
// resolv.conf, hosts and hostname files, restore after a daemon restart,
// and show in docker ps as cri-dockerd's pods do; a shared PID namespace
// needs a PID 1 that reaps anyway. Pinned files would save one shim and
// one sleeping process per pod but need a second join path for every
// mode and a reaper of their own.
//
// Locks: a record's op (one stop, remove or run of that pod at a time)
// is taken before any container's lock; the records' mu is a leaf, never
// held while a container's lock is taken.

// RunPodSandbox makes and starts a pod sandbox and attaches its network.
// Whatever fails half-way undoes what was made, the network first.
func (d *Daemon) RunPodSandbox(ctx context.Context, cfg backend.PodSandboxConfig) (id string, err error) {
	if err := validatePodSandboxConfig(cfg); err != nil {
		return "", err
	}
	if err := d.checkRuntimeHandler(cfg.RuntimeHandler); err != nil {
		return "", err
	}
	// Not carried in ctx: the pause container's start keeps its own.
	tr := podTrace()
	defer func() { logPodPhases(tr, "pod run phases: ", id, err) }()
	p := d.pods()
	if !cfg.Namespaces.HostNetwork() {
		// Checked first: nothing is made for a pod that cannot get a
		// network, as containerd answers.
		if err := p.network.Ready(); err != nil {
			return "", errdefs.Unavailable(fmt.Errorf("the pod network is not ready: %w", err))
		}
	}
	image := d.Config().PodSandboxImage()
	if err := d.ensurePauseImage(ctx, image); err != nil {
		return "", err
	}
	tr.Mark("image")
	cc, err := podSandboxCreateConfig(cfg, image)
	if err != nil {
		return "", err
	}
	created, err := d.ContainerCreate(ctx, cc)
	if err != nil {
		return "", fmt.Errorf("failed to create the sandbox container %s: %w", cc.Name, err)
	}
	tr.Mark("create")
	r := &podRecord{ID: created.ID, Config: cfg, Image: image, Created: time.Now().UTC()}
	undo := func(cause error) error {
		d.undoPodSandbox(r)
		return cause
	}
	// A stop or remove arriving while the pod starts waits for it.
	r.op.Lock()
	defer r.op.Unlock()
	// Recorded before it runs: a daemon killed from here on finds a pod
	// kubelet can stop and remove.
	if err := p.add(r); err != nil {
		return "", undo(errdefs.System(fmt.Errorf("failed to record the sandbox: %w", err)))
	}
	tr.Mark("record")
	if err := d.ContainerStart(ctx, r.ID); err != nil {
		return "", undo(fmt.Errorf("failed to start the sandbox container: %w", err))
	}
	tr.Mark("start")
	if cfg.Namespaces.HostNetwork() {
		return r.ID, nil
	}
	pid, err := d.runningPid(r.ID)
	if err != nil {
		return "", undo(err)
	}
	netns := netnsPath(pid)
	if err := p.update(r, func(r *podRecord) { r.NetnsPath, r.NetworkAttached = netns, true }); err != nil {
		return "", undo(errdefs.System(err))
	}
	tr.Mark("netns-record")
	res, err := p.network.Setup(ctx, cniPod(r))
	if err != nil {
		return "", undo(fmt.Errorf("failed to set up the network of pod %s_%s: %w", cfg.Name, cfg.Namespace, err))
	}
	tr.Mark("cni-add")
	if err := p.update(r, func(r *podRecord) { r.IPs = ipStrings(res.IPs) }); err != nil {
		return "", undo(errdefs.System(err))
	}
	tr.Mark("ips-record")
	logrus.WithFields(logrus.Fields{"sandbox": stringid.TruncateID(r.ID), "pod": cfg.Namespace + "/" + cfg.Name, "ips": r.IPs}).Debug("pod sandbox running")
	return r.ID, nil
}

// undoPodSandbox takes apart a sandbox whose run failed: its network,
// its container and its record. It outlives the request's context.
func (d *Daemon) undoPodSandbox(r *podRecord) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	p := d.pods()
	if r.NetworkAttached {
		if err := p.network.Teardown(ctx, d.cniPodToDetach(r)); err != nil {
			logrus.WithError(err).WithField("sandbox", stringid.TruncateID(r.ID)).Warn("failed to detach the network of a sandbox that did not start")
		}
	}
	if err := d.ContainerRm(ctx, r.ID, backend.ContainerRmConfig{ForceRemove: true}); err != nil && !errdefs.Is(err, errdefs.NotFound) {
		logrus.WithError(err).WithField("sandbox", stringid.TruncateID(r.ID)).Warn("failed to remove the container of a sandbox that did not start")
	}
	if err := p.forget(r.ID); err != nil {
		logrus.WithError(err).WithField("sandbox", stringid.TruncateID(r.ID)).Warn("failed to remove the record of a sandbox that did not start")
	}
}

// ensurePauseImage pulls the pause image when it is not there, through
// the daemon's normal pull (and so its registry mirrors).
func (d *Daemon) ensurePauseImage(ctx context.Context, image string) error {
	if _, err := d.images.Get(image); err == nil {
		return nil
	}
	if err := d.PullImage(ctx, image, "", "", "", func(jsonstream.Message) error { return nil }); err != nil {
		return fmt.Errorf("failed to pull the pod sandbox image %s: %w", image, err)
	}
	return nil
}

// runningPid is the process of a running container.
func (d *Daemon) runningPid(id string) (int, error) {
	c, err := d.containers.Get(id)
	if err != nil {
		return 0, err
	}
	c.Lock()
	defer c.Unlock()
	if !c.State.Running || c.State.Pid == 0 {
		return 0, errdefs.Conflict(fmt.Errorf("container %s is not running", stringid.TruncateID(id)))
	}
	return c.State.Pid, nil
}

// StopPodSandbox stops the pod's containers, detaches its network and
// stops its pause container. Stopping twice, or a sandbox that does not
// exist, succeeds, as in containerd 2.
func (d *Daemon) StopPodSandbox(ctx context.Context, id string) (err error) {
	tr := podTrace()
	defer func() { logPodPhases(tr, "pod stop phases: ", id, err) }()
	return d.withPodSandbox(phases.With(ctx, tr), id, d.stopPodSandbox)
}

// withPodSandbox runs f on sandbox id under its lock; an unknown sandbox
// is nothing to do.
func (d *Daemon) withPodSandbox(ctx context.Context, id string, f func(context.Context, *podRecord) error) error {
	d.waitPodsRestored(ctx)
	r := d.pods().get(id)
	if r == nil {
		return nil
	}
	r.op.Lock()
	defer r.op.Unlock()
	return f(ctx, r)
}

// stopPodSandbox is StopPodSandbox under r.op.
func (d *Daemon) stopPodSandbox(ctx context.Context, r *podRecord) error {
	p := d.pods()
	tr := phases.From(ctx)
	// The pod is going away: no grace period, as containerd's stop. The
	// kills run beside the CNI DEL, which needs only the pause process's
	// namespace (killed after it), not the containers: a stop takes the
	// longer of the two, not their sum.
	killed := make(chan error, 1)
	go func(start time.Time) {
		err := d.eachPodContainer(r.ID, func(c *ctr.Container) error {
			return d.killPodContainer(ctx, c.ID)
		})
		tr.Since("kill-containers", start)
		killed <- err
	}(time.Now())
	netErr := d.detachPodNetwork(ctx, r)
	tr.Mark("cni-del+record")
	if err := <-killed; err != nil {
		return err
	}
	tr.Mark("kills-waited")
	if netErr != nil {
		return netErr
	}
	if err := d.killPodContainer(ctx, r.ID); err != nil {
		return err
	}
	tr.Mark("kill-pause")
	if !r.Stopped {
		if err := p.update(r, func(r *podRecord) { r.Stopped = true }); err != nil {
			return errdefs.System(err)
		}
		tr.Mark("stopped-record")
	}
	return nil
}

// detachPodNetwork runs the CNI DEL of a pod whose network may be
// attached and records that it no longer is.
func (d *Daemon) detachPodNetwork(ctx context.Context, r *podRecord) error {
	if !r.NetworkAttached {
		return nil
	}
	p := d.pods()
	if err := p.network.Teardown(ctx, d.cniPodToDetach(r)); err != nil {
		return fmt.Errorf("failed to tear down the network of sandbox %s: %w", stringid.TruncateID(r.ID), err)
	}
	if err := p.update(r, func(r *podRecord) { r.NetworkAttached, r.IPs = false, nil }); err != nil {
		return errdefs.System(err)
	}
	return nil
}

// killPodContainer stops a container at once; one already stopped or
// removed through the Docker API is no error.
func (d *Daemon) killPodContainer(ctx context.Context, id string) error {
	now := 0
	err := d.ContainerStop(ctx, id, "SIGKILL", &now)
	var unchanged notModified
	if err == nil || errdefs.Is(err, errdefs.NotFound) || errdefs.Is(err, errdefs.Conflict) || errors.As(err, &unchanged) {
		return nil
	}
	return fmt.Errorf("failed to stop container %s: %w", stringid.TruncateID(id), err)
}

// eachPodContainer calls f on the containers of sandbox id (not its pause
// container), in parallel, and returns the first error.
func (d *Daemon) eachPodContainer(id string, f func(*ctr.Container) error) error {
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
	)
	for _, c := range d.containers.List() {
		c.Lock()
		belongs := c.Config != nil && c.Config.Labels[backend.PodSandboxIDLabel] == id && c.ID != id
		c.Unlock()
		if !belongs {
			continue
		}
		wg.Add(1)
		go func(c *ctr.Container) {
			defer wg.Done()
			if err := f(c); err != nil {
				mu.Lock()
				if first == nil {
					first = err
				}
				mu.Unlock()
			}
		}(c)
	}
	wg.Wait()
	return first
}

// RemovePodSandbox stops the sandbox if it runs, then removes its
// containers, its pause container and its record. An unknown ID succeeds.
func (d *Daemon) RemovePodSandbox(ctx context.Context, id string) (err error) {
	tr := podTrace()
	defer func() { logPodPhases(tr, "pod remove phases: ", id, err) }()
	return d.withPodSandbox(phases.With(ctx, tr), id, d.removePodSandbox)
}

// removePodSandbox is RemovePodSandbox under r.op.
func (d *Daemon) removePodSandbox(ctx context.Context, r *podRecord) error {
	p := d.pods()
	if err := d.stopPodSandbox(ctx, r); err != nil {
		return err
	}
	rm := func(id string) error {
		err := d.ContainerRm(ctx, id, backend.ContainerRmConfig{ForceRemove: true})
		if err != nil && !errdefs.Is(err, errdefs.NotFound) {
			return fmt.Errorf("failed to remove container %s: %w", stringid.TruncateID(id), err)
		}
		return nil
	}
	if err := d.eachPodContainer(r.ID, func(c *ctr.Container) error {
		d.podState.cpu.forget(c.ID)
		return rm(c.ID)
	}); err != nil {
		return err
	}
	tr := phases.From(ctx)
	tr.Mark("rm-containers")
	if err := rm(r.ID); err != nil {
		return err
	}
	tr.Mark("rm-pause")
	d.podState.cpu.forget(r.ID)
	d.podState.cpu.forget("pod:" + r.ID)
	if err := p.forget(r.ID); err != nil {
		return errdefs.System(err)
	}
	tr.Mark("forget-record")
	return nil
}

// podTrace times a pod call's phases in debug mode (nil otherwise: every
// mark is then free), so that `berthd -D` says where a pod's start or
// stop spent its time beside the CNI plugins' share.
func podTrace() *phases.Trace {
	if logrus.IsLevelEnabled(logrus.DebugLevel) {
		return phases.New()
	}
	return nil
}

// logPodPhases logs a finished trace; a failed call's is not a figure.
func logPodPhases(tr *phases.Trace, prefix, id string, err error) {
	if tr == nil || err != nil {
		return
	}
	logrus.WithField("sandbox", stringid.TruncateID(id)).Debug(prefix + tr.String())
}

// PodSandboxStatus is one sandbox (a full ID or a unique prefix).
func (d *Daemon) PodSandboxStatus(ctx context.Context, id string) (backend.PodSandbox, error) {
	d.waitPodsRestored(ctx)
	r := d.pods().get(id)
	if r == nil {
		return backend.PodSandbox{}, errdefs.NotFoundf("pod sandbox %s not found", id)
	}
	return d.podSandboxView(r), nil
}

// PodSandboxes lists the sandboxes f selects, oldest first.
func (d *Daemon) PodSandboxes(ctx context.Context, f backend.PodSandboxFilter) []backend.PodSandbox {
	d.waitPodsRestored(ctx)
	var out []backend.PodSandbox
	for _, r := range d.pods().list() {
		if f.ID != "" && !strings.HasPrefix(r.ID, f.ID) {
			continue
		}
		if !labelsMatch(r.Config.Labels, f.Labels) {
			continue
		}
		v := d.podSandboxView(r)
		if f.Ready != nil && v.Ready != *f.Ready {
			continue
		}
		out = append(out, v)
	}
	return out
}

// podSandboxView is r as the engine reports it: ready while its pause
// process runs and it was not stopped.
func (d *Daemon) podSandboxView(r *podRecord) backend.PodSandbox {
	p := d.pods()
	p.mu.Lock()
	v := backend.PodSandbox{ID: r.ID, Config: r.Config, Created: r.Created, IPs: append([]string(nil), r.IPs...), Image: r.Image}
	stopped, hostNet, attached := r.Stopped, r.Config.Namespaces.HostNetwork(), r.NetworkAttached
	v.NetnsPath = r.NetnsPath
	p.mu.Unlock()
	pid, err := d.runningPid(r.ID)
	if err == nil {
		v.Pid = pid
	}
	v.Ready = err == nil && !stopped && (hostNet || attached)
	return v
}

// waitPodsRestored holds a CRI call until the containers found on disk
// are restored, so a pod whose pause died while the daemon was down is
// not reported ready from its stale state.
func (d *Daemon) waitPodsRestored(ctx context.Context) {
	select {
	case <-d.restoreDone():
	case <-ctx.Done():
	}
}

// cniPod is what CNI is told about r.
func cniPod(r *podRecord) cni.Pod {
	p := cni.Pod{ID: r.ID, Name: r.Config.Name, Namespace: r.Config.Namespace, UID: r.Config.UID, NetnsPath: r.NetnsPath, CgroupParent: r.Config.CgroupParent, Annotations: r.Config.Annotations}
	for _, m := range r.Config.PortMappings {
		if m.HostPort == 0 {
			continue
		}
		p.PortMappings = append(p.PortMappings, cni.PortMapping{HostPort: m.HostPort, ContainerPort: m.ContainerPort, Protocol: m.Protocol, HostIP: m.HostIP})
	}
	return p
}

// cniPodToDetach is cniPod with the network namespace only while the
// pause process that owns it still runs: once it died its PID may be
// another process's, and a DEL in that namespace would take that
// process's eth0. Without a namespace the plugins release the address and
// host-side state only, which is all that is left.
func (d *Daemon) cniPodToDetach(r *podRecord) cni.Pod {
	p := cniPod(r)
	if pid, err := d.runningPid(r.ID); err != nil || netnsPath(pid) != p.NetnsPath {
		p.NetnsPath = ""
	}
	return p
}

func ipStrings(ips []net.IP) []string {
	out := make([]string, 0, len(ips))
	for _, ip := range ips {
		out = append(out, ip.String())
	}
	return out
}

// labelsMatch says whether have holds every label of want.
func labelsMatch(have, want map[string]string) bool {
	for k, v := range want {
		if got, ok := have[k]; !ok || got != v {
			return false
		}
	}
	return true
}
