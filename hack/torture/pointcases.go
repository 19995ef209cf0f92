package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"

	"github.com/berthd/berth/image/tarexport/archivetest"
)

// pointCases are the named fault points and the operations that reach
// them, in the order of a container's life.
var pointCases = []pointCase{
	{name: "image.load.after-layers", dies: "daemon", op: opLoadNew},
	{name: "image.register.after-record", dies: "daemon", op: opLoadNew},
	{name: "image.rm.after-record", dies: "daemon", prep: prepLoaded, op: opRmiPoint, expect: expectLayersFreed},
	{name: "image.commit.after-layer", dies: "daemon", prep: prepCreated, op: opCommitPoint},
	{name: "container.create.after-layer", dies: "daemon", op: opCreatePoint},
	{name: "container.start.after-shim", dies: "daemon", prep: prepCreated, op: opStartPoint},
	{name: "container.start.after-network", dies: "daemon", prep: prepCreated, op: opStartPoint},
	{name: "container.start.before-state", dies: "daemon", prep: prepCreated, op: opStartPoint},
	{name: "container.exit.after-cleanup", dies: "daemon", prep: prepRunning, op: opStopPoint},
	{name: "container.exit.after-state", dies: "daemon", prep: prepRunning, op: opStopPoint},
	{name: "container.rm.after-layer", dies: "daemon", prep: prepCreated, op: opRmPoint},
	{name: "container.rename.before-save", dies: "daemon", prep: prepCreated, op: opRenamePoint},
	{name: "container.prune.after-one", dies: "daemon", prep: prepTwoCreated, op: opPruneContainers},
	{name: "network.create.after-bridge", dies: "daemon", op: opNetCreatePoint},
	{name: "network.rm.after-bridge", dies: "daemon", prep: prepNetwork, op: opNetRmPoint},
	{name: "network.connect.after-join", dies: "daemon", prep: prepRunningAndNetwork, op: opConnectPoint},
	{name: "network.disconnect.midway", dies: "daemon", prep: prepRunningOnNetwork, op: opDisconnectPoint},
	{name: "volume.create.before-record", dies: "daemon", op: opVolCreatePoint},
	{name: "volume.rm.before-record", dies: "daemon", prep: prepVolume, op: opVolRmPoint},
	{name: "volume.prune.after-one", dies: "daemon", prep: prepVolume, op: opVolPrune},
	{name: "daemon.restore.after-cleanup", dies: "daemon", prep: prepRunning, down: killContainerSide},
	{name: "daemon.restore.before-restart", dies: "daemon", notLive: true, prep: prepRunningAlways},
	{name: "daemon.shutdown.before-stop", dies: "daemon", notLive: true, prepArmed: true, prep: prepRunning, op: opShutdown},
	// The containers' side: the daemon lives on and must notice.
	{name: "shim.create.before-ready", dies: "shim", prep: prepCreated, op: opStartPoint, expect: expectStartFailed},
	{name: "shim.exit.before-delete", dies: "shim", prepArmed: true, prep: prepRunning, op: opStopPoint, expect: expectExited(137)},
	{name: "stage.init.before-rootfs", dies: "stage", prep: prepCreated, op: opStartPoint, expect: expectStartFailed},
	{name: "stage.init.after-rootfs", dies: "stage", prep: prepCreated, op: opStartPoint, expect: expectStartFailed},
	{name: "stage.init.before-exec", dies: "stage", prep: prepCreated, op: opStartPoint, expect: expectExited(137)},
	{name: "stage.exec.before-exec", dies: "stage", prepArmed: true, prep: prepRunning, op: opExecPoint, expect: expectExecKilled},
}

// mkContainer creates (and with start, starts) a sleeping container on
// the default bridge and adds it to the model.
func (w *world) mkContainer(start bool, hc *container.HostConfig) (*obj, int, error) {
	ctx, cancel := ctx30()
	defer cancel()
	name := w.next("pc")
	if hc == nil {
		hc = &container.HostConfig{}
	}
	r, err := w.d.cli.ContainerCreate(ctx, client.ContainerCreateOptions{Name: name,
		Config: &container.Config{Image: baseImage, Cmd: []string{"sleep", "1000"}, StopTimeout: one()}, HostConfig: hc})
	if err != nil {
		return nil, 0, err
	}
	nm := string(hc.NetworkMode)
	if nm == "" {
		nm = "bridge"
	}
	o := w.addContainer(r.ID, name, nm)
	if !start {
		return o, 0, nil
	}
	if _, err := w.d.cli.ContainerStart(ctx, r.ID, client.ContainerStartOptions{}); err != nil {
		return o, 0, err
	}
	o.running = true
	in, err := w.d.cli.ContainerInspect(ctx, r.ID, client.ContainerInspectOptions{})
	if err != nil {
		return o, 0, err
	}
	return o, in.Container.State.Pid, nil
}

