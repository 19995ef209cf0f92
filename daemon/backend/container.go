package backend

import (
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"

	"github.com/berthd/berth/pkg/cgroups"
)

// ContainerCreateConfig is POST /containers/create: the body and the query.
type ContainerCreateConfig struct {
	Name             string
	Platform         string
	Config           *container.Config
	HostConfig       *container.HostConfig
	NetworkingConfig *network.NetworkingConfig
	// ExtraResources are cgroup settings the Engine API has no field
	// for (the CRI's hugepage limits and unified keys); nil for a Docker
	// API create.
	ExtraResources *cgroups.ExtraResources
}

// ContainerListOptions is GET /containers/json's query.
type ContainerListOptions struct {
	All     bool
	Limit   int
	Size    bool
	Filters string // raw JSON, parsed by the daemon
}

// ContainerRmConfig is DELETE /containers/{id}'s query.
type ContainerRmConfig struct {
	ForceRemove, RemoveVolume, RemoveLink bool
}

// ContainerLogsOptions is GET /containers/{id}/logs's query.
type ContainerLogsOptions struct {
	ShowStdout, ShowStderr bool
	Since, Until           string
	Timestamps             bool
	Follow                 bool
	Tail                   string
	Details                bool
}

// ContainerAttachOptions is POST /containers/{id}/attach's query.
type ContainerAttachOptions struct {
	Stream, Logs, Stdin, Stdout, Stderr bool
	DetachKeys                          string
	// Raw sends output unframed even without a TTY (the websocket attach).
	Raw bool
}
