package main

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"time"
)

// The build figures: wall time of `DOCKER_BUILDKIT=0 docker build` of a
// 10-step Dockerfile (ENV, WORKDIR, two COPYs, two RUNs, LABEL, EXPOSE,
// CMD on the acceptance suite's busybox image), cold (--no-cache: every
// step runs and commits) and fully cached (every step a cache hit), for
// each engine in the same run. RUN steps use --network none so that
// dockerd started with --bridge=none can run them.

const benchDockerfile = `FROM bench-busybox:latest
ENV A=1
WORKDIR /app
COPY f1 /app/
COPY f2 /app/
RUN echo one > /one
RUN echo two > /two
LABEL x=y
EXPOSE 80
CMD ["sh"]
`

// api is the fully cached build through POST /build alone (the same
// context and query the CLI sends, from a warm HTTP connection): the part
// of the CLI figure the daemon controls. The CLI's own start-up and
// context packing are the rest (cliFloor measures them).
type buildFigures struct{ cold, cached, api time.Duration }

// measureBuild starts the engine, loads the busybox test image and times
// runs cold and cached builds.
func measureBuild(e engine, runs int) (buildFigures, error) {
	var f buildFigures
	l, err := startLoaded(e, "bench-build-", "bench-busybox:latest")
	if err != nil {
		return f, err
	}
	defer l.close()
	r, root, cli := l.r, l.root, l.cli
	ctx := filepath.Join(root, "ctx")
	if err := writeBenchContext(ctx); err != nil {
		return f, err
	}
	env := []string{"DOCKER_BUILDKIT=0"}
	var cold, cached []time.Duration
	for i := 0; i < runs; i++ {
		t0 := time.Now()
		if _, err := dockerOut(r.sock, cli, env, "build", "-q", "--no-cache", "--network", "none", "-t", "bench-built:1", ctx); err != nil {
			return f, err
		}
		cold = append(cold, time.Since(t0))
		t0 = time.Now()
		if _, err := dockerOut(r.sock, cli, env, "build", "-q", "--network", "none", "-t", "bench-built:1", ctx); err != nil {
			return f, err
		}
		cached = append(cached, time.Since(t0))
	}
	f.cold, f.cached = median(cold), median(cached)
	body, err := tarDir(ctx)
	if err != nil {
		return f, err
	}
	c := client(r.sock, 1)
	var api []time.Duration
	for i := 0; i < 10*runs; i++ {
		t0 := time.Now()
		resp, err := c.Post("http://d/v1.41/build?dockerfile=Dockerfile&networkmode=none&q=1&rm=1&t=bench-built%3A1",
			"application/x-tar", bytes.NewReader(body))
		if err != nil {
			return f, err
		}
		out, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || bytes.Contains(out, []byte(`"error"`)) {
			return f, fmt.Errorf("POST /build: %d %s", resp.StatusCode, out)
		}
		api = append(api, time.Since(t0))
	}
	f.api = median(api)
	return f, nil
}

// tarDir is the context as the CLI sends it (uid and gid 0).
func tarDir(dir string) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			return nil, err
		}
		fi, _ := e.Info()
		tw.WriteHeader(&tar.Header{Name: e.Name(), Mode: 0o644, Size: int64(len(b)), Typeflag: tar.TypeReg, ModTime: fi.ModTime()})
		tw.Write(b)
	}
	return buf.Bytes(), tw.Close()
}

// writeBenchContext writes the build context: the Dockerfile and the two
// files it copies.
func writeBenchContext(ctx string) error {
	if err := os.MkdirAll(ctx, 0o755); err != nil {
		return err
	}
	for name, data := range map[string][]byte{
		"Dockerfile": []byte(benchDockerfile),
		"f1":         bytes.Repeat([]byte("1"), 4096),
		"f2":         bytes.Repeat([]byte("2"), 4096),
	} {
		if err := os.WriteFile(filepath.Join(ctx, name), data, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// cliFloor is the same `docker build` against an engine that answers at
// once (an HTTP server here that takes the context and replies with an
// image ID): the CLI's own start-up, ping, context packing and upload.
// No engine's build through the CLI can be faster.
func cliFloor(runs int) (time.Duration, error) {
	root, err := os.MkdirTemp("", "bench-build-floor-")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(root)
	ctx := filepath.Join(root, "ctx")
	if err := writeBenchContext(ctx); err != nil {
		return 0, err
	}
	sock, stop, err := instantEngine(root, "1.51", func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, "{\"stream\":\"sha256:%064x\\n\"}\n", 1)
	})
	if err != nil {
		return 0, err
	}
	defer stop()
	cli := filepath.Join(root, "cli")
	d, err := medianOf(4*runs, func() error {
		_, err := dockerOut(sock, cli, []string{"DOCKER_BUILDKIT=0"}, "build", "-q", "--network", "none", "-t", "bench-built:1", ctx)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("build against the instant engine: %w", err)
	}
	return d, nil
}

// buildBenchFigures prints the build figures of every engine.
func buildBenchFigures(engines []engine, runs int) error {
	res := map[string]buildFigures{}
	for _, e := range engines {
		f, err := measureBuild(e, runs)
		if err != nil {
			return fmt.Errorf("%s: %w", e.name, err)
		}
		res[e.name] = f
	}
	fmt.Printf("%-34s (median of %d runs, 10-step Dockerfile, DOCKER_BUILDKIT=0)\n", "build figures", runs)
	row := func(name string, get func(buildFigures) time.Duration) {
		d, ok := res["dockerd"]
		msRow(name, get(res["berthd"]), get(d), ok)
	}
	row("docker build, cold (--no-cache)", func(f buildFigures) time.Duration { return f.cold })
	row("docker build, fully cached", func(f buildFigures) time.Duration { return f.cached })
	row("POST /build, fully cached (no CLI)", func(f buildFigures) time.Duration { return f.api })
	floor, err := cliFloor(runs)
	if err != nil {
		return err
	}
	fmt.Printf("%-34s %14s\n", "docker build, instant engine", fmt.Sprintf("%.1f ms", ms(floor)))
	if d, ok := res["dockerd"]; ok {
		fmt.Printf("%-34s %14s  (the CLI alone is %.2fx dockerd's cached build)\n", "", "", ms(floor)/ms(d.cached))
	}
	return nil
}
