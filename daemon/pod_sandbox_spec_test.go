package daemon

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/berthd/berth/daemon/backend"
	"github.com/berthd/berth/pkg/errdefs"
)

func basePod() backend.PodSandboxConfig {
	return backend.PodSandboxConfig{Name: "web", Namespace: "default", UID: "u1", Attempt: 3, Hostname: "web-0",
		Labels: map[string]string{"app": "web"}, Annotations: map[string]string{"seen": "yes"}}
}

func TestPodSandboxCreateConfig(t *testing.T) {
	uid, gid := int64(1000), int64(2000)
	c := basePod()
	c.DNS = &backend.PodDNSConfig{Servers: []string{"10.0.0.10"}, Searches: []string{"svc"}, Options: []string{"ndots:5"}}
	c.Security = backend.PodSecurity{RunAsUser: &uid, RunAsGroup: &gid, SupplementalGroups: []int64{7}, Seccomp: "unconfined", ReadonlyRootfs: true}
	c.CgroupParent = "/kubepods/podu1"
	c.Resources = &backend.PodResources{CPUShares: 2, Memory: 1 << 20}
	cc, err := podSandboxCreateConfig(c, "pause:1")
	if err != nil {
		t.Fatal(err)
	}
	hc := cc.HostConfig
	if cc.Name != "k8s_POD_web_default_u1_3" || cc.Config.Image != "pause:1" || cc.Config.Hostname != "web-0" || cc.Config.User != "1000:2000" {
		t.Fatalf("config: %+v", cc.Config)
	}
	if cc.Config.Labels["app"] != "web" || cc.Config.Labels["annotation.seen"] != "yes" || cc.Config.Labels[backend.PodContainerTypeLabel] != backend.PodTypeSandbox {
		t.Fatalf("labels: %v", cc.Config.Labels)
	}
	if hc.NetworkMode != "none" || hc.IpcMode != "shareable" || hc.PidMode != "" || hc.CgroupParent != "/kubepods/podu1" || !hc.ReadonlyRootfs {
		t.Fatalf("host config: %+v", hc)
	}
	if len(hc.DNS) != 1 || hc.DNS[0].String() != "10.0.0.10" || !slices.Equal(hc.DNSSearch, []string{"svc"}) || !slices.Equal(hc.DNSOptions, []string{"ndots:5"}) {
		t.Fatalf("dns: %v %v %v", hc.DNS, hc.DNSSearch, hc.DNSOptions)
	}
	if !slices.Equal(hc.GroupAdd, []string{"7"}) || !slices.Equal(hc.SecurityOpt, []string{"seccomp=unconfined"}) || hc.CPUShares != 2 || hc.Memory != 1<<20 {
		t.Fatalf("security/resources: %v %v %d %d", hc.GroupAdd, hc.SecurityOpt, hc.CPUShares, hc.Memory)
	}
}

// Host namespaces: the host's network takes the host's UTS and no
// hostname, which dockerd would refuse.
func TestPodSandboxCreateConfigHostNamespaces(t *testing.T) {
	c := basePod()
	c.Namespaces = backend.PodNamespaces{Network: backend.NamespaceNode, PID: backend.NamespaceNode, IPC: backend.NamespaceNode}
	cc, err := podSandboxCreateConfig(c, "pause:1")
	if err != nil {
		t.Fatal(err)
	}
	hc := cc.HostConfig
	if hc.NetworkMode != "host" || hc.UTSMode != "host" || hc.PidMode != "host" || hc.IpcMode != "host" || cc.Config.Hostname != "" {
		t.Fatalf("host namespaces: %+v hostname %q", hc, cc.Config.Hostname)
	}
}

