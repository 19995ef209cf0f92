package build

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"
)

// tarGz is a one-file .tar.gz for ADD's auto-extraction.
func tarGz(t *testing.T, name, content string) string {
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(content)), ModTime: time.Unix(1600000000, 0), Typeflag: tar.TypeReg})
	tw.Write([]byte(content))
	tw.Close()
	gz.Close()
	return buf.String()
}

// serveLoopback serves one file on 127.0.0.1 for ADD <url>.
func serveLoopback(t *testing.T, body string) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Last-Modified", time.Unix(1700000000, 0).UTC().Format(http.TimeFormat))
		fmt.Fprint(w, body)
	})}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return "http://" + l.Addr().String()
}

// everyInstruction is a Dockerfile that uses every instruction the
// classic builder knows (and that dockerd 20.10 accepts, so the two can
// be compared).
func everyInstruction(url string) string {
	return `ARG BASE=busybox:latest
FROM ${BASE} AS base
MAINTAINER someone <s@example.com>
LABEL a=1 "b c"="d e"
ENV X=1 Y="two words"
ARG V=dflt
ENV FROM_ARG=$V
WORKDIR /app
WORKDIR sub
COPY f.txt /app/
COPY --chown=5:6 dir /app/dir/
COPY w*.txt multi/
ADD arch.tar.gz /x/
ADD ` + url + `/remote.txt /r/
RUN echo "$X $Y $FROM_ARG $V" > /out.txt && ls -ln /app/dir > /own.txt
RUN ["sh", "-c", "echo exec >> /out.txt"]
SHELL ["/bin/sh", "-ec"]
RUN echo shell-ran
EXPOSE 80 443/udp 9000-9001
VOLUME /data /logs
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=5s --timeout=2s --retries=2 CMD true
ONBUILD RUN echo onbuild
USER nobody
ENTRYPOINT ["/bin/echo"]
CMD ["hello"]
`
}

func everyContext(t *testing.T, url string) string {
	return writeContext(t, map[string]string{
		"Dockerfile":    everyInstruction(url),
		"f.txt":         "f\n",
		"dir/a.txt":     "a\n",
		"w1.txt":        "1\n",
		"w2.txt":        "2\n",
		"arch.tar.gz":   tarGz(t, "inside.txt", "inside\n"),
		"ignored.txt":   "no\n",
		".dockerignore": "ignored.txt\n",
	})
}

