package main

// Issue 21's speed figures, at the CRI (gRPC, k8s.io/cri-api's client),
// berthd beside containerd in the same run: a pod on the CNI bridge with
// one busybox `sleep` container, from RunPodSandbox to the container
// running, and StopPodSandbox + RemovePodSandbox; and memory per pod with
// -cri-pods pods running (the daemon's RSS growth per pod, plus the RSS
// of the shims that serve the pod's pause and container processes).
// The images are pulled before anything is timed.

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

const (
	criPauseImage   = "registry.k8s.io/pause:3.9"
	criBusyboxImage = "registry.k8s.io/e2e-test-images/busybox:1.29-2"
)

type criClient struct {
	conn *grpc.ClientConn
	rt   runtimeapi.RuntimeServiceClient
	img  runtimeapi.ImageServiceClient
}

func dialCRI(sock string) (*criClient, error) {
	conn, err := grpc.NewClient("unix://"+sock, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return nil, err
	}
	return &criClient{conn: conn, rt: runtimeapi.NewRuntimeServiceClient(conn), img: runtimeapi.NewImageServiceClient(conn)}, nil
}

func (c *criClient) close() { c.conn.Close() }

func criCtx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), 2*time.Minute)
}

func (c *criClient) removePod(id string) {
	ctx, cancel := criCtx()
	defer cancel()
	c.rt.StopPodSandbox(ctx, &runtimeapi.StopPodSandboxRequest{PodSandboxId: id})
	c.rt.RemovePodSandbox(ctx, &runtimeapi.RemovePodSandboxRequest{PodSandboxId: id})
}

// podRun is the client-side time of each call of one pod's start.
type podRun struct {
	run, create, start, running time.Duration // running: StartContainer's return to RUNNING seen
	stop, remove                time.Duration
}

// startPod runs pod i with a busybox sleep container and waits until the
// container is reported running.
func (s *criSide) startPod(i int) (string, podRun, error) {
	var pr podRun
	c := s.client
	ctx, cancel := criCtx()
	defer cancel()
	logDir := filepath.Join(s.logDir, strconv.Itoa(i))
	if err := os.MkdirAll(logDir, 0o755); err != nil {
		return "", pr, err
	}
	podCfg := &runtimeapi.PodSandboxConfig{
		Metadata: &runtimeapi.PodSandboxMetadata{Name: fmt.Sprintf("bench-%d", i), Uid: fmt.Sprintf("bench-uid-%d-%d", os.Getpid(), i), Namespace: "bench"},
		Hostname: fmt.Sprintf("bench-%d", i), LogDirectory: logDir,
		Linux: &runtimeapi.LinuxPodSandboxConfig{},
	}
	t := time.Now()
	mark := func(d *time.Duration) { now := time.Now(); *d = now.Sub(t); t = now }
	pod, err := c.rt.RunPodSandbox(ctx, &runtimeapi.RunPodSandboxRequest{Config: podCfg})
	if err != nil {
		return "", pr, fmt.Errorf("RunPodSandbox: %v", err)
	}
	mark(&pr.run)
	s.pods = append(s.pods, pod.PodSandboxId)
	ctr, err := c.rt.CreateContainer(ctx, &runtimeapi.CreateContainerRequest{
		PodSandboxId: pod.PodSandboxId, SandboxConfig: podCfg,
		Config: &runtimeapi.ContainerConfig{
			Metadata: &runtimeapi.ContainerMetadata{Name: "sleep"},
			Image:    &runtimeapi.ImageSpec{Image: criBusyboxImage},
			Command:  []string{"sleep", "3600"},
			LogPath:  "sleep.log",
			Linux:    &runtimeapi.LinuxContainerConfig{},
		},
	})
	if err != nil {
		return pod.PodSandboxId, pr, fmt.Errorf("CreateContainer: %v", err)
	}
	mark(&pr.create)
	if _, err := c.rt.StartContainer(ctx, &runtimeapi.StartContainerRequest{ContainerId: ctr.ContainerId}); err != nil {
		return pod.PodSandboxId, pr, fmt.Errorf("StartContainer: %v", err)
	}
	mark(&pr.start)
	for {
		st, err := c.rt.ContainerStatus(ctx, &runtimeapi.ContainerStatusRequest{ContainerId: ctr.ContainerId})
		if err != nil {
			return pod.PodSandboxId, pr, fmt.Errorf("ContainerStatus: %v", err)
		}
		if st.Status.State == runtimeapi.ContainerState_CONTAINER_RUNNING {
			break
		}
		if st.Status.State == runtimeapi.ContainerState_CONTAINER_EXITED {
			return pod.PodSandboxId, pr, fmt.Errorf("container exited: %s", st.Status.Message)
		}
		time.Sleep(time.Millisecond)
	}
	mark(&pr.running)
	return pod.PodSandboxId, pr, nil
}

