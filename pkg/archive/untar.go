package archive

import (
	"context"
	"io"
	"os"

	"golang.org/x/sys/unix"
)

// UntarOptions say how Untar extracts.
type UntarOptions struct {
	// NoOverwriteDirNonDir refuses to replace a directory with a
	// non-directory or the reverse (docker cp's default).
	NoOverwriteDirNonDir bool
	// Chown, when set, owns every entry by these IDs instead of the
	// archive's (copyUIDGID with a container user).
	Chown *[2]int
}

// BreakoutError is an entry that would land outside the destination.
// Extract reports such entries as *EntryError; the type stays for
// callers that still test for it.
type BreakoutError struct{ error }

// InvalidParameter marks it as the client's fault.
func (BreakoutError) InvalidParameter() {}

// ExtractOptions are docker cp's extraction rules for the directory dir
// below a container's root: symlinks resolve inside the root as after
// chroot, names and symlinks that climb out of dir are refused, xattrs
// are kept, and o's owner and overwrite rules apply.
func (o UntarOptions) ExtractOptions(dir string) ExtractOptions {
	return ExtractOptions{
		Dir:                  dir,
		InRoot:               true,
		CheckSymlinks:        true,
		Xattrs:               true,
		NoOverwriteDirNonDir: o.NoOverwriteDirNonDir,
		Chown:                o.Chown,
	}
}

// UntarAt extracts a tar stream (plain, gzip, bzip2, xz or zstd) into the
// directory dir below root, the open root directory of a container, as
// dockerd's chrootarchive.UntarWithRoot does for docker cp: every path,
// dir included, is resolved inside root (see Extract), so nothing the
// archive or the container does can reach outside it.
func UntarAt(ctx context.Context, r io.Reader, root *os.File, dir string, o UntarOptions) error {
	rc, _, err := Decompress(r)
	if err != nil {
		return err
	}
	defer rc.Close()
	return Extract(ctx, rc, root, o.ExtractOptions(dir))
}

// Untar is UntarAt with dest as the root: symlinks in the archive and in
// dest resolve as after chroot(dest).
func Untar(r io.Reader, dest string, o UntarOptions) error {
	root, err := os.OpenFile(dest, unix.O_PATH|unix.O_DIRECTORY, 0)
	if err != nil {
		return err
	}
	defer root.Close()
	return UntarAt(context.Background(), r, root, "", o)
}
