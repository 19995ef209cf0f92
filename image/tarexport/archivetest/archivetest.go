package archivetest

import (
	"archive/tar"
	"bufio"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"time"
)

// Layer is a layer tar written to a file.
type Layer struct {
	Path   string
	DiffID string // sha256:<hex> of the tar
	Size   int64  // of the tar
}

// RandomLayer writes to path a layer tar of files random files holding
// size bytes in all (named <prefix>/f<N>), from seed, so the same
// arguments give the same layer and diff ID.
func RandomLayer(path, prefix string, seed uint64, files int, size int64) (Layer, error) {
	f, err := os.Create(path)
	if err != nil {
		return Layer{}, err
	}
	defer f.Close()
	h := sha256.New()
	bw := bufio.NewWriterSize(io.MultiWriter(f, h), 1<<20)
	tw := tar.NewWriter(bw)
	mtime := time.Unix(1700000000, 0)
	tw.WriteHeader(&tar.Header{Name: prefix + "/", Typeflag: tar.TypeDir, Mode: 0o755, ModTime: mtime, Format: tar.FormatPAX})
	var key [32]byte
	binary.LittleEndian.PutUint64(key[:], seed)
	rng := rand.NewChaCha8(key)
	buf := make([]byte, 1<<20)
	for i := 0; i < files; i++ {
		n := size / int64(files)
		if i == files-1 {
			n = size - n*int64(files-1)
		}
		if err := tw.WriteHeader(&tar.Header{Name: fmt.Sprintf("%s/f%d", prefix, i), Typeflag: tar.TypeReg, Mode: 0o644, Size: n, ModTime: mtime, Format: tar.FormatPAX}); err != nil {
			return Layer{}, err
		}
		for left := n; left > 0; {
			c := min(left, int64(len(buf)))
			rng.Read(buf[:c])
			if _, err := tw.Write(buf[:c]); err != nil {
				return Layer{}, err
			}
			left -= c
		}
	}
	if err := tw.Close(); err != nil {
		return Layer{}, err
	}
	if err := bw.Flush(); err != nil {
		return Layer{}, err
	}
	st, err := f.Stat()
	if err != nil {
		return Layer{}, err
	}
	return Layer{Path: path, DiffID: "sha256:" + hex.EncodeToString(h.Sum(nil)), Size: st.Size()}, f.Close()
}

// Config returns the image config of layers, and its digest: the image ID.
func Config(layers []Layer, label string) ([]byte, string) {
	diffIDs := make([]string, len(layers))
	history := make([]map[string]any, len(layers))
	for i, l := range layers {
		diffIDs[i] = l.DiffID
		history[i] = map[string]any{"created": "2023-11-14T22:13:20Z", "created_by": fmt.Sprintf("archivetest layer %d", i)}
	}
	cfg, _ := json.Marshal(map[string]any{
		"architecture": runtime.GOARCH,
		"os":           "linux",
		"created":      "2023-11-14T22:13:20Z",
		"config": map[string]any{
			"Cmd":    []string{"sh"},
			"Env":    []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"},
			"Labels": map[string]string{"org.example.archivetest": label},
		},
		"rootfs":  map[string]any{"type": "layers", "diff_ids": diffIDs},
		"history": history,
	})
	sum := sha256.Sum256(cfg)
	return cfg, "sha256:" + hex.EncodeToString(sum[:])
}

// WriteArchive writes a docker-save archive of one image named ref (no
// name when ref is "") to path and returns the image ID.
func WriteArchive(path, ref string, layers []Layer, label string) (string, error) {
	f, err := os.Create(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	bw := bufio.NewWriterSize(f, 1<<20)
	tw := tar.NewWriter(bw)
	mtime := time.Unix(1700000000, 0)
	add := func(name string, b []byte) error {
		if err := tw.WriteHeader(&tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(b)), ModTime: mtime}); err != nil {
			return err
		}
		_, err := tw.Write(b)
		return err
	}
	var layerPaths []string
	var layerDescs []map[string]any
	for _, l := range layers {
		name := "blobs/sha256/" + l.DiffID[len("sha256:"):]
		layerPaths = append(layerPaths, name)
		layerDescs = append(layerDescs, map[string]any{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": l.DiffID, "size": l.Size})
		lf, err := os.Open(l.Path)
		if err != nil {
			return "", err
		}
		err = tw.WriteHeader(&tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0o644, Size: l.Size, ModTime: mtime})
		if err == nil {
			_, err = io.Copy(tw, lf)
		}
		lf.Close()
		if err != nil {
			return "", err
		}
	}
	cfg, id := Config(layers, label)
	if err := add("blobs/sha256/"+id[len("sha256:"):], cfg); err != nil {
		return "", err
	}
	mf, _ := json.Marshal(map[string]any{
		"schemaVersion": 2,
		"mediaType":     "application/vnd.oci.image.manifest.v1+json",
		"config":        map[string]any{"mediaType": "application/vnd.oci.image.config.v1+json", "digest": id, "size": len(cfg)},
		"layers":        layerDescs,
	})
	msum := sha256.Sum256(mf)
	mdigest := "sha256:" + hex.EncodeToString(msum[:])
	if err := add("blobs/sha256/"+mdigest[len("sha256:"):], mf); err != nil {
		return "", err
	}
	desc := map[string]any{"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": mdigest, "size": len(mf)}
	var tags []string
	if ref != "" {
		tags = []string{ref}
		desc["annotations"] = map[string]string{"io.containerd.image.name": ref}
	}
	idx, _ := json.Marshal(map[string]any{"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": []any{desc}})
	if err := add("index.json", idx); err != nil {
		return "", err
	}
	if err := add("oci-layout", []byte(`{"imageLayoutVersion":"1.0.0"}`)); err != nil {
		return "", err
	}
	man, _ := json.Marshal([]map[string]any{{"Config": "blobs/sha256/" + id[len("sha256:"):], "RepoTags": tags, "Layers": layerPaths}})
	if err := add("manifest.json", man); err != nil {
		return "", err
	}
	if err := tw.Close(); err != nil {
		return "", err
	}
	if err := bw.Flush(); err != nil {
		return "", err
	}
	return id, f.Close()
}

// RandomImage writes n random layers of size bytes each (files files per
// layer) under dir and an archive of them named ref at dir/<name>.tar.
// Layer i has seed seed+i, so images with the same seed share layers.
func RandomImage(dir, name, ref string, seed uint64, n, files int, size int64) (archive, id string, layers []Layer, err error) {
	for i := 0; i < n; i++ {
		l, err := RandomLayer(filepath.Join(dir, fmt.Sprintf("%s-layer%d.tar", name, i)), fmt.Sprintf("l%d-%d", seed, i), seed+uint64(i), files, size)
		if err != nil {
			return "", "", nil, err
		}
		layers = append(layers, l)
	}
	archive = filepath.Join(dir, name+".tar")
	id, err = WriteArchive(archive, ref, layers, name)
	return archive, id, layers, err
}
