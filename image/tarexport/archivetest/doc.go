// Package archivetest writes image archives for tests and benchmarks:
// layers of random (incompressible) files, and docker-save archives of
// them in the layout dockerd 25+ writes (an OCI layout with manifest.json),
// without a daemon. The integration tests and hack/bench share it.
package archivetest
