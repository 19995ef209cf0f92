package build

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// layersDockerfile exercises what a step's layer must carry: a RUN that
// changes nothing (no layer), deletions (whiteouts), a directory removed
// and made again (opaque), hard links, symlinks, set-id modes from RUN
// and from the context, WORKDIR of a directory that exists, and COPY
// --from of what they made.
const layersDockerfile = `FROM busybox AS first
RUN true
RUN mkdir -p /d/sub /gone && echo a > /d/sub/a && ln /d/sub/a /d/hard && ln -s sub/a /d/link && chmod 4755 /d/sub/a && echo x > /gone/x && echo k > /keep
RUN rm -rf /gone /keep
RUN rm -rf /d && mkdir /d && echo b > /d/b
COPY suid /suid
WORKDIR /d
RUN echo c > /d/c
RUN cp /suid /s2 && chmod 4755 /s2
FROM busybox
COPY --from=first /s2 /d/s2
COPY --from=first /d /d
COPY --from=first /suid /suid
`

const layersProbe = `for p in /d /d/b /d/c /d/s2 /d/sub /d/hard /d/link /gone /keep /suid; do
  if [ -e "$p" ] || [ -L "$p" ]; then stat -c '%n %a %h %s %u:%g' "$p"; else echo "$p absent"; fi
done`

// The layers the builder commits (RUN steps through docker commit's path,
// COPY and WORKDIR through the image service's) hold what dockerd's hold:
// the same layer count and empty_layer marks, and the same files, modes
// and link counts in a container of the result. docker commit of a
// container that changed nothing adds no layer in either.
func TestBuildLayersMatchDockerd(t *testing.T) {
	setup(t)
	dd := dockerdWithBusybox(t)
	if dd == nil {
		return
	}
	ctx := writeContext(t, map[string]string{"Dockerfile": layersDockerfile, "suid": "s\n"})
	if err := os.Chmod(filepath.Join(ctx, "suid"), os.ModeSetuid|0o755); err != nil {
		t.Fatal(err)
	}
	type seen struct{ layers, sizes, history, files, commitLayers string }
	got := map[string]seen{}
	for _, e := range engines(t, dd) {
		var s seen
		for _, target := range []string{"first", "last"} {
			ref := "it-layers:" + target
			args := []string{"-t", ref, ctx}
			if target == "first" {
				args = append([]string{"--target", "first"}, args...)
			}
			e.build(t, args...)
			s.layers += strings.TrimSpace(e.docker("image", "inspect", "-f", "{{len .RootFS.Layers}}", ref)) + " "
			for _, sz := range strings.Fields(e.docker("history", "--format", "{{.Size}}", ref)) {
				if sz == "0B" {
					s.sizes += "0 "
				} else {
					s.sizes += "n "
				}
			}
			s.history += e.docker("history", "--no-trunc", "--format", "{{.CreatedBy}}", ref)
			s.files += e.docker("run", "--rm", "--pull", "never", "--network", "none", ref, "sh", "-c", layersProbe)
		}
		name := "it-layers-commit-" + e.name
		e.docker("run", "--pull", "never", "--network", "none", "--name", name, "busybox", "true")
		id := strings.TrimSpace(e.docker("commit", name))
		s.commitLayers = strings.TrimSpace(e.docker("image", "inspect", "-f", "{{len .RootFS.Layers}}", id))
		e.docker("rm", name)
		e.docker("rmi", id)
		got[e.name] = s
	}
	t.Logf("berthd: %+v", got["berthd"])
	if got["berthd"] != got["dockerd"] {
		t.Errorf("layers differ:\n  berthd:  %+v\n  dockerd: %+v", got["berthd"], got["dockerd"])
	}
	// dockerd keeps set-id bits copying from an image, not from the context.
	if !strings.Contains(got["berthd"].files, "/d/s2 4755") || !strings.Contains(got["berthd"].files, "/suid 755") || !strings.Contains(got["berthd"].files, "/gone absent") {
		t.Errorf("files: %s", got["berthd"].files)
	}
}

// A fully cached rebuild is lookups: it runs no container, makes no
// image, and the only event it causes is the tag (as dockerd's); the
// context it unpacked is gone soon after.
func TestBuildCachedRebuildMakesNothing(t *testing.T) {
	setup(t)
	ctx := writeContext(t, map[string]string{"Dockerfile": cacheDockerfile("rebuild"), "f1": "rebuild\n", "f2": "two\n"})
	mustBuild(t, "--network", "none", "-t", "it-rebuild:1", ctx)
	images := d.DockerT(t, "images", "-aq", "--no-trunc")
	since := time.Now()
	out := mustBuild(t, "--network", "none", "-t", "it-rebuild:1", ctx)
	if hits(out) != 7 || strings.Contains(out, "Running in") {
		t.Fatalf("rebuild was not fully cached:\n%s", out)
	}
	if after := d.DockerT(t, "images", "-aq", "--no-trunc"); after != images {
		t.Errorf("a cached rebuild made images:\nbefore %s\nafter %s", images, after)
	}
	stamp := func(t time.Time) string { return fmt.Sprintf("%d.%09d", t.Unix(), t.Nanosecond()) }
	ev := d.DockerT(t, "events", "--since", stamp(since), "--until", stamp(time.Now()), "--format", "{{.Type}} {{.Action}}")
	for _, l := range strings.Split(strings.TrimSpace(ev), "\n") {
		if l != "image tag" {
			t.Errorf("a cached rebuild caused %q (events: %q)", l, ev)
		}
	}
	tmp := filepath.Join(d.DataRoot, "builder", "tmp")
	deadline := time.Now().Add(5 * time.Second)
	for {
		ents, _ := os.ReadDir(tmp)
		if len(ents) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("builder tmp still holds %d entries (%s)", len(ents), ents[0].Name())
		}
		time.Sleep(20 * time.Millisecond)
	}
}
