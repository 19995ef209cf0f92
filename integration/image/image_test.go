package image

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/berthd/berth/integration/internal/harness"
)

func inspectID(t *testing.T, ref string) string {
	t.Helper()
	return strings.TrimSpace(d.DockerT(t, "inspect", "-f", "{{.Id}}", ref))
}

func load(t *testing.T, ref string, two bool) string {
	t.Helper()
	p, id := d.WriteTestImage(t, ref, two)
	out := d.DockerT(t, "load", "-i", p)
	if !strings.Contains(out, "Loaded image: "+ref) {
		t.Fatalf("load output %q", out)
	}
	if got := inspectID(t, ref); got != id {
		t.Fatalf("loaded ID %s, the archive's config digest is %s", got, id)
	}
	return id
}

func layerDirs(t *testing.T) []string {
	t.Helper()
	ents, _ := os.ReadDir(filepath.Join(d.DataRoot, "image", "layers"))
	var out []string
	for _, e := range ents {
		if len(e.Name()) == 64 {
			out = append(out, e.Name())
		}
	}
	return out
}

func TestSaveRmiLoadKeepsIDs(t *testing.T) {
	id := load(t, "it-rt:1", true)
	p := filepath.Join(t.TempDir(), "s.tar")
	d.DockerT(t, "save", "-o", p, "it-rt:1")
	d.DockerT(t, "rmi", "it-rt:1")
	if _, _, err := d.Docker("inspect", id); err == nil {
		t.Fatal("image survived rmi")
	}
	out := d.DockerT(t, "load", "-i", p)
	if strings.TrimSpace(out) != "Loaded image: it-rt:1" {
		t.Fatalf("load output %q", out)
	}
	if got := inspectID(t, "it-rt:1"); got != id {
		t.Fatalf("ID after round trip %s, want %s", got, id)
	}
	// The saved archive is also an OCI layout: load it gzipped and without
	// manifest.json.
	oci := ociOnly(t, p)
	d.DockerT(t, "rmi", "it-rt:1")
	out = d.DockerT(t, "load", "-i", oci)
	if !strings.Contains(out, "Loaded image: it-rt:1") {
		t.Fatalf("OCI load output %q", out)
	}
	if got := inspectID(t, "it-rt:1"); got != id {
		t.Fatalf("ID after OCI load %s, want %s", got, id)
	}
	d.DockerT(t, "rmi", "it-rt:1")
}

// ociOnly rewrites a save archive without manifest.json and gzips it.
func ociOnly(t *testing.T, src string) string {
	t.Helper()
	f, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	dst := src + ".oci.tgz"
	o, _ := os.Create(dst)
	defer o.Close()
	gz := gzip.NewWriter(o)
	tw := tar.NewWriter(gz)
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if h.Name == "manifest.json" || h.Name == "repositories" {
			continue
		}
		tw.WriteHeader(h)
		io.Copy(tw, tr)
	}
	tw.Close()
	gz.Close()
	return dst
}

func TestImportWithChange(t *testing.T) {
	harness.Require(t, fileExists("/bin/busybox"), "/bin/busybox (busybox-static)")
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "root", "bin"), 0o755)
	bb, _ := os.ReadFile("/bin/busybox")
	os.WriteFile(filepath.Join(dir, "root", "bin", "busybox"), bb, 0o755)
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	tw.WriteHeader(&tar.Header{Name: "bin/", Typeflag: tar.TypeDir, Mode: 0o755})
	tw.WriteHeader(&tar.Header{Name: "bin/busybox", Typeflag: tar.TypeReg, Mode: 0o755, Size: int64(len(bb))})
	tw.Write(bb)
	tw.WriteHeader(&tar.Header{Name: "bin/sh", Typeflag: tar.TypeSymlink, Linkname: "busybox", Mode: 0o777})
	tw.Close()
	gz.Close()
	p := filepath.Join(dir, "rootfs.tgz")
	os.WriteFile(p, buf.Bytes(), 0o644)

	out := d.DockerT(t, "import", "--change", `CMD ["sh"]`, "--change", "ENV A=b", "-m", "from test", p, "it-imported:v1")
	if !strings.HasPrefix(strings.TrimSpace(out), "sha256:") {
		t.Fatalf("import output %q", out)
	}
	got := d.DockerT(t, "inspect", "-f", `{{json .Config.Cmd}} {{json .Config.Env}} {{.Comment}} {{.Os}} {{len .RootFS.Layers}}`, "it-imported:v1")
	if strings.TrimSpace(got) != `["sh"] ["A=b"] from test linux 1` {
		t.Fatalf("imported config: %s", got)
	}
	if _, errOut, err := d.Docker("import", "--change", "RUN true", p); err == nil || !strings.Contains(errOut, "RUN is not a valid change command") {
		t.Fatalf("RUN change accepted: %v %s", err, errOut)
	}
	d.DockerT(t, "rmi", "it-imported:v1")
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

