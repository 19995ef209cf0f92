package metrics

import (
	"fmt"
	"net"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/berthd/berth/integration/internal/harness"
)

// d is the daemon this package's tests share; metricsAddr is where it
// serves /metrics.
var (
	d           *harness.Daemon
	metricsAddr string
)

func TestMain(m *testing.M) {
	addr, err := freeAddr()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	metricsAddr = addr
	os.Exit(harness.Main(m, harness.Options{Args: []string{"--metrics-addr", metricsAddr}}, &d))
}

// freeAddr is a loopback address whose port was free a moment ago.
func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// testLabel is the label every container of a test carries, so that its
// cleanup finds them.
func testLabel(t testing.TB) string {
	return "berth.test=" + regexp.MustCompile(`[^a-zA-Z0-9_.-]`).ReplaceAllString(t.Name(), "_")
}

// run creates (verb "create") or runs a labelled container from the test
// image on dd and returns its ID; the test's cleanup removes it.
func run(t *testing.T, dd *harness.Daemon, verb string, args ...string) string {
	t.Helper()
	full := append([]string{verb, "--pull=never", "--label", testLabel(t)}, args...)
	id := strings.TrimSpace(dd.DockerT(t, full...))
	t.Cleanup(func() { dd.Docker("rm", "-f", "-v", id) })
	return id
}
