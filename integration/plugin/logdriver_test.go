package plugin

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/berthd/berth/integration/internal/harness"
)

func logPluginContext(t *testing.T) string {
	return pluginContext(t, "logplugin", map[string]any{
		"Description": "test log driver", "Documentation": "https://example.invalid",
		"Interface": map[string]any{"Socket": "log.sock", "Types": []string{"docker.logdriver/1.0"}},
	})
}

// pluginReceived waits until the log plugin has written want lines for
// the container, and returns them.
func pluginReceived(t *testing.T, dd *harness.Daemon, plugin, container string, want int) []string {
	t.Helper()
	pid := strings.TrimSpace(dd.DockerT(t, "plugin", "inspect", "-f", "{{.Id}}", plugin))
	cid := strings.TrimSpace(dd.DockerT(t, "inspect", "-f", "{{.Id}}", container))
	path := filepath.Join(dd.DataRoot, "plugins", pid, "rootfs", "out", cid+".log")
	deadline := time.Now().Add(15 * time.Second)
	var lines []string
	for {
		b, _ := os.ReadFile(path)
		lines = strings.Split(strings.TrimSpace(string(b)), "\n")
		if len(b) == 0 {
			lines = nil
		}
		if len(lines) >= want || time.Now().After(deadline) {
			return lines
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestLogDriverPlugin: a container logging to a plugin sends it each line
// with its stream and partial flag, and `docker logs` still reads them
// (dual logging).
func TestLogDriverPlugin(t *testing.T) {
	d.LoadTestImages(t)
	removePlugin(t, "testlog")
	t.Cleanup(func() { d.Docker("rm", "-f", "logged") })
	d.DockerT(t, "plugin", "create", "testlog", logPluginContext(t))
	d.DockerT(t, "plugin", "enable", "testlog")
	dockerFails(t, "error looking up logging plugin nolog", "create", "--log-driver", "nolog", "busybox")

	d.DockerT(t, "run", "--name", "logged", "--log-driver", "testlog", "busybox", "sh", "-c", "echo one; echo two >&2; printf partial")
	got := pluginReceived(t, d, "testlog", "logged", 3)
	want := []string{"stdout|one|false", "stderr|two|false", "stdout|partial|true"}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		// stdout and stderr are separate pipes: their order may differ.
		if len(got) != 3 || !strings.Contains(strings.Join(got, "\n"), "stderr|two|false") || got[0] == "stdout|partial|true" {
			t.Fatalf("plugin received %q; want %q", got, want)
		}
	}
	logs := d.DockerT(t, "logs", "logged")
	if !strings.Contains(logs, "one\n") || !strings.Contains(logs, "partial") {
		t.Fatalf("docker logs from the cache: %q", logs)
	}
	// The plugin is in use by nothing running; the container's end let it go.
	d.DockerT(t, "rm", "logged")
}

// TestLogDriverPluginAcrossRestart: with live-restore, a daemon restart
// while a container logs to a plugin neither loses nor repeats a line.
func TestLogDriverPluginAcrossRestart(t *testing.T) {
	ld := harness.Fresh(t, harness.Options{Config: `{"live-restore":true}`})
	ld.LoadTestImages(t)
	ld.DockerT(t, "plugin", "create", "testlog", logPluginContext(t))
	ld.DockerT(t, "plugin", "enable", "testlog")
	const n = 30
	ld.DockerT(t, "run", "-d", "--name", "counter", "--log-driver", "testlog", "busybox", "sh", "-c",
		fmt.Sprintf("i=1; while [ $i -le %d ]; do echo line$i; i=$((i+1)); sleep 0.05; done", n))
	time.Sleep(400 * time.Millisecond)
	if err := ld.Restart(false); err != nil {
		t.Fatal(err)
	}
	ld.DockerT(t, "wait", "counter")
	got := pluginReceived(t, ld, "testlog", "counter", n)
	time.Sleep(300 * time.Millisecond)
	got = pluginReceived(t, ld, "testlog", "counter", n)
	if len(got) != n {
		t.Fatalf("plugin received %d lines; want %d: %q", len(got), n, got)
	}
	for i, l := range got {
		if l != fmt.Sprintf("stdout|line%d|false", i+1) {
			t.Fatalf("line %d: %q (all: %q)", i+1, l, got)
		}
	}
}
