package cri

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/berthd/berth/integration/internal/harness"
)

// kubeletBinary is kubelet v1.37 built by ../shared/cri/build-tools.sh
// (about ten minutes, so not part of CI's set-up): $KUBELET_BINARY, else
// the kit's default work directory. The kubelet tests run only where it
// exists, as the issue that asked for them says.
func kubeletBinary(t *testing.T) string {
	p := os.Getenv("KUBELET_BINARY")
	if p == "" {
		p = "/var/tmp/berth-cri/bin/kubelet"
	}
	if _, err := os.Stat(p); err != nil {
		t.Skipf("no kubelet binary at %s (build it: ../shared/cri/build-tools.sh /var/tmp/berth-cri kubelet)", p)
	}
	return p
}

// kubeletNode is a standalone kubelet (no API server: static pods from a
// manifest directory) on pn's berthd, in pn's node namespace so whatever
// it does to the network stays there.
type kubeletNode struct {
	pn        *podNet
	manifests string
	logs      string
	root      string
	cmd       *exec.Cmd
	logFile   string
	done      chan struct{} // closed when kubelet exits
}

// alive fails the test when kubelet has exited.
func (k *kubeletNode) alive(t *testing.T) {
	t.Helper()
	select {
	case <-k.done:
		t.Fatalf("kubelet exited: %v", k.cmd.ProcessState)
	default:
	}
}

