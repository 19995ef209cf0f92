package distribution

import (
	"encoding/json"
	"fmt"
	"io"
	"runtime"
	"strings"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berthd/berth/pkg/errdefs"
	"github.com/berthd/berth/pkg/platform"
)

// Media types berth reads and writes.
const (
	MediaTypeDockerManifest     = "application/vnd.docker.distribution.manifest.v2+json"
	MediaTypeDockerManifestList = "application/vnd.docker.distribution.manifest.list.v2+json"
	MediaTypeDockerConfig       = "application/vnd.docker.container.image.v1+json"
	MediaTypeDockerLayer        = "application/vnd.docker.image.rootfs.diff.tar.gzip"
	MediaTypeDockerForeignLayer = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"
	mediaTypeSchema1Signed      = "application/vnd.docker.distribution.manifest.v1+prettyjws"
	mediaTypeSchema1            = "application/vnd.docker.distribution.manifest.v1+json"
)

var manifestMediaTypes = []string{
	MediaTypeDockerManifest,
	MediaTypeDockerManifestList,
	ocispec.MediaTypeImageManifest,
	ocispec.MediaTypeImageIndex,
}

// manifest is the part of a docker schema 2 / OCI manifest or index that
// berth uses; both formats share the field names.
type manifest struct {
	SchemaVersion int                  `json:"schemaVersion"`
	MediaType     string               `json:"mediaType,omitempty"`
	Config        ocispec.Descriptor   `json:"config"`
	Layers        []ocispec.Descriptor `json:"layers"`
	Manifests     []ocispec.Descriptor `json:"manifests"`
}

// kind is what a fetched document is: "index" or "manifest".
func parseManifest(b []byte, contentType string) (*manifest, string, error) {
	var m manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, "", errdefs.InvalidParameterf("invalid manifest: %v", err)
	}
	mt := m.MediaType
	if mt == "" {
		mt = contentType
	}
	switch mt {
	case MediaTypeDockerManifestList, ocispec.MediaTypeImageIndex:
		return &m, "index", nil
	case MediaTypeDockerManifest, ocispec.MediaTypeImageManifest:
		return &m, "manifest", nil
	case mediaTypeSchema1, mediaTypeSchema1Signed:
		return nil, "", errdefs.InvalidParameterf("unsupported manifest format: docker image manifest schema 1 (%s) is deprecated and cannot be pulled", mt)
	}
	// A registry that sends neither header nor mediaType: guess from the
	// fields, as the OCI spec allows.
	switch {
	case m.SchemaVersion == 2 && len(m.Manifests) > 0:
		return &m, "index", nil
	case m.SchemaVersion == 2 && m.Config.Digest != "":
		return &m, "manifest", nil
	}
	return nil, "", errdefs.InvalidParameterf("unsupported manifest media type %q", mt)
}

// Platform is an os/architecture/variant to pull.
type Platform struct {
	OS, Architecture, Variant string
	// Explicit is set when the client asked for it (the platform query).
	Explicit bool
}

func (p Platform) String() string {
	s := p.OS + "/" + p.Architecture
	if p.Variant != "" {
		s += "/" + p.Variant
	}
	return s
}

// DefaultPlatform is the daemon's own.
func DefaultPlatform() Platform {
	p := Platform{OS: "linux", Architecture: runtime.GOARCH}
	switch runtime.GOARCH {
	case "arm64":
		p.Variant = "v8"
	case "arm":
		p.Variant = "v7"
	}
	return p
}

// ParsePlatform reads the platform query: os[/arch[/variant]].
func ParsePlatform(s string) (Platform, error) {
	if strings.TrimSpace(s) == "" {
		return DefaultPlatform(), nil
	}
	if err := platform.Check(strings.TrimSpace(s)); err != nil {
		return Platform{}, err
	}
	parts := strings.Split(strings.ToLower(strings.TrimSpace(s)), "/")
	p := Platform{OS: parts[0], Explicit: true}
	if len(parts) == 1 {
		// "linux" alone: the daemon's own architecture.
		d := DefaultPlatform()
		p.Architecture, p.Variant = d.Architecture, d.Variant
	}
	if len(parts) > 1 {
		p.Architecture = parts[1]
	}
	if len(parts) > 2 {
		p.Variant = parts[2]
	}
	p.Architecture, p.Variant = normalizeArch(p.Architecture, p.Variant)
	if p.OS != "linux" {
		return Platform{}, errdefs.InvalidParameterf("operating system %q is not supported", p.OS)
	}
	return p, nil
}

// normalizeArch maps the spellings people use to the OCI ones.
func normalizeArch(arch, variant string) (string, string) {
	switch arch {
	case "x86_64", "x86-64", "amd64":
		arch = "amd64"
		if variant == "v1" {
			variant = ""
		}
	case "i386", "386":
		arch = "386"
	case "aarch64", "arm64":
		arch = "arm64"
		if variant == "8" || variant == "" {
			variant = "v8"
		}
	case "armhf":
		arch, variant = "arm", "v7"
	case "armel":
		arch, variant = "arm", "v6"
	case "arm":
		switch variant {
		case "", "7":
			variant = "v7"
		case "5", "6", "8":
			variant = "v" + variant
		}
	}
	return arch, variant
}

// matches reports whether a descriptor's platform serves want.
func (want Platform) matches(p *ocispec.Platform) bool {
	if p == nil {
		return false
	}
	arch, variant := normalizeArch(p.Architecture, p.Variant)
	if p.OS != want.OS || arch != want.Architecture {
		return false
	}
	return want.Variant == "" || variant == want.Variant || (variant == "" && want.Variant == "v8")
}

// selectManifest picks the index entry for want; dockerd's message when
// there is none.
func selectManifest(idx *manifest, want Platform) (ocispec.Descriptor, error) {
	for _, d := range idx.Manifests {
		if want.matches(d.Platform) {
			return d, nil
		}
	}
	return ocispec.Descriptor{}, errdefs.NotFoundf("no matching manifest for %s in the manifest list entries", want)
}

func decodeJSON(r io.Reader, v any) error {
	if err := json.NewDecoder(io.LimitReader(r, maxManifestSize)).Decode(v); err != nil {
		return errdefs.Unavailable(fmt.Errorf("invalid registry response: %w", err))
	}
	return nil
}

// isLayer reports whether a manifest layer is an image layer berth
// unpacks (not an artifact or attestation blob).
func isLayer(mt string) bool {
	switch mt {
	case MediaTypeDockerLayer, MediaTypeDockerForeignLayer, ocispec.MediaTypeImageLayer, ocispec.MediaTypeImageLayerGzip,
		ocispec.MediaTypeImageLayerZstd, ocispec.MediaTypeImageLayerNonDistributable, //nolint:staticcheck // still seen
		ocispec.MediaTypeImageLayerNonDistributableGzip, ocispec.MediaTypeImageLayerNonDistributableZstd, //nolint:staticcheck
		"application/vnd.docker.image.rootfs.diff.tar", "":
		return true
	}
	return false
}

var _ = digest.SHA256
