package testimage

import (
	"archive/tar"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestWriteIsConsistentDockerArchive(t *testing.T) {
	for _, two := range []bool{false, true} {
		p := filepath.Join(t.TempDir(), "img.tar")
		id, err := Write(p, "busybox:latest", two)
		if err != nil {
			t.Fatal(err)
		}
		f, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		files := map[string][]byte{}
		tr := tar.NewReader(f)
		for {
			h, err := tr.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			files[h.Name], _ = io.ReadAll(tr)
		}
		f.Close()
		var manifest []struct {
			Config   string
			RepoTags []string
			Layers   []string
		}
		if err := json.Unmarshal(files["manifest.json"], &manifest); err != nil || len(manifest) != 1 {
			t.Fatalf("manifest: %v %s", err, files["manifest.json"])
		}
		m := manifest[0]
		if "sha256:"+sha(files[m.Config]) != id || strings.TrimSuffix(m.Config, ".json") != strings.TrimPrefix(id, "sha256:") {
			t.Fatalf("config digest does not match ID %s", id)
		}
		want := 1
		if two {
			want = 2
		}
		var cfg struct {
			RootFS struct {
				DiffIDs []string `json:"diff_ids"`
			} `json:"rootfs"`
		}
		json.Unmarshal(files[m.Config], &cfg)
		if len(m.Layers) != want || len(cfg.RootFS.DiffIDs) != want {
			t.Fatalf("layers %d, diff_ids %d, want %d", len(m.Layers), len(cfg.RootFS.DiffIDs), want)
		}
		for i, l := range m.Layers {
			if "sha256:"+sha(files[l]) != cfg.RootFS.DiffIDs[i] {
				t.Fatalf("layer %s does not match diff_id %s", l, cfg.RootFS.DiffIDs[i])
			}
		}
		if m.RepoTags[0] != "busybox:latest" {
			t.Fatalf("RepoTags %v", m.RepoTags)
		}
	}
}