func prepCreated(w *world, p *pointRun) (err error) {
	p.c, _, err = w.mkContainer(false, nil)
	return err
}

func prepTwoCreated(w *world, p *pointRun) (err error) {
	if p.c, _, err = w.mkContainer(false, nil); err != nil {
		return err
	}
	p.c2, _, err = w.mkContainer(false, nil)
	return err
}

func prepRunning(w *world, p *pointRun) (err error) {
	p.c, p.pid, err = w.mkContainer(true, nil)
	return err
}

func prepRunningAlways(w *world, p *pointRun) (err error) {
	p.c, p.pid, err = w.mkContainer(true, &container.HostConfig{RestartPolicy: container.RestartPolicy{Name: container.RestartPolicyAlways}})
	if p.c != nil {
		p.c.restart = string(container.RestartPolicyAlways)
	}
	return err
}

func prepNetwork(w *world, p *pointRun) error {
	ctx, cancel := ctx30()
	defer cancel()
	name := w.next("pnet")
	r, err := w.d.cli.NetworkCreate(ctx, name, client.NetworkCreateOptions{Driver: "bridge"})
	if err != nil {
		return err
	}
	p.n = &obj{id: r.ID, name: name, exists: true}
	w.mu.Lock()
	w.nets[name] = p.n
	w.mu.Unlock()
	return nil
}

func prepRunningAndNetwork(w *world, p *pointRun) error {
	if err := prepNetwork(w, p); err != nil {
		return err
	}
	return prepRunning(w, p)
}

func prepRunningOnNetwork(w *world, p *pointRun) (err error) {
	if err := prepNetwork(w, p); err != nil {
		return err
	}
	p.c, p.pid, err = w.mkContainer(true, &container.HostConfig{NetworkMode: container.NetworkMode(p.n.name)})
	return err
}

func prepVolume(w *world, p *pointRun) error {
	ctx, cancel := ctx30()
	defer cancel()
	name := w.next("pvol")
	if _, err := w.d.cli.VolumeCreate(ctx, client.VolumeCreateOptions{Name: name}); err != nil {
		return err
	}
	p.v = &obj{name: name, exists: true}
	w.mu.Lock()
	w.vols[name] = p.v
	w.mu.Unlock()
	return nil
}

// killContainerSide SIGKILLs the container's init and its shim while no
// daemon runs: the next daemon's restore finds the container gone.
func killContainerSide(w *world, p *pointRun) {
	killWithShim(p.pid)
	for i := 0; i < 100 && pidExists(p.pid); i++ {
		time.Sleep(20 * time.Millisecond)
	}
}

func pidExists(pid int) bool {
	_, err := os.Stat(fmt.Sprintf("/proc/%d", pid))
	return err == nil
}

// prepLoaded loads an image with a layer of its own, counting the
// store's layers first.
func prepLoaded(w *world, p *pointRun) error {
	p.layers = layerCount(w)
	ctx, cancel := ctx30()
	defer cancel()
	return opLoadNew(ctx, w, p)
}

// layerCount is how many layers the daemon's layer store holds.
func layerCount(w *world) int {
	m, _ := filepath.Glob(filepath.Join(w.d.dataRoot, "*", "layers", "*", "layer.json"))
	return len(m)
}

func opRmiPoint(ctx context.Context, w *world, p *pointRun) error {
	_, err := w.d.cli.ImageRemove(ctx, p.img.name, client.ImageRemoveOptions{})
	if err == nil {
		p.img.exists = false
	}
	return err
}

