package image

import (
	"encoding/json"
	"fmt"
	"time"

	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	"github.com/opencontainers/go-digest"

	"github.com/berthd/berth/image/layer"
	"github.com/berthd/berth/pkg/errdefs"
)

// Config is an image config as stored: the OCI config with docker's
// extensions, plus the top-level fields docker images carry beyond the OCI
// spec.
type Config struct {
	dockerspec.DockerOCIImage
	Comment       string        `json:"comment,omitempty"`
	Parent        digest.Digest `json:"parent,omitempty"`
	DockerVersion string        `json:"docker_version,omitempty"`
}

// Image is one local image.
type Image struct {
	// ID is the config digest.
	ID digest.Digest
	// Config is the parsed config; RawConfig its exact bytes.
	Config    *Config
	RawConfig []byte
	// DiffIDs are the layers' diff IDs, base first; TopChain the chain ID
	// of the whole stack ("" for an image without layers).
	DiffIDs  []digest.Digest
	TopChain digest.Digest
	// Parent is the image this one was built on, if known locally.
	Parent      digest.Digest
	LastTagTime time.Time
}

// Created is the config's creation time (zero when absent).
func (img *Image) Created() time.Time {
	if img.Config.Created == nil {
		return time.Time{}
	}
	return *img.Config.Created
}

// Labels are the config's labels.
func (img *Image) Labels() map[string]string { return img.Config.Config.Labels }

// ParseConfig parses and checks an image config.
func ParseConfig(raw []byte) (*Config, error) {
	var c Config
	if err := json.Unmarshal(raw, &c); err != nil {
		return nil, errdefs.InvalidParameterf("invalid image config: %v", err)
	}
	if c.RootFS.Type != "" && c.RootFS.Type != "layers" {
		return nil, errdefs.InvalidParameterf("invalid image config: unsupported rootfs type %q", c.RootFS.Type)
	}
	for _, d := range c.RootFS.DiffIDs {
		if err := d.Validate(); err != nil {
			return nil, errdefs.InvalidParameterf("invalid image config: diff ID %q: %v", d, err)
		}
	}
	if c.OS != "" && c.OS != "linux" {
		return nil, errdefs.InvalidParameterf("image operating system %q cannot be used on this platform", c.OS)
	}
	return &c, nil
}

func newImage(raw []byte, meta record) (*Image, error) {
	c, err := ParseConfig(raw)
	if err != nil {
		return nil, err
	}
	img := &Image{
		ID:          digest.FromBytes(raw),
		Config:      c,
		RawConfig:   raw,
		DiffIDs:     c.RootFS.DiffIDs,
		TopChain:    layer.ChainID(c.RootFS.DiffIDs),
		Parent:      meta.Parent,
		LastTagTime: meta.LastTagTime,
	}
	return img, nil
}

// record is an image's metadata file, images/<hex>.json. It is written
// once, when the image is created; the tag time, which docker tag changes,
// lives in tagtimes/<hex> (see Service.writeTagTime).
type record struct {
	Parent digest.Digest `json:"parent,omitempty"`
	// LastTagTime is read from records of older versions, which kept the
	// tag time here; tagtimes/<hex> wins over it.
	LastTagTime time.Time `json:"lastTagTime,omitzero"`
	// PendingRefs are names the image is being given as it is created
	// (docker load). Writing the record is the image's commit point; a
	// crash before the names are in the reference store leaves them here,
	// and the next start applies them, so a loaded image never comes back
	// without its names.
	PendingRefs []string `json:"pendingRefs,omitempty"`
	// RefsSeq is the save count references.json has once PendingRefs are
	// in it. A start applies PendingRefs only while references.json is
	// older than that: after it, the names are there or were moved or
	// removed by the user since, and the record need not be rewritten to
	// say so. 0 (records of older versions) means apply and rewrite.
	RefsSeq uint64 `json:"refsSeq,omitempty"`
}

// RootFS is what Hold gives a container.
type RootFS struct {
	// ChainID names the top layer ("" for an image without layers).
	ChainID digest.Digest
	// LowerDirs are the layer directories for overlay's lowerdir option,
	// top layer first. Empty for an image without layers.
	LowerDirs []string
	// Links are the same directories as short aliases relative to
	// LayerRoot. Absolute LowerDirs of a deep image overflow the one page
	// the kernel takes for mount options; Mount uses these instead.
	Links     []string
	LayerRoot string
}

// Mount mounts the image's layers as an overlay at target with the given
// upper and work directories (absolute; both empty for a read-only
// overlay of two or more layers). It works for images of more than 100
// layers, where a mount with LowerDirs fails.
func (r RootFS) Mount(target, upper, work string) error {
	return layer.MountOverlay(r.LayerRoot, r.Links, upper, work, target)
}

// MountHere is Mount on the calling thread; see layer.MountOverlayHere.
func (r RootFS) MountHere(target, upper, work string) error {
	return layer.MountOverlayHere(r.LayerRoot, r.Links, upper, work, target)
}

func (r RootFS) String() string { return fmt.Sprintf("%s %v", r.ChainID, r.LowerDirs) }
