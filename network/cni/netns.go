package cni

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/berthd/berth/pkg/atomicfile"
	"golang.org/x/sys/unix"
)

// netnsRecords remembers which namespace each pod was attached in (its
// nsfs device and inode), so that Teardown can tell the pod's namespace
// from another one now found at the same path. A sandbox's namespace is
// often named /proc/PID/ns/net; once its process is dead the PID can be
// given to another process, and a DEL into that process's namespace would
// delete its eth0. One small file per pod beside libcni's cache.
type netnsRecords struct{ dir string }

func newNetnsRecords(cacheDir string) netnsRecords {
	return netnsRecords{dir: filepath.Join(cacheDir, "netns")}
}

// netnsIdentity names the namespace (or file) at path by device and inode.
func netnsIdentity(path string) (string, error) {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return "", &os.PathError{Op: "stat", Path: path, Err: err}
	}
	return fmt.Sprintf("%d:%d", st.Dev, st.Ino), nil
}

func (r netnsRecords) save(id, identity string) error {
	if err := os.MkdirAll(r.dir, 0o700); err != nil {
		return err
	}
	// Volatile: a record lost to a power loss only costs this check, and
	// the namespaces it describes did not survive that either.
	return atomicfile.WriteFileVolatile(filepath.Join(r.dir, id), []byte(identity+"\n"), 0o600)
}

// load returns the recorded identity, "" when there is none (a pod set up
// before records existed, or a record lost).
func (r netnsRecords) load(id string) string {
	b, err := os.ReadFile(filepath.Join(r.dir, id))
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// remove forgets a pod's record. A failure is harmless: a stale record
// only waits for a pod of the same (random) ID to overwrite it.
func (r netnsRecords) remove(id string) { os.Remove(filepath.Join(r.dir, id)) }

// teardownNetns is the namespace path to give DEL: the pod's path while it
// still names the namespace the pod was attached in, else "" (gone, or
// now someone else's), with which plugins release what lives outside the
// namespace and leave its inside alone.
func (r netnsRecords) teardownNetns(id, path string) (netns string, why string) {
	if path == "" {
		return "", ""
	}
	identity, err := netnsIdentity(path)
	switch {
	case errors.Is(err, os.ErrNotExist) || errors.Is(err, unix.ESRCH):
		return "", "the namespace is gone"
	case err != nil:
		return path, "" // cannot tell; the plugin will say
	}
	if want := r.load(id); want != "" && want != identity {
		return "", fmt.Sprintf("%s now names another namespace (%s, the pod's was %s)", path, identity, want)
	}
	return path, ""
}
