package containerfs

import (
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/berthd/berth/integration/internal/harness"
)

var d *harness.Daemon

func TestMain(m *testing.M) { os.Exit(harness.Main(m, harness.Options{}, &d)) }

var loadOnce sync.Once

// setup loads the test images once and returns the shared daemon.
func setup(t *testing.T) *harness.Daemon {
	t.Helper()
	loadOnce.Do(func() { d.LoadTestImages(t) })
	return d
}

// run starts a container with no network (what is tested here does not
// need one, and parallel packages share the address pools) and removes it
// after the test.
func run(t *testing.T, dd *harness.Daemon, args ...string) string {
	t.Helper()
	id := strings.TrimSpace(dd.DockerT(t, append([]string{"run", "-d", "--network", "none"}, args...)...))
	t.Cleanup(func() { dd.Docker("rm", "-f", "-v", id) })
	return id
}

// fails runs a docker command that must fail and returns its stderr.
func fails(t *testing.T, dd *harness.Daemon, args ...string) string {
	t.Helper()
	out, errOut, err := dd.Docker(args...)
	if err == nil {
		t.Fatalf("docker %s succeeded: %s", strings.Join(args, " "), out)
	}
	return strings.TrimSpace(errOut)
}

func exec(t *testing.T, dd *harness.Daemon, id string, cmd ...string) string {
	t.Helper()
	return strings.TrimSpace(dd.DockerT(t, append([]string{"exec", id}, cmd...)...))
}

func mustContain(t *testing.T, got, want string) {
	t.Helper()
	if !strings.Contains(got, want) {
		t.Fatalf("%q does not contain %q", got, want)
	}
}

func writeFile(t *testing.T, p, s string) {
	t.Helper()
	if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// noMountsUnder fails when a mount of the daemon's is left below dir.
func noMountsUnder(t *testing.T, dir string) {
	t.Helper()
	b, _ := os.ReadFile("/proc/self/mountinfo")
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		if len(f) > 4 && strings.HasPrefix(f[4], dir) {
			t.Errorf("mount left behind: %s", f[4])
		}
	}
}
