package buildkit

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The bridges between berth's image store and BuildKit (bksrc): FROM
// resolves locally first and pulls through berth's puller otherwise, by
// tag or digest, `--pull` goes to the registry, and -t writes the image
// with its names, events and the digests buildx reports.

// TestFromRegistryDigestAndPull: a FROM that is not local is pulled from a
// loopback registry; FROM name@digest builds from it; without --pull the
// local image wins over a newer one in the registry, with --pull the
// registry's is used.
func TestFromRegistryDigestAndPull(t *testing.T) {
	setup(t)
	reg := startRegistry(t)
	base := reg + "/bksrc/base:1"
	t.Cleanup(func() { cli(t, "rmi", "-f", base) })
	mustCLI(t, "tag", "busybox", base)
	mustCLI(t, "push", base)
	digest := strings.TrimSpace(mustCLI(t, "image", "inspect", "--format", "{{index .RepoDigests 0}}", base))
	digest = digest[strings.Index(digest, "@")+1:]
	mustCLI(t, "rmi", base)

	name := imageName(t)
	buildx(t, "-t", name, writeContext(t, map[string]string{"Dockerfile": "FROM " + base + "\nRUN echo pulled > /from\n"}))
	// Pulled as `docker pull` would: the base is local now, by tag and
	// by digest.
	expectContains(t, "pulled base", mustCLI(t, "image", "inspect", "--format", "{{.RepoTags}} {{.RepoDigests}}", base), base, digest)
	if got := runIn(t, name, "cat /from"); got != "pulled" {
		t.Fatalf("got %q", got)
	}

	byDigest := imageName(t)
	buildx(t, "-t", byDigest, writeContext(t, map[string]string{"Dockerfile": "FROM " + reg + "/bksrc/base@" + digest + "\nRUN echo pinned > /from\n"}))
	if got := runIn(t, byDigest, "cat /from"); got != "pinned" {
		t.Fatalf("got %q", got)
	}

	// A newer base:1 in the registry; the local base:1 stays the old one.
	newer := imageName(t)
	buildx(t, "-t", newer, writeContext(t, map[string]string{"Dockerfile": "FROM busybox\nRUN echo newer > /version\n"}))
	pushAs(t, newer, base)

	dockerfile := map[string]string{"Dockerfile": "FROM " + base + "\nRUN cat /version > /seen 2>/dev/null || echo old > /seen\n"}
	local := imageName(t)
	buildx(t, "-t", local, writeContext(t, dockerfile))
	if got := runIn(t, local, "cat /seen"); got != "old" {
		t.Fatalf("without --pull the build saw %q, want the local image", got)
	}
	pulled := imageName(t)
	buildx(t, "--pull", "-t", pulled, writeContext(t, dockerfile))
	if got := runIn(t, pulled, "cat /seen"); got != "newer" {
		t.Fatalf("with --pull the build saw %q, want the registry's image", got)
	}
}

// pushAs pushes image under ref while the local ref keeps pointing where
// it did: tag, push, then restore the old target.
func pushAs(t *testing.T, image, ref string) {
	t.Helper()
	old := strings.TrimSpace(mustCLI(t, "image", "inspect", "--format", "{{.ID}}", ref))
	mustCLI(t, "tag", image, ref)
	mustCLI(t, "push", ref)
	mustCLI(t, "tag", old, ref)
}

// TestExportNamesEventsMetadata: every -t name lands in docker images, the
// image and tag events are dockerd's, buildx's metadata file has the
// image's digests, and an image that only changes config shares all of
// its base's layers.
func TestExportNamesEventsMetadata(t *testing.T) {
	setup(t)
	a, b := imageName(t), imageName(t)
	meta := filepath.Join(t.TempDir(), "meta.json")
	since := time.Now().Add(-time.Second).Format(time.RFC3339Nano)
	buildx(t, "-t", a, "-t", b, "--metadata-file", meta, writeContext(t, map[string]string{"Dockerfile": "FROM busybox\nENV ONLY=config\n"}))
	until := time.Now().Add(time.Second).Format(time.RFC3339Nano)

	id := strings.TrimSpace(mustCLI(t, "image", "inspect", "--format", "{{.ID}}", a))
	if idb := strings.TrimSpace(mustCLI(t, "image", "inspect", "--format", "{{.ID}}", b)); idb != id {
		t.Fatalf("%s is %s, %s is %s", a, id, b, idb)
	}
	raw, err := os.ReadFile(meta)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	// buildx drops containerimage.config.digest for the docker driver
	// (prefer-image-digest), as with dockerd; both are the image ID.
	if cd, ok := m["containerimage.config.digest"]; m["containerimage.digest"] != id || ok && cd != id {
		t.Fatalf("metadata %s; image %s", lastLines(string(raw), 15), id)
	}
	if names, _ := m["image.name"].(string); !strings.Contains(names, "docker.io/library/"+a) || !strings.Contains(names, "docker.io/library/"+b) {
		t.Fatalf("image.name in %s", raw)
	}

	events := mustCLI(t, "events", "--since", since, "--until", until, "--filter", "type=image", "--format", "{{.Action}} {{.Actor.ID}} {{index .Actor.Attributes \"name\"}}")
	expectContains(t, "events", events, "create "+id+" "+id, "tag "+id+" "+a, "tag "+id+" "+b)

	base, built := inspect(t, "busybox"), inspect(t, a)
	if strings.Join(built.RootFS.Layers, ",") != strings.Join(base.RootFS.Layers, ",") {
		t.Fatalf("layers: base %v, config-only build %v", base.RootFS.Layers, built.RootFS.Layers)
	}
	if !contains(built.Config.Env, "ONLY=config") {
		t.Fatalf("env %v", built.Config.Env)
	}
}

// TestExportDeletionsAndCachedRebuild: a file RUN removes is gone from the
// image (the layer's whiteout survives the trip from BuildKit's overlay
// snapshot into berth's store), and a cached rebuild makes the same image.
func TestExportDeletionsAndCachedRebuild(t *testing.T) {
	setup(t)
	name := imageName(t)
	dir := writeContext(t, map[string]string{"Dockerfile": "FROM busybox\nRUN rm /etc/group && mkdir -p /d && echo kept > /d/f\nRUN rm -r /d && echo x > /x\n"})
	buildx(t, "-t", name, dir)
	if got := runIn(t, name, "test ! -e /etc/group && test ! -e /d && test -e /etc/passwd && cat /x"); got != "x" {
		t.Fatalf("got %q", got)
	}
	id := inspect(t, name).ID
	out := buildx(t, "-t", name, dir)
	if again := inspect(t, name).ID; again != id || strings.Count(out, "CACHED") < 2 {
		t.Fatalf("cached rebuild made %s (first %s)\n%s", again, id, out)
	}
}
