package runtime_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/berthd/berth/pkg/runtime"
)

// Namespaces given by path are joined (`--network container:A`,
// `--pid container:A`, `--ipc`, `--uts`): the pid one through the nsenter
// constructor, the others on the stage's thread.
func TestJoinNamespacesByPath(t *testing.T) {
	rt := newRuntime(t)
	a := sh(t, "echo ready; exec sleep 30")
	ca, in, stdout, _, _ := create(t, rt, a)
	defer in.Close()
	if err := ca.Start(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return strings.Contains(stdout.String(), "ready") })

	b := sh(t, "hostname; for ns in net ipc uts pid; do readlink /proc/self/ns/$ns; done; ps -o pid,comm | grep -c sleep")
	b.Spec.Hostname = "" // the UTS namespace is A's
	var ns []specs.LinuxNamespace
	for _, n := range b.Spec.Linux.Namespaces {
		switch n.Type {
		case specs.NetworkNamespace, specs.IPCNamespace, specs.UTSNamespace, specs.PIDNamespace:
			n.Path = fmt.Sprintf("/proc/%d/ns/%s", ca.Pid(), map[specs.LinuxNamespaceType]string{
				specs.NetworkNamespace: "net", specs.IPCNamespace: "ipc", specs.UTSNamespace: "uts", specs.PIDNamespace: "pid"}[n.Type])
		}
		ns = append(ns, n)
	}
	b.Spec.Linux.Namespaces = ns
	r := run(t, b)
	if r.code != 0 {
		t.Fatalf("%+v", r)
	}
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if len(lines) != 6 || lines[0] != "berth-test" || lines[5] != "1" {
		t.Fatalf("joined container saw %q (stderr %q)", lines, r.stderr)
	}
	for i, n := range []string{"net", "ipc", "uts", "pid"} {
		want, _ := os.Readlink(fmt.Sprintf("/proc/%d/ns/%s", ca.Pid(), n))
		if lines[1+i] != want {
			t.Errorf("%s: %s, want A's %s", n, lines[1+i], want)
		}
	}
}

// MS_MOVE instead of pivot_root, for a root on ramfs.
func TestNoPivotMovesRoot(t *testing.T) {
	b := sh(t, "ls / | tr '\\n' ' '; cat /etc/hostname")
	rt := newRuntime(t)
	outR, outW, _ := os.Pipe()
	c, err := rt.Create(context.Background(), runtime.CreateOpts{ID: nextID(t), Bundle: b.Dir, Spec: b.Spec, Stdout: outW, Stderr: outW, NoPivot: true})
	outW.Close()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Delete(true)
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	st, _ := c.Init.Wait()
	buf := make([]byte, 4096)
	n, _ := outR.Read(buf)
	if st.ExitCode() != 0 || !strings.Contains(string(buf[:n]), "bin dev etc") || !strings.Contains(string(buf[:n]), "bundle") {
		t.Fatalf("exit %d: %q", st.ExitCode(), buf[:n])
	}
}
