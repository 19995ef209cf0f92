package disk

import (
	"os"
	"testing"

	"github.com/berthd/berth/integration/internal/harness"
)

func TestMain(m *testing.M) {
	if code, ok := harness.Preflight(); !ok {
		os.Exit(code)
	}
	os.Exit(m.Run())
}