func TestImagesFilters(t *testing.T) {
	old := load(t, "it-filter-old:1", false)
	newer := load(t, "it-filter-new:1", true)
	list := func(args ...string) string {
		return strings.TrimSpace(d.DockerT(t, append([]string{"images", "--no-trunc", "-q"}, args...)...))
	}
	if got := list("--filter", "reference=it-filter-old"); got != old {
		t.Fatalf("reference: %q", got)
	}
	if got := list("--filter", "reference=it-filter-*:1"); !strings.Contains(got, old) || !strings.Contains(got, newer) {
		t.Fatalf("reference glob: %q", got)
	}
	if got := list("--filter", "label=org.example.fixture=busybox", "--filter", "reference=it-filter-*"); !strings.Contains(got, old) {
		t.Fatalf("label: %q", got)
	}
	if got := list("--filter", "label=nope", "--filter", "reference=it-filter-*"); got != "" {
		t.Fatalf("label nope: %q", got)
	}
	// Both test images share a creation time: before/since exclude each
	// other's equal time, so both filters give nothing for the pair.
	if got := list("--filter", "before=it-filter-new:1", "--filter", "reference=it-filter-*"); got != "" {
		t.Fatalf("before: %q", got)
	}
	if got := list("--filter", "since=it-filter-old:1", "--filter", "reference=it-filter-*"); got != "" {
		t.Fatalf("since: %q", got)
	}
	d.DockerT(t, "rmi", "it-filter-old:1")
	d.DockerT(t, "tag", newer, "it-filter-new:2")
	d.DockerT(t, "rmi", "it-filter-new:1", "it-filter-new:2")
	if _, errOut, err := d.Docker("images", "--filter", "bogus=1"); err == nil || !strings.Contains(errOut, "invalid filter 'bogus'") {
		t.Fatalf("bad filter: %v %s", err, errOut)
	}
}

func TestDanglingAndPrune(t *testing.T) {
	id := load(t, "it-dangle:1", false)
	// Loading a different image under the same tag leaves the old one
	// dangling.
	p, _ := d.WriteTestImage(t, "it-dangle:1", true)
	out := d.DockerT(t, "load", "-i", p)
	if !strings.Contains(out, "renaming the old one with ID "+id) {
		t.Fatalf("load over a tag: %q", out)
	}
	if got := strings.TrimSpace(d.DockerT(t, "images", "-q", "--no-trunc", "--filter", "dangling=true")); !strings.Contains(got, id) {
		t.Fatalf("dangling: %q", got)
	}
	if got := d.DockerT(t, "images", "-q", "--no-trunc", "--filter", "dangling=false"); strings.Contains(got, id) {
		t.Fatalf("dangling=false lists %s", id)
	}
	out = d.DockerT(t, "image", "prune", "-f")
	if !strings.Contains(out, "deleted: "+id) {
		t.Fatalf("prune: %q", out)
	}
	out = d.DockerT(t, "image", "prune", "-a", "-f")
	if !strings.Contains(out, "untagged: it-dangle:1") {
		t.Fatalf("prune -a: %q", out)
	}
	if got := strings.TrimSpace(d.DockerT(t, "images", "-q")); got != "" {
		t.Fatalf("images left after prune -a: %q", got)
	}
	if dirs := layerDirs(t); len(dirs) != 0 {
		t.Fatalf("layers left after prune -a: %v", dirs)
	}
}

