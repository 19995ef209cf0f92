package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"
)

// The BuildKit build figures: wall time of `docker buildx build` (the
// engine's embedded BuildKit through buildx's docker driver, as `docker
// build` runs on a Docker CE install) for each engine in the same run:
//   - cold: build.go's 10-step Dockerfile with --no-cache (every step
//     runs; the result exported into the engine's image store with -t);
//   - fully cached: the same build again, every step a cache hit;
//   - cache-mount rebuild: a changed file reruns a RUN whose cache mount
//     already holds 20 MB from the first run (the step reuses it).
// RUN steps use --network none so that dockerd started with
// --bridge=none can run them. buildx comes from hack/buildkit-clients.sh
// (make deps), linked into each engine's DOCKER_CONFIG/cli-plugins.

const cacheMountDockerfile = `FROM bench-busybox:latest
COPY stamp /stamp
RUN --mount=type=cache,target=/cache test -f /cache/big || head -c 20000000 /dev/urandom > /cache/big; cp /stamp /cache/last && wc -c /cache/big > /size
`

type buildkitFigures struct{ cold, cached, cacheMount time.Duration }

// installBuildx links the docker-buildx plugin into a DOCKER_CONFIG.
func installBuildx(cfgDir, pluginDir string) error {
	src := filepath.Join(pluginDir, "docker-buildx")
	if _, err := os.Stat(src); err != nil {
		return fmt.Errorf("%v (hack/buildkit-clients.sh builds it)", err)
	}
	dir := filepath.Join(cfgDir, "cli-plugins")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	return os.Symlink(src, filepath.Join(dir, "docker-buildx"))
}

// measureBuildKit starts the engine, loads the busybox test image and
// times runs builds of each kind.
func measureBuildKit(e engine, pluginDir string, runs int) (buildkitFigures, error) {
	var f buildkitFigures
	l, err := startLoaded(e, "bench-buildkit-", "bench-busybox:latest")
	if err != nil {
		return f, err
	}
	defer l.close()
	if err := installBuildx(l.cli, pluginDir); err != nil {
		return f, err
	}
	ctx := filepath.Join(l.root, "ctx")
	if err := writeBenchContext(ctx); err != nil {
		return f, err
	}
	mountCtx := filepath.Join(l.root, "mountctx")
	if err := os.MkdirAll(mountCtx, 0o755); err != nil {
		return f, err
	}
	if err := os.WriteFile(filepath.Join(mountCtx, "Dockerfile"), []byte(cacheMountDockerfile), 0o644); err != nil {
		return f, err
	}
	build := func(dir string, extra ...string) (time.Duration, error) {
		args := append([]string{"buildx", "build", "--progress=quiet", "--network", "none", "-t", "bench-bk:1"}, extra...)
		t0 := time.Now()
		_, err := dockerOut(l.r.sock, l.cli, []string{"DOCKER_BUILDKIT=1"}, append(args, dir)...)
		return time.Since(t0), err
	}
	stamp := func(i int) error {
		return os.WriteFile(filepath.Join(mountCtx, "stamp"), []byte(strconv.Itoa(i)), 0o644)
	}
	// The first build of each context warms what is not measured: the
	// base image in BuildKit's cache and the cache mount's content.
	if _, err := build(ctx); err != nil {
		return f, err
	}
	if err := stamp(-1); err != nil {
		return f, err
	}
	if _, err := build(mountCtx); err != nil {
		return f, err
	}
	var cold, cached, mount []time.Duration
	for i := 0; i < runs; i++ {
		d, err := build(ctx, "--no-cache")
		if err != nil {
			return f, err
		}
		cold = append(cold, d)
		if d, err = build(ctx); err != nil {
			return f, err
		}
		cached = append(cached, d)
		if err := stamp(i); err != nil {
			return f, err
		}
		if d, err = build(mountCtx); err != nil {
			return f, err
		}
		mount = append(mount, d)
	}
	f.cold, f.cached, f.cacheMount = median(cold), median(cached), median(mount)
	return f, nil
}

// buildkitBenchFigures prints the BuildKit build figures of every engine.
func buildkitBenchFigures(engines []engine, pluginDir string, runs int) error {
	res, err := perEngine(engines, "BuildKit build", func(e engine) (buildkitFigures, error) {
		return measureBuildKit(e, pluginDir, runs)
	})
	if err != nil {
		return err
	}
	fmt.Printf("%-34s (median of %d runs, docker buildx build, embedded BuildKit)\n", "BuildKit build figures", runs)
	row := func(name string, get func(buildkitFigures) time.Duration) {
		d, ok := res["dockerd"]
		msRow(name, get(res["berthd"]), get(d), ok)
	}
	row("10-step build, cold (--no-cache)", func(f buildkitFigures) time.Duration { return f.cold })
	row("10-step build, fully cached", func(f buildkitFigures) time.Duration { return f.cached })
	row("cache-mount rebuild (20 MB warm)", func(f buildkitFigures) time.Duration { return f.cacheMount })
	return nil
}
