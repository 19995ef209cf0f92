package cri

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/berthd/berth/integration/internal/harness"
)

// crictlStdout runs crictl and answers its standard output alone (its
// warnings go to stderr); a failure fails the test.
func crictlStdout(t *testing.T, args ...string) string {
	t.Helper()
	cmd := crictlCmd(t, args...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("crictl %s: %v\n%s%s", strings.Join(args, " "), err, out, stderr.String())
	}
	return string(out)
}

// TestCrictlPodAndImageCommands: the rest of crictl as an operator types
// it: info, runp, pods, inspectp, exec -it, logs -f, stats, statsp,
// images, inspecti, pull, rmi, stopp and rmp.
func TestCrictlPodAndImageCommands(t *testing.T) {
	setup(t, d)
	dir := t.TempDir()

	var info struct {
		Status struct {
			Conditions []struct {
				Type   string `json:"type"`
				Status bool   `json:"status"`
			} `json:"conditions"`
		} `json:"status"`
	}
	if err := json.Unmarshal([]byte(crictlStdout(t, "info")), &info); err != nil {
		t.Fatalf("crictl info: %v", err)
	}
	ready := false
	for _, c := range info.Status.Conditions {
		ready = ready || (c.Type == "RuntimeReady" && c.Status)
	}
	if !ready {
		t.Fatalf("crictl info: RuntimeReady not true: %+v", info)
	}

	uid := fmt.Sprintf("crictl-%d", time.Now().UnixNano())
	podJSON := writeJSON(t, dir, "pod.json", map[string]any{
		"metadata":      map[string]any{"name": "crictl-pod", "namespace": "ns", "uid": uid},
		"log_directory": filepath.Join(dir, "logs"),
		// Host network: the shared test daemon has no pod network.
		"linux": map[string]any{"security_context": map[string]any{"namespace_options": map[string]any{"network": 2}}},
	})
	pod := strings.TrimSpace(crictlStdout(t, "runp", podJSON))
	t.Cleanup(func() { crictlCmd(t, "rmp", "-f", pod).Run() })
	if out := crictlStdout(t, "pods", "-q", "--name", "crictl-pod"); strings.TrimSpace(out) != pod {
		t.Fatalf("crictl pods --name: %q, want %s", out, pod)
	}
	var podInfo struct {
		Status struct {
			State string `json:"state"`
		} `json:"status"`
	}
	if err := json.Unmarshal([]byte(crictlStdout(t, "inspectp", "-o", "json", pod)), &podInfo); err != nil || podInfo.Status.State != "SANDBOX_READY" {
		t.Fatalf("crictl inspectp: %v %+v", err, podInfo)
	}

	ctrJSON := writeJSON(t, dir, "ctr.json", map[string]any{
		"metadata": map[string]any{"name": "ticker"},
		"image":    map[string]any{"image": harness.BusyboxImage},
		"command":  []string{"sh", "-c", "i=0; while :; do echo tick-$i; i=$((i+1)); sleep 0.2; done"},
		"log_path": "ticker/0.log",
	})
	ctr := strings.TrimSpace(crictlStdout(t, "create", "--no-pull", pod, ctrJSON, podJSON))
	crictl(t, "start", ctr)

	// logs -f follows: lines written after it started arrive.
	follow := crictlCmd(t, "logs", "-f", ctr)
	out, err := follow.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := follow.Start(); err != nil {
		t.Fatal(err)
	}
	seen := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if sc.Text() == "tick-15" {
				seen <- true
				return
			}
		}
		seen <- false
	}()
	select {
	case ok := <-seen:
		if !ok {
			t.Fatal("crictl logs -f ended before tick-15")
		}
	case <-time.After(20 * time.Second):
		t.Fatal("crictl logs -f: no tick-15 within 20 s")
	}
	follow.Process.Kill()
	follow.Wait()

	// exec -it gets a terminal; script(1) gives crictl one to pass on.
	script := exec.CommandContext(ctxT(t), "script", "-qec", strings.Join([]string{crictlPath(t), "--runtime-endpoint", "unix://" + criSocket(), "exec", "-it", ctr, "tty"}, " "), "/dev/null")
	script.Env = append(os.Environ(), "CRI_CONFIG_FILE=/dev/null")
	if b, err := script.CombinedOutput(); err != nil || !strings.Contains(string(b), "/dev/pts/") {
		t.Fatalf("crictl exec -it tty: %v %q", err, b)
	}

	if s := crictl(t, "stats", "--id", ctr); !strings.Contains(s, ctr[:12]) && !strings.Contains(s, "ticker") {
		t.Fatalf("crictl stats --id: %q", s)
	}
	if s := crictl(t, "statsp", "--id", pod); !strings.Contains(s, "crictl-pod") {
		t.Fatalf("crictl statsp --id: %q", s)
	}

	// Images: what the engine holds, and a pull from a registry.
	if s := crictl(t, "images"); !strings.Contains(s, strings.Split(harness.BusyboxImage, ":")[0]) {
		t.Fatalf("crictl images lacks %s:\n%s", harness.BusyboxImage, s)
	}
	crictl(t, "inspecti", harness.BusyboxImage)
	// An image of its own (a child of the test image that nothing
	// else uses), since crictl rmi removes every name of an image.
	reg := startImageRegistry(t, "", "")
	ref := reg.Addr + "/crictl/pulled:1"
	if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte("FROM "+harness.BusyboxImage+"\nLABEL berth.test="+uid+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	build := d.DockerCmd("build", "-q", "-t", "crictl-src:"+uid, dir)
	build.Env = append(build.Env, "DOCKER_BUILDKIT=0")
	if b, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, b)
	}
	reg.push(t, d, "crictl-src:"+uid, "crictl/pulled:1")
	d.DockerT(t, "rmi", ref, "crictl-src:"+uid)
	crictl(t, "pull", ref)
	if s := crictlStdout(t, "images", "-q", ref); strings.TrimSpace(s) == "" {
		t.Fatalf("crictl images %s after pull: empty", ref)
	}
	crictl(t, "rmi", ref)
	if s := d.DockerT(t, "images", "-q", ref); strings.TrimSpace(s) != "" {
		t.Fatalf("docker images %s after crictl rmi: %q", ref, s)
	}

	crictl(t, "stopp", pod)
	crictl(t, "rmp", pod)
	if s := crictlStdout(t, "pods", "-q", "--name", "crictl-pod"); strings.TrimSpace(s) != "" {
		t.Fatalf("crictl pods after rmp: %q", s)
	}
	if s := d.DockerT(t, "ps", "-aq", "--filter", "label=io.kubernetes.pod.uid="+uid); strings.TrimSpace(s) != "" {
		t.Fatalf("containers of the pod left after rmp: %q", s)
	}
}
