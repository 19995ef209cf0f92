package buildkit

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestBrokenDockerfile: an unknown instruction, a parse error and a
// failing RUN each end the build with exit 1 and BuildKit's message, and
// leave no image behind.
func TestBrokenDockerfile(t *testing.T) {
	setup(t)
	for _, tc := range []struct {
		dockerfile string
		want       []string
	}{
		{"FROM busybox\nNOPE something\n", []string{"unknown instruction", "NOPE"}},
		{"FROM busybox\nCOPY\n", []string{"COPY requires at least two arguments"}},
		{"FROM busybox\nRUN echo before && exit 3\n", []string{"did not complete successfully", "exit code: 3"}},
		{"FROM nosuchimage-bkcli:nope\n", []string{"nosuchimage-bkcli"}},
		{"", []string{"the Dockerfile cannot be empty"}},
	} {
		name := imageName(t)
		dir := writeContext(t, map[string]string{"Dockerfile": tc.dockerfile})
		r := mustFail(t, "buildx", "build", "--progress=plain", "--load", "-t", name, dir)
		if r.Code != 1 {
			t.Errorf("%q: exit %d, want 1", tc.dockerfile, r.Code)
		}
		expectContains(t, fmt.Sprintf("error for %q", tc.dockerfile), r.Combined(), tc.want...)
		if cli(t, "image", "inspect", name).Code == 0 {
			t.Errorf("%q: a failed build left image %s", tc.dockerfile, name)
		}
	}
	// No Dockerfile at all.
	r := mustFail(t, "buildx", "build", "--progress=plain", t.TempDir())
	expectContains(t, "missing Dockerfile", r.Combined(), "Dockerfile")
}

// TestContextEscape: the context is the only part of the client's disk a
// build sees. Symlinks inside it to a file and a directory outside, and a
// COPY of ../, never bring the outside file's content into the image or
// the build's output: each build either fails or copies the symlink
// itself, and RUN through a bind mount of the link sees nothing either.
func TestContextEscape(t *testing.T) {
	setup(t)
	outside := t.TempDir()
	secret := fmt.Sprintf("HOST-ONLY-%d", time.Now().UnixNano())
	if err := os.WriteFile(filepath.Join(outside, "host.txt"), []byte(secret+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	parent := t.TempDir()
	os.WriteFile(filepath.Join(parent, "sibling.txt"), []byte(secret+"\n"), 0o644)
	dir := filepath.Join(parent, "ctx")
	os.Mkdir(dir, 0o755)
	if err := os.Symlink(filepath.Join(outside, "host.txt"), filepath.Join(dir, "filelink")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(dir, "dirlink")); err != nil {
		t.Fatal(err)
	}
	os.Symlink("../sibling.txt", filepath.Join(dir, "rellink"))
	// A control: the same context builds, and a symlink inside the
	// context to a file inside it is followed, so that a failure below is
	// the escape's refusal and not a broken engine.
	os.WriteFile(filepath.Join(dir, "inside.txt"), []byte("inside\n"), 0o644)
	os.Symlink("inside.txt", filepath.Join(dir, "insidelink"))
	os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte("FROM busybox\nCOPY insidelink /copied\n"), 0o644)
	control := imageName(t)
	buildx(t, "--load", "-t", control, dir)
	expectRun(t, control, "cat /copied", "inside")
	for _, df := range []string{
		"FROM busybox\nCOPY filelink /copied\nRUN cat /copied 2>&1 || true\n",
		"FROM busybox\nCOPY dirlink/host.txt /copied\nRUN cat /copied 2>&1 || true\n",
		"FROM busybox\nCOPY dirlink/ /copied/\nRUN cat /copied/* 2>&1 || true\n",
		"FROM busybox\nCOPY rellink /copied\nRUN cat /copied 2>&1 || true\n",
		"FROM busybox\nCOPY ../sibling.txt /copied\nRUN cat /copied 2>&1 || true\n",
		"FROM busybox\nADD filelink /copied\nRUN cat /copied 2>&1 || true\n",
		"FROM busybox\nRUN --mount=type=bind,source=filelink,target=/m cat /m > /copied 2>&1 || true\n",
		"FROM busybox\nRUN --mount=type=bind,source=dirlink,target=/m cat /m/host.txt > /copied 2>&1 || true\n",
	} {
		os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte(df), 0o644)
		name := imageName(t)
		r := cli(t, "buildx", "build", "--progress=plain", "--no-cache", "--load", "-t", name, dir)
		if strings.Contains(r.Combined(), secret) {
			t.Fatalf("%q: the outside file's content reached the build:\n%s", df, r.Combined())
		}
		if r.Code != 0 {
			continue
		}
		if got := runIn(t, name, "cat /copied /copied/* 2>&1; true"); strings.Contains(got, secret) {
			t.Fatalf("%q: the outside file's content is in the image: %q", df, got)
		}
	}
}

