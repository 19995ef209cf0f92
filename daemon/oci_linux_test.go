package daemon

import (
	"fmt"
	"os"
	"path/filepath"
	goruntime "runtime"
	"slices"
	"strings"
	"testing"

	units "github.com/docker/go-units"
	"github.com/moby/moby/api/types/container"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	ctr "github.com/berthd/berth/container"
	"github.com/berthd/berth/daemon/config"
)

func testDaemon() *Daemon { return &Daemon{cfg: config.Default()} }

func testRootfs(t *testing.T) string {
	root := t.TempDir()
	os.MkdirAll(filepath.Join(root, "etc"), 0o755)
	os.WriteFile(filepath.Join(root, "etc/passwd"), []byte("root:x:0:0:root:/root:/bin/sh\nuser:x:1000:1000:user:/home/user:/bin/sh\n"), 0o644)
	os.WriteFile(filepath.Join(root, "etc/group"), []byte("root:x:0:\nuser:x:1000:\nwheel:x:10:user\naudio:x:29:user,root\n"), 0o644)
	return root
}

func specFor(t *testing.T, cfg *container.Config, hc *container.HostConfig) (*specs.Spec, error) {
	t.Helper()
	c := ctr.New(strings.Repeat("a", 64), t.TempDir())
	if cfg.Hostname == "" {
		cfg.Hostname = "aaaaaaaaaaaa"
	}
	c.Config, c.HostConfig = cfg, hc
	d := testDaemon()
	d.applyHostConfigDefaults(hc)
	return d.buildSpec(c, specInput{Rootfs: testRootfs(t)})
}

func TestSpecDefaults(t *testing.T) {
	s, err := specFor(t, &container.Config{Cmd: []string{"sh", "-c", "true"}, Env: []string{"A=1"}, Tty: true}, &container.HostConfig{})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(s.Process.Args, " ") != "sh -c true" || !s.Process.Terminal || s.Process.Cwd != "/" {
		t.Fatalf("process: %+v", s.Process)
	}
	env := strings.Join(s.Process.Env, ",")
	for _, want := range []string{"PATH=/usr/local/sbin", "HOSTNAME=aaaaaaaaaaaa", "TERM=xterm", "A=1"} {
		if !strings.Contains(env, want) {
			t.Errorf("env %s lacks %s", env, want)
		}
	}
	if len(s.Process.Capabilities.Bounding) != 14 || s.Linux.Seccomp == nil || len(s.Linux.MaskedPaths) == 0 {
		t.Fatalf("confinement: caps %d seccomp %v", len(s.Process.Capabilities.Bounding), s.Linux.Seccomp != nil)
	}
	if _, hard := defaultNofile(); s.Process.Rlimits[0].Type != "RLIMIT_NOFILE" || s.Process.Rlimits[0].Hard != hard {
		t.Fatalf("rlimits: %+v", s.Process.Rlimits)
	}
	for _, m := range s.Mounts {
		if m.Destination == "/dev/shm" && !slices.Contains(m.Options, "size=67108864") {
			t.Fatalf("shm: %v", m.Options)
		}
	}
}

func TestSpecUserResolution(t *testing.T) {
	for user, want := range map[string][3]uint32{"": {0, 0, 1}, "user": {1000, 1000, 2}, "1000": {1000, 1000, 2}, "user:wheel": {1000, 10, 0}, "4242": {4242, 0, 0}, "0:29": {0, 29, 0}} {
		s, err := specFor(t, &container.Config{Cmd: []string{"id"}, User: user}, &container.HostConfig{})
		if err != nil {
			t.Fatalf("%q: %v", user, err)
		}
		u := s.Process.User
		if u.UID != want[0] || u.GID != want[1] || uint32(len(u.AdditionalGids)) != want[2] {
			t.Errorf("%q: %+v", user, u)
		}
	}
	if _, err := specFor(t, &container.Config{Cmd: []string{"id"}, User: "nobody-here"}, &container.HostConfig{}); err == nil || !strings.Contains(err.Error(), "unable to find user nobody-here") {
		t.Fatalf("unknown user: %v", err)
	}
	s, _ := specFor(t, &container.Config{Cmd: []string{"id"}}, &container.HostConfig{GroupAdd: []string{"audio", "777"}})
	if !slices.Contains(s.Process.User.AdditionalGids, 29) || !slices.Contains(s.Process.User.AdditionalGids, 777) {
		t.Fatalf("group-add: %v", s.Process.User.AdditionalGids)
	}
}