// stopPod stops and removes a pod, timing each call.
func (s *criSide) stopPod(id string, pr *podRun) error {
	ctx, cancel := criCtx()
	defer cancel()
	t := time.Now()
	if _, err := s.client.rt.StopPodSandbox(ctx, &runtimeapi.StopPodSandboxRequest{PodSandboxId: id}); err != nil {
		return fmt.Errorf("StopPodSandbox: %v", err)
	}
	pr.stop = time.Since(t)
	t = time.Now()
	if _, err := s.client.rt.RemovePodSandbox(ctx, &runtimeapi.RemovePodSandboxRequest{PodSandboxId: id}); err != nil {
		return fmt.Errorf("RemovePodSandbox: %v", err)
	}
	pr.remove = time.Since(t)
	for i, p := range s.pods {
		if p == id {
			s.pods = append(s.pods[:i], s.pods[i+1:]...)
			break
		}
	}
	return nil
}

// criFigures are one side's medians (ms) and memory per pod (KiB).
type criFigures struct {
	startAll, stopAll                 float64
	run, create, start, running       float64
	stop, remove                      float64
	daemonPerPod, shimPerPod, shimPss float64
	shims                             int
}

func (s *criSide) pull() error {
	ctx, cancel := criCtx()
	defer cancel()
	for _, ref := range []string{criPauseImage, criBusyboxImage} {
		if _, err := s.client.img.PullImage(ctx, &runtimeapi.PullImageRequest{Image: &runtimeapi.ImageSpec{Image: ref}}); err != nil {
			return fmt.Errorf("PullImage %s: %v", ref, err)
		}
	}
	return nil
}

// measureCRI times runs pods one after another (a first, uncounted pod
// warms caches), then holds pods pods running for the memory figures.
func (s *criSide) measure(runs, pods int) (criFigures, error) {
	var f criFigures
	var err error
	if s.client, err = dialCRI(s.endpoint); err != nil {
		return f, err
	}
	if err := s.pull(); err != nil {
		return f, err
	}
	var all []podRun
	for i := 0; i <= runs; i++ {
		id, pr, err := s.startPod(i)
		if err != nil {
			return f, err
		}
		if err := s.stopPod(id, &pr); err != nil {
			return f, err
		}
		if i > 0 {
			all = append(all, pr)
		}
		time.Sleep(50 * time.Millisecond)
	}
	ms := func(get func(podRun) time.Duration) float64 {
		var v []float64
		for _, pr := range all {
			v = append(v, float64(get(pr).Microseconds())/1000)
		}
		return medianF(v)
	}
	f.startAll = ms(func(p podRun) time.Duration { return p.run + p.create + p.start + p.running })
	f.stopAll = ms(func(p podRun) time.Duration { return p.stop + p.remove })
	f.run, f.create = ms(func(p podRun) time.Duration { return p.run }), ms(func(p podRun) time.Duration { return p.create })
	f.start, f.running = ms(func(p podRun) time.Duration { return p.start }), ms(func(p podRun) time.Duration { return p.running })
	f.stop, f.remove = ms(func(p podRun) time.Duration { return p.stop }), ms(func(p podRun) time.Duration { return p.remove })
	if pods > 0 {
		if err := s.measureMemory(pods, &f); err != nil {
			return f, err
		}
	}
	return f, nil
}

