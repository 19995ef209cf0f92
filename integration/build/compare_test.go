package build

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/berthd/berth/integration/internal/harness"
)

// configFields are the Config fields whose equality with dockerd's the
// issue asks for.
var configFields = []string{"Env", "Cmd", "Entrypoint", "WorkingDir", "User", "Volumes", "ExposedPorts",
	"Labels", "Healthcheck", "OnBuild", "StopSignal", "Shell"}

func dockerOut(r *harness.Dockerd, args ...string) (string, error) {
	cmd := exec.Command("docker", args...)
	cmd.Env = append(os.Environ(), "DOCKER_HOST="+r.Host(), "DOCKER_CONFIG="+r.CLIDir())
	b, err := cmd.Output()
	return string(b), err
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}

// The same Dockerfiles built by berthd and by a real dockerd give images
// whose inspect Config fields and layer counts are equal, and bad
// Dockerfiles fail with the same message.
func TestBuildMatchesDockerd(t *testing.T) {
	setup(t)
	dd := harness.StartDockerd(t)
	if dd == nil {
		return
	}
	for _, ref := range []string{"busybox:latest", "busybox2:latest"} {
		p, _ := d.WriteTestImage(t, ref, ref == "busybox2:latest")
		dd.Docker(t, "load", "-i", p)
	}
	url := serveLoopback(t, "remote\n")
	cases := map[string]string{
		"every": "", // everyContext
		"multistage": `FROM busybox AS a
RUN echo a > /a
FROM busybox
COPY --from=a /a /b
WORKDIR rel
ENTRYPOINT echo hi
`,
		"scratch":  "FROM scratch\nCOPY f.txt /\nENV A=b\nCMD [\"/f.txt\"]\n",
		"cmdshell": "FROM busybox\nSHELL [\"/bin/sh\", \"-xc\"]\nCMD echo shell form\nENTRYPOINT [\"/bin/sh\"]\nHEALTHCHECK NONE\n",
	}
	for name, df := range cases {
		var ctx string
		if df == "" {
			ctx = everyContext(t, url)
		} else {
			ctx = writeContext(t, map[string]string{"Dockerfile": df, "f.txt": "f\n"})
		}
		tag := "it-cmp-" + name + ":1"
		args := []string{"--network", "none", "--build-arg", "V=given", "-t", tag, ctx}
		if out, errs, code := build(dd.Host(), dd.CLIDir(), args...); code != 0 {
			t.Fatalf("%s: dockerd build: %d\n%s\n%s", name, code, out, errs)
		}
		mustBuild(t, args...)
		theirs := inspectConfig(t, func(a ...string) string { return dd.Docker(t, a...) }, tag)
		ours := inspectConfig(t, func(a ...string) string { return d.DockerT(t, a...) }, tag)
		for _, k := range configFields {
			if !reflect.DeepEqual(theirs[k], ours[k]) {
				a, _ := json.Marshal(theirs[k])
				b, _ := json.Marshal(ours[k])
				t.Errorf("%s: Config.%s differs:\n  dockerd: %s\n  berthd:  %s", name, k, a, b)
			}
		}
		layers := func(out string) string { return strings.TrimSpace(out) }
		tl := layers(dd.Docker(t, "image", "inspect", "-f", "{{len .RootFS.Layers}} {{len .RootFS.Layers}}", tag))
		ol := layers(d.DockerT(t, "image", "inspect", "-f", "{{len .RootFS.Layers}} {{len .RootFS.Layers}}", tag))
		if tl != ol {
			t.Errorf("%s: layer count dockerd %s, berthd %s", name, tl, ol)
		}
		// The history's commands are dockerd's too, COPY and ADD sums
		// included (which --cache-from of dockerd's images relies on).
		tc, _ := dockerOut(dd, "history", "--no-trunc", "--format", "{{.CreatedBy}}", tag)
		oc := d.DockerT(t, "history", "--no-trunc", "--format", "{{.CreatedBy}}", tag)
		if tc != oc {
			t.Errorf("%s: history commands differ:\n  dockerd: %q\n  berthd:  %q", name, tc, oc)
		}
		th, _ := dockerOut(dd, "history", "--format", "{{.Size}}", tag)
		oh := d.DockerT(t, "history", "--format", "{{.Size}}", tag)
		if strings.Count(th, "\n") != strings.Count(oh, "\n") || strings.Count(th, "0B") != strings.Count(oh, "0B") {
			t.Errorf("%s: history (sizes) differ:\n  dockerd: %q\n  berthd:  %q", name, th, oh)
		}
	}

	bad := map[string]map[string]string{
		"unknown instruction": {"Dockerfile": "FROM busybox\nFOO bar\n"},
		"bad syntax":          {"Dockerfile": "FROM busybox\nEXPOSE\n"},
		"outside context":     {"Dockerfile": "FROM busybox\nCOPY ../x /x\n"},
		"missing file":        {"Dockerfile": "FROM busybox\nCOPY nosuch /x\n"},
		"bad from args":       {"Dockerfile": "FROM busybox AS\n"},
	}
	for name, files := range bad {
		ctx := writeContext(t, files)
		_, theirs, tc := build(dd.Host(), dd.CLIDir(), "--network", "none", ctx)
		before := d.DockerT(t, "ps", "-aq")
		_, ours, oc := berthBuild(t, "--network", "none", ctx)
		if tc == 0 || oc == 0 {
			t.Errorf("%s: exit codes dockerd %d, berthd %d", name, tc, oc)
		}
		if lastLine(theirs) != lastLine(ours) {
			t.Errorf("%s: error differs:\n  dockerd: %s\n  berthd:  %s", name, lastLine(theirs), lastLine(ours))
		}
		if after := d.DockerT(t, "ps", "-aq"); after != before {
			t.Errorf("%s: left containers behind", name)
		}
	}
	// --target of a stage that does not exist.
	ctx := writeContext(t, map[string]string{"Dockerfile": "FROM busybox AS one\n"})
	_, theirs, _ := build(dd.Host(), dd.CLIDir(), "--target", "nosuch", ctx)
	_, ours, _ := berthBuild(t, "--target", "nosuch", ctx)
	if lastLine(theirs) != lastLine(ours) {
		t.Errorf("missing target: error differs:\n  dockerd: %s\n  berthd:  %s", lastLine(theirs), lastLine(ours))
	}
	_ = filepath.Join
}
