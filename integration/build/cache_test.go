package build

import (
	"encoding/json"
	"net/http"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/berthd/berth/integration/internal/harness"
)

// engine is one daemon as these tests drive it through the CLI.
type engine struct {
	name, host, cli string
	docker          func(args ...string) string
	http            *http.Client
}

func engines(t *testing.T, dd *harness.Dockerd) []engine {
	return []engine{
		{"berthd", d.Host(), filepath.Join(d.Root, "cli"), func(a ...string) string { t.Helper(); return d.DockerT(t, a...) }, d.HTTPClient()},
		{"dockerd", dd.Host(), dd.CLIDir(), func(a ...string) string { t.Helper(); return dd.Docker(t, a...) }, dd.Client()},
	}
}

func (e engine) build(t *testing.T, args ...string) string {
	t.Helper()
	out, errs, code := build(e.host, e.cli, append([]string{"--network", "none"}, args...)...)
	if code != 0 {
		t.Fatalf("%s: docker build %v: exit %d\n%s\n%s", e.name, args, code, out, errs)
	}
	return out
}

func (e engine) id(t *testing.T, ref string) string {
	t.Helper()
	return strings.TrimSpace(e.docker("image", "inspect", "-f", "{{.Id}}", ref))
}

// api does one request and returns the body.
func (e engine) api(t *testing.T, method, path string) string {
	t.Helper()
	resp, b := harness.Request(t, e.http, method, path, "")
	if resp.StatusCode != 200 {
		t.Fatalf("%s: %s %s: %d %s", e.name, method, path, resp.StatusCode, b)
	}
	return b
}

func hits(out string) int { return strings.Count(out, " ---> Using cache") }

// cacheDockerfile has 8 steps: FROM and 7 that the cache can serve. Its
// first step is the test's own, so that no other test's step images are
// parents of its images (berthd's rmi refuses to delete an image whose
// untagged parent has other children, where dockerd deletes the image and
// its untagged parents up to that one: a difference of image deletion,
// not of the builder).
func cacheDockerfile(test string) string {
	return `FROM busybox
ENV T=` + test + `
WORKDIR /app
COPY f1 /app/
COPY f2 /app/
RUN echo one > /one
LABEL x=y
CMD ["sh"]
`
}

// --cache-from an image that `docker load` brought back (no step images,
// no parent links) serves every step, and the build's image is the loaded
// one, as with dockerd; a changed file misses from its COPY on; a build
// without --cache-from does not use what --cache-from restored, as in
// dockerd; a --cache-from image that does not exist leaves no cache at
// all, as in dockerd. An image that dockerd built and saved serves berthd's build
// too (the COPY sums and history texts are dockerd's). The hit counts of
// each case are dockerd's.
func TestBuildCacheFromMatchesDockerd(t *testing.T) {
	setup(t)
	dd := dockerdWithBusybox(t)
	if dd == nil {
		return
	}
	es := engines(t, dd)
	if a, b := es[0].id(t, "busybox"), es[1].id(t, "busybox"); a != b {
		t.Fatalf("the engines' busybox images differ: %s, %s", a, b)
	}
	df := cacheDockerfile("cache-from")
	ctx := writeContext(t, map[string]string{"Dockerfile": df, "f1": "cache-from\n", "f2": "two\n"})
	changed := writeContext(t, map[string]string{"Dockerfile": df, "f1": "cache-from\n", "f2": "changed\n"})
	counts := map[string][]int{}
	saved := map[string]string{}
	for _, e := range es {
		e.build(t, "-t", "it-cf:1", ctx)
		want := e.id(t, "it-cf:1")
		saved[e.name] = filepath.Join(t.TempDir(), "saved.tar")
		e.docker("save", "-o", saved[e.name], "it-cf:1")
		e.docker("rmi", "it-cf:1")
		if out := e.build(t, "--no-cache", "-t", "it-cf:other", writeContext(t, map[string]string{"Dockerfile": "FROM busybox\nENV T=cache-from\n"})); hits(out) != 0 {
			t.Fatalf("%s: --no-cache hit", e.name)
		}
		e.docker("load", "-i", saved[e.name])

		loaded := e.build(t, "--cache-from", "it-cf:1", "-t", "it-cf:2", ctx)
		if got := e.id(t, "it-cf:2"); got != want {
			t.Errorf("%s: --cache-from build gave %s, not the loaded image %s\n%s", e.name, got, want, loaded)
		}
		plain := e.build(t, "-t", "it-cf:3", ctx)
		change := e.build(t, "--cache-from", "it-cf:1", "-t", "it-cf:4", changed)
		missing := e.build(t, "--cache-from", "no-such-image:1", "-t", "it-cf:5", ctx)
		counts[e.name] = []int{hits(loaded), hits(plain), hits(change), hits(missing)}
	}
	// plain: 1, the ENV step the --no-cache build made (what --cache-from
	// restored is not found again without it, in dockerd as here).
	t.Logf("hits (loaded, plain after, changed f2, missing source): %v", counts)
	if want := []int{7, 1, 3, 0}; !reflect.DeepEqual(counts["berthd"], want) {
		t.Errorf("berthd hits %v, want %v", counts["berthd"], want)
	}
	if !reflect.DeepEqual(counts["berthd"], counts["dockerd"]) {
		t.Errorf("hits differ: berthd %v, dockerd %v", counts["berthd"], counts["dockerd"])
	}

	// dockerd's image, loaded into berthd, serves berthd's build.
	theirs := es[1].id(t, "it-cf:1")
	d.DockerT(t, "rmi", "-f", "it-cf:1")
	d.DockerT(t, "load", "-i", saved["dockerd"])
	out := es[0].build(t, "--cache-from", "it-cf:1", "-t", "it-cf:6", ctx)
	if hits(out) != 7 || es[0].id(t, "it-cf:6") != theirs {
		t.Errorf("dockerd's image as --cache-from: %d hits, image %s (dockerd's %s)\n%s", hits(out), es[0].id(t, "it-cf:6"), theirs, out)
	}
}

