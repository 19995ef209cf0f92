package logging

import (
	"strings"
	"testing"
)

// runLogged runs a busybox container named name, labelled team=core and
// with STAGE=prod in its environment, that runs script under the log
// driver and options given, and waits for it to exit.
func runLogged(t *testing.T, name, driver string, opts []string, script string) {
	t.Helper()
	d.LoadTestImages(t)
	t.Cleanup(func() { d.Docker("rm", "-f", name) })
	args := []string{"run", "--name", name, "--label", "team=core", "-e", "STAGE=prod", "--log-driver", driver}
	for _, o := range opts {
		args = append(args, "--log-opt", o)
	}
	d.DockerT(t, append(args, "busybox", "sh", "-c", script)...)
}

// cacheHas checks that `docker logs` reads the stdout and stderr lines
// from the local cache.
func cacheHas(t *testing.T, name, stdout, stderr string) {
	t.Helper()
	out, errOut, err := d.Docker("logs", name)
	if err != nil || !strings.Contains(out, stdout) || !strings.Contains(errOut, stderr) {
		t.Fatalf("docker logs %s from the cache: %v, stdout %q, stderr %q; want %q and %q in them", name, err, out, errOut, stdout, stderr)
	}
}

// dockerFails runs the docker CLI and wants it to fail with want in its
// error output.
func dockerFails(t *testing.T, want string, args ...string) {
	t.Helper()
	_, stderr, err := d.Docker(args...)
	if err == nil || !strings.Contains(stderr, want) {
		t.Fatalf("docker %s: %v, %q; want a failure saying %q", strings.Join(args, " "), err, stderr, want)
	}
}