// mountsUnder lists the mount points below root, sorted.
func mountsUnder(t *testing.T, root string) []string {
	t.Helper()
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) > 4 && strings.HasPrefix(f[4], root+"/") {
			out = append(out, f[4])
		}
	}
	sort.Strings(out)
	return out
}

// processesWith lists the PIDs whose command line holds marker.
func processesWith(marker string) []string {
	var out []string
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err == nil && strings.Contains(string(b), marker) {
			out = append(out, e.Name())
		}
	}
	return out
}

// cgroupDirs are the cgroup directories of pid in every hierarchy (v1
// and v2) other than the root ones, from /proc/PID/cgroup.
func cgroupDirs(pid string) []string {
	b, _ := os.ReadFile(filepath.Join("/proc", pid, "cgroup"))
	var out []string
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		f := strings.SplitN(line, ":", 3)
		if len(f) != 3 || f[2] == "/" {
			continue
		}
		ctrl := strings.TrimPrefix(f[1], "name=")
		if ctrl == "" {
			ctrl = "unified"
			if _, err := os.Stat("/sys/fs/cgroup/cgroup.controllers"); err == nil {
				ctrl = ""
			}
		}
		out = append(out, filepath.Join("/sys/fs/cgroup", ctrl, f[2]))
	}
	return out
}

// TestCancelBuild: Ctrl-C (SIGINT to the CLI) during a RUN step ends the
// build promptly with an error, and the step's processes, its cgroups and
// the build's mounts are gone afterwards.
func TestCancelBuild(t *testing.T) {
	setup(t)
	marker := fmt.Sprintf("bkcli-cancel-%d", time.Now().UnixNano())
	dir := writeContext(t, map[string]string{"Dockerfile": "FROM busybox\nRUN echo " + marker + " && sleep 297 && echo " + marker + "\n"})
	before := mountsUnder(t, d.Root)
	ctx, cancel := context.WithTimeout(context.Background(), cmdTimeout)
	defer cancel()
	cmd := cliCmd(ctx, "", nil, "buildx", "build", "--progress=plain", "--no-cache", dir)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// The step's own output (`#N 0.123 marker`) says it is running.
	started, ended := make(chan struct{}), make(chan struct{})
	var progress strings.Builder
	go func() {
		defer close(ended)
		sc := bufio.NewScanner(stderr)
		stepOut := regexp.MustCompile(`^#\d+ [0-9.]+ ` + marker)
		once := false
		for sc.Scan() {
			progress.WriteString(sc.Text() + "\n")
			if !once && stepOut.MatchString(sc.Text()) {
				once = true
				close(started)
			}
		}
	}()
	select {
	case <-started:
	case <-ended:
		cmd.Wait()
		t.Fatalf("the build ended before its RUN step started:\n%s\n%s", lastLines(progress.String(), 40), d.LogTail(30))
	case <-time.After(90 * time.Second):
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("the RUN step never started:\n%s\n%s", progress.String(), d.LogTail(30))
	}
	procs := processesWith(marker)
	if len(procs) == 0 {
		t.Fatal("the step's process is not visible before the cancel: the leak check below would prove nothing")
	}
	var cgroups []string
	for _, dir := range cgroupDirs(procs[0]) {
		if _, err := os.Stat(dir); err == nil {
			cgroups = append(cgroups, dir)
		}
	}
	if len(cgroups) == 0 {
		t.Fatalf("the step's cgroups (%v) are not visible before the cancel", cgroupDirs(procs[0]))
	}
	cmd.Process.Signal(syscall.SIGINT)
	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }()
	select {
	case err := <-waited:
		if err == nil {
			t.Fatal("a cancelled build exited 0")
		}
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		<-waited
		t.Fatal("the CLI did not end within 30 s of Ctrl-C")
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		procs := processesWith(marker)
		after := mountsUnder(t, d.Root)
		var leftCgroups []string
		for _, dir := range cgroups {
			if _, err := os.Stat(dir); err == nil {
				leftCgroups = append(leftCgroups, dir)
			}
		}
		if len(procs) == 0 && len(leftCgroups) == 0 && strings.Join(after, "\n") == strings.Join(before, "\n") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the cancel: processes %v, cgroups %v, mounts before %v, after %v", procs, leftCgroups, before, after)
		}
		time.Sleep(200 * time.Millisecond)
	}
	// The daemon still builds.
	ok := writeContext(t, map[string]string{"Dockerfile": "FROM busybox\nRUN true\n"})
	buildx(t, ok)
}

