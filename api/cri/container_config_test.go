package cri

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/moby/moby/api/types/container"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/berthd/berth/pkg/errdefs"
)

func testPodConfig() *runtimeapi.PodSandboxConfig {
	return &runtimeapi.PodSandboxConfig{
		Metadata:     &runtimeapi.PodSandboxMetadata{Name: "p", Namespace: "ns", Uid: "u1"},
		LogDirectory: "/var/log/pods/ns_p_u1",
		Linux:        &runtimeapi.LinuxPodSandboxConfig{CgroupParent: "/kubepods/pod1"},
	}
}

func TestCreateConfigMapping(t *testing.T) {
	cfg := &runtimeapi.ContainerConfig{
		Metadata:    &runtimeapi.ContainerMetadata{Name: "c", Attempt: 3},
		Image:       &runtimeapi.ImageSpec{Image: "busybox"},
		Command:     []string{"sh"},
		Args:        []string{"-c", "true"},
		Envs:        []*runtimeapi.KeyValue{{Key: "A", Value: []byte("1")}},
		Labels:      map[string]string{"l": "v"},
		Annotations: map[string]string{"a": "w"},
		LogPath:     "c/3.log",
		Mounts: []*runtimeapi.Mount{
			{HostPath: "/h1", ContainerPath: "/c1", Readonly: true, Propagation: runtimeapi.MountPropagation_PROPAGATION_HOST_TO_CONTAINER},
			{HostPath: "/h2", ContainerPath: "/c2", Propagation: runtimeapi.MountPropagation_PROPAGATION_BIDIRECTIONAL},
			{HostPath: "/h3", ContainerPath: "/c3", SelinuxRelabel: true},
		},
		StopSignal: runtimeapi.Signal_SIGNAL_SIGUSR1,
		Linux: &runtimeapi.LinuxContainerConfig{
			Resources: &runtimeapi.LinuxContainerResources{CpuQuota: 50000, CpuPeriod: 100000, MemoryLimitInBytes: 64 << 20, OomScoreAdj: 100},
			SecurityContext: &runtimeapi.LinuxContainerSecurityContext{
				RunAsUser:          &runtimeapi.Int64Value{Value: 1000},
				RunAsGroup:         &runtimeapi.Int64Value{Value: 2000},
				SupplementalGroups: []int64{3000},
				Capabilities:       &runtimeapi.Capability{DropCapabilities: []string{"ALL"}, AddCapabilities: []string{"NET_BIND_SERVICE"}},
				NoNewPrivs:         true,
				NamespaceOptions:   &runtimeapi.NamespaceOption{Pid: runtimeapi.NamespaceMode_CONTAINER},
				Seccomp:            &runtimeapi.SecurityProfile{ProfileType: runtimeapi.SecurityProfile_Unconfined},
			},
		},
	}
	p, err := createConfig("sb1", cfg, testPodConfig())
	if err != nil {
		t.Fatal(err)
	}
	c, hc := p.Config, p.HostConfig
	if p.Name != "k8s_c_p_ns_u1_3" {
		t.Errorf("name %q", p.Name)
	}
	if !slices.Equal(c.Entrypoint, []string{"sh"}) || !slices.Equal(c.Cmd, []string{"-c", "true"}) || !slices.Equal(c.Env, []string{"A=1"}) {
		t.Errorf("entrypoint %q cmd %q env %q", c.Entrypoint, c.Cmd, c.Env)
	}
	if c.User != "1000:2000" || !slices.Equal(hc.GroupAdd, []string{"3000"}) || c.StopSignal != "SIGUSR1" {
		t.Errorf("user %q groups %q stop signal %q", c.User, hc.GroupAdd, c.StopSignal)
	}
	want := map[string]string{"l": "v", "annotation.a": "w", labelType: typeContainer, labelSandboxID: "sb1", labelLogPath: "/var/log/pods/ns_p_u1/c/3.log"}
	for k, v := range want {
		if c.Labels[k] != v {
			t.Errorf("label %s=%q, want %q", k, c.Labels[k], v)
		}
	}
	if hc.NetworkMode != "container:sb1" || hc.IpcMode != "container:sb1" || hc.PidMode != "" || hc.CgroupParent != "/kubepods/pod1" {
		t.Errorf("modes net %q ipc %q pid %q cgroup parent %q", hc.NetworkMode, hc.IpcMode, hc.PidMode, hc.CgroupParent)
	}
	var binds []string
	for _, m := range hc.Mounts {
		o := m.BindOptions
		binds = append(binds, fmt.Sprintf("%s %s:%s ro=%v nonrec=%v create=%v %s", m.Type, m.Source, m.Target, m.ReadOnly, o.ReadOnlyNonRecursive, o.CreateMountpoint, o.Propagation))
	}
	if want := []string{
		"bind /h1:/c1 ro=true nonrec=true create=true rslave",
		"bind /h2:/c2 ro=false nonrec=false create=true rshared",
		"bind /h3:/c3 ro=false nonrec=false create=true rprivate",
	}; !slices.Equal(binds, want) {
		t.Errorf("mounts\n%s\nwant\n%s", strings.Join(binds, "\n"), strings.Join(want, "\n"))
	}
	if hc.LogConfig.Type != "cri" || hc.LogConfig.Config[criLogPathOpt] != "/var/log/pods/ns_p_u1/c/3.log" {
		t.Errorf("log config %v", hc.LogConfig)
	}
	if hc.CPUQuota != 50000 || hc.CPUPeriod != 100000 || hc.Memory != 64<<20 || hc.OomScoreAdj != 100 {
		t.Errorf("resources %+v oom %d", hc.Resources, hc.OomScoreAdj)
	}
	if !slices.Equal(hc.CapDrop, []string{"ALL"}) || !slices.Equal(hc.CapAdd, []string{"NET_BIND_SERVICE"}) {
		t.Errorf("caps add %q drop %q", hc.CapAdd, hc.CapDrop)
	}
	if !slices.Equal(hc.SecurityOpt, []string{"no-new-privileges", "seccomp=unconfined"}) {
		t.Errorf("security opts %q", hc.SecurityOpt)
	}
}

