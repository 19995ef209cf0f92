package cri

import (
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/berthd/berth/pkg/cgroups"
)

// TestContainerHugepageLimits: hugepage limits reach the container's
// hugetlb cgroup at create and through UpdateContainerResources where
// the host has the controller; where it has not (a v1 host without a
// hugetlb hierarchy, as kubelet still sends a limit per page size) the
// container runs without them and the daemon says why, as containerd.
func TestContainerHugepageLimits(t *testing.T) {
	rt, _ := clients(t)
	pod := newTestPod(t)
	cfg := containerConfig("huge", "sleep", "1000")
	cfg.Linux = &runtimeapi.LinuxContainerConfig{Resources: &runtimeapi.LinuxContainerResources{
		HugepageLimits: []*runtimeapi.HugepageLimit{{PageSize: "2MB", Limit: 4 << 20}},
	}}
	id := pod.run(t, rt, cfg)
	waitState(t, rt, id, runtimeapi.ContainerState_CONTAINER_RUNNING)
	update := func(limit uint64) {
		t.Helper()
		_, err := rt.UpdateContainerResources(ctxT(t), &runtimeapi.UpdateContainerResourcesRequest{ContainerId: id, Linux: &runtimeapi.LinuxContainerResources{
			HugepageLimits: []*runtimeapi.HugepageLimit{{PageSize: "2MB", Limit: limit}},
		}})
		if err != nil {
			t.Fatalf("UpdateContainerResources: %v", err)
		}
	}
	if !cgroups.HugetlbAvailable() {
		update(2 << 20)
		if !strings.Contains(d.Log(), "hugetlb cgroup controller is absent") {
			t.Fatal("no warning that the hugepage limits are not applied")
		}
		if got := strings.TrimSpace(execSync(t, rt, id, "echo", "up")); got != "up" {
			t.Fatalf("container without its hugepage limits: %q", got)
		}
		return
	}
	read := func() string {
		return cgroupValue(t, rt, id, "hugetlb.2MB.max", "hugetlb/hugetlb.2MB.limit_in_bytes")
	}
	if got := read(); got != "4194304" {
		t.Fatalf("hugetlb limit %q, want 4194304", got)
	}
	update(2 << 20)
	if got := read(); got != "2097152" {
		t.Fatalf("updated hugetlb limit %q, want 2097152", got)
	}
}