func startKubelet(t *testing.T, pn *podNet) *kubeletNode {
	t.Helper()
	bin := kubeletBinary(t)
	dir := t.TempDir()
	k := &kubeletNode{pn: pn, manifests: filepath.Join(dir, "manifests"), logs: filepath.Join(dir, "pod-logs"),
		root: filepath.Join(dir, "kubelet"), logFile: filepath.Join(dir, "kubelet.log")}
	for _, p := range []string{k.manifests, k.logs, k.root} {
		if err := os.MkdirAll(p, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	sock := "unix://" + criSocketOf(pn.dd)
	config := fmt.Sprintf(`apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
staticPodPath: %s
podLogsDir: %s
containerRuntimeEndpoint: %s
imageServiceEndpoint: %s
cgroupDriver: cgroupfs
cgroupsPerQOS: false
enforceNodeAllocatable: []
failSwapOn: false
failCgroupV1: false
authentication:
  webhook: {enabled: false}
  anonymous: {enabled: true}
authorization:
  mode: AlwaysAllow
enableServer: false
readOnlyPort: 0
healthzPort: 0
fileCheckFrequency: 1s
syncFrequency: 2s
localStorageCapacityIsolation: false
evictionHard: {}
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
`, k.manifests, k.logs, sock, sock)
	cfgPath := filepath.Join(dir, "kubelet.yaml")
	if err := os.WriteFile(cfgPath, []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	logf, err := os.Create(k.logFile)
	if err != nil {
		t.Fatal(err)
	}
	// nsenter, not ip netns exec: that would remount /sys and hide the
	// cgroup mounts kubelet needs.
	k.cmd = exec.Command("nsenter", "--net=/run/netns/"+pn.ns, "--", bin, "--config", cfgPath, "--root-dir", k.root,
		"--cert-dir", filepath.Join(dir, "pki"), "--hostname-override", "berth-node", "--v=2")
	k.cmd.Stdout, k.cmd.Stderr = logf, logf
	if err := k.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	k.done = make(chan struct{})
	go func() { k.cmd.Wait(); close(k.done) }()
	t.Cleanup(func() {
		// nsenter execs kubelet: the PID is kubelet's.
		k.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-k.done:
		case <-time.After(10 * time.Second):
			k.cmd.Process.Kill()
			<-k.done
		}
		logf.Close()
		// kubelet makes its root directory a shared mount of itself.
		harness.UnmountUnder(dir)
		if t.Failed() {
			b, _ := os.ReadFile(k.logFile)
			lines := strings.Split(string(b), "\n")
			if len(lines) > 80 {
				lines = lines[len(lines)-80:]
			}
			t.Logf("kubelet log tail:\n%s", strings.Join(lines, "\n"))
		}
	})
	return k
}

// podContainers lists the pod's containers named name (every attempt),
// oldest attempt first.
func podContainers(t *testing.T, rt runtimeapi.RuntimeServiceClient, pod, name string) []*runtimeapi.Container {
	t.Helper()
	r, err := rt.ListContainers(ctxT(t), &runtimeapi.ListContainersRequest{Filter: &runtimeapi.ContainerFilter{
		LabelSelector: map[string]string{"io.kubernetes.pod.name": pod, "io.kubernetes.container.name": name}}})
	if err != nil {
		t.Fatal(err)
	}
	cs := r.GetContainers()
	sort.Slice(cs, func(i, j int) bool { return cs[i].GetMetadata().GetAttempt() < cs[j].GetMetadata().GetAttempt() })
	return cs
}

// running is the running container among cs, or nil.
func running(cs []*runtimeapi.Container) *runtimeapi.Container {
	for _, c := range cs {
		if c.GetState() == runtimeapi.ContainerState_CONTAINER_RUNNING {
			return c
		}
	}
	return nil
}

// TestKubeletStaticPod: kubelet runs a static pod on berthd through the
// CRI: two containers share an emptyDir, kubelet's log files appear in
// the CRI format, an exec liveness probe that fails makes kubelet kill
// and restart its container, a crashing container is restarted with
// growing back-off, and removing the manifest removes the pod with
// nothing left behind.
func TestKubeletStaticPod(t *testing.T) {
	kubeletBinary(t)
	pn := newPodNet(t, podNetOptions{})
	k := startKubelet(t, pn)
	rt, _ := clientsOf(t, pn.dd)

	manifest := fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata:
  name: twoc
  namespace: default
spec:
  terminationGracePeriodSeconds: 2
  restartPolicy: Always
  volumes:
  - name: shared
    emptyDir: {}
  containers:
  - name: writer
    image: %[1]s
    imagePullPolicy: Never
    command: ["sh", "-c", "echo hello > /shared/f; trap 'exit 0' TERM; while :; do sleep 1; done"]
    volumeMounts: [{name: shared, mountPath: /shared}]
    livenessProbe:
      exec:
        command: ["sh", "-c", "test ! -e /shared/kill"]
      periodSeconds: 1
      failureThreshold: 1
  - name: reader
    image: %[1]s
    imagePullPolicy: Never
    command: ["sh", "-c", "while ! cat /shared/f; do sleep 0.2; done; trap 'exit 0' TERM; while :; do sleep 1; done"]
    volumeMounts: [{name: shared, mountPath: /shared}]
  - name: crasher
    image: %[1]s
    imagePullPolicy: Never
    command: ["sh", "-c", "echo crashing; exit 3"]
`, harness.BusyboxImage)
	manifestPath := filepath.Join(k.manifests, "twoc.yaml")
	if err := os.WriteFile(manifestPath, []byte(manifest), 0o644); err != nil {
		t.Fatal(err)
	}

	// Static pods are named after the node.
	const pod = "twoc-berth-node"
	var sandbox *runtimeapi.PodSandbox
	harness.Eventually(t, 90*time.Second, "the pod's sandbox and its writer and reader running", func() bool {
		k.alive(t)
		r, err := rt.ListPodSandbox(ctxT(t), &runtimeapi.ListPodSandboxRequest{Filter: &runtimeapi.PodSandboxFilter{
			LabelSelector: map[string]string{"io.kubernetes.pod.name": pod}}})
		if err != nil || len(r.GetItems()) == 0 {
			return false
		}
		sandbox = r.GetItems()[0]
		return running(podContainers(t, rt, pod, "writer")) != nil && running(podContainers(t, rt, pod, "reader")) != nil
	})
	if sandbox.GetState() != runtimeapi.PodSandboxState_SANDBOX_READY {
		t.Fatalf("sandbox %s state %v", sandbox.GetId(), sandbox.GetState())
	}

	// The emptyDir is one directory for both containers.
	reader := running(podContainers(t, rt, pod, "reader"))
	r, err := rt.ExecSync(ctxT(t), &runtimeapi.ExecSyncRequest{ContainerId: reader.GetId(), Cmd: []string{"cat", "/shared/f"}, Timeout: 10})
	if err != nil || strings.TrimSpace(string(r.GetStdout())) != "hello" {
		t.Fatalf("reader sees the writer's file: %v %q %q", err, r.GetStdout(), r.GetStderr())
	}

	// kubelet's log file of the reader, in the CRI format.
	uid := sandbox.GetMetadata().GetUid()
	logPath := filepath.Join(k.logs, fmt.Sprintf("default_%s_%s", pod, uid), "reader", "0.log")
	harness.Eventually(t, 10*time.Second, "the reader's log line in "+logPath, func() bool {
		b, _ := os.ReadFile(logPath)
		return strings.Contains(string(b), " stdout F hello\n")
	})

	// The liveness probe fails: kubelet kills the writer and starts attempt 1.
	writer0 := running(podContainers(t, rt, pod, "writer"))
	if _, err := rt.ExecSync(ctxT(t), &runtimeapi.ExecSyncRequest{ContainerId: reader.GetId(), Cmd: []string{"touch", "/shared/kill"}, Timeout: 10}); err != nil {
		t.Fatal(err)
	}
	harness.Eventually(t, 60*time.Second, "the writer restarted after its liveness probe failed", func() bool {
		w := running(podContainers(t, rt, pod, "writer"))
		return w != nil && w.GetMetadata().GetAttempt() > writer0.GetMetadata().GetAttempt()
	})
	if _, err := rt.ExecSync(ctxT(t), &runtimeapi.ExecSyncRequest{ContainerId: reader.GetId(), Cmd: []string{"rm", "/shared/kill"}, Timeout: 10}); err != nil {
		t.Fatal(err)
	}
	st, err := rt.ContainerStatus(ctxT(t), &runtimeapi.ContainerStatusRequest{ContainerId: writer0.GetId()})
	if err == nil && st.GetStatus().GetState() != runtimeapi.ContainerState_CONTAINER_EXITED {
		t.Errorf("the first writer is %v after its restart", st.GetStatus().GetState())
	}

	// The crasher is restarted, each time after a longer back-off.
	harness.Eventually(t, 120*time.Second, "the crasher's attempt 2", func() bool {
		cs := podContainers(t, rt, pod, "crasher")
		return len(cs) > 0 && cs[len(cs)-1].GetMetadata().GetAttempt() >= 2
	})
	var starts []time.Time
	for _, c := range podContainers(t, rt, pod, "crasher") {
		s, err := rt.ContainerStatus(ctxT(t), &runtimeapi.ContainerStatusRequest{ContainerId: c.GetId()})
		if err != nil {
			continue // kubelet's GC may have removed an old attempt
		}
		if s.GetStatus().GetStartedAt() > 0 {
			starts = append(starts, time.Unix(0, s.GetStatus().GetStartedAt()))
		}
		if st := s.GetStatus(); st.GetState() == runtimeapi.ContainerState_CONTAINER_EXITED && st.GetExitCode() != 3 {
			t.Errorf("crasher attempt %d exit code %d, want 3", c.GetMetadata().GetAttempt(), st.GetExitCode())
		}
	}
	if len(starts) >= 3 {
		if g1, g2 := starts[1].Sub(starts[0]), starts[2].Sub(starts[1]); g2 < g1 {
			t.Errorf("crash-loop back-off shrank: %s then %s", g1, g2)
		}
	}

	// Without its manifest the pod goes, and nothing of it stays.
	ids := []string{sandbox.GetId()}
	for _, name := range []string{"writer", "reader", "crasher"} {
		for _, c := range podContainers(t, rt, pod, name) {
			ids = append(ids, c.GetId())
		}
	}
	if err := os.Remove(manifestPath); err != nil {
		t.Fatal(err)
	}
	harness.Eventually(t, 150*time.Second, "the pod's sandbox removed", func() bool {
		r, err := rt.ListPodSandbox(ctxT(t), &runtimeapi.ListPodSandboxRequest{})
		return err == nil && len(r.GetItems()) == 0
	})
	harness.Eventually(t, 30*time.Second, "no container left", func() bool {
		return strings.TrimSpace(pn.dd.DockerT(t, "ps", "-aq", "--filter", "label=io.kubernetes.pod.name="+pod)) == ""
	})
	pn.wantNothingLeft(t, 0)
	for _, id := range ids {
		for _, pattern := range []string{"/sys/fs/cgroup/*/" + id, "/sys/fs/cgroup/*/*/" + id, "/sys/fs/cgroup/*/*/*/" + id} {
			if left, _ := filepath.Glob(pattern); len(left) > 0 {
				t.Errorf("cgroups left of %s: %v", id, left)
			}
		}
	}
	mounts, _ := os.ReadFile("/proc/self/mountinfo")
	for _, l := range strings.Split(string(mounts), "\n") {
		if strings.Contains(l, pn.dd.DataRoot+"/containers/") {
			t.Errorf("mount left: %s", l)
		}
	}
}
