// Package build holds the end-to-end tests of the classic builder, run
// through `DOCKER_BUILDKIT=0 docker build` against a berthd started for
// this package, and compared with a real dockerd 20.10 where the result
// must be the same.
package build

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/berthd/berth/integration/internal/harness"
)

var d *harness.Daemon

func TestMain(m *testing.M) {
	os.Exit(harness.Main(m, harness.Options{}, &d))
}

var loadOnce = map[*harness.Daemon]bool{}

func setup(t *testing.T) {
	t.Helper()
	if !loadOnce[d] {
		d.LoadTestImages(t)
		loadOnce[d] = true
	}
}

// writeContext writes files (name -> content) into a new directory.
func writeContext(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		p := filepath.Join(dir, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// build runs the classic builder through the CLI against host and
// returns stdout, stderr and the exit code.
func build(host string, cfgDir string, args ...string) (string, string, int) {
	cmd := exec.Command("docker", append([]string{"build"}, args...)...)
	cmd.Env = append(os.Environ(), "DOCKER_BUILDKIT=0", "DOCKER_HOST="+host, "DOCKER_CONFIG="+cfgDir)
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		code = -1
	}
	return out.String(), errb.String(), code
}

func berthBuild(t *testing.T, args ...string) (string, string, int) {
	return build(d.Host(), filepath.Join(d.Root, "cli"), args...)
}

func mustBuild(t *testing.T, args ...string) string {
	t.Helper()
	out, errs, code := berthBuild(t, args...)
	if code != 0 {
		t.Fatalf("docker build %v: exit %d\n%s\n%s\n%s", args, code, out, errs, d.LogTail(20))
	}
	return out
}

// dockerdWithBusybox starts a real dockerd for the test with the test
// busybox:latest loaded; nil when there is none (StartDockerd has skipped
// or failed the test).
func dockerdWithBusybox(t *testing.T) *harness.Dockerd {
	t.Helper()
	dd := harness.StartDockerd(t)
	if dd == nil {
		return nil
	}
	p, _ := d.WriteTestImage(t, "busybox:latest", false)
	dd.Docker(t, "load", "-i", p)
	return dd
}
