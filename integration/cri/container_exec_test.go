package cri

import (
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// TestExecSync: output and exit codes; a command past its timeout is
// killed and the call answers DeadlineExceeded; a stopped container
// refuses.
func TestExecSync(t *testing.T) {
	rt, _ := clients(t)
	pod := newTestPod(t)
	id := pod.run(t, rt, containerConfig("execd", "sleep", "1000"))
	resp, err := rt.ExecSync(ctxT(t), &runtimeapi.ExecSyncRequest{ContainerId: id, Cmd: []string{"sh", "-c", "echo out; echo err >&2; exit 7"}, Timeout: 10})
	if err != nil {
		t.Fatal(err)
	}
	if string(resp.GetStdout()) != "out\n" || string(resp.GetStderr()) != "err\n" || resp.GetExitCode() != 7 {
		t.Fatalf("exec: %v", resp)
	}
	resp, err = rt.ExecSync(ctxT(t), &runtimeapi.ExecSyncRequest{ContainerId: id, Cmd: []string{"/no/such/binary"}})
	if err != nil || resp.GetExitCode() == 0 {
		t.Fatalf("a missing binary: %v %v", resp, err)
	}

	start := time.Now()
	_, err = rt.ExecSync(ctxT(t), &runtimeapi.ExecSyncRequest{ContainerId: id, Cmd: []string{"sleep", "37"}, Timeout: 1})
	wantGRPCCode(t, err, codes.DeadlineExceeded)
	if el := time.Since(start); el > 15*time.Second {
		t.Fatalf("a 1 s timeout answered after %v", el)
	}
	if got := execSync(t, rt, id, "sh", "-c", "ps | grep -c '[s]leep 37' || true"); strings.TrimSpace(got) != "0" {
		t.Fatalf("the timed-out command still runs: %q", got)
	}

	if _, err := rt.StopContainer(ctxT(t), &runtimeapi.StopContainerRequest{ContainerId: id, Timeout: 0}); err != nil {
		t.Fatal(err)
	}
	_, err = rt.ExecSync(ctxT(t), &runtimeapi.ExecSyncRequest{ContainerId: id, Cmd: []string{"true"}})
	wantGRPCCode(t, err, codes.FailedPrecondition)
}

// TestExecAttachChecks: the requests kubelet would refuse are refused
// before a URL is handed out.
func TestExecAttachChecks(t *testing.T) {
	rt, _ := clients(t)
	pod := newTestPod(t)
	id := pod.run(t, rt, containerConfig("streams", "sleep", "1000"))
	_, err := rt.Exec(ctxT(t), &runtimeapi.ExecRequest{ContainerId: id, Cmd: []string{"sh"}})
	wantGRPCCode(t, err, codes.InvalidArgument)
	_, err = rt.Exec(ctxT(t), &runtimeapi.ExecRequest{ContainerId: id, Cmd: []string{"sh"}, Tty: true, Stdout: true, Stderr: true})
	wantGRPCCode(t, err, codes.InvalidArgument)
	_, err = rt.Exec(ctxT(t), &runtimeapi.ExecRequest{ContainerId: id, Stdout: true})
	wantGRPCCode(t, err, codes.InvalidArgument)
	_, err = rt.Attach(ctxT(t), &runtimeapi.AttachRequest{ContainerId: id, Tty: true, Stderr: true})
	wantGRPCCode(t, err, codes.InvalidArgument)
	_, err = rt.Exec(ctxT(t), &runtimeapi.ExecRequest{ContainerId: "0123456789abcdef", Cmd: []string{"sh"}, Stdout: true})
	wantGRPCCode(t, err, codes.NotFound)
	created := pod.create(t, rt, containerConfig("created", "sleep", "1000"))
	_, err = rt.Attach(ctxT(t), &runtimeapi.AttachRequest{ContainerId: created, Stdout: true})
	wantGRPCCode(t, err, codes.FailedPrecondition)
	_, err = rt.PortForward(ctxT(t), &runtimeapi.PortForwardRequest{PodSandboxId: id, Port: []int32{80}})
	wantGRPCCode(t, err, codes.NotFound)
}

// TestContainerBadInput: malformed requests and unknown IDs are refused
// with their codes and leave nothing behind.
func TestContainerBadInput(t *testing.T) {
	rt, _ := clients(t)
	pod := newTestPod(t)
	count := func() int { return len(strings.Fields(d.DockerT(t, "ps", "-aq"))) }
	before := count()
	create := func(sandbox string, cfg *runtimeapi.ContainerConfig) error {
		_, err := rt.CreateContainer(ctxT(t), &runtimeapi.CreateContainerRequest{PodSandboxId: sandbox, Config: cfg, SandboxConfig: pod.Config})
		return err
	}
	wantGRPCCode(t, create(pod.ID, &runtimeapi.ContainerConfig{Image: &runtimeapi.ImageSpec{Image: "busybox:latest"}}), codes.InvalidArgument)
	wantGRPCCode(t, create(pod.ID, &runtimeapi.ContainerConfig{Metadata: &runtimeapi.ContainerMetadata{Name: "x"}}), codes.InvalidArgument)
	wantGRPCCode(t, create("", containerConfig("x", "true")), codes.InvalidArgument)
	wantGRPCCode(t, create("0123456789abcdef", containerConfig("x", "true")), codes.NotFound)
	plain := strings.TrimSpace(d.DockerT(t, "create", "busybox:latest", "true"))
	t.Cleanup(func() { d.Docker("rm", "-f", plain) })
	wantGRPCCode(t, create(plain, containerConfig("x", "true")), codes.NotFound)
	bad := containerConfig("x", "true")
	bad.Mounts = []*runtimeapi.Mount{{HostPath: "/tmp", ContainerPath: "relative"}}
	wantGRPCCode(t, create(pod.ID, bad), codes.InvalidArgument)
	wantGRPCCode(t, create(pod.ID, containerConfig("x", "true")), codes.OK)
	wantGRPCCode(t, create(pod.ID, containerConfig("x", "true")), codes.AlreadyExists)
	if got := count(); got != before+2 {
		t.Fatalf("%d engine containers, want %d (the sandbox-less one, the pod container)", got, before+2)
	}
	for _, id := range []string{"0123456789abcdef", plain} {
		_, err := rt.ContainerStatus(ctxT(t), &runtimeapi.ContainerStatusRequest{ContainerId: id})
		wantGRPCCode(t, err, codes.NotFound)
		_, err = rt.StartContainer(ctxT(t), &runtimeapi.StartContainerRequest{ContainerId: id})
		wantGRPCCode(t, err, codes.NotFound)
		_, err = rt.ExecSync(ctxT(t), &runtimeapi.ExecSyncRequest{ContainerId: id, Cmd: []string{"true"}})
		wantGRPCCode(t, err, codes.NotFound)
	}
	// Unknown IDs, a sandbox's and a Docker API container's: nothing to
	// stop or remove for the container calls.
	for _, id := range []string{"0123456789abcdef", pod.ID, plain} {
		_, err := rt.StopContainer(ctxT(t), &runtimeapi.StopContainerRequest{ContainerId: id})
		wantGRPCCode(t, err, codes.OK)
		_, err = rt.RemoveContainer(ctxT(t), &runtimeapi.RemoveContainerRequest{ContainerId: id})
		wantGRPCCode(t, err, codes.OK)
	}
	if running := strings.TrimSpace(d.DockerT(t, "inspect", "-f", "{{.State.Running}}", pod.ID)); running != "true" {
		t.Fatalf("the sandbox after the container calls: running %s", running)
	}
	d.DockerT(t, "inspect", plain)
}
