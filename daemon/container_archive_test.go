package daemon

import (
	"os"
	"strings"
	"testing"
)

// A PID on disk may be stale (before restore reaches the container, after
// a reboot): one that is not in the container's cgroup is never viewed,
// since its root may well be the host's.
func TestOpenProcessRootRefusesAnotherCgroup(t *testing.T) {
	id := strings.Repeat("ab", 32)
	root, err := openProcessRoot(os.Getpid(), id)
	if err == nil {
		root.Close()
		t.Fatal("opened the root of a process outside the container's cgroup")
	}
}

func TestAbsContainerPathLikeDockerd(t *testing.T) {
	for in, want := range map[string]string{
		"/": "/", ".": "/.", "/.": "/.", "./": "/./", "/./": "/./", "bar/quux/": "/bar/quux/",
		"bar/quux/.": "/bar/quux/.", "bar/quux": "/bar/quux", "/bar/root/.": "/bar/root/.",
	} {
		if got := absContainerPath(in); got != want {
			t.Errorf("%q: %q, want %q", in, got, want)
		}
	}
}
