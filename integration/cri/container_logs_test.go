package cri

import (
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// criLine is one line of a CRI log file.
var criLine = regexp.MustCompile(`^(\S+) (stdout|stderr) ([FP]) (.*)$`)

// TestContainerLogFile: the CRI log file holds both streams in kubelet's
// format, a long line in 16 KiB pieces; `docker logs` still works.
func TestContainerLogFile(t *testing.T) {
	rt, _ := clients(t)
	pod := newTestPod(t)
	id := pod.run(t, rt, containerConfig("logger", "sh", "-c", `echo out1; echo err1 >&2; head -c 20000 /dev/zero | tr '\0' x; echo; echo end`))
	st := waitState(t, rt, id, runtimeapi.ContainerState_CONTAINER_EXITED)
	body := waitFile(t, st.GetLogPath(), " end\n")
	var got []string
	for _, l := range strings.Split(strings.TrimSuffix(body, "\n"), "\n") {
		m := criLine.FindStringSubmatch(l)
		if m == nil {
			t.Fatalf("not a CRI log line: %q", l)
		}
		if _, err := time.Parse(time.RFC3339Nano, m[1]); err != nil {
			t.Fatalf("timestamp of %q: %v", l, err)
		}
		content := m[4]
		if strings.Trim(content, "x") == "" && content != "" {
			content = "xxx…" + strconv.Itoa(len(m[4]))
		}
		got = append(got, m[2]+" "+m[3]+" "+content)
	}
	// stderr and stdout are separate pipes: their relative order is not
	// fixed; stdout's is.
	want := []string{"stdout F out1", "stdout P xxx…16384", "stdout F xxx…3616", "stdout F end"}
	var stdout []string
	for _, g := range got {
		if strings.HasPrefix(g, "stdout") {
			stdout = append(stdout, g)
		}
	}
	if strings.Join(stdout, "\n") != strings.Join(want, "\n") || !strings.Contains(body, " stderr F err1\n") {
		t.Fatalf("log file:\n%s", strings.Join(got, "\n"))
	}
	if out := d.DockerT(t, "logs", id); !strings.Contains(out, "out1\n") || !strings.Contains(out, "end\n") {
		t.Fatalf("docker logs: %q", out)
	}
}

// TestReopenContainerLog: after kubelet renames the file, the reopen
// makes a new one that receives the next lines; a stopped container's
// log cannot be reopened.
func TestReopenContainerLog(t *testing.T) {
	rt, _ := clients(t)
	id, path := runTicker(t, rt, "ticker")
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	if _, err := rt.ReopenContainerLog(ctxT(t), &runtimeapi.ReopenContainerLogRequest{ContainerId: id}); err != nil {
		t.Fatal(err)
	}
	body := waitFile(t, path, "tick")
	rotated, _ := os.ReadFile(path + ".1")
	first := criLine.FindStringSubmatch(strings.SplitN(body, "\n", 2)[0])
	if first == nil || strings.Contains(string(rotated), " "+first[4]+"\n") {
		t.Fatalf("the new file starts with %q, which the rotated one has too", first)
	}
	if _, err := rt.StopContainer(ctxT(t), &runtimeapi.StopContainerRequest{ContainerId: id, Timeout: 0}); err != nil {
		t.Fatal(err)
	}
	_, err := rt.ReopenContainerLog(ctxT(t), &runtimeapi.ReopenContainerLogRequest{ContainerId: id})
	wantGRPCCode(t, err, codes.FailedPrecondition)
}

// TestContainerLogAfterDaemonKill: a pod container outlives a killed
// daemon; the next one (live-restore) goes on writing its CRI log file,
// and can reopen it.
func TestContainerLogAfterDaemonKill(t *testing.T) {
	rt, _ := clients(t)
	id, path := runTicker(t, rt, "survivor")
	if err := d.Restart(true, "--live-restore"); err != nil {
		t.Fatal(err)
	}
	rt, _ = clients(t)
	if st := containerStatus(t, rt, id); st.GetState() != runtimeapi.ContainerState_CONTAINER_RUNNING {
		t.Fatalf("after the daemon's restart: %v", st)
	}
	before, _ := os.ReadFile(path)
	deadline := time.Now().Add(10 * time.Second)
	for {
		now, _ := os.ReadFile(path)
		if len(now) > len(before) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the log file stopped growing after the restart:\n%s", now)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	if _, err := rt.ReopenContainerLog(ctxT(t), &runtimeapi.ReopenContainerLogRequest{ContainerId: id}); err != nil {
		t.Fatal(err)
	}
	waitFile(t, path, "tick")
}

// runTicker runs a pod container that logs a numbered line every 0.1 s,
// and waits for its first lines in its CRI log file.
func runTicker(t *testing.T, rt runtimeapi.RuntimeServiceClient, name string) (id, path string) {
	t.Helper()
	id = newTestPod(t).run(t, rt, containerConfig(name, "sh", "-c", `i=0; while true; do echo tick $i; i=$((i+1)); sleep 0.1; done`))
	path = containerStatus(t, rt, id).GetLogPath()
	waitFile(t, path, "tick 1\n")
	return id, path
}
