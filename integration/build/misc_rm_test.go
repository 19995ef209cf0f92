package build

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// newContainers lists the containers that were not in before (docker ps
// -aq output).
func newContainers(t *testing.T, before string) []string {
	t.Helper()
	had := map[string]bool{}
	for _, id := range strings.Fields(before) {
		had[id] = true
	}
	var out []string
	for _, id := range strings.Fields(d.DockerT(t, "ps", "-aq")) {
		if !had[id] {
			out = append(out, id)
		}
	}
	return out
}

// format is docker inspect --format for a container.
func format(t *testing.T, id, f string) string {
	t.Helper()
	return strings.TrimSpace(d.DockerT(t, "inspect", "--format", f, id))
}

// The classic builder removes step containers as dockerd's does: after
// each step with --force-rm, after each step that succeeded with --rm;
// so --rm=false keeps them all and a failed step keeps its own with --rm.
func TestMiscBuildRemove(t *testing.T) {
	setup(t)
	for _, tc := range []struct {
		name       string
		dockerfile string
		flags      []string
		left       int
	}{
		{"success, no rm", "FROM busybox\nRUN exit 0\nRUN exit 0\n", []string{"--rm=false"}, 2},
		{"success, rm", "FROM busybox\nRUN exit 0\nRUN exit 0\n", nil, 0},
		{"success, force-rm", "FROM busybox\nRUN exit 0\nRUN exit 0\n", []string{"--force-rm"}, 0},
		{"failure, no rm", "FROM busybox\nRUN exit 0\nRUN exit 1\n", []string{"--rm=false"}, 2},
		{"failure, rm", "FROM busybox\nRUN exit 0\nRUN exit 1\n", nil, 1},
		{"failure, force-rm", "FROM busybox\nRUN exit 0\nRUN exit 1\n", []string{"--force-rm"}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := d.DockerT(t, "ps", "-aq")
			ctx := writeContext(t, map[string]string{"Dockerfile": tc.dockerfile})
			berthBuild(t, append(append([]string{"--no-cache"}, tc.flags...), ctx)...)
			left := newContainers(t, before)
			defer d.Docker(append([]string{"rm", "-f"}, left...)...)
			if len(left) != tc.left {
				t.Fatalf("%d step containers left, want %d", len(left), tc.left)
			}
		})
	}
}

// A RUN step's commit is an image `create` event, as a docker commit is;
// a step with no container makes none, as in dockerd.
func TestMiscBuildImageCreateEvent(t *testing.T) {
	setup(t)
	stamp := func(t time.Time) string { return fmt.Sprintf("%d.%09d", t.Unix(), t.Nanosecond()) }
	since := stamp(time.Now())
	ctx := writeContext(t, map[string]string{"Dockerfile": "FROM busybox\nENV A=1\nRUN echo hello > /hello\nLABEL x=y\n"})
	out := mustBuild(t, "--no-cache", "-q", ctx)
	id := strings.TrimSpace(out)
	ev := d.DockerT(t, "events", "--since", since, "--until", stamp(time.Now()), "--filter", "type=image", "--filter", "event=create", "--format", "{{.Actor.ID}}")
	if n := strings.Count(ev, "\n"); n != 1 {
		t.Fatalf("image create events: %q, want one", ev)
	}
	if strings.TrimSpace(ev) == id {
		t.Fatalf("the create event is the last step's image %s, want the RUN step's", id)
	}
	cid := strings.TrimSpace(d.DockerT(t, "create", "busybox", "true"))
	defer d.Docker("rm", cid)
	since = stamp(time.Now())
	img := strings.TrimSpace(d.DockerT(t, "commit", cid))
	ev = d.DockerT(t, "events", "--since", since, "--until", stamp(time.Now()), "--filter", "type=image", "--filter", "event=create", "--format", "{{.Actor.ID}}")
	if strings.TrimSpace(ev) != img {
		t.Fatalf("docker commit: image create events %q, want %s", ev, img)
	}
	d.Docker("rmi", img)
}
