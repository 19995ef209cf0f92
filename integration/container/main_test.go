package container

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/berthd/berth/integration/internal/harness"
)

// d is the daemon this package's tests share. Tests that need their own
// configuration or restart the daemon use harness.Fresh.
var d *harness.Daemon

func TestMain(m *testing.M) {
	code := harness.Main(m, harness.Options{}, &d)
	if d != nil {
		dropTable(d)
	}
	os.Exit(code)
}

// dropTable removes the daemon's nftables table: a daemon stopped with
// live-restore keeps it for its containers' NAT, and one that crashed
// cannot remove it.
func dropTable(dd *harness.Daemon) {
	exec.Command("nft", "delete", "table", "inet", dd.NftTable()).Run()
}

// fresh starts a daemon of its own for one test, cleaned up with it.
func fresh(t *testing.T, o harness.Options) *harness.Daemon {
	t.Helper()
	dd := harness.Fresh(t, o)
	dd.AddCleanup(func() { dropTable(dd) })
	return dd
}

var imagesOnce = map[*harness.Daemon]bool{}
var imagesMu sync.Mutex

// setup loads the test images into dd once and registers the removal of
// every container the test labels, so tests stay independent even when
// they fail half-way.
func setup(t *testing.T, dd *harness.Daemon) {
	t.Helper()
	imagesMu.Lock()
	if !imagesOnce[dd] {
		dd.LoadTestImages(t)
		imagesOnce[dd] = true
	}
	imagesMu.Unlock()
	t.Cleanup(func() { removeTestContainers(dd, t) })
}

// testLabel is the label every container of a test carries.
func testLabel(t testing.TB) string {
	return "berth.test=" + sanitize(t.Name())
}

func sanitize(s string) string {
	return regexp.MustCompile(`[^a-zA-Z0-9_.-]`).ReplaceAllString(s, "_")
}

// uniqueName is a container name private to the test.
func uniqueName(t testing.TB, suffix string) string {
	n := strings.ToLower(sanitize(t.Name()))
	if len(n) > 40 {
		n = n[len(n)-40:]
	}
	n = strings.TrimLeft(n, "_.-")
	return n + "-" + suffix
}

func removeTestContainers(dd *harness.Daemon, t testing.TB) {
	if dd.Pid() == 0 {
		return
	}
	out, _, _ := dd.Docker("ps", "-aq", "--no-trunc", "--filter", "label="+testLabel(t))
	ids := strings.Fields(out)
	if len(ids) > 0 {
		dd.Docker(append([]string{"rm", "-f", "-v"}, ids...)...)
	}
}

// runArgs inserts --pull=never (no test may reach a public registry) and
// the test label after the run/create verb.
func runArgs(t testing.TB, args []string) []string {
	if len(args) == 0 || (args[0] != "run" && args[0] != "create") {
		return args
	}
	out := []string{args[0], "--pull=never", "--label", testLabel(t)}
	return append(out, args[1:]...)
}

// docker runs the CLI against the shared daemon and fails on error.
func docker(t testing.TB, args ...string) string {
	t.Helper()
	return d.DockerT(t, runArgs(t, args)...)
}

// dockerOn is docker for another daemon.
func dockerOn(t testing.TB, dd *harness.Daemon, args ...string) string {
	t.Helper()
	return dd.DockerT(t, runArgs(t, args)...)
}

// dockerRes runs the CLI and returns stdout, stderr and the exit code.
func dockerRes(t testing.TB, dd *harness.Daemon, args ...string) (string, string, int) {
	t.Helper()
	cmd := dd.DockerCmd(runArgs(t, args)...)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	code := 0
	if err != nil {
		code = -1
		if ee, ok := err.(interface{ ExitCode() int }); ok {
			code = ee.ExitCode()
		}
	}
	return o.String(), e.String(), code
}

// runD starts a detached container and returns its full ID.
func runD(t testing.TB, dd *harness.Daemon, args ...string) string {
	t.Helper()
	return strings.TrimSpace(dockerOn(t, dd, append([]string{"run", "-d"}, args...)...))
}