func TestSpecCapsPrivilegedAndSecurityOpts(t *testing.T) {
	s, err := specFor(t, &container.Config{Cmd: []string{"x"}}, &container.HostConfig{CapAdd: []string{"NET_ADMIN", "cap_sys_time"}, CapDrop: []string{"CHOWN"}})
	if err != nil {
		t.Fatal(err)
	}
	b := s.Process.Capabilities.Bounding
	if !slices.Contains(b, "CAP_NET_ADMIN") || !slices.Contains(b, "CAP_SYS_TIME") || slices.Contains(b, "CAP_CHOWN") {
		t.Fatalf("caps: %v", b)
	}
	s, _ = specFor(t, &container.Config{Cmd: []string{"x"}}, &container.HostConfig{CapDrop: []string{"ALL"}, CapAdd: []string{"KILL"}})
	if strings.Join(s.Process.Capabilities.Bounding, ",") != "CAP_KILL" {
		t.Fatalf("drop all: %v", s.Process.Capabilities.Bounding)
	}
	if _, err := specFor(t, &container.Config{Cmd: []string{"x"}}, &container.HostConfig{CapAdd: []string{"BOGUS"}}); err == nil {
		t.Fatal("unknown cap accepted")
	}
	s, _ = specFor(t, &container.Config{Cmd: []string{"x"}}, &container.HostConfig{Privileged: true})
	if s.Linux.Seccomp != nil || len(s.Linux.MaskedPaths) != 0 || len(s.Process.Capabilities.Bounding) < 38 || !s.Linux.Resources.Devices[0].Allow {
		t.Fatalf("privileged: seccomp %v masked %v caps %d", s.Linux.Seccomp != nil, s.Linux.MaskedPaths, len(s.Process.Capabilities.Bounding))
	}
	s, _ = specFor(t, &container.Config{Cmd: []string{"x"}}, &container.HostConfig{SecurityOpt: []string{"no-new-privileges", "seccomp=unconfined"}})
	if !s.Process.NoNewPrivileges || s.Linux.Seccomp != nil {
		t.Fatalf("security opts: nnp %v seccomp %v", s.Process.NoNewPrivileges, s.Linux.Seccomp != nil)
	}
	if _, err := specFor(t, &container.Config{Cmd: []string{"x"}}, &container.HostConfig{SecurityOpt: []string{"bogus=1"}}); err == nil {
		t.Fatal("bad security opt accepted")
	}
}

func TestSpecResourcesNamespacesSysctlsUlimits(t *testing.T) {
	pids := int64(32)
	hc := &container.HostConfig{
		Resources: container.Resources{Memory: 64 << 20, NanoCPUs: 1500000000, CPUShares: 512, CpusetCpus: "0", PidsLimit: &pids,
			Ulimits: []*units.Ulimit{{Name: "nproc", Soft: 10, Hard: 20}}},
		NetworkMode: "host", IpcMode: "host", Sysctls: map[string]string{"kernel.shmmax": "1"},
		Tmpfs:          map[string]string{"/scratch": "size=1m,exec"},
		ReadonlyRootfs: true,
	}
	if _, err := specFor(t, &container.Config{Cmd: []string{"x"}}, hc); err == nil || !strings.Contains(err.Error(), "is not allowed in the hosts ipc namespace") {
		t.Fatalf("sysctl with host ipc: %v", err)
	}
	hc.IpcMode = ""
	hc.Sysctls = map[string]string{"kernel.shmmax": "1"}
	s, err := specFor(t, &container.Config{Cmd: []string{"x"}}, hc)
	if err != nil {
		t.Fatal(err)
	}
	r := s.Linux.Resources
	if *r.Memory.Limit != 64<<20 || *r.CPU.Quota != 150000 || *r.CPU.Period != 100000 || *r.CPU.Shares != 512 || r.CPU.Cpus != "0" || *r.Pids.Limit != 32 {
		t.Fatalf("resources: %+v %+v", r.Memory, r.CPU)
	}
	for _, ns := range s.Linux.Namespaces {
		if ns.Type == specs.NetworkNamespace {
			t.Fatal("host network mode kept a network namespace")
		}
	}
	if !s.Root.Readonly || s.Linux.Sysctl["kernel.shmmax"] != "1" {
		t.Fatal("readonly/sysctl not applied")
	}
	found := false
	for _, rl := range s.Process.Rlimits {
		if rl.Type == "RLIMIT_NPROC" && rl.Soft == 10 && rl.Hard == 20 {
			found = true
		}
	}
	if !found {
		t.Fatalf("ulimits: %+v", s.Process.Rlimits)
	}
	if _, err := specFor(t, &container.Config{Cmd: []string{"x"}}, &container.HostConfig{Sysctls: map[string]string{"vm.swappiness": "1"}}); err == nil {
		t.Fatal("non-namespaced sysctl accepted")
	}
	if _, err := specFor(t, &container.Config{Cmd: []string{"x"}}, &container.HostConfig{Resources: container.Resources{DeviceCgroupRules: []string{"c 1:3 rwm", "x y z"}}}); err == nil {
		t.Fatal("bad device rule accepted")
	}
}

