package archive

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// Whiteout names as image layers carry them (the AUFS convention).
const (
	WhiteoutPrefix    = ".wh."
	WhiteoutOpaqueDir = ".wh..wh..opq"
)

const (
	paxXattr       = "SCHILY.xattr."
	overlayOpaque  = "trusted.overlay.opaque"
	capabilityAttr = "security.capability"
)

// TarOptions say what Tar writes.
type TarOptions struct {
	// Include is the entry under the source directory to write: "." for
	// the directory itself, else one name in it.
	Include string
	// IncludeSourceDir writes an entry for the source directory itself
	// (docker cp of a directory); without it, the entries are relative to
	// the directory and it has none (export, layer diffs).
	IncludeSourceDir bool
	// Rebase renames Include in the entries' names ("" keeps it).
	Rebase string
	// Overlay converts overlayfs whiteouts (0/0 character devices and
	// opaque directories) into .wh. entries: the upper directory of a
	// container becomes a layer diff.
	Overlay bool
	// Skip, when set, omits an entry (and, for a directory, what is below
	// it) by its name relative to the source directory.
	Skip func(rel string, fi fs.FileInfo) bool
}

// Tar writes src's entries to w as an uncompressed PAX tar stream.
func Tar(w io.Writer, src string, o TarOptions) error {
	if o.Include == "" {
		o.Include = "."
	}
	tw := tar.NewWriter(w)
	seen := map[uint64]string{}
	buf := make([]byte, 128<<10)
	walkRoot := filepath.Join(src, o.Include)
	err := filepath.WalkDir(walkRoot, func(p string, de fs.DirEntry, err error) error {
		if err != nil {
			// Entries may vanish under a running container; dockerd
			// skips what it cannot stat too.
			if errors.Is(err, fs.ErrNotExist) && p != walkRoot {
				return nil
			}
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		if rel == "." && !o.IncludeSourceDir && de.IsDir() {
			return nil
		}
		fi, err := de.Info()
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if o.Skip != nil && o.Skip(rel, fi) {
			if de.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		name := rel
		if o.IncludeSourceDir && o.Include == "." && rel != "." {
			name = "./" + rel
		}
		if o.Rebase != "" {
			repl := o.Rebase
			if repl == "/" {
				repl = ""
			}
			name = strings.Replace(name, o.Include, repl, 1)
		}
		return writeEntry(tw, p, name, fi, seen, buf, o.Overlay)
	})
	if err != nil {
		return err
	}
	return tw.Close()
}

func writeEntry(tw *tar.Writer, p, name string, fi fs.FileInfo, seen map[uint64]string, buf []byte, overlay bool) error {
	st, _ := fi.Sys().(*unix.Stat_t)
	if st == nil {
		var s unix.Stat_t
		if err := unix.Lstat(p, &s); err != nil {
			return nil
		}
		st = &s
	}
	mode := fi.Mode()
	if mode&fs.ModeSocket != 0 {
		return nil // dockerd skips sockets too
	}
	hdr := &tar.Header{
		Name:    name,
		Mode:    int64(st.Mode & 0o7777),
		Uid:     int(st.Uid),
		Gid:     int(st.Gid),
		ModTime: time.Unix(st.Mtim.Unix()).Truncate(time.Second),
		Format:  tar.FormatPAX,
	}
	switch {
	case mode.IsDir():
		hdr.Typeflag = tar.TypeDir
		if !strings.HasSuffix(hdr.Name, "/") {
			hdr.Name += "/"
		}
	case mode&fs.ModeSymlink != 0:
		hdr.Typeflag = tar.TypeSymlink
		target, err := os.Readlink(p)
		if err != nil {
			return nil
		}
		hdr.Linkname = target
	case mode&fs.ModeNamedPipe != 0:
		hdr.Typeflag = tar.TypeFifo
	case mode&fs.ModeDevice != 0:
		hdr.Typeflag = tar.TypeBlock
		if mode&fs.ModeCharDevice != 0 {
			hdr.Typeflag = tar.TypeChar
		}
		hdr.Devmajor = int64(unix.Major(st.Rdev))
		hdr.Devminor = int64(unix.Minor(st.Rdev))
		if overlay && hdr.Typeflag == tar.TypeChar && st.Rdev == 0 {
			dir, base := filepath.Split(hdr.Name)
			hdr.Name = dir + WhiteoutPrefix + base
			hdr.Typeflag, hdr.Mode, hdr.Devmajor, hdr.Devminor = tar.TypeReg, 0o600, 0, 0
			return tw.WriteHeader(hdr)
		}
	case mode.IsRegular():
		hdr.Typeflag = tar.TypeReg
		hdr.Size = st.Size
		if st.Nlink > 1 {
			if first, ok := seen[st.Ino]; ok {
				hdr.Typeflag, hdr.Linkname, hdr.Size = tar.TypeLink, first, 0
			} else {
				seen[st.Ino] = name
			}
		}
	default:
		return nil
	}
	if hdr.Typeflag != tar.TypeSymlink {
		if v, err := lgetxattr(p, capabilityAttr); err == nil && len(v) > 0 {
			hdr.PAXRecords = map[string]string{paxXattr + capabilityAttr: string(v)}
		}
	}
	if err := tw.WriteHeader(hdr); err != nil {
		return err
	}
	if hdr.Typeflag == tar.TypeReg && hdr.Size > 0 {
		if err := copyFile(tw, p, hdr.Size, buf); err != nil {
			return err
		}
	}
	if overlay && hdr.Typeflag == tar.TypeDir {
		if v, err := lgetxattr(p, overlayOpaque); err == nil && string(v) == "y" {
			return tw.WriteHeader(&tar.Header{
				Typeflag: tar.TypeReg,
				Name:     hdr.Name + WhiteoutOpaqueDir,
				Mode:     hdr.Mode & 0o777,
				Uid:      hdr.Uid,
				Gid:      hdr.Gid,
				ModTime:  hdr.ModTime,
				Format:   tar.FormatPAX,
			})
		}
	}
	return nil
}

// copyFile writes exactly size bytes of p: a file that a running
// container grows or truncates meanwhile cannot corrupt the stream.
func copyFile(w io.Writer, p string, size int64, buf []byte) error {
	f, err := os.OpenFile(p, os.O_RDONLY|unix.O_NOFOLLOW|unix.O_NOCTTY, 0)
	if err != nil {
		return fmt.Errorf("open %s: %w", p, err)
	}
	defer f.Close()
	n, err := io.CopyBuffer(w, io.LimitReader(f, size), buf)
	if err != nil {
		return err
	}
	for n < size {
		k := min(int64(len(buf)), size-n)
		clear(buf[:k])
		if _, err := w.Write(buf[:k]); err != nil {
			return err
		}
		n += k
	}
	return nil
}

func lgetxattr(p, attr string) ([]byte, error) {
	buf := make([]byte, 128)
	for {
		n, err := unix.Lgetxattr(p, attr, buf)
		if errors.Is(err, unix.ERANGE) {
			buf = make([]byte, len(buf)*4)
			continue
		}
		if err != nil {
			return nil, err
		}
		return buf[:n], nil
	}
}