func TestValidatePodSandboxConfig(t *testing.T) {
	gid := int64(1)
	for name, mutate := range map[string]func(*backend.PodSandboxConfig){
		"no uid":             func(c *backend.PodSandboxConfig) { c.UID = "" },
		"bad namespace":      func(c *backend.PodSandboxConfig) { c.Namespaces.PID = "target" },
		"group without user": func(c *backend.PodSandboxConfig) { c.Security.RunAsGroup = &gid },
		"bad DNS":            func(c *backend.PodSandboxConfig) { c.DNS = &backend.PodDNSConfig{Servers: []string{"dns.example"}} },
		"bad port": func(c *backend.PodSandboxConfig) {
			c.PortMappings = []backend.PodPortMapping{{Protocol: "tcp", ContainerPort: 0}}
		},
		"bad protocol": func(c *backend.PodSandboxConfig) {
			c.PortMappings = []backend.PodPortMapping{{Protocol: "icmp", ContainerPort: 80}}
		},
	} {
		c := basePod()
		mutate(&c)
		if err := validatePodSandboxConfig(c); !errdefs.Is(err, errdefs.InvalidParameter) {
			t.Errorf("%s: %v, want an invalid-parameter error", name, err)
		}
	}
	if err := validatePodSandboxConfig(basePod()); err != nil {
		t.Fatal(err)
	}
}

func TestSeccompSecurityOpt(t *testing.T) {
	profile := filepath.Join(t.TempDir(), "p.json")
	os.WriteFile(profile, []byte(`{"defaultAction":"SCMP_ACT_ALLOW"}`), 0o644)
	for in, want := range map[string]string{"": "", "runtime/default": "", "unconfined": "seccomp=unconfined", "localhost/" + profile: `seccomp={"defaultAction":"SCMP_ACT_ALLOW"}`} {
		if got, err := seccompSecurityOpt(in); err != nil || got != want {
			t.Errorf("%q: %q %v, want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"localhost/" + profile + ".missing", "apparmor/x"} {
		if _, err := seccompSecurityOpt(bad); !errdefs.Is(err, errdefs.InvalidParameter) {
			t.Errorf("%q: %v, want invalid parameter", bad, err)
		}
	}
}

func TestPodRecordsRoundTrip(t *testing.T) {
	p := &podSandboxes{dir: filepath.Join(t.TempDir(), "sandboxes"), records: map[string]*podRecord{}}
	r := &podRecord{ID: "abcdef0123", Config: basePod(), Image: "pause:1", Created: time.Now().UTC().Truncate(time.Second), IPs: []string{"10.1.0.2"}, NetnsPath: "/proc/1/ns/net", NetworkAttached: true}
	if err := p.add(r); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(p.dir, "junk.json"), []byte("{"), 0o600)
	q := &podSandboxes{dir: p.dir, records: map[string]*podRecord{}}
	q.load()
	got := q.get("abcd")
	if got == nil || got.Config.Name != "web" || !got.NetworkAttached || got.IPs[0] != "10.1.0.2" || !got.Created.Equal(r.Created) || len(q.list()) != 1 {
		t.Fatalf("loaded %+v", got)
	}
	if err := q.forget(r.ID); err != nil || q.get(r.ID) != nil {
		t.Fatalf("forget: %v", err)
	}
	if _, err := os.Stat(filepath.Join(p.dir, r.ID+".json")); !os.IsNotExist(err) {
		t.Fatalf("record file left: %v", err)
	}
}

func TestCPUSamplesRate(t *testing.T) {
	var s cpuSamples
	t0 := time.Now()
	if r := s.rate("c", t0, 1_000_000_000); r != 0 {
		t.Fatalf("first reading: %d", r)
	}
	if r := s.rate("c", t0.Add(2*time.Second), 2_000_000_000); r != 500_000_000 {
		t.Fatalf("half a core over 2 s: %d", r)
	}
	if r := s.rate("c", t0.Add(3*time.Second), 10); r != 0 {
		t.Fatalf("after a counter reset: %d", r)
	}
}

func TestPodContainerNameAndLabels(t *testing.T) {
	if n, a := podContainerName("/k8s_app_web_default_u1_4"); n != "app" || a != 4 {
		t.Fatalf("%s %d", n, a)
	}
	if n, a := podContainerName("/plain"); n != "plain" || a != 0 {
		t.Fatalf("%s %d", n, a)
	}
	l, a := criLabels(map[string]string{"app": "x", backend.PodSandboxIDLabel: "s", backend.PodContainerTypeLabel: "container", "annotation.k": "v", backend.PodLogPathLabel: "/l"})
	if len(l) != 1 || l["app"] != "x" || len(a) != 1 || a["k"] != "v" {
		t.Fatalf("labels %v annotations %v", l, a)
	}
}
