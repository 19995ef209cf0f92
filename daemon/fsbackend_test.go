package daemon_test

import (
	containerrouter "github.com/berthd/berth/api/router/container"
	"github.com/berthd/berth/daemon"
)

// The container router finds the filesystem routes' backend by a type
// assertion; these make a missing method a compile error instead of a 501.
var (
	_ containerrouter.FSBackend     = (*daemon.Daemon)(nil)
	_ containerrouter.CommitBackend = (*daemon.Daemon)(nil)
)
