package image

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/berthd/berth/image/tarexport/archivetest"
	"github.com/berthd/berth/integration/internal/harness"
)

func getJSON(t *testing.T, c *http.Client, url string) map[string]any {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %d %s", url, resp.StatusCode, b)
	}
	var m map[string]any
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(&m); err != nil {
		t.Fatal(err)
	}
	return m
}

// compareInspect checks that berth's and dockerd's inspect of the same
// image agree on the fields the issue names, at the API version dockerd
// 20.10 speaks (1.41), and that berth's 1.50 Config is dockerd's without
// the fields v1.50 dropped. Other differing top-level fields are logged.
func compareInspect(t *testing.T, dd *harness.Dockerd, ref string) {
	t.Helper()
	theirs := getJSON(t, dd.Client(), "http://d/v1.41/images/"+ref+"/json")
	ours := getJSON(t, d.HTTPClient(), "http://x/v1.41/images/"+ref+"/json")
	for _, k := range []string{"Id", "RootFS", "Config", "Architecture", "Os", "Size", "VirtualSize", "ContainerConfig", "Container", "Parent", "Comment", "Author", "DockerVersion", "Created"} {
		if !reflect.DeepEqual(theirs[k], ours[k]) {
			a, _ := json.Marshal(theirs[k])
			b, _ := json.Marshal(ours[k])
			t.Errorf("%s: inspect %s differs at API 1.41:\n  dockerd: %s\n  berthd:  %s", ref, k, a, b)
		}
	}
	var other []string
	for k := range theirs {
		if _, ok := ours[k]; !ok {
			other = append(other, k+" (only dockerd)")
		} else if !reflect.DeepEqual(theirs[k], ours[k]) {
			other = append(other, k)
		}
	}
	for k := range ours {
		if _, ok := theirs[k]; !ok {
			other = append(other, k+" (only berthd)")
		}
	}
	sort.Strings(other)
	t.Logf("%s: inspect fields that differ or exist on one side only (expected: IDs of storage, paths, times, fields newer than API 1.41): %v", ref, other)

	cur := getJSON(t, d.HTTPClient(), "http://x/v1.50/images/"+ref+"/json")
	want := map[string]any{}
	for k, v := range theirs["Config"].(map[string]any) {
		want[k] = v
	}
	for _, k := range []string{"Hostname", "Domainname", "AttachStdin", "AttachStdout", "AttachStderr", "Tty", "OpenStdin", "StdinOnce", "Image"} {
		delete(want, k)
	}
	if !reflect.DeepEqual(want, cur["Config"]) {
		a, _ := json.Marshal(want)
		b, _ := json.Marshal(cur["Config"])
		t.Errorf("%s: Config at API 1.50:\n  want: %s\n  got:  %s", ref, a, b)
	}
	for _, k := range []string{"Id", "RootFS", "Architecture", "Os", "Size"} {
		if !reflect.DeepEqual(theirs[k], cur[k]) {
			t.Errorf("%s: %s at API 1.50 differs from dockerd's", ref, k)
		}
	}
}

// A save from berth loads into dockerd with the same IDs, and both show
// the same image the same way.
func TestDockerdLoadsBerthSave(t *testing.T) {
	dd := harness.StartDockerd(t)
	dir := t.TempDir()
	id2 := load(t, "it-compat-bb:2", true)
	rnd, idr, _, err := archivetest.RandomImage(dir, "rnd", "it-compat-rnd:1", 41, 3, 3, 4<<20)
	if err != nil {
		t.Fatal(err)
	}
	d.DockerT(t, "load", "-i", rnd)
	saved := filepath.Join(dir, "berth.tar")
	d.DockerT(t, "save", "-o", saved, "it-compat-bb:2", "it-compat-rnd:1")
	out := dd.Docker(t, "load", "-i", saved)
	if !strings.Contains(out, "Loaded image: it-compat-bb:2") || !strings.Contains(out, "Loaded image: it-compat-rnd:1") {
		t.Fatalf("dockerd load: %s", out)
	}
	for ref, id := range map[string]string{"it-compat-bb:2": id2, "it-compat-rnd:1": idr} {
		if got := strings.TrimSpace(dd.Docker(t, "inspect", "-f", "{{.Id}}", ref)); got != id {
			t.Fatalf("dockerd has %s as %s, berth as %s", ref, got, id)
		}
		compareInspect(t, dd, ref)
	}
	// The "Loading layer" progress of the same archive: the same layers
	// with the same sizes as dockerd reports.
	d.DockerT(t, "rmi", "it-compat-bb:2", "it-compat-rnd:1")
	dd.Docker(t, "rmi", "it-compat-bb:2", "it-compat-rnd:1")
	ours := finalProgress(t, loadStream(t, d.HTTPClient(), saved, false))
	theirs := finalProgress(t, loadStream(t, dd.Client(), saved, false))
	if !reflect.DeepEqual(ours, theirs) {
		t.Errorf("load progress differs:\n  dockerd: %v\n  berthd:  %v", theirs, ours)
	}
	d.DockerT(t, "rmi", "it-compat-bb:2", "it-compat-rnd:1")
}

