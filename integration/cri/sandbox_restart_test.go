package cri

import (
	"net"
	"strings"
	"testing"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// TestSandboxSurvivesRestart: with live-restore, a pod is listed READY
// with its address after berthd is killed and started again; once its
// pause process dies it is NOTREADY, and stopping it still releases its
// network.
func TestSandboxSurvivesRestart(t *testing.T) {
	pn := newPodNet(t, podNetOptions{config: `{"live-restore": true}`})
	rt, _ := clientsOf(t, pn.dd)
	id := runPod(t, rt, podConfig(t, false))
	ip := podStatus(t, rt, id).GetStatus().GetNetwork().GetIp()

	if err := pn.dd.Restart(true); err != nil {
		t.Fatal(err)
	}
	rt, _ = clientsOf(t, pn.dd)
	if !contains(listIDs(t, rt, nil), id) {
		t.Fatal("pod not listed after the restart")
	}
	s := podStatus(t, rt, id).GetStatus()
	if s.GetState() != runtimeapi.PodSandboxState_SANDBOX_READY || s.GetNetwork().GetIp() != ip {
		t.Fatalf("after a live-restore restart: %v, want READY with %s", s, ip)
	}

	pn.dd.DockerT(t, "kill", id)
	if s := podStatus(t, rt, id).GetStatus(); s.GetState() != runtimeapi.PodSandboxState_SANDBOX_NOTREADY {
		t.Fatalf("pause killed: %v, want NOTREADY", s.GetState())
	}
	if _, err := rt.StopPodSandbox(ctxT(t), &runtimeapi.StopPodSandboxRequest{PodSandboxId: id}); err != nil {
		t.Fatal(err)
	}
	pn.wantNothingLeft(t, 0)
}

// TestSandboxRestartWithoutLiveRestore: berthd stops the pause containers
// when it stops; started again it lists the pods NOTREADY, and a stop
// releases the address the dead pod still held. A pause container no
// record claims (a daemon killed between the two) is removed.
func TestSandboxRestartWithoutLiveRestore(t *testing.T) {
	pn := newPodNet(t, podNetOptions{})
	rt, _ := clientsOf(t, pn.dd)
	id := runPod(t, rt, podConfig(t, false))
	orphan := strings.TrimSpace(pn.dd.DockerT(t, "create", "--name", "k8s_POD_orphan_ns_uid_0", "--label", "io.kubernetes.docker.type=podsandbox", pauseImage))
	if ip := net.ParseIP(podStatus(t, rt, id).GetStatus().GetNetwork().GetIp()); ip == nil {
		t.Fatal("no pod address")
	}
	if err := pn.dd.Restart(false); err != nil {
		t.Fatal(err)
	}
	rt, _ = clientsOf(t, pn.dd)
	if s := podStatus(t, rt, id).GetStatus(); s.GetState() != runtimeapi.PodSandboxState_SANDBOX_NOTREADY {
		t.Fatalf("after a restart without live-restore: %v, want NOTREADY", s.GetState())
	}
	if !contains(listIDs(t, rt, &runtimeapi.PodSandboxFilter{State: &runtimeapi.PodSandboxStateValue{State: runtimeapi.PodSandboxState_SANDBOX_NOTREADY}}), id) {
		t.Fatal("not listed as NOTREADY")
	}
	if len(pn.allocations()) != 1 {
		t.Fatalf("the dead pod's address should be held until its stop: %v", pn.allocations())
	}
	if _, err := rt.StopPodSandbox(ctxT(t), &runtimeapi.StopPodSandboxRequest{PodSandboxId: id}); err != nil {
		t.Fatal(err)
	}
	pn.wantNothingLeft(t, 0)
	for deadline := time.Now().Add(10 * time.Second); strings.Contains(dockerPsAll(t, pn.dd), orphan); time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the unclaimed pause container was not removed:\n%s", pn.dd.LogTail(30))
		}
	}
	if !strings.Contains(dockerPsAll(t, pn.dd), id) {
		t.Fatal("the recorded pod's pause container went with the orphan")
	}
}
