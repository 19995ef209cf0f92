package nettest

import (
	"crypto/rand"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// Require fails the test under CI and skips it elsewhere when ok is false.
func Require(t testing.TB, ok bool, format string, args ...any) {
	t.Helper()
	if ok {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("missing prerequisite: "+format, args...)
	}
	t.Skipf("missing prerequisite: "+format, args...)
}

// RequireRoot requires root and the ip tool, which every namespace test
// needs.
func RequireRoot(t testing.TB) {
	t.Helper()
	Require(t, os.Geteuid() == 0, "root")
	_, err := exec.LookPath("ip")
	Require(t, err == nil, "ip (iproute2)")
}

// RequireTool requires a command on PATH.
func RequireTool(t testing.TB, name, pkg string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	Require(t, err == nil, "%s (Debian package %s)", name, pkg)
	return p
}

// Name returns a device or namespace name with prefix and random hex,
// short enough for an interface name (15 bytes).
func Name(prefix string) string {
	b := make([]byte, 4)
	rand.Read(b)
	n := prefix + hex.EncodeToString(b)
	if len(n) > 15 {
		n = n[:15]
	}
	return n
}

// Netns is a named namespace the test made.
type Netns struct {
	Name string
	Path string
}

// NewNetns creates a named network namespace (`ip netns add`) and deletes
// it at test end; deleting it also removes every veth end inside it.
func NewNetns(t testing.TB) Netns {
	t.Helper()
	name := Name("bnt")
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add %s: %v: %s", name, err, out)
	}
	t.Cleanup(func() { exec.Command("ip", "netns", "del", name).Run() })
	return Netns{Name: name, Path: filepath.Join("/run/netns", name)}
}

// Exec runs a command inside the namespace and returns its combined output.
func (n Netns) Exec(args ...string) (string, error) {
	out, err := exec.Command("ip", append([]string{"netns", "exec", n.Name}, args...)...).CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

// CleanupLink deletes a host device at test end if it still exists.
func CleanupLink(t testing.TB, name string) {
	t.Cleanup(func() {
		if _, err := os.Stat(filepath.Join("/sys/class/net", name)); err == nil {
			exec.Command("ip", "link", "del", name).Run()
		}
	})
}
