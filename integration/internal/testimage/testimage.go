package testimage

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"sort"
	"strings"
	"time"
)

// Busybox is where Debian's busybox-static puts its binary.
const Busybox = "/bin/busybox"

var mtime = time.Unix(1700000000, 0)

type entry struct {
	name string
	kind byte
	data []byte
	link string
	mode int64
}

func layerTar(entries []entry) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		h := &tar.Header{Name: e.name, Typeflag: e.kind, Mode: e.mode, ModTime: mtime, Linkname: e.link, Format: tar.FormatPAX}
		if e.kind == tar.TypeReg {
			h.Size = int64(len(e.data))
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, err
		}
		if e.kind == tar.TypeReg {
			if _, err := tw.Write(e.data); err != nil {
				return nil, err
			}
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func applets() ([]string, error) {
	out, err := exec.Command(Busybox, "--list").Output()
	if err != nil {
		return nil, fmt.Errorf("%s --list: %w (install Debian's busybox-static)", Busybox, err)
	}
	set := map[string]bool{}
	for _, a := range strings.Fields(string(out)) {
		if a != "busybox" {
			set[a] = true
		}
	}
	list := make([]string, 0, len(set))
	for a := range set {
		list = append(list, a)
	}
	sort.Strings(list)
	return list, nil
}

// Layers returns the uncompressed layer tars of the test image.
func Layers(twoLayers bool) ([][]byte, error) {
	bb, err := os.ReadFile(Busybox)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w (install Debian's busybox-static)", Busybox, err)
	}
	names, err := applets()
	if err != nil {
		return nil, err
	}
	var es []entry
	for _, d := range []string{"bin", "etc", "root", "home", "home/user", "var", "usr", "usr/bin"} {
		es = append(es, entry{name: d, kind: tar.TypeDir, mode: 0o755})
	}
	es = append(es, entry{name: "tmp", kind: tar.TypeDir, mode: 0o1777})
	es = append(es, entry{name: "bin/busybox", kind: tar.TypeReg, data: bb, mode: 0o755})
	for _, a := range names {
		es = append(es, entry{name: "bin/" + a, kind: tar.TypeSymlink, link: "busybox", mode: 0o777})
	}
	es = append(es,
		entry{name: "usr/bin/env", kind: tar.TypeSymlink, link: "/bin/busybox", mode: 0o777},
		entry{name: "etc/passwd", kind: tar.TypeReg, mode: 0o644, data: []byte("root:x:0:0:root:/root:/bin/sh\nuser:x:1000:1000:user:/home/user:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n")},
		entry{name: "etc/group", kind: tar.TypeReg, mode: 0o644, data: []byte("root:x:0:\nuser:x:1000:\nnogroup:x:65534:\n")},
		entry{name: "etc/motd", kind: tar.TypeReg, mode: 0o644, data: []byte("layer one\n")},
	)
	first, err := layerTar(es)
	if err != nil {
		return nil, err
	}
	layers := [][]byte{first}
	if twoLayers {
		second, err := layerTar([]entry{
			{name: "layer2.txt", kind: tar.TypeReg, mode: 0o644, data: []byte("second layer\n")},
			{name: "etc", kind: tar.TypeDir, mode: 0o755},
			{name: "etc/motd", kind: tar.TypeReg, mode: 0o644, data: []byte("layer two\n")},
		})
		if err != nil {
			return nil, err
		}
		layers = append(layers, second)
	}
	return layers, nil
}

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// Write writes a docker-archive tarball of the test image tagged ref
// ("repo:tag") to path and returns the image ID (sha256:<config digest>).
func Write(path, ref string, twoLayers bool) (string, error) {
	layers, err := Layers(twoLayers)
	if err != nil {
		return "", err
	}
	created := "2023-11-14T22:13:20Z"
	var diffIDs []string
	var history []map[string]string
	for i, l := range layers {
		diffIDs = append(diffIDs, "sha256:"+sha(l))
		history = append(history, map[string]string{"created": created, "created_by": fmt.Sprintf("testimage layer %d", i)})
	}
	cfg, err := json.Marshal(map[string]any{
		"architecture": "amd64",
		"os":           "linux",
		"created":      created,
		"config": map[string]any{
			"Env":        []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"},
			"Cmd":        []string{"sh"},
			"WorkingDir": "/",
			"Labels":     map[string]string{"org.example.fixture": "busybox"},
		},
		"rootfs":  map[string]any{"type": "layers", "diff_ids": diffIDs},
		"history": history,
	})
	if err != nil {
		return "", err
	}
	cfgHex := sha(cfg)

	f, err := os.Create(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	tw := tar.NewWriter(f)
	add := func(name string, data []byte) error {
		if err := tw.WriteHeader(&tar.Header{Name: name, Typeflag: tar.TypeReg, Size: int64(len(data)), Mode: 0o644, ModTime: mtime}); err != nil {
			return err
		}
		_, err := tw.Write(data)
		return err
	}
	var layerPaths []string
	for i, l := range layers {
		p := strings.TrimPrefix(diffIDs[i], "sha256:") + "/layer.tar"
		if err := add(p, l); err != nil {
			return "", err
		}
		layerPaths = append(layerPaths, p)
	}
	if err := add(cfgHex+".json", cfg); err != nil {
		return "", err
	}
	manifest, _ := json.Marshal([]map[string]any{{"Config": cfgHex + ".json", "RepoTags": []string{ref}, "Layers": layerPaths}})
	if err := add("manifest.json", manifest); err != nil {
		return "", err
	}
	repo, tag := ref, "latest"
	if i := strings.LastIndex(ref, ":"); i > strings.LastIndex(ref, "/") {
		repo, tag = ref[:i], ref[i+1:]
	}
	repos, _ := json.Marshal(map[string]map[string]string{repo: {tag: strings.TrimPrefix(diffIDs[len(diffIDs)-1], "sha256:")}})
	if err := add("repositories", repos); err != nil {
		return "", err
	}
	if err := tw.Close(); err != nil {
		return "", err
	}
	return "sha256:" + cfgHex, f.Sync()
}
