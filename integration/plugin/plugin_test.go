package plugin

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var (
	pluginBinMu sync.Mutex
	pluginBins  = map[string]string{}
)

// pluginBinary builds testdata/<name>, static, once per test run.
func pluginBinary(t *testing.T, name string) string {
	t.Helper()
	pluginBinMu.Lock()
	defer pluginBinMu.Unlock()
	if p, ok := pluginBins[name]; ok {
		return p
	}
	dir, err := os.MkdirTemp("", "bt-"+name+"-")
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, name)
	cmd := exec.Command("go", "build", "-o", p, "./testdata/"+name)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building %s: %v: %s", name, err, out)
	}
	pluginBins[name] = p
	return p
}

// removePluginBinaries removes what pluginBinary built: a directory of
// its own per binary, left in the temp directory otherwise, 9 MB a run.
func removePluginBinaries() {
	pluginBinMu.Lock()
	defer pluginBinMu.Unlock()
	for name, p := range pluginBins {
		os.RemoveAll(filepath.Dir(p))
		delete(pluginBins, name)
	}
}

// pluginContext writes a plugin build context: config.json, and a root
// filesystem holding testdata/<binary> as /<binary>, its entrypoint.
func pluginContext(t *testing.T, binary string, cfg map[string]any) string {
	t.Helper()
	ctx := t.TempDir()
	if err := os.MkdirAll(filepath.Join(ctx, "rootfs"), 0o755); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(pluginBinary(t, binary))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(ctx, "rootfs", binary), b, 0o755); err != nil {
		t.Fatal(err)
	}
	if _, ok := cfg["Entrypoint"]; !ok {
		cfg["Entrypoint"] = []string{"/" + binary}
	}
	cb, _ := json.Marshal(cfg)
	if err := os.WriteFile(filepath.Join(ctx, "config.json"), cb, 0o644); err != nil {
		t.Fatal(err)
	}
	return ctx
}

// volPluginContext is the context of the volume plugin testdata/volplugin;
// config changes its config before it is written.
func volPluginContext(t *testing.T, config func(map[string]any)) string {
	t.Helper()
	cfg := map[string]any{
		"Description": "test volume plugin", "Documentation": "https://example.invalid",
		"Env":             []map[string]any{{"Name": "GREETING", "Description": "what the file says", "Settable": []string{"value"}, "Value": "hello"}},
		"Interface":       map[string]any{"Socket": "vol.sock", "Types": []string{"docker.volumedriver/1.0"}},
		"Linux":           map[string]any{"Capabilities": []string{"CAP_SYS_ADMIN"}},
		"PropagatedMount": "/data",
	}
	if config != nil {
		config(cfg)
	}
	return pluginContext(t, "volplugin", cfg)
}

// removePlugin force-removes a plugin, and its volumes first, at the end
// of a test.
func removePlugin(t *testing.T, name string, volumes ...string) {
	t.Cleanup(func() {
		for _, v := range volumes {
			d.Docker("volume", "rm", "-f", v)
		}
		d.Docker("plugin", "rm", "-f", name)
	})
}

func dockerFails(t *testing.T, want string, args ...string) {
	t.Helper()
	_, stderr, err := d.Docker(args...)
	if err == nil {
		t.Fatalf("docker %s succeeded; want an error with %q", strings.Join(args, " "), want)
	}
	if !strings.Contains(stderr, want) {
		t.Fatalf("docker %s: %q; want %q", strings.Join(args, " "), stderr, want)
	}
}

