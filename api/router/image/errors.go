package image

import "errors"

var (
	errNoPull      = errors.New("pulling images from a registry is not supported yet")
	errNoURLImport = errors.New("importing from a URL is not supported: pipe the tarball on stdin (fromSrc=-)")
)
