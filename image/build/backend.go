package build

import (
	"context"
	"io"

	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/jsonstream"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Image is what the builder needs to know of an image.
type Image struct {
	// ID is the image ID ("sha256:…").
	ID       string
	Config   dockerspec.DockerOCIImageConfig
	Platform ocispec.Platform
	// Parent is the image it was built on, when the store knows it ("" for
	// an image that was pulled or loaded). --cache-from walks it.
	Parent string
	// History and DiffIDs are the config's, which --cache-from matches
	// steps against.
	History []ocispec.History
	DiffIDs []string
}

// CommitOptions describe one new image: a step's result. Exactly one of
// ContainerID (a RUN step: the container's changes become the layer) and
// Fill (COPY, ADD, WORKDIR: files written into the parent's filesystem
// become the layer) is set, or neither for a step that only changes the
// config, which gets an empty_layer history entry as in dockerd.
type CommitOptions struct {
	ContainerID string
	// Fill writes into root, a writable view of the parent image's
	// filesystem (an overlay whose upper directory becomes the layer).
	Fill func(root string) error
	// Parent is the parent image's ID, "" for scratch.
	Parent string
	// Config is the new image's runtime config.
	Config dockerspec.DockerOCIImageConfig
	// CreatedBy and Author go into the new history entry.
	CreatedBy, Author string
	// Platform is used when Parent is "" (scratch).
	Platform ocispec.Platform
}

// Backend is what the builder needs from the daemon. daemon/build.go
// implements it with the container and image code.
type Backend interface {
	// GetImage finds a local image by name or ID (a not-found error when
	// it is missing).
	GetImage(ctx context.Context, ref string) (*Image, error)
	// PullImage pulls ref for platform, reporting progress to out.
	PullImage(ctx context.Context, ref, platform string, out func(jsonstream.Message) error) (*Image, error)
	// CreateContainer makes a container for a RUN step and returns its ID.
	CreateContainer(ctx context.Context, cfg *container.Config, hc *container.HostConfig) (string, error)
	// RunContainer starts the container, streams its output to stdout and
	// stderr until it exits, and returns its exit code.
	RunContainer(ctx context.Context, id string, stdout, stderr io.Writer) (int, error)
	// RemoveContainer removes a step's container and its anonymous volumes.
	RemoveContainer(ctx context.Context, id string) error
	// Commit registers a new image and returns its ID.
	Commit(ctx context.Context, o CommitOptions) (string, error)
	// WithImageRoot calls fn with a read-only view of an image's files
	// (COPY --from).
	WithImageRoot(ctx context.Context, id string, fn func(root string) error) error
	// RestoreCached makes the image a --cache-from match stands for: the
	// step matched entry len(parent's history) of target's history, so the
	// new image is parent (its history and layers; none for "") plus that
	// entry and, unless the entry is empty_layer, target's layer for it,
	// with config as its config. The layers are target's; nothing runs.
	RestoreCached(ctx context.Context, parent, target string, config dockerspec.DockerOCIImageConfig) (string, error)
	// TagImage points ref at the image.
	TagImage(ctx context.Context, id, ref string) error
}