// TestContainerUnified: cgroup v2 key/values are written on a v2 host;
// on a v1 host there is nowhere to write them, and the create is
// refused with runc's error, nothing made.
func TestContainerUnified(t *testing.T) {
	rt, _ := clients(t)
	pod := newTestPod(t)
	cfg := containerConfig("unified", "sleep", "1000")
	cfg.Linux = &runtimeapi.LinuxContainerConfig{Resources: &runtimeapi.LinuxContainerResources{
		Unified: map[string]string{"memory.high": "33554432"},
	}}
	if !cgroups.IsV2() {
		before := dockerPsAll(t, d)
		_, err := rt.CreateContainer(ctxT(t), &runtimeapi.CreateContainerRequest{PodSandboxId: pod.ID, Config: cfg, SandboxConfig: pod.Config})
		wantCode(t, "unified on v1", err, codes.InvalidArgument)
		if !strings.Contains(err.Error(), "cannot use unified on cgroup v1") {
			t.Fatalf("unified on v1: %v", err)
		}
		if after := dockerPsAll(t, d); after != before {
			t.Fatalf("a refused create left a container:\n%s", after)
		}
		return
	}
	id := pod.run(t, rt, cfg)
	if got := cgroupValue(t, rt, id, "memory.high", "memory.high"); got != "33554432" {
		t.Fatalf("memory.high %q", got)
	}
	_, err := rt.UpdateContainerResources(ctxT(t), &runtimeapi.UpdateContainerResourcesRequest{ContainerId: id, Linux: &runtimeapi.LinuxContainerResources{
		Unified: map[string]string{"memory.high": "16777216"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	if got := cgroupValue(t, rt, id, "memory.high", "memory.high"); got != "16777216" {
		t.Fatalf("updated memory.high %q", got)
	}
	cfg.Metadata.Name = "escape"
	cfg.Linux.Resources.Unified = map[string]string{"../cgroup.procs": "1"}
	_, err = rt.CreateContainer(ctxT(t), &runtimeapi.CreateContainerRequest{PodSandboxId: pod.ID, Config: cfg, SandboxConfig: pod.Config})
	wantCode(t, "a unified key with a path", err, codes.InvalidArgument)
}

// runtimeHandlerNames is what Status lists.
func runtimeHandlerNames(t *testing.T, rt runtimeapi.RuntimeServiceClient) []string {
	t.Helper()
	st, err := rt.Status(ctxT(t), &runtimeapi.StatusRequest{})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, h := range st.GetRuntimeHandlers() {
		names = append(names, h.GetName())
	}
	return names
}

// TestPodRuntimeHandlers: Status lists the default handler, berth's and
// daemon.json's runtimes (taken on a reload, as dockerd takes them); a
// pod runs on the runtime its handler names, and an unknown handler is
// refused with containerd's message and leaves nothing behind.
func TestPodRuntimeHandlers(t *testing.T) {
	rt, _ := clients(t)
	if got := strings.Join(runtimeHandlerNames(t, rt), ","); got != ",berth" {
		t.Fatalf("handlers %q, want the default and berth", got)
	}
	before, podsBefore := dockerPsAll(t, d), listIDs(t, rt, nil)
	cfg := podConfig(t, true)
	_, err := rt.RunPodSandbox(ctxT(t), &runtimeapi.RunPodSandboxRequest{Config: cfg, RuntimeHandler: "nosuch"})
	if err == nil || !strings.Contains(err.Error(), `no runtime for "nosuch" is configured`) {
		t.Fatalf("unknown handler: %v", err)
	}
	if after := dockerPsAll(t, d); after != before {
		t.Fatalf("an unknown handler left containers:\nbefore:\n%s\nafter:\n%s", before, after)
	}
	if pods := listIDs(t, rt, nil); len(pods) != len(podsBefore) {
		t.Fatalf("an unknown handler left a pod: %v, before %v", pods, podsBefore)
	}

	id := runPodWith(t, rt, cfg, "berth")
	if got := strings.TrimSpace(d.DockerT(t, "inspect", "--format", "{{.HostConfig.Runtime}}", id)); got != "berth" {
		t.Fatalf("sandbox runtime %q", got)
	}
	if got := podStatus(t, rt, id).GetStatus().GetRuntimeHandler(); got != "berth" {
		t.Fatalf("status runtime handler %q", got)
	}

	// A runtime added to daemon.json is a handler after a reload (only
	// listed: no pod runs on it here).
	orig, err := os.ReadFile(d.ConfigFile)
	if err != nil {
		t.Fatal(err)
	}
	reload := func(cfg []byte) {
		t.Helper()
		if err := os.WriteFile(d.ConfigFile, cfg, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := d.Signal(syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
	}
	withRuntime := strings.Replace(strings.TrimSpace(string(orig)), "{", `{"runtimes": {"test-rt": {"path": "/usr/sbin/runc"}},`, 1)
	withRuntime = strings.Replace(withRuntime, ",}", "}", 1)
	reload([]byte(withRuntime))
	// Back as it was before the next test, which may list the handlers.
	t.Cleanup(func() {
		reload(orig)
		waitHandlers(t, rt, ",berth")
	})
	waitHandlers(t, rt, ",berth,test-rt")
}

// waitHandlers waits for Status to list the handlers want (joined with
// commas): a reload is taken after the signal's delivery.
func waitHandlers(t *testing.T, rt runtimeapi.RuntimeServiceClient, want string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for strings.Join(runtimeHandlerNames(t, rt), ",") != want {
		if time.Now().After(deadline) {
			t.Fatalf("handlers %q after the reload, want %q", runtimeHandlerNames(t, rt), want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// runPodWith is runPod with a runtime handler.
func runPodWith(t *testing.T, rt runtimeapi.RuntimeServiceClient, cfg *runtimeapi.PodSandboxConfig, handler string) string {
	t.Helper()
	resp, err := rt.RunPodSandbox(ctxT(t), &runtimeapi.RunPodSandboxRequest{Config: cfg, RuntimeHandler: handler})
	if err != nil {
		t.Fatalf("RunPodSandbox with handler %q: %v", handler, err)
	}
	id := resp.GetPodSandboxId()
	t.Cleanup(func() {
		rt.StopPodSandbox(ctxT(t), &runtimeapi.StopPodSandboxRequest{PodSandboxId: id})
		if _, err := rt.RemovePodSandbox(ctxT(t), &runtimeapi.RemovePodSandboxRequest{PodSandboxId: id}); err != nil {
			t.Errorf("cleanup: RemovePodSandbox: %v", err)
		}
	})
	return id
}

// TestPodLevelExtraResources: a pod's own hugepage limits and unified
// keys go to its sandbox as a container's do: on a v1 host the unified
// keys refuse the pod before anything is made, and hugepage limits
// without a hugetlb controller leave it running.
func TestPodLevelExtraResources(t *testing.T) {
	rt, _ := clients(t)
	cfg := podConfig(t, true)
	cfg.Linux.Resources = &runtimeapi.LinuxContainerResources{
		HugepageLimits: []*runtimeapi.HugepageLimit{{PageSize: "2MB", Limit: 2 << 20}},
		Unified:        map[string]string{"memory.high": "67108864"},
	}
	if !cgroups.IsV2() {
		before, pods := dockerPsAll(t, d), listIDs(t, rt, nil)
		_, err := rt.RunPodSandbox(ctxT(t), &runtimeapi.RunPodSandboxRequest{Config: cfg})
		wantCode(t, "a pod's unified keys on v1", err, codes.InvalidArgument)
		if !strings.Contains(err.Error(), "cannot use unified on cgroup v1") {
			t.Fatalf("a pod's unified keys on v1: %v", err)
		}
		if after := dockerPsAll(t, d); after != before || len(listIDs(t, rt, nil)) != len(pods) {
			t.Fatalf("a refused pod left containers:\n%s", after)
		}
		cfg.Linux.Resources.Unified = nil
	}
	id := runPod(t, rt, cfg)
	if st := podStatus(t, rt, id).GetStatus(); st.GetState() != runtimeapi.PodSandboxState_SANDBOX_READY {
		t.Fatalf("pod with its own hugepage limits: %v", st)
	}
	if !cgroups.HugetlbAvailable() {
		return
	}
	v1, v2 := "hugetlb/hugetlb.2MB.limit_in_bytes", "hugetlb.2MB.max"
	// The test's pause image is the test image: it has a shell.
	out, _, err := d.Docker("exec", id, "sh", "-c", "cat /sys/fs/cgroup/"+v2+" 2>/dev/null || cat /sys/fs/cgroup/"+v1)
	if err != nil || strings.TrimSpace(out) != "2097152" {
		t.Fatalf("the sandbox's hugetlb limit %q %v", out, err)
	}
}
