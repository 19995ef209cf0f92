package container

import (
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/berthd/berth/integration/internal/harness"
)

// In debug mode the daemon logs where a start's and an exec's time went,
// phase by phase (pkg/phases): the breakdown performance work reads.
func TestDebugModeLogsPhases(t *testing.T) {
	dd := fresh(t, harness.Options{Args: []string{"-D"}})
	setup(t, dd)
	id := strings.TrimSpace(dockerOn(t, dd, "run", "-d", "--network", "none", "busybox", "sleep", "100"))
	dockerOn(t, dd, "exec", id, "true")
	want := map[string]*regexp.Regexp{
		"start": regexp.MustCompile(`start phases: total=[0-9.]+ms lock=[0-9.]+ms rootfs=.* launch=[0-9.]+ms .*shim-start=[0-9.]+ms .*save-state=`),
		"exec":  regexp.MustCompile(`exec phases: total=[0-9.]+ms .*shim-exec=[0-9.]+ms to-exit=[0-9.]+ms recorded=`),
	}
	harness.Eventually(t, 5*time.Second, "phase lines in the log", func() bool {
		b, _ := os.ReadFile(dd.LogFile)
		for _, re := range want {
			if !re.Match(b) {
				return false
			}
		}
		return true
	})
}
