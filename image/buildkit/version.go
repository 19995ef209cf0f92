package buildkit

import (
	"runtime/debug"
	"sync"

	"github.com/moby/buildkit/client"
	"github.com/moby/buildkit/version"
)

// buildkitVersion is the embedded BuildKit's module version, which
// `docker buildx ls` and `docker buildx inspect` show. BuildKit expects it
// from its own build's linker flags; berth's build knows it from the
// module graph.
var buildkitVersion = sync.OnceValue(func() client.BuildkitVersion {
	if info, ok := debug.ReadBuildInfo(); ok {
		for _, m := range info.Deps {
			if m.Path == version.Package {
				// The controller's Info answers from the package variable.
				version.Version = m.Version
				break
			}
		}
	}
	return client.BuildkitVersion{Package: version.Package, Version: version.Version, Revision: version.Revision}
})