// TestPluginLifecycle walks a volume plugin through create, set, enable,
// use by a container, the refusals dockerd gives, disable and remove, with
// its events.
func TestPluginLifecycle(t *testing.T) {
	d.LoadTestImages(t)
	since := strconv.FormatInt(time.Now().Add(-time.Second).Unix(), 10)
	ctx := volPluginContext(t, nil)
	removePlugin(t, "lifevol", "lv1")
	d.DockerT(t, "plugin", "create", "lifevol", ctx)
	if got := strings.TrimSpace(d.DockerT(t, "plugin", "ls", "--format", "{{.Name}} {{.Enabled}} {{.Description}}")); !strings.Contains(got, "lifevol:latest false test volume plugin") {
		t.Fatalf("plugin ls: %q", got)
	}
	dockerFails(t, "plugin lifevol:latest already exists", "plugin", "create", "lifevol", ctx)
	dockerFails(t, `setting "NOPE" not found in the plugin configuration`, "plugin", "set", "lifevol", "NOPE=1")
	dockerFails(t, `"GREETING.path" is not settable`, "plugin", "set", "lifevol", "GREETING.path=1")
	d.DockerT(t, "plugin", "set", "lifevol", "GREETING=bonjour")
	if got := strings.TrimSpace(d.DockerT(t, "plugin", "inspect", "-f", "{{.Settings.Env}}", "lifevol")); got != "[GREETING=bonjour]" {
		t.Fatalf("settings env: %q", got)
	}
	id := strings.TrimSpace(d.DockerT(t, "plugin", "inspect", "-f", "{{.Id}}", "lifevol"))
	if len(id) != 64 {
		t.Fatalf("plugin ID %q", id)
	}
	// By ID prefix as well as by name.
	d.DockerT(t, "plugin", "enable", id[:12])
	dockerFails(t, "plugin already enabled", "plugin", "enable", "lifevol")
	dockerFails(t, "cannot set on an active plugin", "plugin", "set", "lifevol", "GREETING=x")

	d.DockerT(t, "volume", "create", "-d", "lifevol", "lv1")
	if got := strings.TrimSpace(d.DockerT(t, "volume", "inspect", "-f", "{{.Driver}} {{.Mountpoint}}", "lv1")); !strings.HasPrefix(got, "lifevol:latest "+filepath.Join(d.DataRoot, "plugins", id, "propagated-mount")) {
		t.Fatalf("volume inspect: %q", got)
	}
	// The plugin mounts a tmpfs in its own namespace on the volume's
	// first mount: the container sees its file only if the mount
	// propagated to the host.
	if got := strings.TrimSpace(d.DockerT(t, "run", "--rm", "-v", "lv1:/v", "busybox", "cat", "/v/from-plugin")); got != "bonjour" {
		t.Fatalf("container read %q from the plugin's volume", got)
	}
	dockerFails(t, "plugin lifevol:latest is in use", "plugin", "disable", "lifevol")
	dockerFails(t, "plugin lifevol:latest is in use", "plugin", "rm", "lifevol")
	d.DockerT(t, "volume", "rm", "lv1")
	dockerFails(t, "plugin lifevol:latest is enabled", "plugin", "rm", "lifevol")
	d.DockerT(t, "plugin", "disable", "lifevol")
	dockerFails(t, "plugin lifevol:latest found but disabled", "volume", "create", "-d", "lifevol", "lv2")
	dockerFails(t, "plugin is already disabled", "plugin", "disable", "lifevol")
	d.DockerT(t, "plugin", "rm", "lifevol")
	if _, err := os.Stat(filepath.Join(d.DataRoot, "plugins", id)); !os.IsNotExist(err) {
		t.Fatalf("plugin directory left after rm: %v", err)
	}
	dockerFails(t, `plugin "lifevol" not found`, "plugin", "inspect", "lifevol")

	out := d.DockerT(t, "events", "--since", since, "--until", strconv.FormatInt(time.Now().Unix()+1, 10), "--filter", "type=plugin", "--format", "{{.Action}} {{.Actor.ID}}")
	var actions []string
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		if f := strings.Fields(l); len(f) == 2 && f[1] == id {
			actions = append(actions, f[0])
		}
	}
	if got := strings.Join(actions, " "); got != "create enable disable remove" {
		t.Fatalf("plugin events %q; want create enable disable remove", got)
	}
}

