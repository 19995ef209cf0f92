package main

import (
	"archive/tar"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/berthd/berth/image/tarexport/archivetest"
)

// busyboxPath is Debian's busybox-static, the project's test image source.
const busyboxPath = "/bin/busybox"

// writeBusybox writes a one-layer docker-archive image named ref holding
// the static busybox and a link per applet into dir, and returns its path.
func writeBusybox(dir, ref string) (string, error) {
	out, err := exec.Command(busyboxPath, "--list").Output()
	if err != nil {
		return "", fmt.Errorf("%s --list: %w (install Debian's busybox-static)", busyboxPath, err)
	}
	bin, err := os.ReadFile(busyboxPath)
	if err != nil {
		return "", err
	}
	lpath := filepath.Join(dir, "busybox-layer.tar")
	f, err := os.Create(lpath)
	if err != nil {
		return "", err
	}
	h := sha256.New()
	tw := tar.NewWriter(&hashWriter{f: f, h: h})
	mtime := time.Unix(1700000000, 0)
	hdr := func(name string, typ byte, mode int64, size int64, link string) {
		tw.WriteHeader(&tar.Header{Name: name, Typeflag: typ, Mode: mode, Size: size, Linkname: link, ModTime: mtime, Format: tar.FormatPAX})
	}
	for _, d := range []string{"bin/", "dev/", "etc/", "proc/", "sys/", "tmp/", "v/"} {
		hdr(d, tar.TypeDir, 0o755, 0, "")
	}
	hdr("bin/busybox", tar.TypeReg, 0o755, int64(len(bin)), "")
	tw.Write(bin)
	for _, a := range strings.Fields(string(out)) {
		if a != "busybox" {
			hdr("bin/"+a, tar.TypeSymlink, 0o777, 0, "busybox")
		}
	}
	if err := tw.Close(); err != nil {
		f.Close()
		return "", err
	}
	st, _ := f.Stat()
	if err := f.Close(); err != nil {
		return "", err
	}
	l := archivetest.Layer{Path: lpath, DiffID: "sha256:" + hex.EncodeToString(h.Sum(nil)), Size: st.Size()}
	archive := filepath.Join(dir, "busybox.tar")
	_, err = archivetest.WriteArchive(archive, ref, []archivetest.Layer{l}, "torture")
	return archive, err
}

type hashWriter struct {
	f interface{ Write([]byte) (int, error) }
	h interface{ Write([]byte) (int, error) }
}

func (w *hashWriter) Write(b []byte) (int, error) {
	w.h.Write(b)
	return w.f.Write(b)
}
