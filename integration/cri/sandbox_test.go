package cri

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/berthd/berth/integration/internal/harness"
)

// podConfig is a pod named after the test; hostNetwork pods need no CNI.
func podConfig(t testing.TB, hostNetwork bool) *runtimeapi.PodSandboxConfig {
	name := strings.ToLower(strings.NewReplacer("/", "-", "_", "-").Replace(t.Name()))
	c := &runtimeapi.PodSandboxConfig{
		Metadata:    &runtimeapi.PodSandboxMetadata{Name: name, Namespace: "berth-test", Uid: "uid-" + name, Attempt: 1},
		Labels:      map[string]string{"app": name, "io.kubernetes.pod.name": name},
		Annotations: map[string]string{"note": "kept"},
		Linux:       &runtimeapi.LinuxPodSandboxConfig{SecurityContext: &runtimeapi.LinuxSandboxSecurityContext{NamespaceOptions: &runtimeapi.NamespaceOption{}}},
	}
	if hostNetwork {
		c.Linux.SecurityContext.NamespaceOptions.Network = runtimeapi.NamespaceMode_NODE
	}
	return c
}

// runPod runs cfg on rt and removes the pod when the test ends.
func runPod(t testing.TB, rt runtimeapi.RuntimeServiceClient, cfg *runtimeapi.PodSandboxConfig) string {
	t.Helper()
	resp, err := rt.RunPodSandbox(ctxT(t), &runtimeapi.RunPodSandboxRequest{Config: cfg})
	if err != nil {
		t.Fatalf("RunPodSandbox: %v", err)
	}
	id := resp.GetPodSandboxId()
	t.Cleanup(func() {
		if _, err := rt.RemovePodSandbox(context.Background(), &runtimeapi.RemovePodSandboxRequest{PodSandboxId: id}); err != nil {
			t.Errorf("cleanup: RemovePodSandbox: %v", err)
		}
	})
	return id
}

func podStatus(t testing.TB, rt runtimeapi.RuntimeServiceClient, id string) *runtimeapi.PodSandboxStatusResponse {
	t.Helper()
	st, err := rt.PodSandboxStatus(ctxT(t), &runtimeapi.PodSandboxStatusRequest{PodSandboxId: id, Verbose: true})
	if err != nil {
		t.Fatalf("PodSandboxStatus: %v", err)
	}
	return st
}

func wantCode(t testing.TB, what string, err error, code codes.Code) {
	t.Helper()
	if status.Code(err) != code {
		t.Fatalf("%s: got %v, want code %v", what, err, code)
	}
}

// listIDs is the IDs ListPodSandbox answers for f.
func listIDs(t testing.TB, rt runtimeapi.RuntimeServiceClient, f *runtimeapi.PodSandboxFilter) []string {
	t.Helper()
	resp, err := rt.ListPodSandbox(ctxT(t), &runtimeapi.ListPodSandboxRequest{Filter: f})
	if err != nil {
		t.Fatalf("ListPodSandbox: %v", err)
	}
	var ids []string
	for _, p := range resp.GetItems() {
		ids = append(ids, p.GetId())
	}
	return ids
}

func contains(ids []string, id string) bool {
	for _, x := range ids {
		if x == id {
			return true
		}
	}
	return false
}

// dockerPsAll is every container of dd by name, running or not.
func dockerPsAll(t testing.TB, dd *harness.Daemon) string {
	return dd.DockerT(t, "ps", "-a", "--no-trunc", "--format", "{{.ID}} {{.Names}} {{.State}}")
}

