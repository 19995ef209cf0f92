// Package image holds the end-to-end tests of the local image API, run
// through the real docker CLI against a berthd started for this package.
package image

import (
	"os"
	"testing"

	"github.com/berthd/berth/integration/internal/harness"
)

var d *harness.Daemon

func TestMain(m *testing.M) {
	os.Exit(harness.Main(m, harness.Options{}, &d))
}
