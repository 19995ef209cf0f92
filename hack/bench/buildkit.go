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
// --bridge=none can run them. Both engines run at once and take turns. buildx comes from hack/buildkit-clients.sh
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

// buildkitEngine is one engine started for the BuildKit figures, with
// the busybox test image loaded, buildx installed and both contexts
// written.
type buildkitEngine struct {
	l                 *loaded
	ctx, mountCtx     string
	cold, cached, mnt []time.Duration
}

// startBuildKitEngine starts e and warms what is not measured: the base
// image in BuildKit's cache and the cache mount's 20 MB.
func startBuildKitEngine(e engine, pluginDir string) (*buildkitEngine, error) {
	l, err := startLoaded(e, "bench-buildkit-", "bench-busybox:latest")
	if err != nil {
		return nil, err
	}
	b := &buildkitEngine{l: l, ctx: filepath.Join(l.root, "ctx"), mountCtx: filepath.Join(l.root, "mountctx")}
	err = installBuildx(l.cli, pluginDir)
	if err == nil {
		err = writeBenchContext(b.ctx)
	}
	if err == nil {
		err = os.MkdirAll(b.mountCtx, 0o755)
	}
	if err == nil {
		err = os.WriteFile(filepath.Join(b.mountCtx, "Dockerfile"), []byte(cacheMountDockerfile), 0o644)
	}
	if err == nil {
		_, err = b.build(b.ctx)
	}
	if err == nil {
		err = b.stamp(-1)
	}
	if err == nil {
		_, err = b.build(b.mountCtx)
	}
	if err != nil {
		l.close()
		return nil, err
	}
	return b, nil
}

// build times one `docker buildx build` of dir.
func (b *buildkitEngine) build(dir string, extra ...string) (time.Duration, error) {
	args := append([]string{"buildx", "build", "--progress=quiet", "--network", "none", "-t", "bench-bk:1"}, extra...)
	t0 := time.Now()
	_, err := dockerOut(b.l.r.sock, b.l.cli, []string{"DOCKER_BUILDKIT=1"}, append(args, dir)...)
	return time.Since(t0), err
}

// stamp changes the file the cache-mount build copies, so that its RUN
// step runs again.
func (b *buildkitEngine) stamp(i int) error {
	return os.WriteFile(filepath.Join(b.mountCtx, "stamp"), []byte(strconv.Itoa(i)), 0o644)
}

// round times one build of each kind.
func (b *buildkitEngine) round(i int) error {
	d, err := b.build(b.ctx, "--no-cache")
	if err != nil {
		return err
	}
	b.cold = append(b.cold, d)
	if d, err = b.build(b.ctx); err != nil {
		return err
	}
	b.cached = append(b.cached, d)
	if err := b.stamp(i); err != nil {
		return err
	}
	if d, err = b.build(b.mountCtx); err != nil {
		return err
	}
	b.mnt = append(b.mnt, d)
	return nil
}

// buildkitBenchFigures prints the BuildKit build figures of every engine.
// The engines run side by side and take turns round by round, so that a
// busy spell of the machine falls on both.
func buildkitBenchFigures(engines []engine, pluginDir string, runs int) error {
	started, err := perEngine(engines, "BuildKit build", func(e engine) (*buildkitEngine, error) {
		return startBuildKitEngine(e, pluginDir)
	})
	if err != nil {
		return err
	}
	defer func() {
		for _, b := range started {
			b.l.close()
		}
	}()
	res := map[string]buildkitFigures{}
	for i := 0; i < runs; i++ {
		for _, e := range engines {
			b, ok := started[e.name]
			if !ok {
				continue
			}
			if err := b.round(i); err != nil {
				if e.name == "berthd" {
					return err
				}
				fmt.Fprintf(os.Stderr, "%s BuildKit build figures: %v\n", e.name, err)
				b.l.close()
				delete(started, e.name)
			}
		}
	}
	for name, b := range started {
		res[name] = buildkitFigures{median(b.cold), median(b.cached), median(b.mnt)}
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
