package runtime_test

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"

	profiles "github.com/moby/profiles/seccomp"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/berthd/berth/pkg/runtime/bundletest"
)

// observe prints what the isolation tests look at, in a form that does
// not depend on which runtime made the container.
const observe = `hostname; echo pid=$$
grep -E '^(Cap|NoNewPrivs|Seccomp:)' /proc/self/status
ls /sys/class/net | tr '\n' ' '; echo
ls /dev | tr '\n' ' '; echo
touch /x 2>&1; touch /tmp/x && echo tmp-writable
cat /proc/sys/net/ipv4/ip_forward; ulimit -n; id; umask
wc -c < /proc/keys; cat /proc/sys/kernel/domainname
grep -v -e cgroup -e ' / ' /proc/self/mounts | awk '{print $2, $3, $4}' | sort
readlink /dev/ptmx; readlink /dev/fd`

// The same bundle run by Debian's runc and by berth shows the same
// namespaces, capabilities, filters, devices, mounts and limits.
func TestSameObservationsAsRunc(t *testing.T) {
	runc, err := exec.LookPath("runc")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("runc not installed (Debian package runc)")
		}
		t.Skip("runc not installed")
	}
	b := sh(t, observe)
	b.Spec.Root.Readonly = true
	b.Spec.Process.NoNewPrivileges = true
	b.Spec.Process.User = specs.User{UID: 0, GID: 0, AdditionalGids: []uint32{5}}
	b.Spec.Mounts = append(b.Spec.Mounts, specs.Mount{Destination: "/tmp", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "nodev", "size=1m"}})
	b.Spec.Linux.Sysctl = map[string]string{"net.ipv4.ip_forward": "1", "kernel.domainname": "berth.test"}
	b.Spec.Process.Rlimits = []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Hard: 4321, Soft: 4321}}
	p, err := profiles.GetDefaultProfile(b.Spec)
	if err != nil {
		t.Fatal(err)
	}
	b.Spec.Linux.Seccomp = p
	b.Write(t)

	ours := run(t, b)
	if ours.code != 0 {
		t.Fatalf("berth: %+v", ours)
	}
	state := t.TempDir()
	id := nextID(t)
	cmd := exec.Command(runc, "--root", state, "run", "--bundle", b.Dir, id)
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	err = cmd.Run()
	_ = exec.Command(runc, "--root", state, "delete", "--force", id).Run()
	if err != nil {
		t.Fatalf("runc: %v: %s", err, stderr.String())
	}
	if ours.stdout != out.String() {
		t.Errorf("berth and runc differ:\n%s", diff(ours.stdout, out.String()))
	}
	if testing.Verbose() {
		t.Logf("observations:\n%s", ours.stdout)
	}
}

func diff(a, b string) string {
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	var s strings.Builder
	for i := 0; i < max(len(al), len(bl)); i++ {
		var x, y string
		if i < len(al) {
			x = al[i]
		}
		if i < len(bl) {
			y = bl[i]
		}
		if x != y {
			fmt.Fprintf(&s, "  berth: %q\n  runc:  %q\n", x, y)
		}
	}
	return s.String()
}

var _ = bundletest.Require
