package buildkit

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/berthd/berth/integration/internal/harness"
)

// pluginDir is where hack/buildkit-clients.sh (make deps) leaves the
// docker-buildx and docker-compose plugins.
func pluginDir() string {
	if p := os.Getenv("BERTH_BUILDKIT_BIN"); p != "" {
		return p
	}
	return "/var/tmp/berth-buildkit/bin"
}

var plugins = []string{"docker-buildx", "docker-compose"}

var (
	d *harness.Daemon
	// cliConfig is the DOCKER_CONFIG of every CLI call of the package:
	// its cli-plugins holds buildx and compose, so `docker build` goes
	// through buildx and `docker compose build` through bake, as on a
	// Docker CE install.
	cliConfig string
)

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	if code, ok := harness.Preflight(); !ok {
		return code
	}
	dir, err := os.MkdirTemp("", "bt-bkcli-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	if err := installPlugins(dir); err != nil {
		fmt.Fprintf(os.Stderr, "missing prerequisite: %v (run hack/buildkit-clients.sh or make deps)\n", err)
		if harness.InCI() {
			return 1
		}
		return 0
	}
	cliConfig = dir
	return harness.Main(m, harness.Options{Config: `{"features":{"buildkit":true}}`}, &d)
}

// installPlugins links buildx and compose into dir/cli-plugins.
func installPlugins(dir string) error {
	pdir := filepath.Join(dir, "cli-plugins")
	if err := os.MkdirAll(pdir, 0o755); err != nil {
		return err
	}
	for _, p := range plugins {
		src := filepath.Join(pluginDir(), p)
		if fi, err := os.Stat(src); err != nil || fi.Mode()&0o111 == 0 {
			return fmt.Errorf("%s not built", src)
		}
		if err := os.Symlink(src, filepath.Join(pdir, p)); err != nil {
			return err
		}
	}
	return nil
}

var loadOnce sync.Once

// setup loads busybox:latest and busybox2:latest once for the package.
func setup(t *testing.T) {
	t.Helper()
	loadOnce.Do(func() { d.LoadTestImages(t) })
}

// cmdTimeout bounds every CLI call: a build that hangs fails its test
// instead of the whole package's timeout.
const cmdTimeout = 4 * time.Minute

// result is one CLI call's outcome.
type result struct {
	Out, Err string
	Code     int
}

// Combined is stdout and stderr, for error texts and progress lines
// (buildx writes its progress to stderr).
func (r result) Combined() string { return r.Out + r.Err }

// cliEnv is the environment of a CLI call against berthd: BuildKit on
// (the harness's own default is the classic builder), the package's
// plugins, no egress, and env last so that a test can override any of it.
func cliEnv(env ...string) []string {
	base := append(os.Environ(), harness.NoEgressEnv...)
	base = append(base,
		"DOCKER_HOST="+d.Host(),
		"DOCKER_CONFIG="+cliConfig,
		"DOCKER_CLI_HINTS=false",
		"DOCKER_BUILDKIT=1",
		"BUILDKIT_PROGRESS=plain",
		// buildx keeps its builder state under here; the package's own.
		"BUILDX_CONFIG="+filepath.Join(cliConfig, "buildx"),
	)
	return append(base, env...)
}

// cliCmd prepares a docker CLI call in dir (the test's context directory
// for compose, "" for the working directory).
func cliCmd(ctx context.Context, dir string, env []string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, "docker", args...)
	cmd.Dir = dir
	cmd.Env = cliEnv(env...)
	cmd.WaitDelay = 10 * time.Second
	return cmd
}

// cliIn runs the docker CLI in dir with extra environment and returns
// what it printed and its exit code.
func cliIn(t *testing.T, dir string, env []string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), cmdTimeout)
	defer cancel()
	cmd := cliCmd(ctx, dir, env, args...)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	r := result{Out: o.String(), Err: e.String()}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		r.Code = ee.ExitCode()
	default:
		r.Code = -1
		r.Err += "\n" + err.Error()
	}
	if ctx.Err() != nil {
		r.Err += "\n(timed out after " + cmdTimeout.String() + ")"
	}
	return r
}