// A net.* sysctl is refused wherever the process would share the daemon's
// network namespace: host mode, and a joined namespace (container:X) that
// turns out to be the host's, whatever chain of modes led there.
func TestSysctlsOnlyInPrivateNamespaces(t *testing.T) {
	hc := &container.HostConfig{Sysctls: map[string]string{"net.ipv4.ip_forward": "1", "kernel.shmmax": "1"}}
	for _, tc := range []struct {
		name   string
		ns     []specs.LinuxNamespace
		refuse string
	}{
		{"private", []specs.LinuxNamespace{{Type: specs.NetworkNamespace}, {Type: specs.IPCNamespace}}, ""},
		{"no netns", []specs.LinuxNamespace{{Type: specs.IPCNamespace}}, `sysctl "net.ipv4.ip_forward" not allowed in host network namespace`},
		{"joined host netns", []specs.LinuxNamespace{{Type: specs.NetworkNamespace, Path: "/proc/thread-self/ns/net"}, {Type: specs.IPCNamespace}}, `sysctl "net.ipv4.ip_forward" not allowed in host network namespace`},
		{"joined host ipc", []specs.LinuxNamespace{{Type: specs.NetworkNamespace}, {Type: specs.IPCNamespace, Path: "/proc/thread-self/ns/ipc"}}, `sysctl "kernel.shmmax" is not allowed in the hosts ipc namespace`},
		{"bad path", []specs.LinuxNamespace{{Type: specs.NetworkNamespace, Path: "/nonexistent/ns"}, {Type: specs.IPCNamespace}}, "invalid netns path"},
	} {
		s := &specs.Spec{Linux: &specs.Linux{Namespaces: tc.ns, Sysctl: map[string]string{}}}
		err := setSysctls(s, hc)
		switch {
		case tc.refuse == "" && err != nil:
			t.Errorf("%s: %v", tc.name, err)
		case tc.refuse != "" && (err == nil || !strings.Contains(err.Error(), tc.refuse)):
			t.Errorf("%s: got %v, want %q", tc.name, err, tc.refuse)
		}
	}
	// The daemon's own namespace compared with a joined one that is not
	// the host's: a fresh network namespace on a thread of this test.
	if os.Getuid() == 0 {
		path := make(chan string)
		release := make(chan struct{})
		go func() {
			goruntime.LockOSThread() // never unlocked: the thread dies with its namespace
			if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
				path <- ""
				return
			}
			path <- fmt.Sprintf("/proc/%d/task/%d/ns/net", os.Getpid(), unix.Gettid())
			<-release
		}()
		p := <-path
		defer close(release)
		if p != "" {
			s := &specs.Spec{Linux: &specs.Linux{Namespaces: []specs.LinuxNamespace{{Type: specs.NetworkNamespace, Path: p}, {Type: specs.IPCNamespace}}, Sysctl: map[string]string{}}}
			if err := setSysctls(s, hc); err != nil {
				t.Errorf("joined private netns: %v", err)
			}
		}
	}
}

// A network namespace of the container's own gets dockerd's default
// sysctls; --sysctl overrides them, host networking gets none.
func TestDefaultNetSysctls(t *testing.T) {
	if _, err := os.Stat("/proc/sys/net/ipv4/ping_group_range"); err != nil {
		t.Skip("no ping_group_range on this kernel")
	}
	ns := []specs.LinuxNamespace{{Type: specs.NetworkNamespace}, {Type: specs.IPCNamespace}}
	s := &specs.Spec{Linux: &specs.Linux{Namespaces: ns, Sysctl: map[string]string{}}}
	if err := setSysctls(s, &container.HostConfig{NetworkMode: "bridge", Sysctls: map[string]string{"net.ipv4.ip_unprivileged_port_start": "1024"}}); err != nil {
		t.Fatal(err)
	}
	if s.Linux.Sysctl["net.ipv4.ping_group_range"] != "0 2147483647" || s.Linux.Sysctl["net.ipv4.ip_unprivileged_port_start"] != "1024" {
		t.Fatalf("bridge: %v", s.Linux.Sysctl)
	}
	s = &specs.Spec{Linux: &specs.Linux{Namespaces: ns[1:], Sysctl: map[string]string{}}}
	if err := setSysctls(s, &container.HostConfig{NetworkMode: "host"}); err != nil || len(s.Linux.Sysctl) != 0 {
		t.Fatalf("host: %v %v", s.Linux.Sysctl, err)
	}
}

func TestParseSecurityOptsLikeDockerd(t *testing.T) {
	for opt, want := range map[string]string{
		"writeable-cgroups=true":  `invalid --security-opt 2: "writeable-cgroups=true"`,
		"writable-cgroups=potato": `invalid --security-opt 2: "writable-cgroups=potato"`,
		"no-new-privileges=maybe": `invalid --security-opt 2: "no-new-privileges=maybe"`,
		"unknown":                 `invalid --security-opt 1: "unknown"`,
	} {
		if _, err := parseSecurityOpts([]string{opt}); err == nil || err.Error() != want {
			t.Errorf("%s: %v", opt, err)
		}
	}
	so, err := parseSecurityOpts([]string{"writable-cgroups=1", "no-new-privileges:true", "label=disable", "disable", "systempaths=unconfined"})
	if err != nil || so.writableCgroups == nil || !*so.writableCgroups || so.noNewPrivileges == nil || !*so.noNewPrivileges || !so.unconfinedPaths {
		t.Fatalf("%+v %v", so, err)
	}
}