// A save from dockerd (20.10 writes the legacy layout: <v1 id>/layer.tar,
// json, VERSION) loads into berth with the same IDs, including an image
// dockerd made itself with docker import.
func TestBerthLoadsDockerdSave(t *testing.T) {
	harness.Require(t, fileExists("/bin/busybox"), "/bin/busybox (busybox-static)")
	dd := harness.StartDockerd(t)
	dir := t.TempDir()
	p, id := d.WriteTestImage(t, "it-fromdockerd:1", true)
	dd.Docker(t, "load", "-i", p)
	// A rootfs with a symlink, a hard link and an empty directory: the
	// layer size must be counted as dockerd counts it.
	root := filepath.Join(dir, "root")
	os.MkdirAll(filepath.Join(root, "bin"), 0o755)
	os.MkdirAll(filepath.Join(root, "empty"), 0o755)
	bb, _ := os.ReadFile("/bin/busybox")
	os.WriteFile(filepath.Join(root, "bin", "busybox"), bb, 0o755)
	os.Symlink("busybox", filepath.Join(root, "bin", "sh"))
	os.Link(filepath.Join(root, "bin", "busybox"), filepath.Join(root, "bin", "ls"))
	rootfs := filepath.Join(dir, "rootfs.tar")
	if out, err := exec.Command("tar", "-C", root, "-cf", rootfs, ".").CombinedOutput(); err != nil {
		t.Fatalf("tar: %v %s", err, out)
	}
	imported := strings.TrimSpace(dd.Docker(t, "import", "--change", `CMD ["sh"]`, "--change", "ENV A=b", "-m", "made by dockerd", rootfs, "it-imported-by-dockerd:1"))
	saved := filepath.Join(dir, "dockerd.tar")
	dd.Docker(t, "save", "-o", saved, "it-fromdockerd:1", "it-imported-by-dockerd:1")
	out := d.DockerT(t, "load", "-i", saved)
	if !strings.Contains(out, "Loaded image: it-fromdockerd:1") || !strings.Contains(out, "Loaded image: it-imported-by-dockerd:1") {
		t.Fatalf("berth load: %s", out)
	}
	for ref, want := range map[string]string{"it-fromdockerd:1": id, "it-imported-by-dockerd:1": imported} {
		if got := inspectID(t, ref); got != want {
			t.Fatalf("berth has %s as %s, dockerd as %s", ref, got, want)
		}
		compareInspect(t, dd, ref)
	}
	// And back: berth's save of dockerd's images loads into dockerd again.
	dd.Docker(t, "rmi", "it-fromdockerd:1", "it-imported-by-dockerd:1")
	back := filepath.Join(dir, "back.tar")
	d.DockerT(t, "save", "-o", back, "it-fromdockerd:1", "it-imported-by-dockerd:1")
	dd.Docker(t, "load", "-i", back)
	if got := strings.TrimSpace(dd.Docker(t, "inspect", "-f", "{{.Id}}", "it-imported-by-dockerd:1")); got != imported {
		t.Fatalf("round trip through berth changed the ID: %s, want %s", got, imported)
	}
	d.DockerT(t, "rmi", "it-fromdockerd:1", "it-imported-by-dockerd:1")
}