func TestTagAndRmi(t *testing.T) {
	id := load(t, "it-tag:1", false)
	d.DockerT(t, "tag", "it-tag:1", "it-tag-other:v2")
	if inspectID(t, "it-tag-other:v2") != id {
		t.Fatal("tag points elsewhere")
	}
	// By ID with names in two repositories: a conflict unless forced.
	_, errOut, err := d.Docker("rmi", id)
	if err == nil || !strings.Contains(errOut, "must be forced") || !strings.Contains(errOut, "referenced in multiple repositories") {
		t.Fatalf("rmi by ID: %v %s", err, errOut)
	}
	// By name: only untags.
	out := d.DockerT(t, "rmi", "it-tag-other:v2")
	if strings.TrimSpace(out) != "Untagged: it-tag-other:v2" {
		t.Fatalf("rmi tag: %q", out)
	}
	d.DockerT(t, "tag", "it-tag:1", "it-tag-other:v2")
	out = d.DockerT(t, "rmi", "-f", id)
	for _, want := range []string{"Untagged: it-tag:1", "Untagged: it-tag-other:v2", "Deleted: " + id} {
		if !strings.Contains(out, want) {
			t.Fatalf("rmi -f output lacks %q: %s", want, out)
		}
	}
	if _, errOut, err := d.Docker("rmi", "it-tag:1"); err == nil || !strings.Contains(errOut, "No such image: it-tag:1") {
		t.Fatalf("rmi missing: %v %s", err, errOut)
	}
	if _, errOut, err := d.Docker("inspect", "--type", "image", "nosuch-xyz"); err == nil || !strings.Contains(errOut, "No such image") {
		t.Fatalf("inspect missing: %v %s", err, errOut)
	}
	// The API's own reference check (the CLI checks too, so go direct).
	resp, err := d.HTTPClient().Post("http://x/v1.50/images/"+id+"/tag?repo=BAD:REF:x", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 404 && resp.StatusCode != 400 {
		t.Fatalf("bad tag status %d", resp.StatusCode)
	}
}

func TestHistoryAndInspect(t *testing.T) {
	id := load(t, "it-hist:1", true)
	out := d.DockerT(t, "history", "--no-trunc", "--format", "{{.ID}} {{.CreatedBy}} {{.Size}}", "it-hist:1")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], id+" testimage layer 1") || !strings.HasPrefix(lines[1], "<missing> testimage layer 0") {
		t.Fatalf("history:\n%s", out)
	}
	var insp []struct {
		ID           string `json:"Id"`
		RepoTags     []string
		RepoDigests  []string
		Created      string
		Architecture string
		Os           string
		Size         int64
		Config       struct {
			Cmd    []string
			Env    []string
			Labels map[string]string
		}
		RootFS struct {
			Type   string
			Layers []string
		}
		GraphDriver struct{ Name string }
	}
	if err := json.Unmarshal([]byte(d.DockerT(t, "inspect", "it-hist:1")), &insp); err != nil || len(insp) != 1 {
		t.Fatal(err)
	}
	i := insp[0]
	if i.ID != id || len(i.RepoTags) != 1 || i.RepoTags[0] != "it-hist:1" || i.RepoDigests == nil || i.Created != "2023-11-14T22:13:20Z" ||
		i.Architecture != "amd64" || i.Os != "linux" || i.Size <= 0 || len(i.RootFS.Layers) != 2 || i.RootFS.Type != "layers" ||
		i.Config.Cmd[0] != "sh" || i.Config.Labels["org.example.fixture"] != "busybox" || i.GraphDriver.Name != "overlay2" {
		t.Fatalf("inspect: %+v", i)
	}
	d.DockerT(t, "rmi", "it-hist:1")
}

