package distribution

import (
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berthd/berth/image"
	"github.com/berthd/berth/image/layer"
)

// FuzzManifest feeds what a registry sends for a pull, a manifest or
// index with its Content-Type, the platform query and the config blob, to
// the steps pullOne takes before any download: parse, select from an
// index, validate the layers, parse the config, match diff IDs to layers.
// No panic; bad input is an error.
func FuzzManifest(f *testing.F) {
	const cfg = `{"architecture":"amd64","os":"linux","config":{"Env":["PATH=/bin"],"Cmd":["sh"]},"rootfs":{"type":"layers","diff_ids":["sha256:1111111111111111111111111111111111111111111111111111111111111111"]},"history":[{"created_by":"x"}]}`
	for _, s := range []struct{ body, ct string }{
		{`{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json","config":{"mediaType":"application/vnd.docker.container.image.v1+json","size":1469,"digest":"sha256:2222222222222222222222222222222222222222222222222222222222222222"},"layers":[{"mediaType":"application/vnd.docker.image.rootfs.diff.tar.gzip","size":2226,"digest":"sha256:3333333333333333333333333333333333333333333333333333333333333333"}]}`, ""},
		{`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","size":1,"digest":"sha256:4444444444444444444444444444444444444444444444444444444444444444","platform":{"architecture":"amd64","os":"linux"}},{"mediaType":"application/vnd.oci.image.manifest.v1+json","size":1,"digest":"sha256:5555555555555555555555555555555555555555555555555555555555555555","platform":{"architecture":"arm","os":"linux","variant":"v7"}},{"mediaType":"application/vnd.oci.image.manifest.v1+json","size":1,"digest":"sha256:6666666666666666666666666666666666666666666666666666666666666666","platform":{"architecture":"unknown","os":"unknown"},"annotations":{"vnd.docker.reference.type":"attestation-manifest"}}]}`, ""},
		{`{"schemaVersion":2,"config":{"digest":"sha256:2222222222222222222222222222222222222222222222222222222222222222"},"layers":[{"mediaType":"application/vnd.in-toto+json","digest":"x"},{"digest":"sha256:zz"}]}`, "application/vnd.oci.image.manifest.v1+json"},
		{`{"schemaVersion":2,"manifests":[{"digest":"sha256:4444444444444444444444444444444444444444444444444444444444444444","platform":null}]}`, ""},
		{`{"schemaVersion":1,"name":"x","tag":"latest","fsLayers":[],"signatures":[]}`, "application/vnd.docker.distribution.manifest.v1+prettyjws"},
		{`{"schemaVersion":2,"manifests":[]}`, "application/vnd.docker.distribution.manifest.list.v2+json"},
		{`{}`, "text/plain"}, {`null`, ""}, {`[]`, ""}, {`{"layers":null,"manifests":{}}`, ""}, {"\xff", ""},
	} {
		f.Add([]byte(s.body), s.ct, "linux/amd64", []byte(cfg))
	}
	f.Add([]byte(`{"schemaVersion":2,"config":{"digest":"sha256:2222222222222222222222222222222222222222222222222222222222222222"}}`), "", "", []byte(`{"rootfs":{"type":"zfs"}}`))
	f.Add([]byte(`{"schemaVersion":2,"config":{"digest":"sha256:2222222222222222222222222222222222222222222222222222222222222222"}}`), "", "linux/arm64/v8", []byte(`{"os":"windows","rootfs":{"diff_ids":["md5:x"]}}`))
	f.Add([]byte(`{"schemaVersion":2,"config":{"digest":"sha256:2222222222222222222222222222222222222222222222222222222222222222"}}`), "", "LINUX/X86_64/V1", []byte(`{"config":{"Healthcheck":{"Test":[]},"ExposedPorts":{"x":{}},"Volumes":{"":{}}},"rootfs":{"diff_ids":[]},"history":null}`))
	f.Add([]byte(`{}`), "", "windows/amd64", []byte(`{`))
	f.Add([]byte(`{}`), "", "linux/arm/v7/x", []byte(``))
	f.Fuzz(func(t *testing.T, body []byte, ct, platform string, rawCfg []byte) {
		plat, err := ParsePlatform(platform)
		if err != nil {
			plat = DefaultPlatform()
		}
		_ = plat.String()
		m, kind, err := parseManifest(body, ct)
		if err != nil {
			return
		}
		if m == nil {
			t.Fatal("parseManifest: no manifest and no error")
		}
		if kind == "index" {
			d, err := selectManifest(m, plat)
			if err == nil {
				_ = d.Digest.String()
			}
			return
		}
		var layers []ocispec.Descriptor
		for _, l := range m.Layers {
			if isLayer(l.MediaType) {
				if err := l.Digest.Validate(); err != nil {
					return
				}
				layers = append(layers, l)
			}
		}
		cfg, err := image.ParseConfig(rawCfg)
		if err != nil {
			return
		}
		if len(cfg.RootFS.DiffIDs) != len(layers) {
			return
		}
		layer.ChainIDs(cfg.RootFS.DiffIDs)
	})
}
