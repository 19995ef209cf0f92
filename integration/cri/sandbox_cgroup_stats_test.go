package cri

import (
	"fmt"
	"io"
	"os/exec"
	"testing"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/berthd/berth/pkg/cgroups"
)

// TestPodStatsFromPodCgroup: a pod with a cgroup parent gets its CPU and
// memory figures from that cgroup, as containerd's, which counts what
// runs in the pod's cgroup outside its containers too (here a process
// the test puts under it, as kubelet's own accounting would see it); the
// sums over the containers would not.
func TestPodStatsFromPodCgroup(t *testing.T) {
	rt, _ := clients(t)
	parent := fmt.Sprintf("/berth-test-pod%d", time.Now().UnixNano())
	cfg := podConfig(t, true)
	cfg.Linux.CgroupParent = parent
	podCg, err := cgroups.New(parent)
	if err != nil {
		t.Fatal(err)
	}
	// Registered first, so it runs last: after the pod's removal.
	t.Cleanup(func() {
		if err := podCg.Destroy(); err != nil {
			t.Errorf("removing the pod cgroup: %v", err)
		}
	})
	id := runPod(t, rt, cfg)

	burner, err := cgroups.New(parent + "/burner")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("sh", "-c", `read go; i=0; while [ $i -lt 400000 ]; do i=$((i+1)); done`)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	if err := burner.Apply(cmd.Process.Pid); err != nil {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatal(err)
	}
	io.WriteString(stdin, "go\n")
	if err := cmd.Wait(); err != nil {
		t.Fatal(err)
	}
	burnt := uint64((cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()).Nanoseconds())
	if err := burner.Destroy(); err != nil {
		t.Fatal(err)
	}

	resp, err := rt.PodSandboxStats(ctxT(t), &runtimeapi.PodSandboxStatsRequest{PodSandboxId: id})
	if err != nil {
		t.Fatal(err)
	}
	l := resp.GetStats().GetLinux()
	cpu := l.GetCpu().GetUsageCoreNanoSeconds().GetValue()
	// cpuacct counts in ticks where rusage does not: a tenth off.
	if cpu < burnt*9/10 {
		t.Fatalf("pod CPU %d ns, less than the %d ns burnt in the pod's cgroup: not read from it", cpu, burnt)
	}
	if l.GetMemory().GetUsageBytes().GetValue() == 0 || l.GetMemory().GetWorkingSetBytes() == nil {
		t.Fatalf("pod memory %v", l.GetMemory())
	}
	if l.GetProcess().GetProcessCount() == nil {
		t.Fatalf("pod process count %v", l.GetProcess())
	}
}
