package plugin

import (
	"os"
	"testing"

	"github.com/berthd/berth/integration/internal/harness"
)

// d is the daemon this package's tests share.
var d *harness.Daemon

func TestMain(m *testing.M) {
	code := harness.Main(m, harness.Options{}, &d)
	removePluginBinaries()
	os.Exit(code)
}
