package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A dockerd command line with its containerd flags validates; the flags
// still conflict with the same keys in daemon.json, as dockerd's do.
func TestDockerdOnlyFlagsAccepted(t *testing.T) {
	out, err := berthd(t, "--containerd", "/run/x.sock", "--containerd-namespace", "n", "--containerd-plugins-namespace", "np",
		"--config-file", "/dev/null", "--validate")
	if err != nil || !strings.Contains(out, "configuration OK") {
		t.Fatalf("%q %v", out, err)
	}
	f := filepath.Join(t.TempDir(), "daemon.json")
	os.WriteFile(f, []byte(`{"containerd-namespace":"x"}`), 0o644)
	if _, err := berthd(t, "--containerd-namespace", "y", "--config-file", f, "--validate"); err == nil ||
		!strings.Contains(err.Error(), "containerd-namespace: (from flag: y, from file: x)") {
		t.Fatalf("conflict: %v", err)
	}
}

// dockerd's flags for what berth cannot honour stop the start by name,
// unless their value asks for nothing; the applied ones validate.
func TestRefusedFlags(t *testing.T) {
	for args, want := range map[string]string{
		"--userns-remap default":                                    "--userns-remap: user namespace remapping is not supported by berth yet",
		"--selinux-enabled":                                         "--selinux-enabled: SELinux labelling is not supported",
		"--exec-opt native.cgroupdriver=none":                       "native.cgroupdriver option none is internally used and cannot be specified manually",
		"--exec-opt isolation=hyperv":                               "invalid exec-opt (isolation=hyperv): option 'isolation' is only supported on windows",
		"--exec-opt native.cgroupdriver=systemd --cgroup-parent /p": `cgroup-parent for systemd cgroup should be a valid slice named as "xxx.slice"`,
		"--cpu-rt-runtime 950000":                                   "--cpu-rt-runtime: realtime CPU",
		"--storage-opt overlay2.size=1G":                            "--storage-opt: overlay2 storage options",
		"--cpu-rt-period nope":                                      `invalid argument "nope" for "--cpu-rt-period" flag`,
		"--seccomp-profile /no/such/profile.json":                   "opening seccomp profile (/no/such/profile.json) failed",
		"--default-ipc-mode host":                                   `IPC mode "host" is not supported as default value`,
		"--log-format xml":                                          "invalid log format: xml",
		"--max-download-attempts -1":                                "invalid max download attempts: -1",
		"--default-stop-timeout -2":                                 "invalid default-stop-timeout: -2",
		"--userns-remap= --selinux-enabled=false --x":               "unknown flag: --x",
		"--default-network-opt bridge":                              "should be root-key=key=value",
	} {
		_, err := berthd(t, append(strings.Fields(args), "--config-file", "/dev/null", "--validate")...)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: got %v, want %q", args, err, want)
		}
	}
	out, err := berthd(t, "--userns-remap=", "--selinux-enabled=false", "--exec-opt", "native.cgroupdriver=cgroupfs", "--cpu-rt-runtime", "0",
		"--init", "--no-new-privileges", "--seccomp-profile", "unconfined", "--default-ipc-mode", "shareable", "--default-cgroupns-mode", "host",
		"--cgroup-parent", "/p", "--log-format", "json", "--raw-logs", "--max-download-attempts", "3", "--default-stop-timeout", "0",
		"--http-proxy", "http://127.0.0.1:3128", "--default-network-opt", "bridge=com.docker.network.driver.mtu=1400", "--config-file", "/dev/null", "--validate")
	if err != nil || !strings.Contains(out, "configuration OK") {
		t.Fatalf("%q %v", out, err)
	}
}