// The classic builder's cache is its step images: dockerd 20.10 reports
// no build cache for them in system df and build prune removes nothing
// (0B reclaimed, the images stay, the next build still hits). berthd
// answers the same, field for field.
func TestBuildCachePruneMatchesDockerd(t *testing.T) {
	setup(t)
	dd := dockerdWithBusybox(t)
	if dd == nil {
		return
	}
	ctx := writeContext(t, map[string]string{"Dockerfile": cacheDockerfile("prune"), "f1": "prune\n", "f2": "two\n"})
	type seen struct {
		dfLine, dfAPI, pruneCLI, pruneAPI string
		imagesKept                        bool
		hitsAfter                         int
	}
	got := map[string]seen{}
	for _, e := range engines(t, dd) {
		e.build(t, "-t", "it-prune:1", ctx)
		var s seen
		for _, l := range strings.Split(e.docker("system", "df", "--format", "{{.Type}} {{.TotalCount}} {{.Active}} {{.Size}} {{.Reclaimable}}"), "\n") {
			if strings.HasPrefix(l, "Build Cache") {
				s.dfLine = l
			}
		}
		var df map[string]json.RawMessage
		if err := json.Unmarshal([]byte(e.api(t, "GET", "/v1.41/system/df")), &df); err != nil {
			t.Fatal(err)
		}
		s.dfAPI = string(df["BuildCache"])
		ids := func() string {
			l := strings.Fields(e.docker("images", "-aq", "--no-trunc"))
			sort.Strings(l) // dockerd lists images of the same second in any order
			return strings.Join(l, " ")
		}
		before := ids()
		s.pruneCLI = strings.TrimSpace(e.docker("builder", "prune", "-f"))
		s.pruneAPI = strings.TrimSpace(e.api(t, "POST", "/v1.41/build/prune?all=1"))
		s.imagesKept = ids() == before
		s.hitsAfter = hits(e.build(t, "-t", "it-prune:1", ctx))
		got[e.name] = s
	}
	want := seen{"Build Cache 0 0 0B 0B", "null", "Total reclaimed space: 0B", `{"CachesDeleted":null,"SpaceReclaimed":0}`, true, 7}
	if got["berthd"] != want {
		t.Errorf("berthd: %+v, want %+v", got["berthd"], want)
	}
	if got["berthd"] != got["dockerd"] {
		t.Errorf("berthd %+v, dockerd %+v", got["berthd"], got["dockerd"])
	}
}