// cli runs the docker CLI with the package's environment.
func cli(t *testing.T, args ...string) result {
	t.Helper()
	return cliIn(t, "", nil, args...)
}

// mustCLI runs the docker CLI and fails the test when it fails.
func mustCLI(t *testing.T, args ...string) string {
	t.Helper()
	r := cli(t, args...)
	if r.Code != 0 {
		t.Fatalf("docker %s: exit %d\nstdout: %s\nstderr: %s\nberthd log:\n%s",
			strings.Join(args, " "), r.Code, r.Out, lastLines(r.Err, 40), d.LogTail(30))
	}
	return r.Out
}

// mustFail runs the docker CLI, fails the test when it succeeds, and
// returns what it printed.
func mustFail(t *testing.T, args ...string) result {
	t.Helper()
	r := cli(t, args...)
	if r.Code == 0 {
		t.Fatalf("docker %s succeeded; want a failure\n%s", strings.Join(args, " "), r.Combined())
	}
	return r
}

// lastLines keeps a long progress log readable in a failure message.
func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// buildx runs `docker buildx build --progress=plain ARGS` and fails the
// test when it fails; it returns the progress log.
func buildx(t *testing.T, args ...string) string {
	t.Helper()
	r := cli(t, append([]string{"buildx", "build", "--progress=plain"}, args...)...)
	if r.Code != 0 {
		t.Fatalf("docker buildx build %s: exit %d\n%s\nberthd log:\n%s",
			strings.Join(args, " "), r.Code, lastLines(r.Combined(), 60), d.LogTail(30))
	}
	return r.Combined()
}

// writeContext writes files (name -> content) into a new directory and
// returns it.
func writeContext(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	writeFiles(t, dir, files)
	return dir
}

// writeFiles writes files (name -> content) under dir.
func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

var nameSeq struct {
	sync.Mutex
	n int
}

// imageName is a fresh repository name for one test's image, removed
// when the test ends.
func imageName(t *testing.T) string {
	t.Helper()
	nameSeq.Lock()
	nameSeq.n++
	n := nameSeq.n
	nameSeq.Unlock()
	name := fmt.Sprintf("bk-%s-%d:latest", strings.ToLower(strings.ReplaceAll(t.Name(), "/", "-")), n)
	t.Cleanup(func() { cli(t, "rmi", "-f", name) })
	return name
}

// imageConfig is the part of `docker image inspect` the tests compare.
type imageConfig struct {
	ID           string
	Architecture string
	Os           string
	Config       struct {
		Env          []string
		Cmd          []string
		Entrypoint   []string
		WorkingDir   string
		User         string
		Labels       map[string]string
		ExposedPorts map[string]struct{}
	}
	RootFS struct {
		Layers []string
	}
}

// inspect returns an image's config as berthd reports it.
func inspect(t *testing.T, ref string) imageConfig {
	t.Helper()
	var out []imageConfig
	if err := json.Unmarshal([]byte(mustCLI(t, "image", "inspect", ref)), &out); err != nil || len(out) != 1 {
		t.Fatalf("image inspect %s: %v %v", ref, out, err)
	}
	return out[0]
}

// runIn runs a shell script in a throw-away container of image and
// returns its output, trimmed.
func runIn(t *testing.T, image, script string) string {
	t.Helper()
	return strings.TrimSpace(mustCLI(t, "run", "--rm", "--network", "none", image, "sh", "-c", script))
}

// expectRun fails the test unless script, run in image, prints want.
func expectRun(t *testing.T, image, script, want string) {
	t.Helper()
	if got := runIn(t, image, script); got != want {
		t.Fatalf("%s in %s printed %q, want %q", script, image, got, want)
	}
}

// expectContains fails the test unless s holds every one of subs.
func expectContains(t *testing.T, what, s string, subs ...string) {
	t.Helper()
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			t.Fatalf("%s: %q not in:\n%s", what, sub, lastLines(s, 60))
		}
	}
}

// execOut runs a host command and returns its stdout.
func execOut(name string, args ...string) (string, error) {
	out, err := exec.Command(name, args...).Output()
	return string(out), err
}
