package buildkit

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"
)

// TestDockerBuildGoesThroughBuildKit: plain `docker build` with buildx
// installed is a BuildKit build (buildx's plain progress, `#N` steps), and
// its -t image lands in `docker images` with the Dockerfile's config.
func TestDockerBuildGoesThroughBuildKit(t *testing.T) {
	setup(t)
	name := imageName(t)
	dir := writeContext(t, map[string]string{
		"Dockerfile": "FROM busybox\nENV GREETING=hi\nWORKDIR /app\nCOPY hello.txt .\nRUN echo built > /built.txt\nLABEL via=buildkit\nCMD [\"cat\", \"/app/hello.txt\"]\n",
		"hello.txt":  "hello from the context\n",
	})
	r := cli(t, "build", "--progress=plain", "-t", name, dir)
	if r.Code != 0 {
		t.Fatalf("docker build: exit %d\n%s\n%s", r.Code, lastLines(r.Combined(), 60), d.LogTail(30))
	}
	// BuildKit's plain progress numbers its vertices; the classic builder
	// prints "Step 1/7".
	if !regexp.MustCompile(`(?m)^#\d+ \[\d/\d\] RUN echo built`).MatchString(r.Combined()) || strings.Contains(r.Combined(), "Step 1/") {
		t.Fatalf("not a BuildKit build:\n%s", r.Combined())
	}
	expectContains(t, "docker images", mustCLI(t, "images", "--format", "{{.Repository}}:{{.Tag}}"), name)
	cfg := inspect(t, name)
	if cfg.Config.WorkingDir != "/app" || cfg.Config.Labels["via"] != "buildkit" || strings.Join(cfg.Config.Cmd, " ") != "cat /app/hello.txt" {
		t.Fatalf("config: %+v", cfg.Config)
	}
	if !contains(cfg.Config.Env, "GREETING=hi") {
		t.Fatalf("env: %v", cfg.Config.Env)
	}
	if got := strings.TrimSpace(mustCLI(t, "run", "--rm", name)); got != "hello from the context" {
		t.Fatalf("CMD printed %q", got)
	}
	expectRun(t, name, "cat /built.txt", "built")
}

// TestBuildxBuildLoad: `docker buildx build -t --load` on the engine's
// default (docker driver) builder; buildx must not fall back to starting
// a moby/buildkit container, and the image is runnable.
func TestBuildxBuildLoad(t *testing.T) {
	setup(t)
	ls := mustCLI(t, "buildx", "ls")
	if !regexp.MustCompile(`(?m)^default\b.*docker`).MatchString(ls) {
		t.Fatalf("buildx ls: no default docker-driver builder:\n%s", ls)
	}
	// The worker reports a default GC policy (dockerd's: cache mounts and
	// local sources first, then everything over the limit), and the
	// embedded BuildKit's version.
	expectContains(t, "buildx inspect", mustCLI(t, "buildx", "inspect", "default"),
		"Driver:", "docker", "Status:", "running", "BuildKit version:", "v0.34", "GC Policy rule#0:")
	name := imageName(t)
	dir := writeContext(t, map[string]string{"Dockerfile": "FROM busybox\nRUN echo loaded > /x\n"})
	out := buildx(t, "-t", name, "--load", dir)
	// buildx prints the image the moby exporter wrote.
	expectContains(t, "progress", out, "naming to docker.io/library/"+name)
	expectRun(t, name, "cat /x", "loaded")
	// A built image has the base's layer plus RUN's.
	base, built := inspect(t, "busybox"), inspect(t, name)
	if len(built.RootFS.Layers) != len(base.RootFS.Layers)+1 || built.RootFS.Layers[0] != base.RootFS.Layers[0] {
		t.Fatalf("layers: base %v, built %v", base.RootFS.Layers, built.RootFS.Layers)
	}
}

// TestMultiStageParallel: two independent stages that each sleep 3 s run
// at the same time (the build takes well under their sum), and the final
// stage copies from both.
func TestMultiStageParallel(t *testing.T) {
	setup(t)
	name := imageName(t)
	dir := writeContext(t, map[string]string{"Dockerfile": `FROM busybox AS a
RUN sleep 3 && echo a > /a
FROM busybox AS b
RUN sleep 3 && echo b > /b
FROM busybox
COPY --from=a /a /a
COPY --from=b /b /b
`})
	start := time.Now()
	buildx(t, "--load", "-t", name, dir)
	if el := time.Since(start); el > 5500*time.Millisecond {
		t.Fatalf("two 3 s stages took %s: not run in parallel", el)
	}
	expectRun(t, name, "cat /a /b", "a\nb")
}