// runOut runs a container to completion (removed afterwards) and returns
// its output, trimmed.
func runOut(t testing.TB, args ...string) string {
	t.Helper()
	return strings.TrimSpace(docker(t, append([]string{"run", "--rm"}, args...)...))
}

// inspect returns the container's inspect document.
func inspect(t testing.TB, dd *harness.Daemon, id string) map[string]any {
	t.Helper()
	out := dd.DockerT(t, "inspect", "--type", "container", id)
	var v []map[string]any
	if err := json.Unmarshal([]byte(out), &v); err != nil || len(v) != 1 {
		t.Fatalf("inspect %s: %v %s", id, err, out)
	}
	return v[0]
}

// field walks a path of keys through a decoded JSON document.
func field(v any, path ...string) any {
	for _, p := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[p]
	}
	return v
}

// format is `docker inspect --format`.
func format(t testing.TB, dd *harness.Daemon, id, f string) string {
	t.Helper()
	return strings.TrimSpace(dd.DockerT(t, "inspect", "--format", f, id))
}

// waitState waits until the container's .State.Status is want.
func waitState(t testing.TB, dd *harness.Daemon, id, want string, timeout time.Duration) {
	t.Helper()
	var last string
	deadline := time.Now().Add(timeout)
	for {
		out, _, err := dd.Docker("inspect", "--format", "{{.State.Status}}", id)
		last = strings.TrimSpace(out)
		if err == nil && last == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("container %s: state %q, want %q after %s", id, last, want, timeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// api sends a raw Engine API request and returns the status and body.
func api(t testing.TB, dd *harness.Daemon, method, path, body string) (int, string) {
	t.Helper()
	resp, b := dd.Do(t, method, path, body)
	return resp.StatusCode, b
}

// apiMessage extracts the message of an error body.
func apiMessage(body string) string {
	var e struct {
		Message string `json:"message"`
	}
	json.Unmarshal([]byte(body), &e)
	return e.Message
}

// event is one line of `docker events --format '{{json .}}'`.
type event struct {
	Type   string `json:"Type"`
	Action string `json:"Action"`
	Actor  struct {
		ID         string            `json:"ID"`
		Attributes map[string]string `json:"Attributes"`
	} `json:"Actor"`
	TimeNano int64 `json:"timeNano"`
}

// eventsBetween returns the container events for id in [since, now].
func eventsBetween(t testing.TB, dd *harness.Daemon, id string, since time.Time) []event {
	t.Helper()
	until := time.Now().Add(200 * time.Millisecond)
	time.Sleep(250 * time.Millisecond)
	out := dd.DockerT(t, "events",
		"--since", fmt.Sprintf("%d.%09d", since.Unix(), since.Nanosecond()),
		"--until", fmt.Sprintf("%d.%09d", until.Unix(), until.Nanosecond()),
		"--filter", "container="+id, "--format", "{{json .}}")
	var evs []event
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		var e event
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("event %q: %v", sc.Text(), err)
		}
		evs = append(evs, e)
	}
	return evs
}

func actions(evs []event) []string {
	var a []string
	for _, e := range evs {
		// dockerd 20.10 leaves a trailing space after an exec's command.
		a = append(a, strings.TrimSpace(e.Action))
	}
	return a
}

// psNames lists container names for ps args, restricted to the test's
// containers.
func psNames(t testing.TB, args ...string) []string {
	t.Helper()
	a := append([]string{"ps", "--format", "{{.Names}}", "--filter", "label=" + testLabel(t)}, args...)
	out := docker(t, a...)
	return strings.Fields(out)
}

// psAll is the full `docker ps -a -q` of the shared daemon, to check that
// a rejected request created nothing.
func psAll(t testing.TB, dd *harness.Daemon) string {
	t.Helper()
	return dd.DockerT(t, "ps", "-a", "-q", "--no-trunc")
}

// syncBuffer is a goroutine-safe buffer for streamed output.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// waitOutput waits until the buffer contains want.
func waitOutput(t testing.TB, b *syncBuffer, want string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !strings.Contains(b.String(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("output never contained %q; got:\n%q", want, b.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func jsonUnmarshal(t testing.TB, s string, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(s), v); err != nil {
		t.Fatalf("decode %q: %v", s, err)
	}
}
