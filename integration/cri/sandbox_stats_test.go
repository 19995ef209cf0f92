package cri

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/berthd/berth/integration/internal/harness"
)

// podContainer starts, through the Docker API, a container of sandbox id
// named and labelled as CRI pod containers are, running script; it goes
// with the pod.
func podContainer(t testing.TB, dd *harness.Daemon, id, name, script string) string {
	t.Helper()
	full := fmt.Sprintf("k8s_%s_%s_berth-test_uid-%s_2", name, strings.ToLower(strings.ReplaceAll(t.Name(), "/", "-")), name)
	out := dd.DockerT(t, "run", "-d", "--name", full,
		"--label", "io.kubernetes.docker.type=container", "--label", "io.kubernetes.sandbox.id="+id,
		"--label", "tier=backend", "--label", "annotation.owner=berth",
		"--network", "container:"+id, "--ipc", "container:"+id,
		harness.BusyboxImage, "sh", "-c", script)
	return strings.TrimSpace(out)
}

// TestStatsOfPodAndContainers: container and pod figures come from the
// cgroups, with the CRI attributes kept in the container's name and labels.
func TestStatsOfPodAndContainers(t *testing.T) {
	rt, _ := clients(t)
	cfg := podConfig(t, true)
	id := runPod(t, rt, cfg)
	cid := podContainer(t, d, id, "worker", `i=0; while [ $i -lt 100000 ]; do i=$((i+1)); done; dd if=/dev/zero of=/blob bs=1024 count=256 2>/dev/null; touch /ready; exec sleep 3600`)
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, _, err := d.Docker("exec", cid, "test", "-e", "/ready"); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the pod container did not get ready")
		}
		time.Sleep(100 * time.Millisecond)
	}

	resp, err := rt.ContainerStats(ctxT(t), &runtimeapi.ContainerStatsRequest{ContainerId: cid})
	if err != nil {
		t.Fatal(err)
	}
	st := resp.GetStats()
	a := st.GetAttributes()
	if a.GetId() != cid || a.GetMetadata().GetName() != "worker" || a.GetMetadata().GetAttempt() != 2 || a.GetLabels()["tier"] != "backend" || a.GetAnnotations()["owner"] != "berth" {
		t.Fatalf("attributes: %v", a)
	}
	if _, internal := a.GetLabels()["io.kubernetes.sandbox.id"]; internal {
		t.Errorf("engine labels among the CRI labels: %v", a.GetLabels())
	}
	if st.GetCpu().GetUsageCoreNanoSeconds().GetValue() == 0 || st.GetMemory().GetWorkingSetBytes().GetValue() == 0 || st.GetMemory().GetUsageBytes().GetValue() == 0 {
		t.Errorf("cpu/memory figures: %v %v", st.GetCpu(), st.GetMemory())
	}
	if wl := st.GetWritableLayer(); wl.GetUsedBytes().GetValue() < 256*1024 || wl.GetInodesUsed().GetValue() == 0 || wl.GetFsId().GetMountpoint() == "" {
		t.Errorf("writable layer: %v, want at least the 256 KiB written", wl)
	}
	// A second reading has a rate.
	time.Sleep(200 * time.Millisecond)
	again, err := rt.ContainerStats(ctxT(t), &runtimeapi.ContainerStatsRequest{ContainerId: cid})
	if err != nil {
		t.Fatal(err)
	}
	if again.GetStats().GetCpu().GetUsageNanoCores() == nil {
		t.Error("no usage_nano_cores on the second reading")
	}

	list, err := rt.ListContainerStats(ctxT(t), &runtimeapi.ListContainerStatsRequest{Filter: &runtimeapi.ContainerStatsFilter{PodSandboxId: id}})
	if err != nil {
		t.Fatal(err)
	}
	if len(list.GetStats()) != 1 || list.GetStats()[0].GetAttributes().GetId() != cid {
		t.Fatalf("ListContainerStats of the pod: %v", list.GetStats())
	}
	none, err := rt.ListContainerStats(ctxT(t), &runtimeapi.ListContainerStatsRequest{Filter: &runtimeapi.ContainerStatsFilter{LabelSelector: map[string]string{"tier": "nope"}}})
	if err != nil || len(none.GetStats()) != 0 {
		t.Fatalf("label selector: %v %v", none.GetStats(), err)
	}

	ps, err := rt.PodSandboxStats(ctxT(t), &runtimeapi.PodSandboxStatsRequest{PodSandboxId: id})
	if err != nil {
		t.Fatal(err)
	}
	pl := ps.GetStats().GetLinux()
	if ps.GetStats().GetAttributes().GetId() != id || ps.GetStats().GetAttributes().GetMetadata().GetName() != cfg.Metadata.Name {
		t.Fatalf("pod attributes: %v", ps.GetStats().GetAttributes())
	}
	if len(pl.GetContainers()) != 1 || pl.GetCpu().GetUsageCoreNanoSeconds().GetValue() < st.GetCpu().GetUsageCoreNanoSeconds().GetValue() || pl.GetProcess().GetProcessCount().GetValue() < 2 {
		t.Fatalf("pod figures: cpu %v, processes %v, containers %d", pl.GetCpu(), pl.GetProcess(), len(pl.GetContainers()))
	}
	all, err := rt.ListPodSandboxStats(ctxT(t), &runtimeapi.ListPodSandboxStatsRequest{Filter: &runtimeapi.PodSandboxStatsFilter{LabelSelector: map[string]string{"app": cfg.Labels["app"]}}})
	if err != nil || len(all.GetStats()) != 1 {
		t.Fatalf("ListPodSandboxStats by label: %v %v", all.GetStats(), err)
	}

	_, err = rt.ContainerStats(ctxT(t), &runtimeapi.ContainerStatsRequest{ContainerId: id})
	wantCode(t, "container stats of a sandbox", err, codes.NotFound)
	_, err = rt.PodSandboxStats(ctxT(t), &runtimeapi.PodSandboxStatsRequest{PodSandboxId: "feedfacefeedface"})
	wantCode(t, "stats of an unknown pod", err, codes.NotFound)

	// Removing the pod takes its containers.
	if _, err := rt.RemovePodSandbox(ctxT(t), &runtimeapi.RemovePodSandboxRequest{PodSandboxId: id}); err != nil {
		t.Fatal(err)
	}
	if ps := dockerPsAll(t, d); strings.Contains(ps, cid) || strings.Contains(ps, id) {
		t.Fatalf("containers left after RemovePodSandbox:\n%s", ps)
	}
}
