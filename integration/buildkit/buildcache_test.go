package buildkit

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// cacheProbe is a Dockerfile whose RUN result is a random UUID: a build
// that reuses the cache reproduces the UUID, one that does not makes a new
// one.
const cacheProbe = "FROM busybox\nRUN cat /proc/sys/kernel/random/uuid > /id\nRUN echo second >> /id\n"

// pruneAll empties the build cache, so that only an imported cache can
// make the next build's steps CACHED.
func pruneAll(t *testing.T) {
	t.Helper()
	mustCLI(t, "builder", "prune", "-af")
	if total := duTotal(t); total != 0 {
		t.Fatalf("build cache holds %d bytes after prune -a:\n%s", total, mustCLI(t, "buildx", "du"))
	}
}

// cachedRun says whether a build's progress shows the RUN step CACHED.
func cachedRun(progress string) bool {
	return regexp.MustCompile(`(?m)^#\d+ \[2/3\] RUN cat /proc/sys/kernel/random/uuid[^\n]*\n#\d+ CACHED`).MatchString(progress)
}

// cacheRoundTrip builds cacheProbe exporting its cache with cacheTo,
// checks the export with exported, removes the image and the whole build
// cache, and builds again importing cacheFrom: the RUN step must be
// CACHED and give the first build's result.
func cacheRoundTrip(t *testing.T, cacheTo, cacheFrom string, exported func()) {
	t.Helper()
	name := imageName(t)
	dir := writeContext(t, map[string]string{"Dockerfile": cacheProbe})
	buildx(t, "--load", "-t", name, "--cache-to", cacheTo, dir)
	exported()
	first := runIn(t, name, "cat /id")
	mustCLI(t, "rmi", name)
	pruneAll(t)
	out := buildx(t, "--load", "-t", name, "--cache-from", cacheFrom, dir)
	if !cachedRun(out) {
		t.Fatalf("not CACHED from %s:\n%s", cacheFrom, out)
	}
	expectRun(t, name, "cat /id", first)
}

// TestCacheLocal: --cache-to type=local writes an OCI layout; after the
// build cache and the image are gone, --cache-from type=local makes the
// same build CACHED with the same result.
func TestCacheLocal(t *testing.T) {
	setup(t)
	cacheDir := filepath.Join(t.TempDir(), "cache")
	cacheRoundTrip(t, "type=local,dest="+cacheDir+",mode=max", "type=local,src="+cacheDir, func() {
		if _, err := os.Stat(filepath.Join(cacheDir, "index.json")); err != nil {
			t.Fatalf("local cache export: %v", err)
		}
	})
}

// TestCacheRegistry: --cache-to type=registry on a loopback registry, then
// --cache-from it after the local cache is gone.
func TestCacheRegistry(t *testing.T) {
	setup(t)
	reg := startRegistry(t)
	ref := reg + "/bkcli/cache:buildcache"
	cacheRoundTrip(t, "type=registry,ref="+ref+",mode=max", "type=registry,ref="+ref, func() {
		if code, body := registryGet(t, reg, "/v2/bkcli/cache/manifests/buildcache"); code != 200 {
			t.Fatalf("cache manifest: %d %s", code, body)
		}
	})
}

// TestCacheInline: an image pushed with --cache-to type=inline carries its
// cache in its config; --cache-from that image makes the build CACHED.
func TestCacheInline(t *testing.T) {
	setup(t)
	// From an empty cache: TestPushAfterCacheImport is about what an
	// earlier import leaves.
	pruneAll(t)
	reg := startRegistry(t)
	dir := writeContext(t, map[string]string{"Dockerfile": cacheProbe})
	ref := reg + "/bkcli/inline:latest"
	t.Cleanup(func() { cli(t, "rmi", "-f", ref) })
	buildx(t, "--push", "-t", ref, "--cache-to", "type=inline", dir)
	pruneAll(t)
	name := imageName(t)
	out := buildx(t, "--load", "-t", name, "--cache-from", ref, dir)
	if !cachedRun(out) {
		t.Fatalf("not CACHED from the inline cache:\n%s", out)
	}
	// The cached result is the pushed one.
	mustCLI(t, "pull", ref)
	if a, b := runIn(t, name, "cat /id"), runIn(t, ref, "cat /id"); a != b {
		t.Fatalf("cached build %q, pushed image %q", a, b)
	}
}

// duTotal is the "Total:" of `docker buildx du`, in bytes.
func duTotal(t *testing.T) int64 {
	t.Helper()
	out := mustCLI(t, "buildx", "du")
	m := regexp.MustCompile(`(?m)^Total:\s+(\S+)`).FindStringSubmatch(out)
	if m == nil {
		// An empty cache prints only the header (or nothing).
		if !strings.Contains(out, "Reclaimable") {
			return 0
		}
		t.Fatalf("no Total in buildx du:\n%s", out)
	}
	return parseSize(t, m[1])
}

// parseSize reads buildx's and docker's human sizes (1.2MB, 0B, 512kB).
func parseSize(t *testing.T, s string) int64 {
	t.Helper()
	m := regexp.MustCompile(`^([0-9.]+)\s*([kKMGT]?i?B)$`).FindStringSubmatch(s)
	if m == nil {
		t.Fatalf("size %q", s)
	}
	v, _ := strconv.ParseFloat(m[1], 64)
	mult := map[string]float64{"B": 1, "kB": 1e3, "KB": 1e3, "KiB": 1 << 10, "MB": 1e6, "MiB": 1 << 20, "GB": 1e9, "GiB": 1 << 30, "TB": 1e12}[m[2]]
	return int64(v * mult)
}

