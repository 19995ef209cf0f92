package cri

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/berthd/berth/integration/internal/harness"
)

// testPod is a pod sandbox for container tests: an engine container of
// the test image labelled as a sandbox the way the CRI face labels them
// (what the container calls rely on), with no network at all, so that
// tests may listen on fixed ports in it; TestContainersInPodSandbox runs
// containers in a sandbox RunPodSandbox made.
type testPod struct {
	ID     string
	Config *runtimeapi.PodSandboxConfig
}

func newTestPod(t *testing.T) *testPod {
	t.Helper()
	setup(t, d)
	uid := fmt.Sprintf("uid%d", time.Now().UnixNano())
	md := &runtimeapi.PodSandboxMetadata{Name: "pod-" + t.Name(), Uid: uid, Namespace: "ns"}
	md.Name = strings.ToLower(strings.ReplaceAll(md.Name, "/", "-"))
	name := strings.Join([]string{"k8s_POD", md.Name, md.Namespace, md.Uid, "0"}, "_")
	id := strings.TrimSpace(d.DockerT(t, "run", "-d", "--name", name, "--network", "none",
		"--label", "io.kubernetes.docker.type=podsandbox", harness.BusyboxImage, "sleep", "100000"))
	t.Cleanup(func() { d.Docker("rm", "-f", id) })
	return &testPod{ID: id, Config: &runtimeapi.PodSandboxConfig{Metadata: md, LogDirectory: t.TempDir()}}
}

// containerConfig is a pod container of the test image running cmd.
func containerConfig(name string, cmd ...string) *runtimeapi.ContainerConfig {
	return &runtimeapi.ContainerConfig{
		Metadata: &runtimeapi.ContainerMetadata{Name: name},
		Image:    &runtimeapi.ImageSpec{Image: harness.BusyboxImage},
		Command:  cmd,
		LogPath:  name + "/0.log",
	}
}

// create creates a container in the pod; it is removed with the test.
func (p *testPod) create(t *testing.T, rt runtimeapi.RuntimeServiceClient, cfg *runtimeapi.ContainerConfig) string {
	t.Helper()
	resp, err := rt.CreateContainer(ctxT(t), &runtimeapi.CreateContainerRequest{PodSandboxId: p.ID, Config: cfg, SandboxConfig: p.Config})
	if err != nil {
		t.Fatalf("CreateContainer: %v", err)
	}
	id := resp.GetContainerId()
	t.Cleanup(func() { d.Docker("rm", "-f", id) })
	return id
}

// run creates and starts a container in the pod.
func (p *testPod) run(t *testing.T, rt runtimeapi.RuntimeServiceClient, cfg *runtimeapi.ContainerConfig) string {
	t.Helper()
	id := p.create(t, rt, cfg)
	if _, err := rt.StartContainer(ctxT(t), &runtimeapi.StartContainerRequest{ContainerId: id}); err != nil {
		t.Fatalf("StartContainer: %v", err)
	}
	return id
}

func containerStatus(t *testing.T, rt runtimeapi.RuntimeServiceClient, id string) *runtimeapi.ContainerStatus {
	t.Helper()
	resp, err := rt.ContainerStatus(ctxT(t), &runtimeapi.ContainerStatusRequest{ContainerId: id})
	if err != nil {
		t.Fatalf("ContainerStatus: %v", err)
	}
	return resp.GetStatus()
}

// waitState waits for the container to reach state.
func waitState(t *testing.T, rt runtimeapi.RuntimeServiceClient, id string, state runtimeapi.ContainerState) *runtimeapi.ContainerStatus {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		st := containerStatus(t, rt, id)
		if st.GetState() == state {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("container %s is %v, want %v", id, st.GetState(), state)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// execSync runs cmd in the container and answers its stdout; a non-zero
// exit fails the test.
func execSync(t *testing.T, rt runtimeapi.RuntimeServiceClient, id string, cmd ...string) string {
	t.Helper()
	resp, err := rt.ExecSync(ctxT(t), &runtimeapi.ExecSyncRequest{ContainerId: id, Cmd: cmd, Timeout: 20})
	if err != nil {
		t.Fatalf("ExecSync %q: %v", cmd, err)
	}
	if resp.GetExitCode() != 0 {
		t.Fatalf("ExecSync %q: exit %d, stderr %q", cmd, resp.GetExitCode(), resp.GetStderr())
	}
	return string(resp.GetStdout())
}

func wantGRPCCode(t *testing.T, err error, code codes.Code) {
	t.Helper()
	if status.Code(err) != code {
		t.Fatalf("got %v, want code %v", err, code)
	}
}

// waitFile waits until the file at path holds a line containing want.
func waitFile(t *testing.T, path, want string) string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		b, err := os.ReadFile(path)
		if err == nil && strings.Contains(string(b), want) {
			return string(b)
		}
		if time.Now().After(deadline) {
			if err == nil {
				err = errors.New("not there")
			}
			t.Fatalf("%s: no %q: %v; file:\n%s", path, want, err, b)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
