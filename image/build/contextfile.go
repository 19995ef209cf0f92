package build

import (
	"github.com/berthd/berth/pkg/containerfs"
)

// maxContextFile bounds what the daemon reads of a context's Dockerfile
// or .dockerignore into memory. The context is the client's (or a remote
// repository's): its files are read as untrusted input.
const maxContextFile = 16 << 20

// readContextFile reads the file name of the context in dir. Symlinks are
// followed as a chroot at dir would follow them (dockerd resolves the
// Dockerfile in the context's scope), so a link can never name a host
// file; the file must be regular (a FIFO would block the build for good, a
// device be read without end) and at most maxContextFile long.
func readContextFile(dir, name string) ([]byte, error) {
	root, err := containerfs.OpenRoot(dir)
	if err != nil {
		return nil, err
	}
	defer root.Close()
	return containerfs.ReadFileInRoot(root, name, maxContextFile)
}