// TestTarget: --target builds only up to the named stage; a later
// stage's failing RUN never runs; an unknown target is an error naming it.
func TestTarget(t *testing.T) {
	setup(t)
	name := imageName(t)
	dir := writeContext(t, map[string]string{"Dockerfile": `FROM busybox AS first
RUN echo first > /stage
FROM first AS second
RUN false
`})
	buildx(t, "--target", "first", "--load", "-t", name, dir)
	expectRun(t, name, "cat /stage", "first")
	r := mustFail(t, "buildx", "build", "--progress=plain", "--target", "nosuch", dir)
	expectContains(t, "unknown target", r.Combined(), "nosuch")
}

// TestCopyFlags: COPY --chmod, --chown (numeric and by name), --link and
// --from an image.
func TestCopyFlags(t *testing.T) {
	setup(t)
	name := imageName(t)
	dir := writeContext(t, map[string]string{
		"Dockerfile": `FROM busybox
COPY --chmod=0741 run.sh /run.sh
COPY --chown=1234:5678 owned.txt /owned.txt
COPY --chown=nobody owned.txt /byname.txt
COPY --link linked.txt /linked/linked.txt
COPY --from=busybox2 /layer2.txt /from-image.txt
`,
		"run.sh":     "#!/bin/sh\necho run\n",
		"owned.txt":  "owned\n",
		"linked.txt": "linked\n",
	})
	buildx(t, "--load", "-t", name, dir)
	got := runIn(t, name, "stat -c '%a %u:%g %n' /run.sh /owned.txt /byname.txt /linked/linked.txt; cat /linked/linked.txt; test -s /from-image.txt && echo from-ok")
	want := "741 0:0 /run.sh\n644 1234:5678 /owned.txt\n644 65534:65534 /byname.txt\n644 0:0 /linked/linked.txt\nlinked\nfrom-ok"
	if got != want {
		t.Fatalf("got\n%s\nwant\n%s", got, want)
	}
}

// TestHeredocs: RUN and COPY heredocs (dockerfile 1.4+ syntax, built into
// the embedded frontend).
func TestHeredocs(t *testing.T) {
	setup(t)
	name := imageName(t)
	dir := writeContext(t, map[string]string{"Dockerfile": `FROM busybox
RUN <<EOT
echo one > /h1
echo two >> /h1
EOT
COPY <<EOF /etc/conf.txt
key=value
EOF
RUN <<EOT sh
set -e
echo "$((6*7))" > /h2
EOT
`})
	buildx(t, "--load", "-t", name, dir)
	expectRun(t, name, "cat /h1 /etc/conf.txt /h2", "one\ntwo\nkey=value\n42")
}

// TestBuildArgsAndContexts: --build-arg (a global ARG in FROM, a stage
// ARG's default overridden and one kept) and --build-context naming a
// local directory and an image.
func TestBuildArgsAndContexts(t *testing.T) {
	setup(t)
	name := imageName(t)
	extra := writeContext(t, map[string]string{"extra.txt": "from the named context\n"})
	dir := writeContext(t, map[string]string{"Dockerfile": `ARG BASE=nosuchimage
FROM ${BASE}
ARG WHO=default
ARG UNSET=kept
ENV WHO=$WHO
RUN echo "$WHO $UNSET" > /args
COPY --from=extra extra.txt /extra.txt
COPY --from=base2 /layer2.txt /base2.txt
`})
	buildx(t, "--load", "-t", name,
		"--build-arg", "BASE=busybox", "--build-arg", "WHO=tester",
		"--build-context", "extra="+extra,
		"--build-context", "base2=docker-image://busybox2",
		dir)
	expectRun(t, name, "cat /args /extra.txt; test -s /base2.txt && echo ok", "tester kept\nfrom the named context\nok")
	if !contains(inspect(t, name).Config.Env, "WHO=tester") {
		t.Fatal("ENV from ARG missing")
	}
}

// TestPlatformHost: --platform naming the host's platform builds, the
// image says so, and BUILDPLATFORM/TARGETPLATFORM are set.
func TestPlatformHost(t *testing.T) {
	setup(t)
	name := imageName(t)
	plat := "linux/" + runtime.GOARCH
	dir := writeContext(t, map[string]string{"Dockerfile": "FROM --platform=$BUILDPLATFORM busybox\nARG TARGETPLATFORM\nARG BUILDPLATFORM\nRUN echo \"$BUILDPLATFORM $TARGETPLATFORM\" > /plat\n"})
	buildx(t, "--platform", plat, "--load", "-t", name, dir)
	expectRun(t, name, "cat /plat", plat+" "+plat)
	if cfg := inspect(t, name); cfg.Os != "linux" || cfg.Architecture != runtime.GOARCH {
		t.Fatalf("os/arch %s/%s", cfg.Os, cfg.Architecture)
	}
}

