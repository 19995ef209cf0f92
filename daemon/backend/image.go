package backend

import "github.com/berthd/berth/pkg/filters"

// ImageListOptions are GET /images/json's query options.
type ImageListOptions struct {
	All        bool
	SharedSize bool
	Filters    filters.Args
}

// ImageImportOptions are POST /images/create?fromSrc=-'s query options.
type ImageImportOptions struct {
	Repo, Tag string
	Message   string
	Changes   []string
	Platform  string
}