// settle lets the processes reach their resting memory: a berth shim
// re-executes itself a second after its last request and gives back the
// code it ran a second after that (shim.go); a Go daemon's heap settles
// after a GC cycle.
const settle = 3 * time.Second

func (s *criSide) measureMemory(pods int, f *criFigures) error {
	time.Sleep(settle)
	before := statusField(fmt.Sprintf("/proc/%d/status", s.daemonPid), "VmRSS:")
	var ids []string
	for i := 0; i < pods; i++ {
		id, _, err := s.startPod(1000 + i)
		if err != nil {
			return err
		}
		ids = append(ids, id)
	}
	time.Sleep(settle)
	after := statusField(fmt.Sprintf("/proc/%d/status", s.daemonPid), "VmRSS:")
	shims, err := s.shimPids(ids)
	if err != nil {
		return err
	}
	var rss, pss int
	for _, p := range shims {
		rss += statusField(fmt.Sprintf("/proc/%d/status", p), "VmRSS:")
		pss += statusField(fmt.Sprintf("/proc/%d/smaps_rollup", p), "Pss:")
	}
	f.daemonPerPod = float64(after-before) / float64(pods)
	f.shimPerPod, f.shimPss = float64(rss)/float64(pods), float64(pss)/float64(pods)
	f.shims = len(shims)
	for _, id := range ids {
		var pr podRun
		if err := s.stopPod(id, &pr); err != nil {
			return err
		}
	}
	return nil
}

// shimPids finds the processes that watch the pods' pause and container
// processes: their parents (berthd's shims, containerd's
// containerd-shim-runc-v2), each counted once. The PIDs come from the
// verbose status's "info" JSON, which both runtimes fill.
func (s *criSide) shimPids(pods []string) ([]int, error) {
	ctx, cancel := criCtx()
	defer cancel()
	var pids []int
	for _, id := range pods {
		st, err := s.client.rt.PodSandboxStatus(ctx, &runtimeapi.PodSandboxStatusRequest{PodSandboxId: id, Verbose: true})
		if err != nil {
			return nil, err
		}
		p, err := infoPid(st.Info)
		if err != nil {
			return nil, fmt.Errorf("pod %s: %v", id, err)
		}
		pids = append(pids, p)
		ctrs, err := s.client.rt.ListContainers(ctx, &runtimeapi.ListContainersRequest{Filter: &runtimeapi.ContainerFilter{PodSandboxId: id}})
		if err != nil {
			return nil, err
		}
		for _, c := range ctrs.Containers {
			cs, err := s.client.rt.ContainerStatus(ctx, &runtimeapi.ContainerStatusRequest{ContainerId: c.Id, Verbose: true})
			if err != nil {
				return nil, err
			}
			p, err := infoPid(cs.Info)
			if err != nil {
				return nil, fmt.Errorf("container %s: %v", c.Id, err)
			}
			pids = append(pids, p)
		}
	}
	seen := map[int]bool{}
	var shims []int
	for _, p := range pids {
		pp, err := parentPid(strconv.Itoa(p))
		if err != nil {
			return nil, err
		}
		if pp <= 1 || pp == s.daemonPid {
			return nil, fmt.Errorf("process %d's parent is %d, not a shim", p, pp)
		}
		if !seen[pp] {
			seen[pp] = true
			shims = append(shims, pp)
		}
	}
	sort.Ints(shims)
	return shims, nil
}

func infoPid(info map[string]string) (int, error) {
	var v struct {
		Pid int `json:"pid"`
	}
	if err := json.Unmarshal([]byte(info["info"]), &v); err != nil || v.Pid <= 0 {
		return 0, fmt.Errorf("no pid in the verbose info (%v)", err)
	}
	return v.Pid, nil
}
