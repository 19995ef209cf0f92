// Package registry holds the end-to-end tests of pull, push, login and
// distribution inspect against Debian's docker-registry, which the tests
// start on 127.0.0.1 (random port) in three setups: plain HTTP as an
// insecure registry, TLS with a test CA in a private certs.d, and
// htpasswd basic auth. Everything runs through the real docker CLI or
// plain HTTP against a berthd started for the package.
package registry

import (
	"fmt"
	"os"
	"testing"

	"github.com/berthd/berth/integration/internal/harness"
)

var (
	d *harness.Daemon
	// certsDir is the daemon's private certs.d (BERTH_CERTS_D).
	certsDir string
)

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	dir, err := os.MkdirTemp("", "bt-certs-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	certsDir = dir
	// berthd inherits the environment of the test process.
	os.Setenv("BERTH_CERTS_D", dir)
	return harness.Main(m, harness.Options{}, &d)
}