func TestMaliciousArchivesChangeNothing(t *testing.T) {
	before := layerDirs(t)
	cfgFor := func(diffID string) []byte {
		b, _ := json.Marshal(map[string]any{"architecture": "amd64", "os": "linux",
			"rootfs": map[string]any{"type": "layers", "diff_ids": []string{diffID}}})
		return b
	}
	archive := func(layer []byte, diffID string) string {
		if diffID == "" {
			sum := sha256.Sum256(layer)
			diffID = "sha256:" + hex.EncodeToString(sum[:])
		}
		var buf bytes.Buffer
		tw := tar.NewWriter(&buf)
		add := func(n string, b []byte) {
			tw.WriteHeader(&tar.Header{Name: n, Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(b))})
			tw.Write(b)
		}
		add("l/layer.tar", layer)
		add("c.json", cfgFor(diffID))
		add("manifest.json", []byte(`[{"Config":"c.json","RepoTags":["it-evil:1"],"Layers":["l/layer.tar"]}]`))
		tw.Close()
		p := filepath.Join(t.TempDir(), "evil.tar")
		os.WriteFile(p, buf.Bytes(), 0o644)
		return p
	}
	layerOf := func(hs ...tar.Header) []byte {
		var buf bytes.Buffer
		tw := tar.NewWriter(&buf)
		for _, h := range hs {
			h := h
			tw.WriteHeader(&h)
			if h.Size > 0 {
				tw.Write(bytes.Repeat([]byte("x"), int(h.Size)))
			}
		}
		tw.Close()
		return buf.Bytes()
	}
	good := layerOf(tar.Header{Name: "f", Typeflag: tar.TypeReg, Size: 1, Mode: 0o644})
	for name, tc := range map[string]struct {
		layer  []byte
		diffID string
		want   string
	}{
		"dotdot":        {layerOf(tar.Header{Name: "../../escape", Typeflag: tar.TypeReg, Size: 1, Mode: 0o644}), "", "escapes the layer root"},
		"symlink-write": {layerOf(tar.Header{Name: "s", Typeflag: tar.TypeSymlink, Linkname: "/tmp"}, tar.Header{Name: "s/pwned", Typeflag: tar.TypeReg, Size: 1, Mode: 0o644}), "", "symlink"},
		"hardlink-out":  {layerOf(tar.Header{Name: "h", Typeflag: tar.TypeLink, Linkname: "../../../etc/passwd"}), "", "outside the layer root"},
		"digest":        {good, "sha256:" + strings.Repeat("0", 64), "invalid diffID"},
	} {
		t.Run(name, func(t *testing.T) {
			_, errOut, err := d.Docker("load", "-i", archive(tc.layer, tc.diffID))
			if err == nil || !strings.Contains(errOut, tc.want) {
				t.Fatalf("load: %v %s", err, errOut)
			}
			if _, _, err := d.Docker("inspect", "it-evil:1"); err == nil {
				t.Fatal("bad image registered")
			}
			if fileExists("/tmp/pwned") {
				t.Fatal("wrote outside the layer")
			}
			if got := layerDirs(t); len(got) != len(before) {
				t.Fatalf("layers changed: %v -> %v", before, got)
			}
			if ents, _ := os.ReadDir(filepath.Join(d.DataRoot, "image", "layers", "tmp")); len(ents) != 0 {
				t.Fatalf("litter in layers/tmp: %v", ents)
			}
		})
	}
}

func TestImagesSurviveRestart(t *testing.T) {
	fd := harness.Fresh(t, harness.Options{})
	p, id := fd.WriteTestImage(t, "it-restart:1", true)
	fd.DockerT(t, "load", "-i", p)
	if err := fd.Restart(true); err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSpace(fd.DockerT(t, "inspect", "-f", "{{.Id}}", "it-restart:1")); got != id {
		t.Fatalf("after kill -9 and restart: %q", got)
	}
	if got := strings.TrimSpace(fd.DockerT(t, "info", "-f", "{{.Images}}")); got != "1" {
		t.Fatalf("info Images = %s", got)
	}
}
