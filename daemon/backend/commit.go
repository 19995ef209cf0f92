package backend

import "github.com/moby/moby/api/types/container"

// CommitConfig is POST /commit's query and body.
type CommitConfig struct {
	Container string
	// Repo and Tag name the new image ("" for none).
	Repo, Tag string
	Author    string
	Comment   string
	// Pause freezes a running container while its changes are read
	// (the API's default).
	Pause bool
	// Changes are Dockerfile instructions (`docker commit -c`).
	Changes []string
	// Config overrides the container's configuration; nil keeps it.
	Config *container.Config
}
