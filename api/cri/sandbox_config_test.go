package cri

import (
	"encoding/json"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/berthd/berth/daemon/backend"
)

func criPod() *runtimeapi.PodSandboxConfig {
	return &runtimeapi.PodSandboxConfig{
		Metadata:     &runtimeapi.PodSandboxMetadata{Name: "web", Namespace: "default", Uid: "u1", Attempt: 2},
		Hostname:     "web-0",
		PortMappings: []*runtimeapi.PortMapping{{Protocol: runtimeapi.Protocol_UDP, ContainerPort: 53, HostPort: 5353, HostIp: "127.0.0.1"}},
		Linux: &runtimeapi.LinuxPodSandboxConfig{
			CgroupParent: "/kubepods/podu1",
			SecurityContext: &runtimeapi.LinuxSandboxSecurityContext{
				NamespaceOptions: &runtimeapi.NamespaceOption{Network: runtimeapi.NamespaceMode_NODE, Pid: runtimeapi.NamespaceMode_POD},
				RunAsUser:        &runtimeapi.Int64Value{Value: 0},
				Seccomp:          &runtimeapi.SecurityProfile{ProfileType: runtimeapi.SecurityProfile_RuntimeDefault},
			},
			Overhead:  &runtimeapi.LinuxContainerResources{MemoryLimitInBytes: 100, CpuShares: 2},
			Resources: &runtimeapi.LinuxContainerResources{MemoryLimitInBytes: 1000, CpuPeriod: 100000, CpuQuota: 50000},
		},
	}
}

func TestPodSandboxConfigTranslation(t *testing.T) {
	c, err := podSandboxConfig(criPod(), "runc")
	if err != nil {
		t.Fatal(err)
	}
	if c.Name != "web" || c.Attempt != 2 || c.RuntimeHandler != "runc" || c.Hostname != "web-0" || c.CgroupParent != "/kubepods/podu1" {
		t.Fatalf("%+v", c)
	}
	if c.Namespaces != (backend.PodNamespaces{Network: backend.NamespaceNode, PID: backend.NamespacePod, IPC: backend.NamespacePod}) {
		t.Fatalf("namespaces %+v", c.Namespaces)
	}
	if c.Security.RunAsUser == nil || *c.Security.RunAsUser != 0 || c.Security.Seccomp != "runtime/default" {
		t.Fatalf("security %+v", c.Security)
	}
	if len(c.PortMappings) != 1 || c.PortMappings[0] != (backend.PodPortMapping{Protocol: "udp", ContainerPort: 53, HostPort: 5353, HostIP: "127.0.0.1"}) {
		t.Fatalf("ports %+v", c.PortMappings)
	}
	if *c.Resources != (backend.PodResources{Memory: 1100, CPUShares: 2, CPUPeriod: 100000, CPUQuota: 50000}) {
		t.Fatalf("resources (overhead added) %+v", *c.Resources)
	}
	var back runtimeapi.PodSandboxConfig
	if err := json.Unmarshal(c.Original, &back); err != nil || back.GetMetadata().GetUid() != "u1" {
		t.Fatalf("original config kept: %v %s", err, c.Original)
	}
}

// No seccomp profile is unconfined, as the CRI says.
func TestPodSandboxSeccompDefault(t *testing.T) {
	p := criPod()
	p.Linux.SecurityContext.Seccomp = nil
	if c, _ := podSandboxConfig(p, ""); c.Security.Seccomp != "unconfined" {
		t.Fatalf("no profile: %q", c.Security.Seccomp)
	}
	p.Linux.SecurityContext.Seccomp = &runtimeapi.SecurityProfile{ProfileType: runtimeapi.SecurityProfile_Localhost, LocalhostRef: "/p.json"}
	if c, _ := podSandboxConfig(p, ""); c.Security.Seccomp != "localhost//p.json" {
		t.Fatalf("localhost: %q", c.Security.Seccomp)
	}
}

func TestPodSandboxConfigRefusals(t *testing.T) {
	noMeta := criPod()
	noMeta.Metadata = nil
	target := criPod()
	target.Linux.SecurityContext.NamespaceOptions.Pid = runtimeapi.NamespaceMode_TARGET
	groupOnly := criPod()
	groupOnly.Linux.SecurityContext.RunAsUser = nil
	groupOnly.Linux.SecurityContext.RunAsGroup = &runtimeapi.Int64Value{Value: 3}
	userns := criPod()
	userns.Linux.SecurityContext.NamespaceOptions.UsernsOptions = &runtimeapi.UserNamespace{Mode: runtimeapi.NamespaceMode_POD}
	noRef := criPod()
	noRef.Linux.SecurityContext.Seccomp = &runtimeapi.SecurityProfile{ProfileType: runtimeapi.SecurityProfile_Localhost}
	for name, p := range map[string]*runtimeapi.PodSandboxConfig{"nil": nil, "no metadata": noMeta, "target pid": target, "group only": groupOnly, "userns": userns, "localhost without ref": noRef} {
		if _, err := podSandboxConfig(p, ""); status.Code(err) != codes.InvalidArgument {
			t.Errorf("%s: %v, want InvalidArgument", name, err)
		}
	}
}
