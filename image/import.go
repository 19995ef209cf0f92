package image

import (
	"context"
	"encoding/json"
	"io"
	"runtime"
	"strings"
	"time"

	"github.com/distribution/reference"
	"github.com/moby/moby/api/types/events"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	refstore "github.com/berthd/berth/image/reference"
	"github.com/berthd/berth/image/unpack"
	"github.com/berthd/berth/pkg/errdefs"
	"github.com/berthd/berth/pkg/platform"
)

// ImportOptions are POST /images/create?fromSrc=-'s options.
type ImportOptions struct {
	Repo, Tag string
	Message   string
	Changes   []string
	Platform  string
}

// Version is what import writes as docker_version; the daemon sets it.
var Version = "dev"

// Import makes a one-layer image from a rootfs tarball (plain or
// compressed), as `docker import` does, and returns its ID.
func (s *Service) Import(ctx context.Context, r io.Reader, o ImportOptions) (digest.Digest, error) {
	if err := s.ready(); err != nil {
		return "", err
	}
	var ref reference.Named
	if o.Repo != "" {
		var err error
		if ref, err = refstore.ParseTag(o.Repo, o.Tag); err != nil {
			return "", err
		}
	}
	plat := ocispec.Platform{OS: "linux", Architecture: runtime.GOARCH}
	if o.Platform != "" {
		// dockerd parses the specifier (containerd's rules and texts),
		// then takes only its own operating system.
		if err := platform.Check(o.Platform); err != nil {
			return "", err
		}
		if os := platform.OS(o.Platform); os != "" && os != "linux" {
			return "", errdefs.InvalidParameterf("operating system is not supported")
		}
		parts := strings.Split(strings.ToLower(o.Platform), "/")
		if platform.OS(o.Platform) == "" {
			parts = append([]string{"linux"}, parts...)
		}
		if len(parts) > 1 {
			plat.Architecture = normArch(parts[1])
		}
		if len(parts) > 2 {
			plat.Variant = parts[2]
		}
	}
	cfg := &Config{}
	if err := ApplyChanges(&cfg.Config, o.Changes); err != nil {
		return "", err
	}

	dec, _, err := unpack.Decompress(r)
	if err != nil {
		return "", errdefs.InvalidParameterf("invalid archive: %v", err)
	}
	defer dec.Close()
	p, err := s.layers.Unpack(ctx, dec)
	if err != nil {
		if _, ok := err.(*unpack.EntryError); ok || strings.Contains(err.Error(), "reading layer tar") {
			return "", errdefs.InvalidParameter(err)
		}
		return "", err
	}
	chain, err := s.layers.Commit(p, "")
	if err != nil {
		p.Discard()
		return "", err
	}
	created := time.Now().UTC()
	cfg.Created = &created
	cfg.Platform = plat
	cfg.Comment = o.Message
	cfg.DockerVersion = Version
	cfg.RootFS = ocispec.RootFS{Type: "layers", DiffIDs: []digest.Digest{p.Result.DiffID}}
	cfg.History = []ocispec.History{{Created: &created, Comment: o.Message}}
	raw, err := json.Marshal(cfg)
	if err != nil {
		s.layers.Release(chain)
		return "", err
	}
	img, _, err := s.Register(raw, "")
	if err != nil {
		s.layers.Release(chain)
		return "", err
	}
	if ref != nil {
		if err := s.AddReference(img, ref); err != nil {
			return "", err
		}
	}
	s.log(events.ActionImport, img, img.ID.String())
	return img.ID, nil
}

func normArch(a string) string {
	switch a {
	case "x86_64", "x86-64":
		return "amd64"
	case "aarch64":
		return "arm64"
	}
	return a
}