// TestBuilderPruneAndDu: `docker buildx du` lists the build's cache
// records and their size; `docker builder prune` with an until filter
// keeps them, --keep-storage above their size keeps them, a small
// --keep-storage removes down to it, and -a empties the cache; `docker
// system df` shows the build cache, and `docker system prune` removes it.
func TestBuilderPruneAndDu(t *testing.T) {
	setup(t)
	pruneAll(t)
	name := imageName(t)
	// Two RUN layers of 4 MB of random bytes each: cache records of a
	// known size.
	dir := writeContext(t, map[string]string{"Dockerfile": "FROM busybox\nRUN head -c 4000000 /dev/urandom > /a\nRUN head -c 4000000 /dev/urandom > /b\n"})
	buildx(t, "--load", "-t", name, dir)
	du := mustCLI(t, "buildx", "du", "--verbose")
	total := duTotal(t)
	if total < 8e6 {
		t.Fatalf("buildx du total %d < 8 MB of RUN layers:\n%s", total, du)
	}
	expectContains(t, "buildx du --verbose", du, "ID:", "Description:", "Type:", "head -c 4000000")

	// system df's size leaves out records shared with images (dockerd's
	// layers are): only the count is certain.
	df := mustCLI(t, "system", "df")
	m := regexp.MustCompile(`(?m)^Build Cache\s+(\d+)\s+(\d+)\s+(\S+)`).FindStringSubmatch(df)
	if m == nil || m[1] == "0" {
		t.Fatalf("system df build cache line:\n%s", df)
	}
	expectContains(t, "system df -v", mustCLI(t, "system", "df", "-v"), "Build cache usage:", "regular")

	// Nothing is older than an hour: the filter keeps everything.
	mustCLI(t, "builder", "prune", "-af", "--filter", "until=1h")
	if after := duTotal(t); after != total {
		t.Fatalf("prune --filter until=1h: total %d -> %d", total, after)
	}
	mustCLI(t, "builder", "prune", "-af", "--keep-storage", "1GB")
	if after := duTotal(t); after != total {
		t.Fatalf("prune --keep-storage 1GB: total %d -> %d", total, after)
	}
	mustCLI(t, "builder", "prune", "-af", "--keep-storage", "5MB")
	if after := duTotal(t); after > 5e6 || after == total {
		t.Fatalf("prune --keep-storage 5MB: total %d -> %d", total, after)
	}
	// The image does not depend on the build cache.
	expectRun(t, name, "wc -c < /a; wc -c < /b", "4000000\n4000000")
	buildx(t, "--no-cache", "--load", "-t", name, dir)
	mustCLI(t, "system", "prune", "-af")
	if after := duTotal(t); after != 0 {
		t.Fatalf("system prune -a left %d bytes of build cache", after)
	}
	// system prune -a removed the unused images, busybox among them.
	loadAgain(t)
}

// loadAgain reloads the test images after a test removed every image.
func loadAgain(t *testing.T) {
	t.Helper()
	d.LoadTestImages(t)
}

// TestPushAfterCacheImport: a build that imported its base layer from a
// registry cache, whose registry is gone since, and a later --push of an
// image on that layer to another registry: the push must not need the
// first registry (dockerd pushes from its own layer store).
func TestPushAfterCacheImport(t *testing.T) {
	setup(t)
	pruneAll(t)
	dir := writeContext(t, map[string]string{"Dockerfile": cacheProbe})
	t.Run("import from a registry cache", func(t *testing.T) {
		reg := startRegistry(t)
		ref := reg + "/bkcli/gone:cache"
		name := imageName(t)
		buildx(t, "--load", "-t", name, "--cache-to", "type=registry,ref="+ref+",mode=max", dir)
		mustCLI(t, "rmi", name)
		pruneAll(t)
		out := buildx(t, "--load", "-t", name, "--cache-from", "type=registry,ref="+ref, dir)
		if !cachedRun(out) {
			t.Fatalf("not CACHED from the registry cache:\n%s", out)
		}
	}) // its registry stops here
	reg := startRegistry(t)
	ref := reg + "/bkcli/after:v1"
	t.Cleanup(func() { cli(t, "rmi", "-f", ref) })
	buildx(t, "--push", "-t", ref, dir)
	if code, body := registryGet(t, reg, "/v2/bkcli/after/manifests/v1"); code != 200 {
		t.Fatalf("pushed manifest: %d %s", code, body)
	}
}

// TestLoadAfterCacheImport: a build CACHED from a registry cache while
// berth keeps the image fetches only the cache's config from the
// registry: berth has every layer, so the export reads none of the
// cache's blobs (they stay lazy in BuildKit's store).
func TestLoadAfterCacheImport(t *testing.T) {
	setup(t)
	pruneAll(t)
	dir := writeContext(t, map[string]string{"Dockerfile": cacheProbe})
	name := imageName(t)
	reg := startRegistry(t)
	ref := reg + "/bkcli/lazy:cache"
	buildx(t, "--load", "-t", name, "--cache-to", "type=registry,ref="+ref+",mode=max", dir)
	pruneAll(t)
	before := blobGets(t, reg, "bkcli/lazy")
	out := buildx(t, "--load", "-t", name, "--cache-from", "type=registry,ref="+ref, dir)
	if !cachedRun(out) {
		t.Fatalf("not CACHED from the registry cache:\n%s", out)
	}
	if got := blobGets(t, reg, "bkcli/lazy") - before; got != 1 {
		t.Fatalf("%d blobs fetched from the cache's registry, want 1 (its config)\n%s", got, out)
	}
}
