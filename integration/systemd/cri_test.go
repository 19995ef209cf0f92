package systemd

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/berthd/berth/integration/internal/harness"
)

// pauseImage is built from the test image: no registry is reached.
const pauseImage = "berth.test/pause:1"

// With the systemd driver kubelet names pod cgroups as slices
// (/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod<uid>.slice);
// the pod's containers become docker-<id>.scope units in the last one, as
// under cri-dockerd and dockerd.
func TestCRIPodInSlice(t *testing.T) {
	e := start(t, systemdConfig, "--pod-sandbox-image", pauseImage)
	d := e.d
	d.BuildPauseImage(t, pauseImage)
	conn, err := grpc.NewClient("unix://"+filepath.Join(d.ExecRoot, "cri.sock"), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	rt := runtimeapi.NewRuntimeServiceClient(conn)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	rc, err := rt.RuntimeConfig(ctx, &runtimeapi.RuntimeConfigRequest{})
	if err != nil || rc.GetLinux().GetCgroupDriver() != runtimeapi.CgroupDriver_SYSTEMD {
		t.Fatalf("RuntimeConfig: %v %v", rc, err)
	}

	// kubelet's systemd cgroup manager names the slice by its expanded
	// path (critest: /test.slice).
	slice := "kubepods-besteffort-pod1234_abcd.slice"
	pod := &runtimeapi.PodSandboxConfig{
		Metadata: &runtimeapi.PodSandboxMetadata{Name: "sliced", Namespace: "berth-test", Uid: "1234-abcd", Attempt: 0},
		Linux: &runtimeapi.LinuxPodSandboxConfig{
			CgroupParent:    "/kubepods.slice/kubepods-besteffort.slice/" + slice,
			SecurityContext: &runtimeapi.LinuxSandboxSecurityContext{NamespaceOptions: &runtimeapi.NamespaceOption{Network: runtimeapi.NamespaceMode_NODE}},
		},
		LogDirectory: t.TempDir(),
	}
	ps, err := rt.RunPodSandbox(ctx, &runtimeapi.RunPodSandboxRequest{Config: pod})
	if err != nil {
		t.Fatalf("RunPodSandbox: %v", err)
	}
	podID := ps.GetPodSandboxId()
	removed := false
	t.Cleanup(func() {
		if !removed {
			rt.StopPodSandbox(context.Background(), &runtimeapi.StopPodSandboxRequest{PodSandboxId: podID})
			rt.RemovePodSandbox(context.Background(), &runtimeapi.RemovePodSandboxRequest{PodSandboxId: podID})
		}
	})
	cc, err := rt.CreateContainer(ctx, &runtimeapi.CreateContainerRequest{
		PodSandboxId:  podID,
		SandboxConfig: pod,
		Config: &runtimeapi.ContainerConfig{
			Metadata: &runtimeapi.ContainerMetadata{Name: "app"},
			Image:    &runtimeapi.ImageSpec{Image: harness.BusyboxImage},
			Command:  []string{"sleep", "600"},
			LogPath:  "app/0.log",
			Linux:    &runtimeapi.LinuxContainerConfig{Resources: &runtimeapi.LinuxContainerResources{MemoryLimitInBytes: 64 << 20}},
		},
	})
	if err != nil {
		t.Fatalf("CreateContainer: %v", err)
	}
	id := cc.GetContainerId()
	if _, err := rt.StartContainer(ctx, &runtimeapi.StartContainerRequest{ContainerId: id}); err != nil {
		t.Fatalf("StartContainer: %v", err)
	}
	sliceDir := e.sd.Cgroup + "/kubepods.slice/kubepods-besteffort.slice/" + slice
	hier := "name=systemd"
	if v2() {
		hier = ""
	}
	unit := "docker-" + id + ".scope"
	if got := e.containerCgroup(t, id, hier); got != sliceDir+"/"+unit {
		t.Fatalf("container cgroup %q, want %q", got, sliceDir+"/"+unit)
	}
	for prop, want := range map[string]string{"ActiveState": "active", "Slice": slice} {
		if got := e.unitProperty(t, unit, prop); got != want {
			t.Errorf("%s %s = %q, want %q", unit, prop, got, want)
		}
	}
	if got := limit(t, sliceDir+"/"+unit, "memory", "memory.limit_in_bytes", "memory.max"); got != "67108864" {
		t.Errorf("memory limit %s", got)
	}
	// The sandbox's own process is a scope of the slice too.
	if units, _ := e.sd.Systemctl("list-units", "--no-legend", "--plain", "docker-*.scope"); strings.Count(units, "active running") != 2 {
		t.Errorf("scopes (want the sandbox's and the container's):\n%s", units)
	}
	// The pod's figures come from its slice, where its pause container
	// was placed (the CRI's parent is a slice name, not a path).
	podStats, statsErr := rt.PodSandboxStats(ctx, &runtimeapi.PodSandboxStatsRequest{PodSandboxId: podID})
	if statsErr != nil || podStats.GetStats().GetLinux().GetMemory().GetUsageBytes().GetValue() == 0 {
		t.Errorf("PodSandboxStats under systemd: %v, memory %v", statsErr, podStats.GetStats().GetLinux().GetMemory())
	}
	upd := &runtimeapi.LinuxContainerResources{MemoryLimitInBytes: 96 << 20}
	if _, err := rt.UpdateContainerResources(ctx, &runtimeapi.UpdateContainerResourcesRequest{ContainerId: id, Linux: upd}); err != nil {
		t.Fatalf("UpdateContainerResources: %v", err)
	}
	if got := limit(t, sliceDir+"/"+unit, "memory", "memory.limit_in_bytes", "memory.max"); got != "100663296" {
		t.Errorf("memory limit after UpdateContainerResources: %s", got)
	}
	if _, err := rt.StopPodSandbox(ctx, &runtimeapi.StopPodSandboxRequest{PodSandboxId: podID}); err != nil {
		t.Fatalf("StopPodSandbox: %v", err)
	}
	if _, err := rt.RemovePodSandbox(ctx, &runtimeapi.RemovePodSandboxRequest{PodSandboxId: podID}); err != nil {
		t.Fatalf("RemovePodSandbox: %v", err)
	}
	removed = true
	if units, _ := e.sd.Systemctl("list-units", "--all", "--no-legend", "--plain", "docker-*.scope"); strings.TrimSpace(units) != "" {
		t.Errorf("scopes left after the pod's removal:\n%s", units)
	}
}
