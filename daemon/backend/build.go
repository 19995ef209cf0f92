package backend

import (
	"io"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/jsonstream"

	"github.com/berthd/berth/pkg/filters"
)

// BuildRequest is one POST /build, its query parsed by the router.
type BuildRequest struct {
	Tags        []string
	Remote      string
	Dockerfile  string
	Quiet       bool
	NoCache     bool
	CacheFrom   []string
	Pull        bool
	Remove      bool
	ForceRemove bool
	Squash      bool
	BuildArgs   map[string]*string
	Labels      map[string]string
	Target      string
	Platform    string
	// HostConfig carries the RUN steps' resources, network mode, extra
	// hosts, shm size and ulimits.
	HostConfig container.HostConfig
	// BuildKit builds (version=2) only: the client's /session, its name
	// for the build (POST /build/cancel?id=) and its outputs (-o).
	SessionID string
	BuildID   string
	Outputs   []BuildOutputSpec
}

// BuildOutputSpec is one exporter of a BuildKit build's result: a type
// (local, tar, oci, docker, image, cacheonly) and its attributes.
type BuildOutputSpec struct {
	Type  string            `json:"Type"`
	Attrs map[string]string `json:"Attrs"`
}

// BuildOutput is where a build reports: Write for the text the CLI prints,
// Message for whole messages (aux IDs, pull progress).
type BuildOutput interface {
	io.Writer
	Message(m jsonstream.Message) error
}

// BuildCachePruneOptions is one POST /build/prune: which build-cache records
// to remove (Filters: until, id, type, …; All: shared ones too) and how much
// to keep (ReservedSpace is keep-storage's newer name).
type BuildCachePruneOptions struct {
	All                                       bool
	Filters                                   filters.Args
	ReservedSpace, MaxUsedSpace, MinFreeSpace int64
}