// TestSandboxLifecycleHostNetwork runs, lists, inspects, stops and
// removes a host-network pod, and checks what docker ps shows of it.
func TestSandboxLifecycleHostNetwork(t *testing.T) {
	rt, _ := clients(t)
	cfg := podConfig(t, true)
	id := runPod(t, rt, cfg)

	st := podStatus(t, rt, id)
	s := st.GetStatus()
	if s.GetState() != runtimeapi.PodSandboxState_SANDBOX_READY || s.GetId() != id {
		t.Fatalf("status %v, want READY with id %s", s, id)
	}
	if s.GetMetadata().GetName() != cfg.Metadata.Name || s.GetMetadata().GetAttempt() != 1 || s.GetLabels()["app"] != cfg.Labels["app"] || s.GetAnnotations()["note"] != "kept" {
		t.Fatalf("status does not echo the config: %v", s)
	}
	if s.GetLinux().GetNamespaces().GetOptions().GetNetwork() != runtimeapi.NamespaceMode_NODE || s.GetCreatedAt() == 0 {
		t.Fatalf("status namespaces/created: %v", s)
	}
	if !strings.Contains(st.GetInfo()["info"], `"pid":`) || !strings.Contains(st.GetInfo()["info"], pauseImage) {
		t.Fatalf("verbose info: %v", st.GetInfo())
	}

	name := fmt.Sprintf("k8s_POD_%s_berth-test_uid-%s_1", cfg.Metadata.Name, cfg.Metadata.Name)
	got := d.DockerT(t, "inspect", "--format", `{{.Name}} {{index .Config.Labels "io.kubernetes.docker.type"}} {{index .Config.Labels "annotation.note"}} {{index .Config.Labels "app"}} {{.Config.Image}} {{.HostConfig.NetworkMode}}`, id)
	if want := "/" + name + " podsandbox kept " + cfg.Labels["app"] + " " + pauseImage + " host"; strings.TrimSpace(got) != want {
		t.Fatalf("docker inspect: %q, want %q", got, want)
	}

	for _, c := range []struct {
		what string
		f    *runtimeapi.PodSandboxFilter
		want bool
	}{
		{"id prefix", &runtimeapi.PodSandboxFilter{Id: id[:12]}, true},
		{"other id", &runtimeapi.PodSandboxFilter{Id: "ffffffffffff"}, false},
		{"ready", &runtimeapi.PodSandboxFilter{State: &runtimeapi.PodSandboxStateValue{State: runtimeapi.PodSandboxState_SANDBOX_READY}}, true},
		{"notready", &runtimeapi.PodSandboxFilter{State: &runtimeapi.PodSandboxStateValue{State: runtimeapi.PodSandboxState_SANDBOX_NOTREADY}}, false},
		{"label", &runtimeapi.PodSandboxFilter{LabelSelector: map[string]string{"app": cfg.Labels["app"]}}, true},
		{"other label", &runtimeapi.PodSandboxFilter{LabelSelector: map[string]string{"app": "nope"}}, false},
		{"none", nil, true},
	} {
		if got := contains(listIDs(t, rt, c.f), id); got != c.want {
			t.Errorf("list filter %s: listed %v, want %v", c.what, got, c.want)
		}
	}

	for i := 0; i < 2; i++ { // idempotent
		if _, err := rt.StopPodSandbox(ctxT(t), &runtimeapi.StopPodSandboxRequest{PodSandboxId: id}); err != nil {
			t.Fatalf("StopPodSandbox #%d: %v", i+1, err)
		}
	}
	if s := podStatus(t, rt, id).GetStatus(); s.GetState() != runtimeapi.PodSandboxState_SANDBOX_NOTREADY {
		t.Fatalf("after stop: %v", s.GetState())
	}
	if got := d.DockerT(t, "inspect", "--format", "{{.State.Running}}", id); strings.TrimSpace(got) != "false" {
		t.Fatalf("pause container still running after stop: %s", got)
	}
	if !contains(listIDs(t, rt, &runtimeapi.PodSandboxFilter{State: &runtimeapi.PodSandboxStateValue{State: runtimeapi.PodSandboxState_SANDBOX_NOTREADY}}), id) {
		t.Fatal("stopped pod not listed as NOTREADY")
	}

	for i := 0; i < 2; i++ {
		if _, err := rt.RemovePodSandbox(ctxT(t), &runtimeapi.RemovePodSandboxRequest{PodSandboxId: id}); err != nil {
			t.Fatalf("RemovePodSandbox #%d: %v", i+1, err)
		}
	}
	_, err := rt.PodSandboxStatus(ctxT(t), &runtimeapi.PodSandboxStatusRequest{PodSandboxId: id})
	wantCode(t, "status after remove", err, codes.NotFound)
	if contains(listIDs(t, rt, nil), id) || strings.Contains(dockerPsAll(t, d), id) {
		t.Fatal("removed pod still listed")
	}
	if _, err := os.Stat(filepath.Join(d.DataRoot, "cri", "sandboxes", id+".json")); !os.IsNotExist(err) {
		t.Fatalf("record left after remove: %v", err)
	}
}

