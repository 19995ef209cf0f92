package backend

import (
	imagetypes "github.com/moby/moby/api/types/image"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berthd/berth/pkg/filters"
)

// ImageListOptions are GET /images/json's query options.
type ImageListOptions struct {
	All        bool
	SharedSize bool
	// ContainerCount fills each image's Containers (API 1.51+; -1 before).
	ContainerCount bool
	Filters        filters.Args
}

// ImageImportOptions are POST /images/create?fromSrc=-'s query options.
type ImageImportOptions struct {
	Repo, Tag string
	Message   string
	Changes   []string
	Platform  string
}

// LoadOutput receives what POST /images/load reports while it runs: a
// layer's progress (dockerd's "Loading layer", id being the layer's short
// ID) and lines for the user ("Loaded image: …"). Either may be nil.
type LoadOutput struct {
	Progress func(id string, current, total int64)
	Line     func(string)
}

// ImageInspectOptions are GET /images/{name}/json's query options.
type ImageInspectOptions struct {
	// Platform (API 1.49) is the platform the image must be: a store of
	// one platform per image answers not-found for another, as dockerd's
	// graphdriver store does.
	Platform *ocispec.Platform
}

// ImageInspectResponse is GET /images/{name}/json: the current response,
// and the fields API versions before 1.52 add to it when set.
type ImageInspectResponse struct {
	*imagetypes.InspectResponse
	Parent        string
	DockerVersion string
}
