package containerfs

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestInitLayer: the mount points a container needs and dockerd's init
// layer files come from the shared init layer, below the writable layer:
// a fresh container's writable layer is empty, docker diff shows nothing,
// and /.dockerenv and /etc/mtab are there as in a dockerd container.
func TestInitLayer(t *testing.T) {
	dd := setup(t)
	c := run(t, dd, "busybox", "sleep", "300")
	upper := strings.TrimSpace(dd.DockerT(t, "inspect", "-f", "{{.GraphDriver.Data.UpperDir}}", c))
	ents, err := os.ReadDir(upper)
	if err != nil {
		t.Fatal(err)
	}
	if len(ents) != 0 {
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		t.Errorf("a fresh container's writable layer holds %v", names)
	}
	if diff := strings.TrimSpace(dd.DockerT(t, "diff", c)); diff != "" {
		t.Errorf("docker diff of a fresh container: %q", diff)
	}
	got := exec(t, dd, c, "sh", "-c", "test -f /.dockerenv && echo env; readlink /etc/mtab; test -d /proc/self && echo proc; cat /etc/hostname")
	want := "env\n/proc/mounts\nproc\n" + c[:12]
	if got != want {
		t.Errorf("in the container: %q, want %q", got, want)
	}
	lower := strings.TrimSpace(dd.DockerT(t, "inspect", "-f", "{{.GraphDriver.Data.LowerDir}}", c))
	if first := strings.Split(lower, ":")[0]; first != filepath.Join(dd.DataRoot, "initlayer") {
		t.Errorf("LowerDir starts with %q, want the init layer", first)
	}
	// What the container writes still lands in its own layer.
	exec(t, dd, c, "sh", "-c", "echo x > /etc/added")
	if diff := dd.DockerT(t, "diff", c); !strings.Contains(diff, "A /etc/added") {
		t.Errorf("docker diff after a write: %q", diff)
	}
}
