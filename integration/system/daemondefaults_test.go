package system

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/berthd/berth/integration/internal/harness"
)

// TestDaemonContainerDefaults starts a daemon whose daemon.json sets the
// container defaults dockerd has (init, no-new-privileges, seccomp-profile,
// default-ipc-mode) and checks a container that chooses nothing gets them,
// while one that chooses gets its own choice.
func TestDaemonContainerDefaults(t *testing.T) {
	dd := harness.Fresh(t, harness.Options{Config: `{"init":true,"no-new-privileges":true,"seccomp-profile":"unconfined","default-ipc-mode":"shareable"}`})
	dd.LoadTestImages(t)
	out := dd.DockerT(t, "run", "--pull=never", "--rm", "--network", "none", "busybox", "sh", "-c", `cat /proc/1/comm; grep -E "^(NoNewPrivs|Seccomp):" /proc/self/status`)
	for _, want := range []string{"docker-init\n", "NoNewPrivs:\t1", "Seccomp:\t0"} {
		if !strings.Contains(out, want) {
			t.Errorf("defaults not applied: want %q in\n%s", want, out)
		}
	}
	// The container's own choices win over the daemon's.
	out = dd.DockerT(t, "run", "--pull=never", "--rm", "--network", "none", "--init=false", "--security-opt", "no-new-privileges=false", "--security-opt", "seccomp=builtin", "busybox", "sh", "-c", `cat /proc/1/comm; grep -E "^(NoNewPrivs|Seccomp):" /proc/self/status`)
	for _, want := range []string{"sh\n", "NoNewPrivs:\t0", "Seccomp:\t2"} {
		if !strings.Contains(out, want) {
			t.Errorf("container's choice lost: want %q in\n%s", want, out)
		}
	}
	id := strings.TrimSpace(dd.DockerT(t, "create", "--pull=never", "--network", "none", "busybox", "true"))
	if mode := strings.TrimSpace(dd.DockerT(t, "inspect", "-f", "{{.HostConfig.IpcMode}}", id)); mode != "shareable" {
		t.Errorf("IpcMode %q, want shareable", mode)
	}
	dd.DockerT(t, "rm", id)
}

// TestConfigRefusesKeyBerthCannotHonour: --validate and the start both
// name the key.
func TestConfigRefusesKeyBerthCannotHonour(t *testing.T) {
	dd, err := harness.New(harness.Options{Config: `{"userns-remap":"default"}`})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(dd.Cleanup)
	bin, _ := harness.Binary()
	out, err := exec.Command(bin, append(dd.BaseArgs(), "--validate")...).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "userns-remap: user namespace remapping is not supported by berth yet") {
		t.Fatalf("--validate: %v %s", err, out)
	}
	if err := dd.Start(); err == nil {
		t.Fatal("daemon started with userns-remap")
	}
	if !strings.Contains(dd.Log(), "userns-remap:") {
		t.Fatalf("log does not name the key:\n%s", dd.Log())
	}
}

// TestDaemonCgroupParentAndCgroupnsMode: daemon.json's cgroup-parent holds
// the cgroups of containers that name no parent, and default-cgroupns-mode
// "host" lets the container see where its cgroup is.
func TestDaemonCgroupParentAndCgroupnsMode(t *testing.T) {
	parent := fmt.Sprintf("berth-test-parent-%d", os.Getpid())
	removeCgroupParentAtEnd(t, parent)
	dd := harness.Fresh(t, harness.Options{Config: `{"cgroup-parent":"/` + parent + `","default-cgroupns-mode":"host"}`})
	dd.LoadTestImages(t)
	out := dd.DockerT(t, "run", "--pull=never", "--rm", "--network", "none", "busybox", "cat", "/proc/self/cgroup")
	if !strings.Contains(out, "/"+parent+"/") {
		t.Fatalf("container's cgroups not under /%s:\n%s", parent, out)
	}
	// The container's own --cgroup-parent wins.
	own := parent + "-own"
	removeCgroupParentAtEnd(t, own)
	out = dd.DockerT(t, "run", "--pull=never", "--rm", "--network", "none", "--cgroup-parent", "/"+own, "busybox", "cat", "/proc/self/cgroup")
	if !strings.Contains(out, "/"+own+"/") {
		t.Fatalf("--cgroup-parent lost:\n%s", out)
	}
	id := strings.TrimSpace(dd.DockerT(t, "create", "--pull=never", "--network", "none", "busybox", "true"))
	if mode := strings.TrimSpace(dd.DockerT(t, "inspect", "-f", "{{.HostConfig.CgroupnsMode}}", id)); mode != "host" {
		t.Errorf("CgroupnsMode %q, want host", mode)
	}
	dd.DockerT(t, "rm", id)
}