// TestPluginRefusals: what dockerd refuses, berth refuses with its words.
func TestPluginRefusals(t *testing.T) {
	noConfig := t.TempDir()
	os.MkdirAll(filepath.Join(noConfig, "rootfs"), 0o755)
	os.WriteFile(filepath.Join(noConfig, "config.json"), []byte("{}"), 0o644)
	os.Remove(filepath.Join(noConfig, "config.json"))
	// The CLI checks for config.json itself; the API answers too.
	resp, body := d.Do(t, "POST", "/plugins/create?name=noconf", "")
	if resp.StatusCode != 400 && resp.StatusCode != 500 || !strings.Contains(body, "config not found") {
		t.Fatalf("create without config: %d %s", resp.StatusCode, body)
	}
	resp, body = d.Do(t, "POST", "/plugins/nope/enable?timeout=x", "")
	if resp.StatusCode != 400 {
		t.Fatalf("bad timeout: %d %s", resp.StatusCode, body)
	}
	resp, body = d.Do(t, "POST", "/plugins/nope/enable?timeout=0", "")
	if resp.StatusCode != 404 || !strings.Contains(body, `plugin \"nope\" not found`) {
		t.Fatalf("enable unknown: %d %s", resp.StatusCode, body)
	}
	resp, body = d.Do(t, "POST", "/plugins/create?name=x@sha256:"+strings.Repeat("a", 64), "")
	if resp.StatusCode != 400 {
		t.Fatalf("create with a digest: %d %s", resp.StatusCode, body)
	}
	// A plugin that never makes its socket: enable fails once it exits,
	// and the plugin stays disabled.
	ctx := volPluginContext(t, func(c map[string]any) { c["Entrypoint"] = []string{"/volplugin-missing"} })
	removePlugin(t, "nosock")
	d.DockerT(t, "plugin", "create", "nosock", ctx)
	if _, _, err := d.Docker("plugin", "enable", "--timeout", "5", "nosock"); err == nil {
		t.Fatal("enabling a plugin whose entrypoint is missing succeeded")
	}
	if got := strings.TrimSpace(d.DockerT(t, "plugin", "inspect", "-f", "{{.Enabled}}", "nosock")); got != "false" {
		t.Fatalf("a plugin that failed to start is enabled: %s", got)
	}
}

// TestPluginRestartAndCrash: an enabled plugin comes back with the daemon,
// and one whose process dies is started again.
func TestPluginRestartAndCrash(t *testing.T) {
	d.LoadTestImages(t)
	ctx := volPluginContext(t, nil)
	removePlugin(t, "crashvol", "cv1")
	d.DockerT(t, "plugin", "create", "crashvol", ctx)
	d.DockerT(t, "plugin", "enable", "crashvol")
	d.DockerT(t, "volume", "create", "-d", "crashvol", "cv1")
	if err := d.Restart(false); err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSpace(d.DockerT(t, "plugin", "inspect", "-f", "{{.Enabled}}", "crashvol")); got != "true" {
		t.Fatalf("after a restart the plugin is enabled=%s", got)
	}
	if got := strings.TrimSpace(d.DockerT(t, "run", "--rm", "-v", "cv1:/v", "busybox", "cat", "/v/from-plugin")); got != "hello" {
		t.Fatalf("after a restart the container read %q", got)
	}
	id := strings.TrimSpace(d.DockerT(t, "plugin", "inspect", "-f", "{{.Id}}", "crashvol"))
	pid := pluginPid(t, id)
	syscall.Kill(pid, syscall.SIGKILL)
	deadline := time.Now().Add(10 * time.Second)
	for {
		if p := pluginPidOrZero(id); p != 0 && p != pid {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("plugin not started again after its process was killed:\n%s", d.LogTail(20))
		}
		time.Sleep(50 * time.Millisecond)
	}
	var got string
	for time.Now().Before(deadline) {
		out, _, err := d.Docker("run", "--rm", "-v", "cv1:/v", "busybox", "cat", "/v/from-plugin")
		if got = strings.TrimSpace(out); err == nil && got == "hello" {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("after the plugin crashed the container read %q", got)
}

// pluginPidOrZero finds the plugin's process in its cgroup.
func pluginPidOrZero(id string) int {
	for _, p := range []string{"/sys/fs/cgroup/berth-plugins/" + id + "/cgroup.procs", "/sys/fs/cgroup/pids/berth-plugins/" + id + "/cgroup.procs", "/sys/fs/cgroup/memory/berth-plugins/" + id + "/cgroup.procs"} {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		for _, f := range strings.Fields(string(b)) {
			if pid, err := strconv.Atoi(f); err == nil {
				if exe, _ := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid)); strings.HasSuffix(exe, "/volplugin") {
					return pid
				}
			}
		}
	}
	return 0
}

func pluginPid(t *testing.T, id string) int {
	t.Helper()
	if pid := pluginPidOrZero(id); pid != 0 {
		return pid
	}
	t.Fatalf("no process in the plugin's cgroup")
	return 0
}
