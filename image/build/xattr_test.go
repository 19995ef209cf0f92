package build

import (
	"archive/tar"
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// capNetBindService is a vfs_cap_data (revision 2, effective) granting
// CAP_NET_BIND_SERVICE, as setcap leaves it.
var capNetBindService = string([]byte{1, 0, 0, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0})

func xattrTar(t *testing.T) *bytes.Buffer {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	hdr := &tar.Header{Name: "bin/ping", Typeflag: tar.TypeReg, Mode: 0o755, Size: 1, Format: tar.FormatPAX,
		PAXRecords: map[string]string{"SCHILY.xattr.security.capability": capNetBindService}}
	if err := tw.WriteHeader(hdr); err != nil {
		t.Fatal(err)
	}
	tw.Write([]byte("x"))
	tw.Close()
	return &buf
}

func wantCap(t *testing.T, p string) {
	t.Helper()
	buf := make([]byte, 64)
	n, err := unix.Lgetxattr(p, "security.capability", buf)
	if err != nil || string(buf[:n]) != capNetBindService {
		t.Fatalf("security.capability of %s: %q %v, want it kept as dockerd does", p, buf[:max(n, 0)], err)
	}
}

// dockerd applies a tarball's xattrs, file capabilities included, when it
// extracts a build context and an ADDed archive.
func TestUntarContextKeepsCapabilities(t *testing.T) {
	dir := t.TempDir()
	if err := untar(xattrTar(t), dir); err != nil {
		t.Fatal(err)
	}
	wantCap(t, filepath.Join(dir, "bin/ping"))
}

func TestAddArchiveKeepsCapabilities(t *testing.T) {
	root := t.TempDir()
	src := filepath.Join(t.TempDir(), "a.tar")
	if err := os.WriteFile(src, xattrTar(t).Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := extractArchive(root, src, "/"); err != nil {
		t.Fatal(err)
	}
	wantCap(t, filepath.Join(root, "bin/ping"))
}