// TestNoCache: a rebuild reuses every step (CACHED) and its result,
// --no-cache reruns them (a RUN writing a random UUID gives a new one).
func TestNoCache(t *testing.T) {
	setup(t)
	name := imageName(t)
	dir := writeContext(t, map[string]string{"Dockerfile": "FROM busybox\nRUN cat /proc/sys/kernel/random/uuid > /id\n"})
	buildx(t, "--load", "-t", name, dir)
	first := runIn(t, name, "cat /id")
	out := buildx(t, "--load", "-t", name, dir)
	if !regexp.MustCompile(`(?m)^#\d+ CACHED`).MatchString(out) {
		t.Fatalf("rebuild not cached:\n%s", out)
	}
	if again := runIn(t, name, "cat /id"); again != first {
		t.Fatalf("cached rebuild changed the RUN result: %q -> %q", first, again)
	}
	buildx(t, "--no-cache", "--load", "-t", name, dir)
	if fresh := runIn(t, name, "cat /id"); fresh == first {
		t.Fatal("--no-cache reused RUN's result")
	}
}

// TestDockerignore: .dockerignore keeps files out of the context that
// BuildKit's file sync sends.
func TestDockerignore(t *testing.T) {
	setup(t)
	name := imageName(t)
	dir := writeContext(t, map[string]string{
		"Dockerfile":    "FROM busybox\nCOPY . /ctx\n",
		".dockerignore": "secret.txt\n*.log\n",
		"keep.txt":      "keep",
		"secret.txt":    "no",
		"debug.log":     "no",
	})
	buildx(t, "--load", "-t", name, dir)
	expectRun(t, name, "ls -A /ctx | sort | tr '\\n' ' '", ".dockerignore Dockerfile keep.txt")
}

// TestDockerfileFlag: -f names a Dockerfile outside the context.
func TestDockerfileFlag(t *testing.T) {
	setup(t)
	name := imageName(t)
	dir := writeContext(t, map[string]string{"data.txt": "d"})
	df := filepath.Join(t.TempDir(), "Other.Dockerfile")
	if err := os.WriteFile(df, []byte("FROM busybox\nCOPY data.txt /\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	buildx(t, "-f", df, "--load", "-t", name, dir)
	expectRun(t, name, "cat /data.txt", "d")
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// TestProgressTTY: on a terminal (script(1) gives the CLI a pty) buildx's
// tty progress draws BuildKit's status ("[+] Building … FINISHED") from
// the same status stream the plain mode prints.
func TestProgressTTY(t *testing.T) {
	setup(t)
	name := imageName(t)
	dir := writeContext(t, map[string]string{"Dockerfile": "FROM busybox\nRUN echo tty-mode > /t\n"})
	ctx, cancel := context.WithTimeout(context.Background(), cmdTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "script", "-qec", "docker buildx build --progress=tty --load -t "+name+" "+dir, "/dev/null")
	cmd.Env = cliEnv()
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("tty build: %v\n%s", err, out)
	}
	expectContains(t, "tty progress", string(out), "[+] Building", "FINISHED", "RUN echo tty-mode")
	expectRun(t, name, "cat /t", "tty-mode")
}

// TestBuildHistory: the embedded BuildKit keeps build records (its history
// API): `docker buildx history ls` lists a finished build by its name and
// status, and `history inspect` shows it.
func TestBuildHistory(t *testing.T) {
	setup(t)
	name := imageName(t)
	dir := writeContext(t, map[string]string{"Dockerfile": "FROM busybox\nRUN echo history > /h\n"})
	buildx(t, "--load", "-t", name, dir)
	ls := mustCLI(t, "buildx", "history", "ls", "--format", "{{.Ref}} {{.Name}} {{.Status}}")
	var ref string
	// Newest first: the first completed record is this test's build.
	for _, line := range strings.Split(ls, "\n") {
		if f := strings.Fields(line); len(f) == 3 && f[2] == "Completed" {
			ref = f[0]
			break
		}
	}
	if ref == "" {
		t.Fatalf("no completed build in history ls:\n%s", ls)
	}
	expectContains(t, "history inspect", mustCLI(t, "buildx", "history", "inspect", ref[strings.LastIndex(ref, "/")+1:]),
		"Context:\t"+dir, "Build Steps:", "Duration:")
}