func inspectConfig(t *testing.T, docker func(...string) string, ref string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(docker("image", "inspect", "-f", "{{json .Config}}", ref)), &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestBuildEveryInstruction(t *testing.T) {
	setup(t)
	url := serveLoopback(t, "remote\n")
	ctx := everyContext(t, url)
	out := mustBuild(t, "--build-arg", "V=given", "-t", "it-every:1", "-t", "it-every:2", ctx)
	for _, want := range []string{
		"Step 1/26 : ARG BASE=busybox:latest", "Step 2/26 : FROM ${BASE} AS base", " ---> Running in ",
		"shell-ran", "Removing intermediate container ", "Successfully built ",
		"Successfully tagged it-every:1", "Successfully tagged it-every:2",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	cfg := inspectConfig(t, func(a ...string) string { return d.DockerT(t, a...) }, "it-every:1")
	want := map[string]any{
		"User": "nobody", "WorkingDir": "/app/sub", "StopSignal": "SIGTERM",
		"Entrypoint": []any{"/bin/echo"}, "Cmd": []any{"hello"},
		"Shell":   []any{"/bin/sh", "-ec"},
		"OnBuild": []any{"RUN echo onbuild"},
		"Labels":  map[string]any{"a": "1", "b c": "d e", "org.example.fixture": "busybox"},
		"Volumes": map[string]any{"/data": map[string]any{}, "/logs": map[string]any{}},
		"ExposedPorts": map[string]any{"80/tcp": map[string]any{}, "443/udp": map[string]any{},
			"9000/tcp": map[string]any{}, "9001/tcp": map[string]any{}},
		"Env":         []any{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "X=1", "Y=two words", "FROM_ARG=given"},
		"Healthcheck": map[string]any{"Test": []any{"CMD-SHELL", "true"}, "Interval": float64(5e9), "Timeout": float64(2e9), "Retries": float64(2)},
	}
	for k, v := range want {
		if !reflect.DeepEqual(cfg[k], v) {
			t.Errorf("Config.%s = %#v, want %#v", k, cfg[k], v)
		}
	}
	run := func(args ...string) string {
		return strings.TrimSpace(d.DockerT(t, append([]string{"run", "--rm", "--user", "0", "--entrypoint", args[1]}, append(args[:1:1], args[2:]...)...)...))
	}
	if got := run("it-every:1", "cat", "/out.txt"); got != "1 two words given given\nexec" {
		t.Errorf("/out.txt = %q", got)
	}
	if got := run("it-every:1", "cat", "/app/f.txt", "/app/sub/multi/w1.txt", "/app/sub/multi/w2.txt", "/x/inside.txt", "/r/remote.txt"); got != "f\n1\n2\ninside\nremote" {
		t.Errorf("copied files = %q", got)
	}
	if got := run("it-every:1", "cat", "/own.txt"); !regexp.MustCompile(`\s5\s+6\s`).MatchString(got) {
		t.Errorf("COPY --chown=5:6 gave %q", got)
	}
	if got := run("it-every:1", "stat", "-c", "%a", "/r/remote.txt"); got != "600" {
		t.Errorf("ADD <url> mode %s, want 600", got)
	}
	if out, _, err := d.Docker("run", "--rm", "--entrypoint", "ls", "it-every:1", "/app/ignored.txt"); err == nil {
		t.Errorf(".dockerignore'd file is in the image: %s", out)
	}
	// History: one entry per step, config-only steps marked empty_layer.
	hist := d.DockerT(t, "history", "--no-trunc", "--format", "{{.CreatedBy}}|{{.Size}}", "it-every:1")
	if !strings.Contains(hist, "/bin/sh -c #(nop)  ENV X=1 Y=two words|0B") {
		t.Errorf("history lacks the ENV entry:\n%s", hist)
	}
	if !strings.Contains(hist, "|1 V=given /bin/sh -c echo") {
		t.Errorf("history lacks the RUN entry with its build arg:\n%s", hist)
	}
}

func TestBuildMultiStageTarget(t *testing.T) {
	setup(t)
	ctx := writeContext(t, map[string]string{"Dockerfile": `FROM busybox AS builder
RUN echo made > /made.txt
FROM busybox AS second
COPY --from=builder /made.txt /from-builder.txt
COPY --from=0 /made.txt /from-index.txt
COPY --from=busybox2:latest /bin/busybox /bb
FROM second AS third
RUN exit 7
`})
	out := mustBuild(t, "--target", "second", "-t", "it-ms:1", ctx)
	if strings.Contains(out, "exit 7") {
		t.Errorf("the stage after the target ran:\n%s", out)
	}
	got := strings.TrimSpace(d.DockerT(t, "run", "--rm", "it-ms:1", "cat", "/from-builder.txt", "/from-index.txt"))
	if got != "made\nmade" {
		t.Errorf("COPY --from gave %q", got)
	}
	d.DockerT(t, "run", "--rm", "it-ms:1", "ls", "/bb")
	_, errs, code := berthBuild(t, "--target", "nosuch", ctx)
	if code == 0 || !strings.Contains(errs, "failed to reach build target nosuch in Dockerfile") {
		t.Errorf("missing target: exit %d, %s", code, errs)
	}
}

var stepIDs = regexp.MustCompile(` ---> ([0-9a-f]{12})\n`)

func TestBuildCache(t *testing.T) {
	setup(t)
	ctx := writeContext(t, map[string]string{
		"Dockerfile": "FROM busybox\nENV A=1\nCOPY f.txt /f.txt\nRUN cat /f.txt > /g.txt\nCMD [\"cat\",\"/g.txt\"]\n",
		"f.txt":      "one\n",
	})
	first := mustBuild(t, ctx)
	second := mustBuild(t, ctx)
	if n := strings.Count(second, " ---> Using cache"); n != 4 {
		t.Errorf("rebuild used the cache %d times, want 4:\n%s", n, second)
	}
	if strings.Contains(second, "Running in") {
		t.Errorf("a cached RUN ran again:\n%s", second)
	}
	a, b := stepIDs.FindAllStringSubmatch(first, -1), stepIDs.FindAllStringSubmatch(second, -1)
	if len(a) == 0 || a[len(a)-1][1] != b[len(b)-1][1] {
		t.Errorf("rebuild made another image")
	}
	os.WriteFile(filepath.Join(ctx, "f.txt"), []byte("two\n"), 0o644)
	third := mustBuild(t, "-t", "it-cache:1", ctx)
	if n := strings.Count(third, " ---> Using cache"); n != 1 {
		t.Errorf("after a change the cache was used %d times, want 1 (ENV):\n%s", n, third)
	}
	if got := strings.TrimSpace(d.DockerT(t, "run", "--rm", "it-cache:1")); got != "two" {
		t.Errorf("rebuilt image has %q", got)
	}
	nocache := mustBuild(t, "--no-cache", ctx)
	if strings.Contains(nocache, "Using cache") {
		t.Errorf("--no-cache used the cache:\n%s", nocache)
	}
}

func TestBuildDockerignoreExceptions(t *testing.T) {
	setup(t)
	ctx := writeContext(t, map[string]string{
		"Dockerfile":    "FROM busybox\nCOPY . /ctx/\n",
		".dockerignore": "**/*.log\n!keep/*.log\nsecret\n",
		"a.log":         "x",
		"sub/b.log":     "x",
		"keep/c.log":    "kept",
		"secret/s":      "x",
		"ok.txt":        "ok",
	})
	mustBuild(t, "-t", "it-ignore:1", ctx)
	got := strings.Fields(d.DockerT(t, "run", "--rm", "it-ignore:1", "find", "/ctx", "-type", "f"))
	want := []string{"/ctx/.dockerignore", "/ctx/Dockerfile", "/ctx/keep/c.log", "/ctx/ok.txt"}
	sortStrings(got)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("context files %v, want %v", got, want)
	}
}

func sortStrings(s []string) {
	for i := range s {
		for j := i + 1; j < len(s); j++ {
			if s[j] < s[i] {
				s[i], s[j] = s[j], s[i]
			}
		}
	}
}

func TestBuildArgs(t *testing.T) {
	setup(t)
	ctx := writeContext(t, map[string]string{"Dockerfile": `ARG TAG=latest
FROM busybox:${TAG}
ARG A=default
ARG B
ARG TAG
ENV E=$A
RUN echo "A=$A B=$B TAG=$TAG P=$HTTP_PROXY" > /args.txt
`})
	out := mustBuild(t, "--build-arg", "B=bee", "--build-arg", "HTTP_PROXY=http://proxy.invalid", "--build-arg", "UNUSED=1", "-t", "it-args:1", ctx)
	if !strings.Contains(out, "[Warning] One or more build-args [UNUSED] were not consumed") {
		t.Errorf("no unused-arg warning:\n%s", out)
	}
	if got := strings.TrimSpace(d.DockerT(t, "run", "--rm", "it-args:1", "cat", "/args.txt")); got != "A=default B=bee TAG=latest P=http://proxy.invalid" {
		t.Errorf("args.txt = %q", got)
	}
	hist := d.DockerT(t, "history", "--no-trunc", "--format", "{{.CreatedBy}}", "it-args:1")
	if strings.Contains(hist, "proxy.invalid") {
		t.Errorf("a predefined proxy arg leaked into history:\n%s", hist)
	}
	cfg := inspectConfig(t, func(a ...string) string { return d.DockerT(t, a...) }, "it-args:1")
	if env := fmt.Sprint(cfg["Env"]); strings.Contains(env, "B=") || !strings.Contains(env, "E=default") {
		t.Errorf("Env = %s", env)
	}
}

func TestBuildOnbuild(t *testing.T) {
	setup(t)
	parent := writeContext(t, map[string]string{"Dockerfile": "FROM busybox\nONBUILD COPY f.txt /onbuild.txt\nONBUILD RUN echo triggered > /t.txt\n"})
	mustBuild(t, "-t", "it-onbuild-parent:1", parent)
	child := writeContext(t, map[string]string{"Dockerfile": "FROM it-onbuild-parent:1\nCMD [\"true\"]\n", "f.txt": "from child\n"})
	out := mustBuild(t, "-t", "it-onbuild-child:1", child)
	if !strings.Contains(out, "# Executing 2 build triggers") {
		t.Errorf("triggers not announced:\n%s", out)
	}
	if got := strings.TrimSpace(d.DockerT(t, "run", "--rm", "it-onbuild-child:1", "cat", "/onbuild.txt", "/t.txt")); got != "from child\ntriggered" {
		t.Errorf("triggers gave %q", got)
	}
	cfg := inspectConfig(t, func(a ...string) string { return d.DockerT(t, a...) }, "it-onbuild-child:1")
	if cfg["OnBuild"] != nil {
		t.Errorf("child inherited OnBuild %v", cfg["OnBuild"])
	}
}

func TestBuildFailingRun(t *testing.T) {
	setup(t)
	before := d.DockerT(t, "ps", "-aq")
	ctx := writeContext(t, map[string]string{"Dockerfile": "FROM busybox\nENV A=1\nRUN echo before-failure && exit 3\n"})
	out, errs, code := berthBuild(t, ctx)
	if code != 3 {
		t.Errorf("exit code %d, want 3", code)
	}
	if !strings.Contains(out, "Step 3/3 : RUN echo before-failure && exit 3") || !strings.Contains(out, "before-failure") {
		t.Errorf("output lacks the failing step:\n%s", out)
	}
	if !strings.Contains(errs, "The command '/bin/sh -c echo before-failure && exit 3' returned a non-zero code: 3") {
		t.Errorf("error: %s", errs)
	}
	// As dockerd does with --rm (the CLI's default): the failed step's
	// container stays for the user to look into (see TestMiscBuildRemove).
	if left := newContainers(t, before); len(left) != 1 || format(t, left[0], "{{.State.ExitCode}}") != "3" {
		t.Errorf("the failed build left %v, want the failed step's container", left)
	}
	d.Docker(append([]string{"rm", "-f"}, newContainers(t, before)...)...)
}

func TestBuildQuietIidfileLabel(t *testing.T) {
	setup(t)
	ctx := writeContext(t, map[string]string{"Dockerfile": "FROM busybox\nRUN true\n"})
	iid := filepath.Join(t.TempDir(), "iid")
	out := strings.TrimSpace(mustBuild(t, "-q", "--iidfile", iid, "--label", "x=y", ctx))
	if !regexp.MustCompile(`^sha256:[0-9a-f]{64}$`).MatchString(out) {
		t.Errorf("-q printed %q", out)
	}
	b, _ := os.ReadFile(iid)
	if strings.TrimSpace(string(b)) != out {
		t.Errorf("iidfile %q, -q %q", b, out)
	}
	cfg := inspectConfig(t, func(a ...string) string { return d.DockerT(t, a...) }, out)
	if labels, _ := cfg["Labels"].(map[string]any); labels["x"] != "y" {
		t.Errorf("--label gave %v", cfg["Labels"])
	}
}