// TestSandboxRemoveRunning: removing a ready pod stops it first.
func TestSandboxRemoveRunning(t *testing.T) {
	rt, _ := clients(t)
	id := runPod(t, rt, podConfig(t, true))
	if _, err := rt.RemovePodSandbox(ctxT(t), &runtimeapi.RemovePodSandboxRequest{PodSandboxId: id}); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(dockerPsAll(t, d), id) {
		t.Fatal("pause container left after removing a ready pod")
	}
}

// TestSandboxDNSHostNetwork: the pod's DNS config is the sandbox's
// resolv.conf, which its containers share.
func TestSandboxDNSHostNetwork(t *testing.T) {
	rt, _ := clients(t)
	cfg := podConfig(t, true)
	cfg.DnsConfig = &runtimeapi.DNSConfig{Servers: []string{"10.96.0.10"}, Searches: []string{"berth-test.svc.cluster.local", "svc.cluster.local"}, Options: []string{"ndots:5"}}
	cfg.Linux.Sysctls = map[string]string{"kernel.msgmax": "65536"}
	id := runPod(t, rt, cfg)
	resolv := d.DockerT(t, "exec", id, "cat", "/etc/resolv.conf")
	for _, want := range []string{"nameserver 10.96.0.10", "search berth-test.svc.cluster.local svc.cluster.local", "options ndots:5"} {
		if !strings.Contains(resolv, want) {
			t.Errorf("resolv.conf lacks %q:\n%s", want, resolv)
		}
	}
	if got := strings.TrimSpace(d.DockerT(t, "exec", id, "cat", "/proc/sys/kernel/msgmax")); got != "65536" {
		t.Errorf("sysctl kernel.msgmax = %s, want 65536", got)
	}
}

// TestSandboxUnknownIDs: stop and remove of an unknown pod succeed (as
// containerd 2 answers, critest checks it); status is NotFound.
func TestSandboxUnknownIDs(t *testing.T) {
	rt, _ := clients(t)
	const unknown = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	if _, err := rt.StopPodSandbox(ctxT(t), &runtimeapi.StopPodSandboxRequest{PodSandboxId: unknown}); err != nil {
		t.Errorf("stop of an unknown pod: %v", err)
	}
	if _, err := rt.RemovePodSandbox(ctxT(t), &runtimeapi.RemovePodSandboxRequest{PodSandboxId: unknown}); err != nil {
		t.Errorf("remove of an unknown pod: %v", err)
	}
	_, err := rt.PodSandboxStatus(ctxT(t), &runtimeapi.PodSandboxStatusRequest{PodSandboxId: unknown})
	wantCode(t, "status of an unknown pod", err, codes.NotFound)
	if !strings.Contains(status.Convert(err).Message(), unknown) {
		t.Errorf("message does not name the pod: %v", err)
	}
	_, err = rt.StopPodSandbox(ctxT(t), &runtimeapi.StopPodSandboxRequest{})
	wantCode(t, "stop without an ID", err, codes.InvalidArgument)
}

// TestSandboxBadConfig: malformed configs are InvalidArgument and make
// nothing.
func TestSandboxBadConfig(t *testing.T) {
	rt, _ := clients(t)
	before := dockerPsAll(t, d)
	noMeta := podConfig(t, true)
	noMeta.Metadata = nil
	noUID := podConfig(t, true)
	noUID.Metadata.Uid = ""
	badDNS := podConfig(t, true)
	badDNS.DnsConfig = &runtimeapi.DNSConfig{Servers: []string{"not-an-ip"}}
	groupNoUser := podConfig(t, true)
	groupNoUser.Linux.SecurityContext.RunAsGroup = &runtimeapi.Int64Value{Value: 5}
	badPort := podConfig(t, true)
	badPort.PortMappings = []*runtimeapi.PortMapping{{ContainerPort: 70000, HostPort: 8080}}
	for name, c := range map[string]*runtimeapi.PodSandboxConfig{"no config": nil, "no metadata": noMeta, "no uid": noUID, "bad DNS": badDNS, "group without user": groupNoUser, "bad port": badPort} {
		_, err := rt.RunPodSandbox(ctxT(t), &runtimeapi.RunPodSandboxRequest{Config: c})
		wantCode(t, name, err, codes.InvalidArgument)
	}
	if after := dockerPsAll(t, d); after != before {
		t.Fatalf("bad configs left containers:\nbefore:\n%s\nafter:\n%s", before, after)
	}
}