// expectLayersFreed: the removal whose record went is finished by the
// restart, down to the layer only that image held.
func expectLayersFreed(ctx context.Context, w *world, p *pointRun, opErr error) error {
	if p.layers == 0 {
		return fmt.Errorf("no layer found under %s: the count proves nothing", w.d.dataRoot)
	}
	if n := layerCount(w); n != p.layers {
		return fmt.Errorf("%d layers in the store, %d before the image was loaded", n, p.layers)
	}
	if _, err := w.d.cli.ImageInspect(ctx, p.img.name); err == nil {
		return fmt.Errorf("image %s whose record was removed is back", p.img.name)
	}
	return nil
}

// opLoadNew loads an image of busybox and a layer of its own, so that
// the load writes a layer and a record the store did not have.
func opLoadNew(ctx context.Context, w *world, p *pointRun) error {
	dir, err := os.MkdirTemp(w.d.root, "load-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	if _, err := writeBusybox(dir, baseImage); err != nil {
		return err
	}
	bb, err := layerOf(filepath.Join(dir, "busybox-layer.tar"))
	if err != nil {
		return err
	}
	extra, err := archivetest.RandomLayer(filepath.Join(dir, "extra.tar"), "point", uint64(time.Now().UnixNano()), 3, 4096)
	if err != nil {
		return err
	}
	ref := w.next("load") + ":latest"
	archive := filepath.Join(dir, "img.tar")
	if _, err := archivetest.WriteArchive(archive, ref, []archivetest.Layer{bb, extra}, "torture-points"); err != nil {
		return err
	}
	o := w.addImage(ref)
	w.release(o)
	p.img = o
	f, err := os.Open(archive)
	if err != nil {
		return err
	}
	defer f.Close()
	r, err := w.d.cli.ImageLoad(ctx, f, client.ImageLoadWithQuiet(true))
	if err != nil {
		return err
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	if err == nil && strings.Contains(string(b), `"error"`) {
		err = fmt.Errorf("load: %s", b)
	}
	if err == nil {
		o.exists = true
	}
	return err
}

// layerOf describes a layer tar for archivetest.
func layerOf(path string) (archivetest.Layer, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return archivetest.Layer{}, err
	}
	h := sha256.Sum256(b)
	return archivetest.Layer{Path: path, DiffID: "sha256:" + hex.EncodeToString(h[:]), Size: int64(len(b))}, nil
}

func opCommitPoint(ctx context.Context, w *world, p *pointRun) error {
	ref := w.next("img") + ":latest"
	o := w.addImage(ref)
	w.release(o)
	p.img = o
	_, err := w.d.cli.ContainerCommit(ctx, p.c.id, client.ContainerCommitOptions{Reference: ref})
	if err == nil {
		o.exists = true
	}
	return err
}

func opCreatePoint(ctx context.Context, w *world, p *pointRun) error {
	_, _, err := w.mkContainer(false, nil)
	return err
}

func opStartPoint(ctx context.Context, w *world, p *pointRun) error {
	_, err := w.d.cli.ContainerStart(ctx, p.c.id, client.ContainerStartOptions{})
	if err == nil {
		p.c.running = true
	}
	return err
}

func opStopPoint(ctx context.Context, w *world, p *pointRun) error {
	_, err := w.d.cli.ContainerStop(ctx, p.c.id, client.ContainerStopOptions{Timeout: one()})
	if err == nil {
		p.c.running = false
	}
	return err
}

func opRmPoint(ctx context.Context, w *world, p *pointRun) error {
	_, err := w.d.cli.ContainerRemove(ctx, p.c.id, client.ContainerRemoveOptions{})
	if err == nil {
		p.c.exists = false
	}
	return err
}

func opRenamePoint(ctx context.Context, w *world, p *pointRun) error {
	name := w.next("n")
	_, err := w.d.cli.ContainerRename(ctx, p.c.id, client.ContainerRenameOptions{NewName: name})
	if err == nil {
		p.c.name = name
	}
	return err
}

func opPruneContainers(ctx context.Context, w *world, p *pointRun) error {
	r, err := w.d.cli.ContainerPrune(ctx, client.ContainerPruneOptions{})
	for _, id := range r.Report.ContainersDeleted {
		if o := w.conts[id]; o != nil {
			o.exists = false
		}
	}
	return err
}

func opNetCreatePoint(ctx context.Context, w *world, p *pointRun) error {
	name := w.next("net")
	p.n = &obj{name: name}
	w.mu.Lock()
	w.nets[name] = p.n
	w.mu.Unlock()
	r, err := w.d.cli.NetworkCreate(ctx, name, client.NetworkCreateOptions{Driver: "bridge"})
	if err == nil {
		p.n.id, p.n.exists = r.ID, true
	}
	return err
}

