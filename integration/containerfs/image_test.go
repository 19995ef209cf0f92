package containerfs

import (
	"encoding/json"
	"fmt"
	osexec "os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/berthd/berth/integration/internal/harness"
)

// TestExportImport: docker export | docker import gives an image that
// runs and holds the container's changes, without its volumes.
func TestExportImport(t *testing.T) {
	dd := setup(t)
	c := run(t, dd, "-v", "/vol", "busybox", "sh", "-c", "echo exported > /e; echo v > /vol/v; rm /etc/motd; sleep 300")
	exec(t, dd, c, "test", "-f", "/e")
	cmd := osexec.Command("sh", "-c", "docker export "+c+" | docker import - exported:1")
	cmd.Env = append(cmd.Environ(), "DOCKER_HOST="+dd.Host())
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("export | import: %v %s", err, out)
	}
	t.Cleanup(func() { dd.Docker("rmi", "exported:1") })
	got := strings.TrimSpace(dd.DockerT(t, "run", "--rm", "--network", "none", "exported:1", "sh", "-c", "cat /e; ls /vol | wc -l; test -e /etc/motd || echo gone"))
	if got != "exported\n0\ngone" {
		t.Fatalf("imported image: %q", got)
	}
	// A stopped container exports the same way; the event is logged.
	dd.DockerT(t, "stop", "-t", "0", c)
	out := filepath.Join(t.TempDir(), "e.tar")
	dd.DockerT(t, "export", "-o", out, c)
	list, err := osexec.Command("tar", "tf", out).Output()
	if err != nil || !strings.Contains(string(list), "\ne\n") && !strings.HasPrefix(string(list), "e\n") {
		t.Fatalf("stopped export: %v %s", err, list)
	}
	ev := dd.DockerT(t, "events", "--since", "0", "--until", fmt.Sprint(time.Now().Unix()+1), "--filter", "container="+c, "--filter", "event=export", "--format", "{{.Action}}")
	mustContain(t, ev, "export")
	mustContain(t, fails(t, dd, "export", "nosuchctr"), "No such container: nosuchctr")
}

// TestCommit: docker commit with -c, -m, -a of a running container
// (paused meanwhile) and of a stopped one; the image runs here, deletions
// are whiteouts, and it saves and loads into a fresh daemon.
func TestCommit(t *testing.T) {
	dd := setup(t)
	c := run(t, dd, "-e", "FOO=bar", "busybox", "sh", "-c", "echo c > /committed; rm /etc/motd; rm -rf /home; sleep 300")
	exec(t, dd, c, "test", "-f", "/committed")
	id := strings.TrimSpace(dd.DockerT(t, "commit", "-c", `CMD ["sh","-c","cat /committed; echo $FOO; test -e /etc/motd || echo nomotd"]`,
		"-c", "LABEL stage=committed", "-m", "the message", "-a", "me <me@example.com>", c, "committed:1"))
	t.Cleanup(func() { dd.Docker("rmi", "-f", "committed:1") })
	if !strings.HasPrefix(id, "sha256:") {
		t.Fatalf("commit printed %q", id)
	}
	if got := strings.TrimSpace(dd.DockerT(t, "run", "--rm", "--network", "none", "committed:1")); got != "c\nbar\nnomotd" {
		t.Fatalf("committed image ran: %q", got)
	}
	if st := strings.TrimSpace(dd.DockerT(t, "inspect", "-f", "{{.State.Status}}", c)); st != "running" {
		t.Fatalf("container %s after commit (must be unpaused)", st)
	}
	var imgs []struct {
		ID, Parent, Author string
		Config             struct{ Labels map[string]string }
		RootFS             struct{ Layers []string }
	}
	if err := json.Unmarshal([]byte(dd.DockerT(t, "image", "inspect", "committed:1")), &imgs); err != nil || len(imgs) != 1 {
		t.Fatal(err)
	}
	base := strings.TrimSpace(dd.DockerT(t, "image", "inspect", "-f", "{{.ID}}", harness.BusyboxImage))
	img := imgs[0]
	if img.ID != id || img.Parent != base || img.Author != "me <me@example.com>" || img.Config.Labels["stage"] != "committed" || len(img.RootFS.Layers) != 2 {
		t.Fatalf("image %+v (base %s)", img, base)
	}
	hist := dd.DockerT(t, "history", "--no-trunc", "--format", "{{.Comment}}|{{.CreatedBy}}", "committed:1")
	mustContain(t, strings.Split(hist, "\n")[0], "the message|sh -c echo c > /committed")
	ev := dd.DockerT(t, "events", "--since", "0", "--until", fmt.Sprint(time.Now().Unix()+1), "--filter", "container="+c, "--filter", "event=commit", "--format", "{{.Actor.Attributes.imageRef}}")
	mustContain(t, ev, "committed:1")

	// Stopped, without pause, no changes beyond the first commit's.
	dd.DockerT(t, "stop", "-t", "0", c)
	dd.DockerT(t, "commit", "--pause=false", c, "committed:2")
	t.Cleanup(func() { dd.Docker("rmi", "-f", "committed:2") })
	if got := strings.TrimSpace(dd.DockerT(t, "run", "--rm", "--network", "none", "committed:2", "cat", "/committed")); got != "c" {
		t.Fatalf("second commit: %q", got)
	}

	// The image loads and runs anywhere: a fresh daemon without busybox.
	tarball := filepath.Join(t.TempDir(), "img.tar")
	dd.DockerT(t, "save", "-o", tarball, "committed:1")
	fresh := harness.Fresh(t, harness.Options{})
	fresh.DockerT(t, "load", "-i", tarball)
	if got := strings.TrimSpace(fresh.DockerT(t, "run", "--rm", "--network", "none", "committed:1")); got != "c\nbar\nnomotd" {
		t.Fatalf("in a fresh daemon: %q", got)
	}

	// Bad input changes nothing.
	mustContain(t, fails(t, dd, "commit", "nosuchctr"), "No such container: nosuchctr")
	mustContain(t, fails(t, dd, "commit", "-c", "RUN true", c), "RUN is not a valid change command")
}
