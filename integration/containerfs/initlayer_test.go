package containerfs

import (
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// TestInitLayer: the mount points a container needs under / and dockerd's
// /.dockerenv come from the shared init layer, below the writable layer;
// the /etc mount points are made in the writable layer, so /etc keeps the
// image's attributes. A fresh container's writable layer holds nothing
// else, and docker diff shows nothing.
func TestInitLayer(t *testing.T) {
	dd := setup(t)
	c := run(t, dd, "busybox", "sleep", "300")
	upper := strings.TrimSpace(dd.DockerT(t, "inspect", "-f", "{{.GraphDriver.Data.UpperDir}}", c))
	var got []string
	filepath.Walk(upper, func(p string, fi os.FileInfo, err error) error {
		if err == nil && p != upper {
			rel, _ := filepath.Rel(upper, p)
			got = append(got, rel)
		}
		return nil
	})
	sort.Strings(got)
	if want := "etc etc/hostname etc/hosts etc/resolv.conf"; strings.Join(got, " ") != want {
		t.Errorf("a fresh container's writable layer holds %q, want %q", got, want)
	}
	if diff := strings.TrimSpace(dd.DockerT(t, "diff", c)); diff != "" {
		t.Errorf("docker diff of a fresh container: %q", diff)
	}
	if got := exec(t, dd, c, "sh", "-c", "test -f /.dockerenv && echo env; test -d /proc/self && echo proc; cat /etc/hostname"); got != "env\nproc\n"+c[:12] {
		t.Errorf("in the container: %q", got)
	}
	lower := strings.Split(strings.TrimSpace(dd.DockerT(t, "inspect", "-f", "{{.GraphDriver.Data.LowerDir}}", c)), ":")
	if lower[0] != filepath.Join(dd.DataRoot, "initlayer") {
		t.Errorf("LowerDir starts with %q, want the init layer", lower[0])
	}
	// What the container writes still lands in its own layer.
	exec(t, dd, c, "sh", "-c", "echo x > /etc/added")
	if diff := dd.DockerT(t, "diff", c); !strings.Contains(diff, "A /etc/added") {
		t.Errorf("docker diff after a write: %q", diff)
	}
}

// TestInitLayerKeepsImageEtc: a container's change of /etc's mode and
// owner is a change (diff, commit), and an image whose /etc has its own
// keeps them in its containers, as with dockerd.
func TestInitLayerKeepsImageEtc(t *testing.T) {
	dd := setup(t)
	c := run(t, dd, "busybox", "sh", "-c", "chmod 775 /etc && chown 0:7 /etc && sleep 300")
	exec(t, dd, c, "true")
	if diff := dd.DockerT(t, "diff", c); !strings.Contains(diff, "C /etc") {
		t.Errorf("docker diff after chmod /etc: %q", diff)
	}
	dd.DockerT(t, "commit", c, "odd-etc:1")
	t.Cleanup(func() { dd.Docker("rmi", "-f", "odd-etc:1") })
	got := strings.TrimSpace(dd.DockerT(t, "run", "--rm", "--network", "none", "odd-etc:1", "stat", "-c", "%a %u %g", "/etc"))
	if got != "775 0 7" {
		t.Errorf("/etc of a container of the committed image: %q, want 775 0 7", got)
	}
}
