package logging

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/berthd/berth/integration/internal/harness"
)

// d is the daemon this package's tests share.
var d *harness.Daemon

// journalSocket is where the package's daemon sends journald entries: a
// socket in a private directory that TestJournald listens on, named to
// the daemon through BERTH_JOURNAL_SOCKET.
var journalSocket string

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	dir, err := os.MkdirTemp("", "berth-journal-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	journalSocket = filepath.Join(dir, "socket")
	os.Setenv("BERTH_JOURNAL_SOCKET", journalSocket)
	// The awslogs driver signs with the daemon's credentials; the fake
	// CloudWatch Logs of TestAWSLogs checks they are these.
	os.Setenv("AWS_ACCESS_KEY_ID", "BERTHTESTKEY")
	os.Setenv("AWS_SECRET_ACCESS_KEY", "berth-test-secret")
	return harness.Main(m, harness.Options{}, &d)
}
