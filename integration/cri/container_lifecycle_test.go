package cri

import (
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// TestContainerLifecycle: create, start, stop with a timeout, remove;
// the status fields along the way, the engine name and labels.
func TestContainerLifecycle(t *testing.T) {
	rt, _ := clients(t)
	pod := newTestPod(t)
	cfg := containerConfig("web", "sh", "-c", `trap "exit 3" TERM; while true; do sleep 0.1; done`)
	cfg.Metadata.Attempt = 2
	cfg.Labels = map[string]string{"app": "web"}
	cfg.Annotations = map[string]string{"note": "hi"}
	cfg.Envs = []*runtimeapi.KeyValue{{Key: "GREETING", Value: []byte("hello")}}
	cfg.WorkingDir = "/tmp"
	before := time.Now()
	id := pod.create(t, rt, cfg)

	st := containerStatus(t, rt, id)
	if st.GetState() != runtimeapi.ContainerState_CONTAINER_CREATED || st.GetCreatedAt() < before.Add(-time.Second).UnixNano() || st.GetStartedAt() != 0 {
		t.Fatalf("created: %v", st)
	}
	if st.GetMetadata().GetName() != "web" || st.GetMetadata().GetAttempt() != 2 {
		t.Fatalf("metadata %v", st.GetMetadata())
	}
	// The image's labels are the engine container's too (as cri-dockerd
	// shows them); berth's own labels are not kubelet's.
	if st.GetLabels()["app"] != "web" || st.GetLabels()["io.kubernetes.docker.type"] != "" || st.GetAnnotations()["note"] != "hi" || len(st.GetAnnotations()) != 1 {
		t.Fatalf("labels %v annotations %v", st.GetLabels(), st.GetAnnotations())
	}
	if st.GetImage().GetImage() != cfg.Image.Image || !strings.HasPrefix(st.GetImageRef(), "sha256:") {
		t.Fatalf("image %v ref %q", st.GetImage(), st.GetImageRef())
	}
	if want := pod.Config.LogDirectory + "/web/0.log"; st.GetLogPath() != want {
		t.Fatalf("log path %q, want %q", st.GetLogPath(), want)
	}
	// The engine container, as `docker ps` shows it.
	md := pod.Config.Metadata
	name := strings.TrimSpace(d.DockerT(t, "inspect", "-f", "{{.Name}}", id))
	if want := "/k8s_web_" + md.Name + "_" + md.Namespace + "_" + md.Uid + "_2"; name != want {
		t.Fatalf("engine name %q, want %q", name, want)
	}
	lbl := d.DockerT(t, "inspect", "-f", `{{index .Config.Labels "io.kubernetes.docker.type"}} {{index .Config.Labels "io.kubernetes.sandbox.id"}} {{index .Config.Labels "annotation.note"}}`, id)
	if strings.TrimSpace(lbl) != "container "+pod.ID+" hi" {
		t.Fatalf("engine labels %q", lbl)
	}

	if _, err := rt.StartContainer(ctxT(t), &runtimeapi.StartContainerRequest{ContainerId: id}); err != nil {
		t.Fatal(err)
	}
	st = containerStatus(t, rt, id)
	if st.GetState() != runtimeapi.ContainerState_CONTAINER_RUNNING || st.GetStartedAt() < st.GetCreatedAt() || st.GetFinishedAt() != 0 {
		t.Fatalf("running: %v", st)
	}
	if out := execSync(t, rt, id, "sh", "-c", `echo $GREETING; pwd; hostname`); out != "hello\n/tmp\n"+strings.TrimSpace(d.DockerT(t, "inspect", "-f", "{{.Config.Hostname}}", pod.ID))+"\n" {
		t.Fatalf("env, workdir, hostname: %q", out)
	}
	// The pod's network namespace: the container sees the sandbox's.
	sandboxNet := strings.TrimSpace(d.DockerT(t, "exec", pod.ID, "readlink", "/proc/self/ns/net"))
	if got := strings.TrimSpace(execSync(t, rt, id, "readlink", "/proc/self/ns/net")); got != sandboxNet {
		t.Fatalf("net ns %s, sandbox's %s", got, sandboxNet)
	}
	verbose, err := rt.ContainerStatus(ctxT(t), &runtimeapi.ContainerStatusRequest{ContainerId: id, Verbose: true})
	if err != nil {
		t.Fatal(err)
	}
	var info struct {
		SandboxID string `json:"sandboxID"`
		Pid       int    `json:"pid"`
	}
	if err := json.Unmarshal([]byte(verbose.GetInfo()["info"]), &info); err != nil || info.SandboxID != pod.ID || info.Pid <= 0 {
		t.Fatalf("verbose info %v: %v", verbose.GetInfo(), err)
	}
	// A second start of a running container is refused.
	_, err = rt.StartContainer(ctxT(t), &runtimeapi.StartContainerRequest{ContainerId: id})
	wantGRPCCode(t, err, codes.FailedPrecondition)

	if _, err := rt.StopContainer(ctxT(t), &runtimeapi.StopContainerRequest{ContainerId: id, Timeout: 10}); err != nil {
		t.Fatal(err)
	}
	st = containerStatus(t, rt, id)
	if st.GetState() != runtimeapi.ContainerState_CONTAINER_EXITED || st.GetExitCode() != 3 || st.GetReason() != "Error" || st.GetFinishedAt() < st.GetStartedAt() {
		t.Fatalf("stopped: %v", st)
	}
	// Stop and remove are idempotent.
	for i := 0; i < 2; i++ {
		if _, err := rt.StopContainer(ctxT(t), &runtimeapi.StopContainerRequest{ContainerId: id}); err != nil {
			t.Fatalf("stop #%d: %v", i, err)
		}
		if _, err := rt.RemoveContainer(ctxT(t), &runtimeapi.RemoveContainerRequest{ContainerId: id}); err != nil {
			t.Fatalf("remove #%d: %v", i, err)
		}
	}
	_, err = rt.ContainerStatus(ctxT(t), &runtimeapi.ContainerStatusRequest{ContainerId: id})
	wantGRPCCode(t, err, codes.NotFound)
	if _, _, err := d.Docker("inspect", id); err == nil {
		t.Fatal("the engine container is still there")
	}
}

// TestContainerCompletedAndKilled: reason Completed for exit 0; a stop
// timeout that runs out kills (137); a running container is removed.
func TestContainerCompletedAndKilled(t *testing.T) {
	rt, _ := clients(t)
	pod := newTestPod(t)
	done := pod.run(t, rt, containerConfig("done", "true"))
	st := waitState(t, rt, done, runtimeapi.ContainerState_CONTAINER_EXITED)
	if st.GetExitCode() != 0 || st.GetReason() != "Completed" || st.GetFinishedAt() == 0 {
		t.Fatalf("completed: %v", st)
	}
	stubborn := pod.run(t, rt, containerConfig("stubborn", "sh", "-c", `trap "" TERM; while true; do sleep 0.1; done`))
	start := time.Now()
	if _, err := rt.StopContainer(ctxT(t), &runtimeapi.StopContainerRequest{ContainerId: stubborn, Timeout: 1}); err != nil {
		t.Fatal(err)
	}
	if el := time.Since(start); el < time.Second || el > 20*time.Second {
		t.Fatalf("stop with timeout 1 took %v", el)
	}
	if st := containerStatus(t, rt, stubborn); st.GetExitCode() != 137 || st.GetReason() != "Error" {
		t.Fatalf("killed: %v", st)
	}
	running := pod.run(t, rt, containerConfig("running", "sleep", "1000"))
	if _, err := rt.RemoveContainer(ctxT(t), &runtimeapi.RemoveContainerRequest{ContainerId: running}); err != nil {
		t.Fatal(err)
	}
	_, err := rt.ContainerStatus(ctxT(t), &runtimeapi.ContainerStatusRequest{ContainerId: running})
	wantGRPCCode(t, err, codes.NotFound)
}

// TestContainerOOMKilled: a container killed by its memory limit reports
// exit code 137 and reason OOMKilled.
func TestContainerOOMKilled(t *testing.T) {
	rt, _ := clients(t)
	pod := newTestPod(t)
	cfg := containerConfig("hog", "sh", "-c", "tail /dev/zero")
	cfg.Linux = &runtimeapi.LinuxContainerConfig{Resources: &runtimeapi.LinuxContainerResources{MemoryLimitInBytes: 16 << 20, MemorySwapLimitInBytes: 16 << 20}}
	id := pod.run(t, rt, cfg)
	st := waitState(t, rt, id, runtimeapi.ContainerState_CONTAINER_EXITED)
	if st.GetExitCode() != 137 || st.GetReason() != "OOMKilled" {
		t.Fatalf("exit %d reason %q, want 137 OOMKilled", st.GetExitCode(), st.GetReason())
	}
}

// TestContainerRunAsUsername: a user name resolves in the image.
func TestContainerRunAsUsername(t *testing.T) {
	rt, _ := clients(t)
	pod := newTestPod(t)
	cfg := containerConfig("named", "sleep", "1000")
	cfg.Linux = &runtimeapi.LinuxContainerConfig{SecurityContext: &runtimeapi.LinuxContainerSecurityContext{RunAsUsername: "nobody"}}
	id := pod.run(t, rt, cfg)
	if got := strings.TrimSpace(execSync(t, rt, id, "id", "-un")); got != "nobody" {
		t.Fatalf("user %q", got)
	}
}

// TestContainersInPodSandbox: containers in a sandbox RunPodSandbox made
// (host network) share its namespaces, are listed by it, stop with
// StopPodSandbox and go with RemovePodSandbox.
func TestContainersInPodSandbox(t *testing.T) {
	setup(t, d)
	rt, _ := clients(t)
	cfg := podConfig(t, true)
	cfg.Hostname = "podhost"
	cfg.LogDirectory = t.TempDir()
	podID := runPod(t, rt, cfg)
	pod := &testPod{ID: podID, Config: cfg}
	a := pod.run(t, rt, containerConfig("a", "sleep", "1000"))
	b := pod.run(t, rt, containerConfig("b", "sleep", "1000"))
	hostNet, err := os.Readlink("/proc/self/ns/net")
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSpace(execSync(t, rt, a, "readlink", "/proc/self/ns/net")); got != hostNet {
		t.Fatalf("net ns %s, the host's %s", got, hostNet)
	}
	// The pod's PID namespace (POD, the default): b sees a's process.
	if got := execSync(t, rt, b, "sh", "-c", "ps -o args | grep -c '^sleep 1000'"); strings.TrimSpace(got) != "2" {
		t.Fatalf("sleep processes seen from b: %q", got)
	}
	resp, err := rt.ListContainers(ctxT(t), &runtimeapi.ListContainersRequest{Filter: &runtimeapi.ContainerFilter{PodSandboxId: podID}})
	if err != nil || len(resp.GetContainers()) != 2 {
		t.Fatalf("listed %v %v", resp, err)
	}
	if _, err := rt.StopPodSandbox(ctxT(t), &runtimeapi.StopPodSandboxRequest{PodSandboxId: podID}); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{a, b} {
		if st := containerStatus(t, rt, id); st.GetState() != runtimeapi.ContainerState_CONTAINER_EXITED {
			t.Fatalf("after StopPodSandbox: %v", st)
		}
	}
	if _, err := rt.RemovePodSandbox(ctxT(t), &runtimeapi.RemovePodSandboxRequest{PodSandboxId: podID}); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{a, b} {
		_, err := rt.ContainerStatus(ctxT(t), &runtimeapi.ContainerStatusRequest{ContainerId: id})
		wantGRPCCode(t, err, codes.NotFound)
	}
}