// removeCgroupParentAtEnd removes the (by then empty) cgroup parent the
// daemon made, in every hierarchy, when t ends.
func removeCgroupParentAtEnd(t *testing.T, parent string) {
	t.Cleanup(func() {
		dirs, _ := filepath.Glob("/sys/fs/cgroup/*/" + parent)
		for _, d := range append(dirs, "/sys/fs/cgroup/"+parent) {
			_ = unix.Rmdir(d)
		}
	})
}

// TestDaemonProxies: daemon.json's proxies become berthd's proxy
// environment, which docker info reports (no request leaves the host: the
// address is never dialled), with any credentials masked as dockerd masks
// them.
func TestDaemonProxies(t *testing.T) {
	dd := harness.Fresh(t, harness.Options{Config: `{"proxies":{"http-proxy":"http://127.0.0.1:3128","https-proxy":"http://me:secret@127.0.0.1:3129","no-proxy":"example.internal"}}`})
	out := strings.TrimSpace(dd.DockerT(t, "info", "--format", "{{.HTTPProxy}} {{.HTTPSProxy}} {{.NoProxy}}"))
	if out != "http://127.0.0.1:3128 http://xxxxx:xxxxx@127.0.0.1:3129 example.internal" {
		t.Fatalf("info proxies %q", out)
	}
}

// TestDaemonLogFormatJSON: log-format "json" makes every line of the
// daemon's own log a JSON object, as dockerd's.
func TestDaemonLogFormatJSON(t *testing.T) {
	dd := harness.Fresh(t, harness.Options{Config: `{"log-format":"json"}`})
	dd.DockerT(t, "version")
	lines := strings.Split(strings.TrimSpace(dd.Log()), "\n")
	sawStart := false
	for _, l := range lines {
		if strings.HasPrefix(l, "---- ") {
			continue // the harness's header for each daemon it starts
		}
		var entry map[string]any
		if err := json.Unmarshal([]byte(l), &entry); err != nil {
			t.Fatalf("log line is not JSON: %q", l)
		}
		if entry["msg"] == "starting berthd" && entry["level"] == "info" {
			sawStart = true
		}
	}
	if !sawStart {
		t.Fatalf("no start line in:\n%s", dd.Log())
	}
}

// TestDaemonMinAPIVersion: min-api-version turns older clients away with
// dockerd's message and is what /version reports.
func TestDaemonMinAPIVersion(t *testing.T) {
	dd := harness.Fresh(t, harness.Options{Config: `{"min-api-version":"1.44"}`})
	resp, body := dd.Do(t, "GET", "/v1.43/version", "")
	if resp.StatusCode != 400 || !strings.Contains(body, "client version 1.43 is too old. Minimum supported API version is 1.44") {
		t.Fatalf("v1.43: %d %s", resp.StatusCode, body)
	}
	resp, body = dd.Do(t, "GET", "/v1.44/version", "")
	if resp.StatusCode != 200 || !strings.Contains(body, `"MinAPIVersion":"1.44"`) {
		t.Fatalf("v1.44: %d %s", resp.StatusCode, body)
	}
}

// TestDaemonResolvConf: daemon.json's resolv-conf is the file containers'
// resolv.conf starts from instead of the host's.
func TestDaemonResolvConf(t *testing.T) {
	f := filepath.Join(t.TempDir(), "resolv.conf")
	if err := os.WriteFile(f, []byte("nameserver 192.0.2.53\nsearch berth-resolv.test\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	dd := harness.Fresh(t, harness.Options{Config: `{"resolv-conf":"` + f + `"}`})
	dd.LoadTestImages(t)
	out := dd.DockerT(t, "run", "--pull=never", "--rm", "busybox", "cat", "/etc/resolv.conf")
	if !strings.Contains(out, "nameserver 192.0.2.53") || !strings.Contains(out, "search berth-resolv.test") {
		t.Fatalf("container's resolv.conf:\n%s", out)
	}
}
