package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
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

type buildFigures struct{ cold, cached time.Duration }

func cliRun(sock, cfgDir string, env []string, args ...string) error {
	cmd := exec.Command("docker", append([]string{"-H", "unix://" + sock}, args...)...)
	cmd.Env = append(append(os.Environ(), "DOCKER_CONFIG="+cfgDir, "DOCKER_CLI_HINTS=false"), env...)
	var errb bytes.Buffer
	cmd.Stderr = &errb
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("docker %v: %v: %s", args, err, errb.String())
	}
	return nil
}

// measureBuild starts the engine, loads the busybox image that the
// acceptance suite's mkimage.py writes and times runs cold and cached
// builds.
func measureBuild(e engine, runs int, imageTar string) (buildFigures, error) {
	var f buildFigures
	root, err := os.MkdirTemp("", "bench-build-"+e.name+"-")
	if err != nil {
		return f, err
	}
	defer os.RemoveAll(root)
	r, _, err := start(e, root)
	if err != nil {
		return f, err
	}
	defer r.stop()
	cli := filepath.Join(root, "cli")
	os.MkdirAll(cli, 0o700)
	if err := cliRun(r.sock, cli, nil, "load", "-i", imageTar); err != nil {
		return f, err
	}
	ctx := filepath.Join(root, "ctx")
	os.MkdirAll(ctx, 0o755)
	os.WriteFile(filepath.Join(ctx, "Dockerfile"), []byte(benchDockerfile), 0o644)
	os.WriteFile(filepath.Join(ctx, "f1"), bytes.Repeat([]byte("1"), 4096), 0o644)
	os.WriteFile(filepath.Join(ctx, "f2"), bytes.Repeat([]byte("2"), 4096), 0o644)
	env := []string{"DOCKER_BUILDKIT=0"}
	var cold, cached []time.Duration
	for i := 0; i < runs; i++ {
		t0 := time.Now()
		if err := cliRun(r.sock, cli, env, "build", "-q", "--no-cache", "--network", "none", "-t", "bench-built:1", ctx); err != nil {
			return f, err
		}
		cold = append(cold, time.Since(t0))
		t0 = time.Now()
		if err := cliRun(r.sock, cli, env, "build", "-q", "--network", "none", "-t", "bench-built:1", ctx); err != nil {
			return f, err
		}
		cached = append(cached, time.Since(t0))
	}
	f.cold, f.cached = median(cold), median(cached)
	return f, nil
}

// buildBenchFigures prints the build figures of every engine.
func buildBenchFigures(engines []engine, runs int) error {
	dir, err := os.MkdirTemp("", "bench-build-img-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	tarPath := filepath.Join(dir, "bb.tar")
	mk := filepath.Join("..", "shared", "acceptance", "mkimage.py")
	if out, err := exec.Command("python3", mk, tarPath, "bench-busybox:latest").CombinedOutput(); err != nil {
		return fmt.Errorf("mkimage.py: %v: %s", err, out)
	}
	res := map[string]buildFigures{}
	for _, e := range engines {
		f, err := measureBuild(e, runs, tarPath)
		if err != nil {
			return fmt.Errorf("%s: %w", e.name, err)
		}
		res[e.name] = f
	}
	fmt.Printf("%-34s (median of %d runs, 10-step Dockerfile, DOCKER_BUILDKIT=0)\n", "build figures", runs)
	row := func(name string, get func(buildFigures) time.Duration) {
		b := get(res["berthd"])
		line := fmt.Sprintf("%-34s %14s", name, fmt.Sprintf("%.0f ms", ms(b)))
		if dres, ok := res["dockerd"]; ok {
			line += fmt.Sprintf(" %14s %9.1fx", fmt.Sprintf("%.0f ms", ms(get(dres))), ms(get(dres))/ms(b))
		}
		fmt.Println(line)
	}
	row("docker build, cold (--no-cache)", func(f buildFigures) time.Duration { return f.cold })
	row("docker build, fully cached", func(f buildFigures) time.Duration { return f.cached })
	return nil
}
