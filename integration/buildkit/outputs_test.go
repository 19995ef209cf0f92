package buildkit

import (
	"archive/tar"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// tarFiles lists a tarball's entries and returns the content of the
// regular files among them.
func tarFiles(t *testing.T, path string) map[string]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	files := map[string]string{}
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return files
		}
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		var b []byte
		if h.Typeflag == tar.TypeReg && h.Size < 1<<20 {
			b, _ = io.ReadAll(tr)
		}
		files[strings.TrimPrefix(h.Name, "./")] = string(b)
	}
}

// outputContext is a two-stage build whose result is a scratch image of
// two files: what the local and tar exporters write is exactly these.
func outputContext(t *testing.T) string {
	return writeContext(t, map[string]string{"Dockerfile": `FROM busybox AS make
RUN mkdir -p /out/sub && echo result > /out/result.txt && echo nested > /out/sub/n.txt
FROM scratch
COPY --from=make /out/ /
`})
}

// TestOutputLocalAndTar: -o type=local writes the result's files into a
// directory, -o type=tar into a tarball, and -o DIR is type=local.
func TestOutputLocalAndTar(t *testing.T) {
	setup(t)
	dir := outputContext(t)
	dest := filepath.Join(t.TempDir(), "out")
	buildx(t, "-o", "type=local,dest="+dest, dir)
	for f, want := range map[string]string{"result.txt": "result\n", "sub/n.txt": "nested\n"} {
		if b, err := os.ReadFile(filepath.Join(dest, f)); err != nil || string(b) != want {
			t.Fatalf("local output %s: %q %v", f, b, err)
		}
	}
	short := filepath.Join(t.TempDir(), "short")
	buildx(t, "-o", short, dir)
	if b, err := os.ReadFile(filepath.Join(short, "result.txt")); err != nil || string(b) != "result\n" {
		t.Fatalf("-o DIR: %q %v", b, err)
	}
	tarball := filepath.Join(t.TempDir(), "out.tar")
	buildx(t, "-o", "type=tar,dest="+tarball, dir)
	files := tarFiles(t, tarball)
	if files["result.txt"] != "result\n" || files["sub/n.txt"] != "nested\n" {
		t.Fatalf("tar output: %v", keys(files))
	}
}

// TestOutputOCIAndDocker: -o type=oci writes an OCI layout tarball; -o
// type=docker a docker-archive that `docker load` takes back, tag and
// all, into a runnable image.
func TestOutputOCIAndDocker(t *testing.T) {
	setup(t)
	dir := writeContext(t, map[string]string{"Dockerfile": "FROM busybox\nRUN echo exported > /e\nCMD [\"cat\", \"/e\"]\n"})
	oci := filepath.Join(t.TempDir(), "oci.tar")
	buildx(t, "-o", "type=oci,dest="+oci, dir)
	files := tarFiles(t, oci)
	var index struct {
		Manifests []struct{ MediaType string }
	}
	if err := json.Unmarshal([]byte(files["index.json"]), &index); err != nil || len(index.Manifests) == 0 {
		t.Fatalf("oci index.json: %v %q (entries %v)", err, files["index.json"], keys(files))
	}
	if !strings.Contains(files["oci-layout"], "imageLayoutVersion") {
		t.Fatalf("oci-layout: %q", files["oci-layout"])
	}

	name := imageName(t)
	archive := filepath.Join(t.TempDir(), "docker.tar")
	buildx(t, "-o", "type=docker,dest="+archive, "-t", name, dir)
	if _, ok := tarFiles(t, archive)["manifest.json"]; !ok {
		t.Fatalf("docker output has no manifest.json: %v", keys(tarFiles(t, archive)))
	}
	cli(t, "rmi", "-f", name)
	expectContains(t, "docker load", mustCLI(t, "load", "-i", archive), name)
	if got := strings.TrimSpace(mustCLI(t, "run", "--rm", name)); got != "exported" {
		t.Fatalf("loaded image printed %q", got)
	}
}

// TestPush: --push -t REGISTRY/repo sends the image to a loopback
// registry; after the local copy is gone, `docker pull` brings it back
// and it runs.
func TestPush(t *testing.T) {
	setup(t)
	reg := startRegistry(t)
	ref := reg + "/bkcli/pushed:v1"
	t.Cleanup(func() { cli(t, "rmi", "-f", ref) })
	dir := writeContext(t, map[string]string{"Dockerfile": "FROM busybox\nRUN echo pushed > /p\nLABEL pushed=yes\n"})
	out := buildx(t, "--push", "-t", ref, dir)
	expectContains(t, "push progress", out, "pushing", ref)
	if code, body := registryGet(t, reg, "/v2/bkcli/pushed/manifests/v1"); code != 200 {
		t.Fatalf("registry manifest: %d %s", code, body)
	}
	// One push: not the engine's and then BuildKit's image exporter's
	// over it.
	if n := manifestPuts(t, reg, "bkcli/pushed", "v1"); n != 1 {
		t.Fatalf("%d manifest uploads to the tag, want 1:\n%s", n, out)
	}
	cli(t, "rmi", "-f", ref)
	mustCLI(t, "pull", ref)
	expectRun(t, ref, "cat /p", "pushed")
	if inspect(t, ref).Config.Labels["pushed"] != "yes" {
		t.Fatal("label lost")
	}
}

// TestSyntaxFromRegistry: `# syntax=` names a Dockerfile frontend image on
// a loopback registry. The image is BuildKit v0.34.2's own
// dockerfile-frontend binary (hack/buildkit-clients.sh), packaged as the
// docker/dockerfile image is and pushed there by a build; the embedded
// frontend hands the build to it (gateway.v0), offline.
func TestSyntaxFromRegistry(t *testing.T) {
	setup(t)
	bin := filepath.Join(pluginDir(), "dockerfile-frontend")
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("%s: %v (hack/buildkit-clients.sh builds it)", bin, err)
	}
	reg := startRegistry(t)
	frontend := reg + "/bkcli/dockerfile:test"
	t.Cleanup(func() { cli(t, "rmi", "-f", frontend) })
	fctx := t.TempDir()
	data, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(fctx, "dockerfile-frontend"), data, 0o755); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(fctx, "Dockerfile"), []byte(`FROM scratch
LABEL moby.buildkit.frontend.network.none="true"
LABEL moby.buildkit.frontend.caps="moby.buildkit.frontend.inputs,moby.buildkit.frontend.subrequests,moby.buildkit.frontend.contexts"
COPY dockerfile-frontend /bin/dockerfile-frontend
ENTRYPOINT ["/bin/dockerfile-frontend"]
`), 0o644)
	buildx(t, "--push", "-t", frontend, fctx)

	name := imageName(t)
	dir := writeContext(t, map[string]string{"Dockerfile": "# syntax=" + frontend + "\nFROM busybox\nRUN echo via-external-frontend > /f\n"})
	out := buildx(t, "--load", "-t", name, dir)
	// The progress names the frontend image it resolved.
	expectContains(t, "progress", out, "resolve image config for docker-image://"+frontend)
	expectRun(t, name, "cat /f", "via-external-frontend")
	// buildx's --call=outline goes through the external frontend's
	// subrequests.
	r := cli(t, "buildx", "build", "--call=targets", dir)
	if r.Code != 0 {
		t.Fatalf("--call=targets via the external frontend: %s", lastLines(r.Combined(), 30))
	}
}

func keys(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