// TestClassicBuilderStays: DOCKER_BUILDKIT=0 `docker build` is the classic
// builder (POST /build, "Step 1/N") with BuildKit enabled in the daemon.
func TestClassicBuilderStays(t *testing.T) {
	setup(t)
	name := imageName(t)
	dir := writeContext(t, map[string]string{"Dockerfile": "FROM busybox\nRUN echo classic > /c\n"})
	r := cliIn(t, "", []string{"DOCKER_BUILDKIT=0"}, "build", "-t", name, dir)
	if r.Code != 0 {
		t.Fatalf("classic build: %s", r.Combined())
	}
	expectContains(t, "classic output", r.Out, "Step 1/2 : FROM busybox", "Successfully tagged "+name)
	expectRun(t, name, "cat /c", "classic")
}

// TestPingAndInfo: /_ping advertises BuildKit (Builder-Version: 2), which
// is what makes the CLI pick buildx for `docker build`; `docker info`
// lists the buildx and compose plugins of the package's DOCKER_CONFIG.
func TestPingAndInfo(t *testing.T) {
	for _, method := range []string{"GET", "HEAD"} {
		resp, _ := d.Do(t, method, "/_ping", "")
		if got := resp.Header.Get("Builder-Version"); got != "2" {
			t.Fatalf("%s /_ping Builder-Version %q, want 2", method, got)
		}
	}
	info := mustCLI(t, "info")
	expectContains(t, "docker info", info, "buildx:", "compose:")
	if strings.Contains(info, "Invalid Plugins") {
		t.Fatalf("a plugin is invalid:\n%s", info)
	}
}

// legacyCLI is Debian's docker.io CLI (20.10): with DOCKER_BUILDKIT=1 its
// `docker build` is BuildKit without buildx, through POST /session and
// POST /build?version=2, as many scripts and SDKs still build.
const legacyCLI = "/usr/bin/docker"

// TestLegacyCLIBuildKit: the pre-buildx BuildKit path (/build?version=2
// with a session for the context) builds, as dockerd serves it.
func TestLegacyCLIBuildKit(t *testing.T) {
	name := imageName(t)
	dir := writeContext(t, map[string]string{"Dockerfile": "FROM busybox\nCOPY f /f\nRUN echo legacy >> /f\n", "f": "ctx\n"})
	out := legacyCLIBuild(t, nil, "-t", name, dir)
	if !regexp.MustCompile(`(?m)^#\d+ \[\d/\d\] RUN echo legacy`).Match(out) {
		t.Fatalf("not a BuildKit build:\n%s", out)
	}
	expectRun(t, name, "cat /f", "ctx\nlegacy")
}