func TestSeccompDefaults(t *testing.T) {
	for name, tc := range map[string]struct {
		sc   *runtimeapi.LinuxContainerSecurityContext
		want string
	}{
		"nil context":     {nil, "seccomp=unconfined"},
		"no profile":      {&runtimeapi.LinuxContainerSecurityContext{}, "seccomp=unconfined"},
		"runtime default": {&runtimeapi.LinuxContainerSecurityContext{Seccomp: &runtimeapi.SecurityProfile{}}, ""},
		"legacy default":  {&runtimeapi.LinuxContainerSecurityContext{SeccompProfilePath: "runtime/default"}, ""},
		"privileged":      {&runtimeapi.LinuxContainerSecurityContext{Privileged: true}, ""},
	} {
		cfg := &runtimeapi.ContainerConfig{Metadata: &runtimeapi.ContainerMetadata{Name: "c"}, Linux: &runtimeapi.LinuxContainerConfig{SecurityContext: tc.sc}}
		p, err := createConfig("sb1", cfg, testPodConfig())
		if err != nil {
			t.Fatal(err)
		}
		got := ""
		for _, o := range p.HostConfig.SecurityOpt {
			if strings.HasPrefix(o, "seccomp") {
				got = o
			}
		}
		if got != tc.want {
			t.Errorf("%s: %q, want %q", name, got, tc.want)
		}
	}
}

