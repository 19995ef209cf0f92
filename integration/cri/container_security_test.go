package cri

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

func withSecurity(cfg *runtimeapi.ContainerConfig, sc *runtimeapi.LinuxContainerSecurityContext) *runtimeapi.ContainerConfig {
	cfg.Linux = &runtimeapi.LinuxContainerConfig{SecurityContext: sc}
	return cfg
}

// statusField is a field of /proc/self/status as the container sees it.
func statusField(t *testing.T, rt runtimeapi.RuntimeServiceClient, id, field string) string {
	t.Helper()
	for _, l := range strings.Split(execSync(t, rt, id, "cat", "/proc/self/status"), "\n") {
		if k, v, ok := strings.Cut(l, ":"); ok && k == field {
			return strings.TrimSpace(v)
		}
	}
	t.Fatalf("no %s in /proc/self/status", field)
	return ""
}

// TestContainerSecurityContext: user, groups, capabilities, no new
// privileges, read-only rootfs, masked and read-only paths, as the
// processes in the container see them.
func TestContainerSecurityContext(t *testing.T) {
	rt, _ := clients(t)
	pod := newTestPod(t)

	user := pod.run(t, rt, withSecurity(containerConfig("user", "sleep", "1000"), &runtimeapi.LinuxContainerSecurityContext{
		RunAsUser: &runtimeapi.Int64Value{Value: 1000}, RunAsGroup: &runtimeapi.Int64Value{Value: 2000}, SupplementalGroups: []int64{3000},
	}))
	if got := execSync(t, rt, user, "sh", "-c", "id -u; id -g; id -G"); !strings.HasPrefix(got, "1000\n2000\n") || !strings.Contains(got, "3000") {
		t.Fatalf("uid, gid, groups: %q", got)
	}
	if u := containerStatus(t, rt, user).GetUser().GetLinux(); u.GetUid() != 1000 || u.GetGid() != 2000 || len(u.GetSupplementalGroups()) != 1 || u.GetSupplementalGroups()[0] != 3000 {
		t.Fatalf("status user %v", u)
	}

	caps := pod.run(t, rt, withSecurity(containerConfig("caps", "sleep", "1000"), &runtimeapi.LinuxContainerSecurityContext{
		Capabilities: &runtimeapi.Capability{DropCapabilities: []string{"ALL"}, AddCapabilities: []string{"NET_BIND_SERVICE"}},
		NoNewPrivs:   true,
	}))
	// CAP_NET_BIND_SERVICE is bit 10.
	if eff, bnd := statusField(t, rt, caps, "CapEff"), statusField(t, rt, caps, "CapBnd"); eff != "0000000000000400" || bnd != "0000000000000400" {
		t.Fatalf("CapEff %s CapBnd %s, want only NET_BIND_SERVICE", eff, bnd)
	}
	if nnp := statusField(t, rt, caps, "NoNewPrivs"); nnp != "1" {
		t.Fatalf("NoNewPrivs %s", nnp)
	}

	ro := pod.run(t, rt, withSecurity(containerConfig("ro", "sleep", "1000"), &runtimeapi.LinuxContainerSecurityContext{
		ReadonlyRootfs: true,
		MaskedPaths:    []string{"/proc/cpuinfo"},
		ReadonlyPaths:  []string{"/proc/sys"},
	}))
	resp, err := rt.ExecSync(ctxT(t), &runtimeapi.ExecSyncRequest{ContainerId: ro, Cmd: []string{"touch", "/newfile"}, Timeout: 10})
	if err != nil || resp.GetExitCode() == 0 || !strings.Contains(string(resp.GetStderr()), "Read-only file system") {
		t.Fatalf("touch on a read-only rootfs: %v %v", resp, err)
	}
	if got := execSync(t, rt, ro, "sh", "-c", "wc -c < /proc/cpuinfo"); strings.TrimSpace(got) != "0" {
		t.Fatalf("masked /proc/cpuinfo has %s bytes", got)
	}
	if got := execSync(t, rt, ro, "sh", "-c", "grep ' /proc/sys ' /proc/self/mounts"); !strings.Contains(got, " ro,") {
		t.Fatalf("/proc/sys is not read-only: %q", got)
	}
	if nnp := statusField(t, rt, ro, "NoNewPrivs"); nnp != "0" {
		t.Fatalf("NoNewPrivs %s without no_new_privs", nnp)
	}
}

// TestContainerSeccompProfiles: RuntimeDefault filters, Unconfined does
// not, a localhost profile file is applied.
func TestContainerSeccompProfiles(t *testing.T) {
	rt, _ := clients(t)
	pod := newTestPod(t)
	profile := filepath.Join(t.TempDir(), "deny-mkdir.json")
	// Everything allowed but mkdir/mkdirat, which fail with EPERM (1).
	if err := os.WriteFile(profile, []byte(`{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir","mkdirat"],"action":"SCMP_ACT_ERRNO","errnoRet":1}]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		p    *runtimeapi.SecurityProfile
		mode string
	}{
		{"default", &runtimeapi.SecurityProfile{ProfileType: runtimeapi.SecurityProfile_RuntimeDefault}, "2"},
		{"unconfined", &runtimeapi.SecurityProfile{ProfileType: runtimeapi.SecurityProfile_Unconfined}, "0"},
		{"localhost", &runtimeapi.SecurityProfile{ProfileType: runtimeapi.SecurityProfile_Localhost, LocalhostRef: profile}, "2"},
	} {
		id := pod.run(t, rt, withSecurity(containerConfig("seccomp-"+tc.name, "sleep", "1000"), &runtimeapi.LinuxContainerSecurityContext{Seccomp: tc.p}))
		if got := statusField(t, rt, id, "Seccomp"); got != tc.mode {
			t.Errorf("%s: Seccomp mode %s, want %s", tc.name, got, tc.mode)
		}
		resp, err := rt.ExecSync(ctxT(t), &runtimeapi.ExecSyncRequest{ContainerId: id, Cmd: []string{"mkdir", "/tmp/d"}, Timeout: 10})
		if err != nil {
			t.Fatal(err)
		}
		if denied := resp.GetExitCode() != 0; denied != (tc.name == "localhost") {
			t.Errorf("%s: mkdir exit %d %q", tc.name, resp.GetExitCode(), resp.GetStderr())
		}
	}
}

// TestContainerPrivilegedAndDevices: a privileged container has every
// capability the host gives; a device is made in the container.
func TestContainerPrivilegedAndDevices(t *testing.T) {
	rt, _ := clients(t)
	pod := newTestPod(t)
	priv := pod.run(t, rt, withSecurity(containerConfig("priv", "sleep", "1000"), &runtimeapi.LinuxContainerSecurityContext{Privileged: true}))
	host := ""
	b, _ := os.ReadFile("/proc/self/status")
	for _, l := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(l, ":"); ok && k == "CapBnd" {
			host = strings.TrimSpace(v)
		}
	}
	if got := statusField(t, rt, priv, "CapEff"); got != host {
		t.Fatalf("privileged CapEff %s, host's bounding set %s", got, host)
	}
	cfg := containerConfig("dev", "sleep", "1000")
	cfg.Devices = []*runtimeapi.Device{{HostPath: "/dev/null", ContainerPath: "/dev/mynull", Permissions: "rwm"}}
	dev := pod.run(t, rt, cfg)
	if got := execSync(t, rt, dev, "sh", "-c", "ls -l /dev/mynull; echo x > /dev/mynull && echo written"); !strings.HasPrefix(got, "c") || !strings.Contains(got, "1,") || !strings.HasSuffix(got, "written\n") {
		t.Fatalf("device: %q", got)
	}
}
