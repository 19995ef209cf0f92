package volume

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/berthd/berth/integration/internal/harness"
)

// d is the daemon this package's tests share.
var d *harness.Daemon

// pluginDir and specDir are the private plugin discovery directories the
// daemon is started with, so the tests never see (or disturb) a host's
// /run/docker/plugins.
var pluginDir, specDir string

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	base, err := os.MkdirTemp("", "bt-vplug-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(base)
	pluginDir = filepath.Join(base, "run")
	specDir = filepath.Join(base, "etc")
	for _, dir := range []string{pluginDir, specDir} {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
	}
	// The daemon inherits the environment of the test process.
	os.Setenv("BERTHD_PLUGIN_SOCKET_DIRS", pluginDir)
	os.Setenv("BERTHD_PLUGIN_SPEC_DIRS", specDir)
	return harness.Main(m, harness.Options{}, &d)
}