// TestRuntimeStatusVersionConfig: the runtime-level calls.
func TestRuntimeStatusVersionConfig(t *testing.T) {
	rt, _ := clients(t)
	v, err := rt.Version(ctxT(t), &runtimeapi.VersionRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if v.GetRuntimeName() != "berth" || v.GetRuntimeApiVersion() != "v1" || v.GetRuntimeVersion() == "" || v.GetVersion() != "0.1.0" {
		t.Fatalf("version: %v", v)
	}
	rc, err := rt.RuntimeConfig(ctxT(t), &runtimeapi.RuntimeConfigRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if rc.GetLinux().GetCgroupDriver() != runtimeapi.CgroupDriver_CGROUPFS {
		t.Fatalf("cgroup driver %v", rc.GetLinux().GetCgroupDriver())
	}
	if _, err := rt.UpdateRuntimeConfig(ctxT(t), &runtimeapi.UpdateRuntimeConfigRequest{RuntimeConfig: &runtimeapi.RuntimeConfig{NetworkConfig: &runtimeapi.NetworkConfig{PodCidr: "10.244.0.0/24"}}}); err != nil {
		t.Fatal(err)
	}
	_, err = rt.UpdateRuntimeConfig(ctxT(t), &runtimeapi.UpdateRuntimeConfigRequest{RuntimeConfig: &runtimeapi.RuntimeConfig{NetworkConfig: &runtimeapi.NetworkConfig{PodCidr: "10.244.0.0"}}})
	wantCode(t, "malformed pod CIDR", err, codes.InvalidArgument)
	st, err := rt.Status(ctxT(t), &runtimeapi.StatusRequest{})
	if err != nil {
		t.Fatal(err)
	}
	conds := map[string]*runtimeapi.RuntimeCondition{}
	for _, c := range st.GetStatus().GetConditions() {
		conds[c.GetType()] = c
	}
	if !conds[runtimeapi.RuntimeReady].GetStatus() {
		t.Fatalf("runtime not ready: %v", st)
	}
	if nr := conds[runtimeapi.NetworkReady]; nr == nil || (!hasCNIConfig() && (nr.GetStatus() || nr.GetReason() == "")) {
		t.Fatalf("network condition without a CNI config: %v", nr)
	}
}

// hasCNIConfig says whether a test left a network configuration in the
// shared daemon's conf dir.
func hasCNIConfig() bool {
	entries, _ := os.ReadDir(cniConfDir)
	return len(entries) > 0
}

// TestSandboxPauseRemovedThroughDockerAPI: a pause container removed with
// docker rm -f leaves a NOTREADY pod that stop and remove still clear.
func TestSandboxPauseRemovedThroughDockerAPI(t *testing.T) {
	rt, _ := clients(t)
	id := runPod(t, rt, podConfig(t, true))
	d.DockerT(t, "rm", "-f", id)
	if s := podStatus(t, rt, id).GetStatus(); s.GetState() != runtimeapi.PodSandboxState_SANDBOX_NOTREADY {
		t.Fatalf("pause removed: %v, want NOTREADY", s.GetState())
	}
	if _, err := rt.StopPodSandbox(ctxT(t), &runtimeapi.StopPodSandboxRequest{PodSandboxId: id}); err != nil {
		t.Fatal(err)
	}
	if _, err := rt.RemovePodSandbox(ctxT(t), &runtimeapi.RemovePodSandboxRequest{PodSandboxId: id}); err != nil {
		t.Fatal(err)
	}
	_, err := rt.PodSandboxStatus(ctxT(t), &runtimeapi.PodSandboxStatusRequest{PodSandboxId: id})
	wantCode(t, "status after remove", err, codes.NotFound)
}
