package security

import (
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/berthd/berth/integration/internal/harness"
)

// d is the daemon this package's tests share; a test that needs its own
// configuration uses harness.Fresh.
var d *harness.Daemon

func TestMain(m *testing.M) { os.Exit(harness.Main(m, harness.Options{}, &d)) }

var loadOnce sync.Once

// setup loads the test images once and returns the shared daemon.
func setup(t *testing.T) *harness.Daemon {
	t.Helper()
	loadOnce.Do(func() { d.LoadTestImages(t) })
	return d
}

// run starts a detached container with no network and removes it (and its
// anonymous volumes) after the test.
func run(t *testing.T, dd *harness.Daemon, args ...string) string {
	t.Helper()
	id := strings.TrimSpace(dd.DockerT(t, append([]string{"run", "-d", "--pull=never", "--network", "none"}, args...)...))
	t.Cleanup(func() { dd.Docker("rm", "-f", "-v", id) })
	return id
}

// hostFile creates a file outside every directory of the daemon's, the
// kind of host file an escape would reach, and returns its path.
func hostFile(t *testing.T, content string) string {
	t.Helper()
	p := t.TempDir() + "/victim"
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}
