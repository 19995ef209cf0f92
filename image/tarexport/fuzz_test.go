package tarexport

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/berthd/berth/image"
	"github.com/berthd/berth/pkg/fuzztest"
)

// fuzzArchive writes files (name, content) as a tar, in order.
func fuzzArchive(files ...[2]string) []byte {
	var es []fuzztest.Entry
	for _, f := range files {
		es = append(es, fuzztest.Entry{Name: f[0], Type: tar.TypeReg, Data: f[1]})
	}
	return fuzztest.Tar(es...)
}

func sha(b []byte) string { return fmt.Sprintf("%x", sha256.Sum256(b)) }

// fuzzSeeds are docker-save and OCI-layout archives, valid and broken,
// with layers that try to leave the store.
func fuzzSeeds() [][]byte {
	var seeds [][]byte
	layers := append([][]byte{fuzztest.Tar(fuzztest.Entry{Name: "bin/", Type: tar.TypeDir, Mode: 0o755}, fuzztest.Entry{Name: "bin/sh", Type: tar.TypeReg, Mode: 0o755, Data: "#!"})},
		fuzztest.NastyTars("tarexport")[:6]...)
	for i, l := range layers {
		cfg := []byte(fmt.Sprintf(`{"architecture":"amd64","os":"linux","config":{"Cmd":["sh"]},"rootfs":{"type":"layers","diff_ids":["sha256:%s"]},"history":[{"created_by":"seed %d"}]}`, sha(l), i))
		seeds = append(seeds, fuzzArchive(
			[2]string{"manifest.json", fmt.Sprintf(`[{"Config":"%s.json","RepoTags":["fuzz:%d"],"Layers":["l%d/layer.tar"]}]`, sha(cfg), i, i)},
			[2]string{sha(cfg) + ".json", string(cfg)},
			[2]string{fmt.Sprintf("l%d/layer.tar", i), string(l)},
			[2]string{"repositories", `{"fuzz":{"1":"x"}}`},
		))
		man := []byte(fmt.Sprintf(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%d},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"sha256:%s","size":%d}]}`, sha(cfg), len(cfg), sha(l), len(l)))
		inner := []byte(fmt.Sprintf(`{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%d,"platform":{"os":"linux","architecture":"amd64"}}]}`, sha(man), len(man)))
		outer := []byte(fmt.Sprintf(`{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.index.v1+json","digest":"sha256:%s","size":%d,"annotations":{"io.containerd.image.name":"docker.io/library/fuzz:oci%d"}}]}`, sha(inner), len(inner), i))
		seeds = append(seeds, fuzzArchive(
			[2]string{"oci-layout", `{"imageLayoutVersion":"1.0.0"}`},
			[2]string{"index.json", string(outer)},
			[2]string{"blobs/sha256/" + sha(inner), string(inner)},
			[2]string{"blobs/sha256/" + sha(man), string(man)},
			[2]string{"blobs/sha256/" + sha(cfg), string(cfg)},
			[2]string{"blobs/sha256/" + sha(l), string(l)},
		))
	}
	seeds = append(seeds,
		fuzzArchive([2]string{"manifest.json", `[{"Config":"../../etc/passwd","RepoTags":["UPPER:x","a@sha256:zz"],"Layers":["/proc/self/environ"]}]`}),
		fuzzArchive([2]string{"manifest.json", `[{"Config":"c","Layers":["c"]}]`}, [2]string{"c", `{"rootfs":{"type":"layers","diff_ids":["sha256:00"]}}`}),
		fuzzArchive([2]string{"index.json", `{"manifests":[{"digest":"sha256:../../x","mediaType":"application/vnd.oci.image.index.v1+json"}]}`}),
		fuzzArchive([2]string{"manifest.json", `null`}), fuzzArchive([2]string{"manifest.json", `{`}), fuzzArchive([2]string{"index.json", `[]`}),
		fuzztest.Tar(fuzztest.Entry{Name: "manifest.json", Type: tar.TypeSymlink, Link: "../../../etc/hostname"}),
		fuzztest.Tar(fuzztest.Entry{Name: "a", Type: tar.TypeSymlink, Link: "b"}, fuzztest.Entry{Name: "b", Type: tar.TypeSymlink, Link: "a"},
			fuzztest.Entry{Name: "manifest.json", Type: tar.TypeLink, Link: "a"}),
		[]byte{}, []byte("\x1f\x8b\x08"), []byte("BZh9"),
	)
	return seeds
}

// FuzzLoad feeds archives to docker load's Load, into an image store in a
// fresh directory each time: no panic, no hang, and no file outside the
// store changes, whatever manifest.json, index.json and layers say.
func FuzzLoad(f *testing.F) {
	sb := fuzztest.New(f, "tarexport")
	for _, s := range fuzzSeeds() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		defer fuzztest.Watchdog(20 * time.Second)()
		sb.Reset(t)
		svc := image.New(sb.Dest)
		var out bytes.Buffer
		err := Load(context.Background(), svc, bytes.NewReader(data), Output{Line: func(s string) { out.WriteString(s) }})
		if err == nil {
			// What was loaded must be listable.
			if _, err := json.Marshal(out.String()); err != nil {
				t.Fatal(err)
			}
		}
		sb.Check(t)
	})
}