func TestCreateConfigNamespaces(t *testing.T) {
	for mode, want := range map[runtimeapi.NamespaceMode]container.PidMode{
		runtimeapi.NamespaceMode_POD:    "container:sb1",
		runtimeapi.NamespaceMode_NODE:   "host",
		runtimeapi.NamespaceMode_TARGET: "container:other",
	} {
		cfg := &runtimeapi.ContainerConfig{Metadata: &runtimeapi.ContainerMetadata{Name: "c"}, Linux: &runtimeapi.LinuxContainerConfig{
			SecurityContext: &runtimeapi.LinuxContainerSecurityContext{NamespaceOptions: &runtimeapi.NamespaceOption{Pid: mode, TargetId: "other"}},
		}}
		p, err := createConfig("sb1", cfg, testPodConfig())
		if err != nil || p.HostConfig.PidMode != want {
			t.Errorf("%v: pid mode %q (%v), want %q", mode, p.HostConfig.PidMode, err, want)
		}
	}
}

func TestCreateConfigRefuses(t *testing.T) {
	for name, sc := range map[string]*runtimeapi.LinuxContainerSecurityContext{
		"target without id":  {NamespaceOptions: &runtimeapi.NamespaceOption{Pid: runtimeapi.NamespaceMode_TARGET}},
		"relative seccomp":   {Seccomp: &runtimeapi.SecurityProfile{ProfileType: runtimeapi.SecurityProfile_Localhost, LocalhostRef: "x.json"}},
		"missing seccomp":    {Seccomp: &runtimeapi.SecurityProfile{ProfileType: runtimeapi.SecurityProfile_Localhost, LocalhostRef: "/nonexistent/x.json"}},
		"bad seccomp path":   {SeccompProfilePath: "bogus"},
		"group without user": {RunAsGroup: &runtimeapi.Int64Value{Value: 5}},
		"strict groups":      {SupplementalGroupsPolicy: runtimeapi.SupplementalGroupsPolicy_Strict},
	} {
		cfg := &runtimeapi.ContainerConfig{Metadata: &runtimeapi.ContainerMetadata{Name: "c"}, Linux: &runtimeapi.LinuxContainerConfig{SecurityContext: sc}}
		if _, err := createConfig("sb1", cfg, testPodConfig()); !errdefs.Is(err, errdefs.InvalidParameter) {
			t.Errorf("%s: %v, want an invalid parameter", name, err)
		}
	}
	for name, m := range map[string]*runtimeapi.Mount{
		"relative container path": {HostPath: "/h", ContainerPath: "rel"},
		"rro not read-only":       {HostPath: "/h", ContainerPath: "/c", RecursiveReadOnly: true},
		"rro rslave":              {HostPath: "/h", ContainerPath: "/c", RecursiveReadOnly: true, Readonly: true, Propagation: runtimeapi.MountPropagation_PROPAGATION_HOST_TO_CONTAINER},
	} {
		cfg := &runtimeapi.ContainerConfig{Metadata: &runtimeapi.ContainerMetadata{Name: "c"}, Mounts: []*runtimeapi.Mount{m}}
		if _, err := createConfig("sb1", cfg, testPodConfig()); !errdefs.Is(err, errdefs.InvalidParameter) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestImageVolumesAreUnimplemented(t *testing.T) {
	cfg := &runtimeapi.ContainerConfig{Metadata: &runtimeapi.ContainerMetadata{Name: "c"}, Mounts: []*runtimeapi.Mount{{ContainerPath: "/v", Image: &runtimeapi.ImageSpec{Image: "busybox"}}}}
	if _, err := createConfig("sb1", cfg, testPodConfig()); !errdefs.Is(err, errdefs.NotImplemented) {
		t.Fatalf("%v, want not implemented", err)
	}
}

func TestContainerNameRoundTrip(t *testing.T) {
	name := containerName(&runtimeapi.ContainerMetadata{Name: "c", Attempt: 7}, &runtimeapi.PodSandboxMetadata{Name: "p", Namespace: "ns", Uid: "u"})
	md, err := containerMetadata("/" + name)
	if err != nil || md.GetName() != "c" || md.GetAttempt() != 7 {
		t.Fatalf("%q: %v %v", name, md, err)
	}
	for _, bad := range []string{"/web", "/k8s_POD_p_ns_u", "/k8s_c_p_ns_u_x"} {
		if _, err := containerMetadata(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