func opNetRmPoint(ctx context.Context, w *world, p *pointRun) error {
	_, err := w.d.cli.NetworkRemove(ctx, p.n.name, client.NetworkRemoveOptions{})
	if err == nil {
		p.n.exists = false
	}
	return err
}

func opConnectPoint(ctx context.Context, w *world, p *pointRun) error {
	_, err := w.d.cli.NetworkConnect(ctx, p.n.name, client.NetworkConnectOptions{Container: p.c.id, EndpointConfig: &network.EndpointSettings{}})
	if err == nil {
		p.c.nets[p.n.name] = true
	}
	return err
}

func opDisconnectPoint(ctx context.Context, w *world, p *pointRun) error {
	_, err := w.d.cli.NetworkDisconnect(ctx, p.n.name, client.NetworkDisconnectOptions{Container: p.c.id})
	if err == nil {
		delete(p.c.nets, p.n.name)
	}
	return err
}

func opVolCreatePoint(ctx context.Context, w *world, p *pointRun) error {
	name := w.next("vol")
	p.v = &obj{name: name}
	w.mu.Lock()
	w.vols[name] = p.v
	w.mu.Unlock()
	_, err := w.d.cli.VolumeCreate(ctx, client.VolumeCreateOptions{Name: name})
	if err == nil {
		p.v.exists = true
	}
	return err
}

func opVolRmPoint(ctx context.Context, w *world, p *pointRun) error {
	_, err := w.d.cli.VolumeRemove(ctx, p.v.name, client.VolumeRemoveOptions{})
	if err == nil {
		p.v.exists = false
	}
	return err
}

func opVolPrune(ctx context.Context, w *world, p *pointRun) error {
	r, err := w.d.cli.VolumePrune(ctx, client.VolumePruneOptions{Filters: client.Filters{}.Add("all", "true")})
	for _, name := range r.Report.VolumesDeleted {
		if o := w.vols[name]; o != nil {
			o.exists = false
		}
	}
	return err
}

// opShutdown is the daemon's own shutdown (SIGTERM) without live-restore:
// it stops the containers, and dies at the first.
func opShutdown(ctx context.Context, w *world, p *pointRun) error {
	return syscallTerm(w.d.pid())
}

func opExecPoint(ctx context.Context, w *world, p *pointRun) error {
	return w.execWait(ctx, p.c.id, "true")
}

// expectStartFailed: a start whose shim or stage died fails, and leaves
// the container stopped.
func expectStartFailed(ctx context.Context, w *world, p *pointRun, opErr error) error {
	if opErr == nil {
		return fmt.Errorf("the start succeeded")
	}
	c, err := waitExited(ctx, w, p.c.id)
	if err != nil {
		return err
	}
	if c.State.Running {
		return fmt.Errorf("container running after a failed start")
	}
	return nil
}

// expectExited: the container is recorded as exited with code.
func expectExited(code int) func(ctx context.Context, w *world, p *pointRun, opErr error) error {
	return func(ctx context.Context, w *world, p *pointRun, opErr error) error {
		c, err := waitExited(ctx, w, p.c.id)
		if err != nil {
			return err
		}
		if c.State.ExitCode != code {
			return fmt.Errorf("exit code %d, want %d (op: %v)", c.State.ExitCode, code, opErr)
		}
		return nil
	}
}

// expectExecKilled: the exec whose stage died reports 137 (or fails to
// start), and its container runs on.
func expectExecKilled(ctx context.Context, w *world, p *pointRun, opErr error) error {
	if opErr == nil {
		return fmt.Errorf("the exec succeeded")
	}
	if !strings.Contains(opErr.Error(), "137") && !strings.Contains(opErr.Error(), "exec") {
		return fmt.Errorf("exec failed unexpectedly: %v", opErr)
	}
	r, err := w.d.cli.ContainerInspect(ctx, p.c.id, client.ContainerInspectOptions{})
	if err != nil {
		return err
	}
	if !r.Container.State.Running || r.Container.State.Pid != p.pid {
		return fmt.Errorf("the container did not run on: running %v pid %d→%d", r.Container.State.Running, p.pid, r.Container.State.Pid)
	}
	return nil
}
