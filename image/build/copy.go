package build

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	securejoin "github.com/cyphar/filepath-securejoin"
	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"golang.org/x/sys/unix"

	"github.com/berthd/berth/pkg/archive"
	"github.com/berthd/berth/pkg/containerfs"
	"github.com/berthd/berth/pkg/errdefs"
	"github.com/berthd/berth/pkg/userdb"
)

type copyRequest struct {
	name         string // COPY or ADD
	sd           instructions.SourcesAndDest
	chown, chmod string
	from         string
	add          bool
}

// source is one resolved COPY/ADD source.
type source struct {
	// path is the absolute path of the resolved source on the host
	// (inside root: the context or the --from image's root).
	path, root string
	// name is the base name the destination gets when it is a directory
	// (the source's own name, not its symlink target's).
	name  string
	isDir bool
	// url sources are downloaded into a temporary file first.
	tmp    string
	remote bool
	mtime  time.Time
	hash   string
	// fsSums: summed as dockerd sums files it reads from a directory (an
	// image's root, a download, a git context) rather than from the
	// context tar the client sent (see entrySum).
	fsSums bool
	// inline is heredoc content (COPY <<EOF).
	inline *string
}

// copy is COPY and ADD.
func (b *Builder) copy(ctx context.Context, st *state, r copyRequest) error {
	if !st.hasFrom {
		return errdefs.InvalidParameterf("Please provide a source image with `from` prior to commit")
	}
	if r.from != "" {
		id, err := b.stageRef(ctx, r.from)
		if err != nil {
			return err
		}
		if id == "" {
			// FROM scratch without files: an empty root.
			dir, err := os.MkdirTemp("", "scratch-")
			if err != nil {
				return err
			}
			defer os.RemoveAll(dir)
			return b.copyFrom(ctx, st, r, dir, true)
		}
		return b.backend.WithImageRoot(ctx, id, func(root string) error {
			return b.copyFrom(ctx, st, r, root, true)
		})
	}
	return b.copyFrom(ctx, st, r, b.ctx.Dir, false)
}

func (b *Builder) copyFrom(ctx context.Context, st *state, r copyRequest, root string, fromImage bool) error {
	var srcs []source
	var cleanups []string
	defer func() {
		for _, p := range cleanups {
			os.RemoveAll(p)
		}
	}()
	wildcards := false
	for _, p := range r.sd.SourcePaths {
		if r.add && (strings.HasPrefix(p, "http://") || strings.HasPrefix(p, "https://")) {
			s, err := download(ctx, p)
			if err != nil {
				return err
			}
			cleanups = append(cleanups, filepath.Dir(s.tmp))
			srcs = append(srcs, s)
			continue
		}
		if strings.HasPrefix(p, "http://") || strings.HasPrefix(p, "https://") {
			return errdefs.InvalidParameterf("source can't be a URL for COPY")
		}
		if strings.ContainsAny(p, "*?[") {
			wildcards = true
		}
		found, err := resolveSources(root, p, fromImage)
		if err != nil {
			return errdefs.InvalidParameterf("%s failed: %v", r.name, err)
		}
		for i := range found {
			found[i].fsSums = fromImage || b.ctx.FSSums
		}
		srcs = append(srcs, found...)
	}
	for i := range r.sd.SourceContents {
		sc := r.sd.SourceContents[i]
		data := sc.Data
		srcs = append(srcs, source{name: path.Base(sc.Path), inline: &data, hash: "file:" + sha(data)})
	}
	if len(srcs) == 0 {
		return errdefs.InvalidParameterf("%s failed: no source files were specified", r.name)
	}
	dest := r.sd.DestPath
	if !path.IsAbs(dest) {
		slash := strings.HasSuffix(dest, "/") || dest == "." || strings.HasSuffix(dest, "/.")
		dest = path.Join("/", st.cfg.WorkingDir, dest)
		if slash && dest != "/" {
			dest += "/"
		}
	}
	if (len(srcs) > 1 || wildcards && len(r.sd.SourcePaths) > 1) && !strings.HasSuffix(dest, "/") {
		return errdefs.InvalidParameterf("When using %s with more than one source file, the destination must be a directory and end with a /", r.name)
	}
	for i := range srcs {
		if srcs[i].hash == "" {
			h, err := hashSource(srcs[i])
			if err != nil {
				return errdefs.System(err)
			}
			srcs[i].hash = h
		}
	}
	hash := srcs[0].hash
	if len(srcs) > 1 {
		hs := make([]string, len(srcs))
		for i, s := range srcs {
			hs[i] = s.hash
		}
		hash = "multi:" + sha(strings.Join(hs, ","))
	}
	chownComment := ""
	if r.chown != "" {
		chownComment = "--chown=" + r.chown
	}
	if r.chmod != "" {
		chownComment += "--chmod=" + r.chmod
	}
	// The history names the destination as written (dockerd does).
	comment := fmt.Sprintf("%s %s%s in %s ", r.name, chownComment, hash, r.sd.DestPath)
	preserve := fromImage && r.chown == ""
	var mode *os.FileMode
	if r.chmod != "" {
		m, err := strconv.ParseUint(r.chmod, 8, 32)
		if err != nil || m > 0o7777 {
			return errdefs.InvalidParameterf("invalid chmod parameter: %s", r.chmod)
		}
		fm := os.FileMode(m)
		mode = &fm
	}
	return b.commitFiles(ctx, st, comment, func(dst string) error {
		uid, gid := 0, 0
		if r.chown != "" {
			var err error
			if uid, gid, err = parseChown(dst, r.chown); err != nil {
				return errdefs.InvalidParameterf("unable to convert uid/gid chown string to host mapping: %v", err)
			}
		}
		own := &owner{uid: uid, gid: gid, preserve: preserve, mode: mode, keepSetID: fromImage}
		for _, s := range srcs {
			if err := copySource(dst, s, dest, own, r.add); err != nil {
				return errdefs.System(fmt.Errorf("failed to copy files: %w", err))
			}
		}
		return nil
	})
}

func sha(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

// resolveSources finds a source path (with wildcards) under root.
// Symlinks resolve inside root; a path that leaves root is an error, as
// in dockerd.
func resolveSources(root, p string, fromImage bool) ([]source, error) {
	clean := path.Clean("/" + p)
	if joined := filepath.Join(root, p); !within(root, joined) && !fromImage {
		return nil, fmt.Errorf("forbidden path outside the build context: %s ()", p)
	}
	rel := strings.TrimPrefix(clean, "/")
	if strings.ContainsAny(rel, "*?[") {
		var out []source
		err := filepath.WalkDir(root, func(full string, d fs.DirEntry, err error) error {
			if err != nil {
				return nil
			}
			r, _ := filepath.Rel(root, full)
			if r == "." {
				return nil
			}
			if ok, _ := filepath.Match(rel, r); !ok {
				return nil
			}
			s, err := statSource(root, r)
			if err != nil {
				return err
			}
			out = append(out, s)
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
		return out, nil
	}
	s, err := statSource(root, rel)
	if err != nil {
		if os.IsNotExist(err) {
			if fromImage {
				return nil, fmt.Errorf("stat %s: file does not exist", clean)
			}
			return nil, fmt.Errorf("file not found in build context or excluded by .dockerignore: stat %s: file does not exist", rel)
		}
		return nil, err
	}
	return []source{s}, nil
}

func statSource(root, rel string) (source, error) {
	full, err := securejoin.SecureJoin(root, rel)
	if err != nil {
		return source{}, err
	}
	fi, err := os.Stat(full)
	if err != nil {
		return source{}, err
	}
	name := path.Base("/" + rel)
	return source{root: root, path: full, name: name, isDir: fi.IsDir(), mtime: fi.ModTime()}, nil
}

// hashSource is dockerd's checksum of a COPY/ADD source (its
// builder/remotecontext), so that the history names the files as
// dockerd's does and --cache-from of an image dockerd built matches: a
// file is "file:" + the sha256 of its tarsum v1 header (path in the
// source's root, mode, owner, size, type, link target; not the time) and
// content; a directory is "dir:" + the sha256 of the sorted sums of the
// directory (unless it is the root) and everything below it, joined with
// commas, a symlink below it summed as its target in the root, as dockerd
// resolves it.
func hashSource(s source) (string, error) {
	if !s.isDir {
		sum, err := entrySum(s.root, s.path, s.fsSums)
		if err != nil {
			return "", err
		}
		return "file:" + sum, nil
	}
	var sums []string
	err := filepath.Walk(s.path, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(s.root, p)
		if err != nil {
			return err
		}
		if rel == "." {
			return nil
		}
		full, err := securejoin.SecureJoin(s.root, rel)
		if err != nil {
			return nil
		}
		// What cannot be summed (a dangling link) is left out, as in dockerd.
		if sum, err := entrySum(s.root, full, s.fsSums); err == nil {
			sums = append(sums, sum)
		}
		return nil
	})
	if err != nil {
		return "", err
	}
	sort.Strings(sums)
	return "dir:" + sha(strings.Join(sums, ",")), nil
}

// entrySum is the tarsum v1 of one file: its header fields in tarsum's
// order (mtime left out, security.capability as the one xattr) and its
// content. dockerd 20.10 sums a context file from the header the client
// sent (the docker CLI's: permission bits only, no user or group names);
// with fs it sums a file it reads from a directory, whose header it makes
// itself: the file type bits in the mode and the names looked up.
func entrySum(root, full string, fs bool) (string, error) {
	fi, err := os.Lstat(full)
	if err != nil {
		return "", err
	}
	rel, err := filepath.Rel(root, full)
	if err != nil {
		return "", err
	}
	link := ""
	if fi.Mode()&os.ModeSymlink != 0 {
		if link, err = os.Readlink(full); err != nil {
			return "", err
		}
	}
	hdr, err := tar.FileInfoHeader(fi, link)
	if err != nil {
		return "", err
	}
	name := filepath.ToSlash(rel)
	if fi.IsDir() && !strings.HasSuffix(name, "/") {
		name += "/"
	}
	uid, gid := fileOwner(fi)
	mode, uname, gname := hdr.Mode, "", ""
	if fs {
		mode |= fileTypeBits(fi.Mode())
		uname, gname = hdr.Uname, hdr.Gname
	}
	h := sha256.New()
	for _, kv := range [][2]string{
		{"name", name},
		{"mode", strconv.FormatInt(mode, 10)},
		{"uid", strconv.Itoa(uid)},
		{"gid", strconv.Itoa(gid)},
		{"size", strconv.FormatInt(hdr.Size, 10)},
		{"typeflag", string([]byte{hdr.Typeflag})},
		{"linkname", hdr.Linkname},
		{"uname", uname},
		{"gname", gname},
		{"devmajor", strconv.FormatInt(hdr.Devmajor, 10)},
		{"devminor", strconv.FormatInt(hdr.Devminor, 10)},
	} {
		h.Write([]byte(kv[0] + kv[1]))
	}
	if caps, err := unix.Lgetxattr(full, "security.capability", nil); err == nil && caps > 0 {
		buf := make([]byte, caps)
		if n, err := unix.Lgetxattr(full, "security.capability", buf); err == nil {
			h.Write([]byte("security.capability" + string(buf[:n])))
		}
	}
	if fi.Mode().IsRegular() && fi.Size() > 0 {
		f, err := os.Open(full)
		if err != nil {
			return "", err
		}
		_, err = io.Copy(h, f)
		f.Close()
		if err != nil {
			return "", err
		}
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// fileTypeBits are the S_IF* bits of a mode, which dockerd 20.10's
// archive.FileInfoHeader adds to a header's mode.
func fileTypeBits(m os.FileMode) int64 {
	switch {
	case m.IsRegular():
		return unix.S_IFREG
	case m.IsDir():
		return unix.S_IFDIR
	case m&os.ModeSymlink != 0:
		return unix.S_IFLNK
	case m&os.ModeNamedPipe != 0:
		return unix.S_IFIFO
	case m&os.ModeSocket != 0:
		return unix.S_IFSOCK
	case m&os.ModeCharDevice != 0:
		return unix.S_IFCHR
	case m&os.ModeDevice != 0:
		return unix.S_IFBLK
	}
	return 0
}

// download fetches an ADD URL into a temporary file. The file is named
// after the URL's last path element and gets mode 0600 and the
// Last-Modified time, as in dockerd.
func download(ctx context.Context, rawURL string) (source, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return source{}, errdefs.InvalidParameter(err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return source{}, errdefs.InvalidParameter(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return source{}, errdefs.InvalidParameterf("failed to GET %s: %v", rawURL, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 400 {
		return source{}, errdefs.InvalidParameterf("failed to GET %s with status %s: %s", rawURL, resp.Status, "")
	}
	name := path.Base(u.Path)
	if name == "/" || name == "." || name == "" {
		return source{}, errdefs.InvalidParameterf("cannot determine filename from url: %s", rawURL)
	}
	dir, err := os.MkdirTemp("", "add-url-")
	if err != nil {
		return source{}, err
	}
	tmp := filepath.Join(dir, name)
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		return source{}, err
	}
	_, err = io.Copy(f, resp.Body)
	f.Close()
	if err != nil {
		return source{}, err
	}
	mt := time.Time{}
	if lm := resp.Header.Get("Last-Modified"); lm != "" {
		if t, err := http.ParseTime(lm); err == nil {
			mt = t
			os.Chtimes(tmp, t, t)
		}
	}
	// Summed as dockerd sums it: a file of that name alone in a
	// directory, and named by the bare sum (no "file:").
	sum, err := entrySum(dir, tmp, true)
	if err != nil {
		os.RemoveAll(dir)
		return source{}, err
	}
	return source{path: tmp, name: name, tmp: tmp, remote: true, mtime: mt, hash: sum}, nil
}

type owner struct {
	uid, gid int
	preserve bool
	mode     *os.FileMode
	// keepSetID: set-id bits survive the chown. dockerd 20.10 keeps them
	// when it copies from an image (COPY --from) and loses them when it
	// copies from the context.
	keepSetID bool
}

func (o *owner) apply(p string, fi os.FileInfo) {
	if o.preserve {
		uid, gid := fileOwner(fi)
		os.Lchown(p, uid, gid)
	} else {
		os.Lchown(p, o.uid, o.gid)
	}
	if fi.Mode()&os.ModeSymlink != 0 {
		return
	}
	if o.mode != nil {
		os.Chmod(p, *o.mode)
	} else if m := fi.Mode(); o.keepSetID && m&(os.ModeSetuid|os.ModeSetgid) != 0 {
		// The chown cleared the set-id bits the copy gave it.
		os.Chmod(p, m&(os.ModePerm|os.ModeSetuid|os.ModeSetgid|os.ModeSticky))
	}
}

// mkdirInRoot creates dir (an absolute path in the image) under root,
// resolving symlinks inside root, with 0755 root-owned directories.
func mkdirInRoot(root, dir string) error {
	p, err := securejoin.SecureJoin(root, dir)
	if err != nil {
		return err
	}
	return os.MkdirAll(p, 0o755)
}

// mkdirParents creates the missing parents of the image path dir, owned
// by o when new.
func mkdirParents(root, dir string, o *owner) error {
	dir = path.Clean(dir)
	if dir == "/" {
		return nil
	}
	p, err := securejoin.SecureJoin(root, dir)
	if err != nil {
		return err
	}
	if fi, err := os.Stat(p); err == nil {
		if !fi.IsDir() {
			return fmt.Errorf("mkdir %s: not a directory", dir)
		}
		return nil
	}
	if err := mkdirParents(root, path.Dir(dir), o); err != nil {
		return err
	}
	if err := os.Mkdir(p, 0o755); err != nil && !os.IsExist(err) {
		return err
	}
	if !o.preserve {
		os.Lchown(p, o.uid, o.gid)
	}
	return nil
}

// copySource copies one source to dest (an image path) under root.
func copySource(root string, s source, dest string, o *owner, add bool) error {
	destIsDir := strings.HasSuffix(dest, "/")
	destClean := path.Clean(dest)
	target, err := securejoin.SecureJoin(root, destClean)
	if err != nil {
		return err
	}
	if fi, err := os.Stat(target); err == nil && fi.IsDir() {
		destIsDir = true
	}
	if s.inline != nil {
		if destIsDir {
			destClean = path.Join(destClean, s.name)
		}
		if err := mkdirParents(root, path.Dir(destClean), o); err != nil {
			return err
		}
		p, err := securejoin.SecureJoin(root, destClean)
		if err != nil {
			return err
		}
		os.RemoveAll(p)
		if err := os.WriteFile(p, []byte(*s.inline), 0o644); err != nil {
			return err
		}
		fi, _ := os.Lstat(p)
		o.apply(p, fi)
		return nil
	}
	if s.isDir {
		if err := mkdirParents(root, destClean, o); err != nil {
			return err
		}
		return copyTree(root, s.path, destClean, o)
	}
	if add && !s.remote && isArchive(s.path) {
		if err := mkdirParents(root, destClean, o); err != nil {
			return err
		}
		return extractArchive(root, s.path, destClean)
	}
	if destIsDir {
		destClean = path.Join(destClean, s.name)
	}
	if err := mkdirParents(root, path.Dir(destClean), o); err != nil {
		return err
	}
	fi, err := os.Stat(s.path)
	if err != nil {
		return err
	}
	return copyOne(root, s.path, destClean, fi, o)
}

// copyTree copies the contents of src into the image directory dest.
func copyTree(root, src, dest string, o *owner) error {
	return filepath.Walk(src, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if rel == "." {
			t, err := securejoin.SecureJoin(root, dest)
			if err != nil {
				return err
			}
			if !o.preserve {
				os.Lchown(t, o.uid, o.gid)
			}
			return nil
		}
		return copyOne(root, p, path.Join(dest, filepath.ToSlash(rel)), fi, o)
	})
}

// copyOne copies one file, directory, symlink or device node to the image
// path dest, keeping the mode and modification time.
func copyOne(root, src, dest string, fi os.FileInfo, o *owner) error {
	parent, err := securejoin.SecureJoin(root, path.Dir(dest))
	if err != nil {
		return err
	}
	t := filepath.Join(parent, path.Base(dest))
	switch {
	case fi.IsDir():
		if cur, err := os.Lstat(t); err == nil && !cur.IsDir() {
			os.RemoveAll(t)
		}
		if err := os.Mkdir(t, fi.Mode().Perm()); err != nil && !os.IsExist(err) {
			return err
		}
		os.Chmod(t, fi.Mode()&(os.ModePerm|os.ModeSetuid|os.ModeSetgid|os.ModeSticky))
	case fi.Mode()&os.ModeSymlink != 0:
		link, err := os.Readlink(src)
		if err != nil {
			return err
		}
		os.RemoveAll(t)
		if err := os.Symlink(link, t); err != nil {
			return err
		}
	case fi.Mode().IsRegular():
		if cur, err := os.Lstat(t); err == nil && cur.IsDir() {
			os.RemoveAll(t)
		} else if err == nil {
			os.Remove(t)
		}
		in, err := os.Open(src)
		if err != nil {
			return err
		}
		out, err := os.OpenFile(t, os.O_CREATE|os.O_WRONLY|os.O_TRUNC|os.O_EXCL, 0o600)
		if err != nil {
			in.Close()
			return err
		}
		_, err = io.Copy(out, in)
		in.Close()
		if cerr := out.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
		os.Chmod(t, fi.Mode()&(os.ModePerm|os.ModeSetuid|os.ModeSetgid|os.ModeSticky))
	default:
		return nil // sockets, devices and fifos are not copied
	}
	o.apply(t, fi)
	if fi.Mode()&os.ModeSymlink == 0 {
		os.Chtimes(t, fi.ModTime(), fi.ModTime())
	}
	return nil
}

// isArchive reports whether ADD extracts the file: a tar, plain or
// compressed with gzip, bzip2, xz or zstd.
func isArchive(p string) bool {
	f, err := os.Open(p)
	if err != nil {
		return false
	}
	defer f.Close()
	r, _, err := archive.Decompress(f)
	if err != nil {
		return false
	}
	defer r.Close()
	head := make([]byte, 512)
	n, _ := io.ReadFull(r, head)
	return n == 512 && archive.LooksLikeTar(head)
}

// extractArchive unpacks a local tar into the image directory dest,
// keeping the entries' owners (ADD of an archive does not chown), with
// archive.Extract and dest as its root, the way dockerd's chrootarchive
// extracts it: symlinks, the archive's own included, resolve inside dest
// and names cannot climb above it. Xattrs are kept (dockerd keeps a
// tarball's file capabilities); device nodes and FIFOs are left out.
func extractArchive(root, src, dest string) error {
	f, err := os.Open(src)
	if err != nil {
		return err
	}
	defer f.Close()
	r, _, err := archive.Decompress(f)
	if err != nil {
		return err
	}
	defer r.Close()
	d, err := openInRoot(root, dest)
	if err != nil {
		return err
	}
	defer d.Close()
	return archive.Extract(context.Background(), r, d, archive.ExtractOptions{InRoot: true, ClampNames: true, SkipSpecial: true, Xattrs: true})
}

// openInRoot opens the directory dir, an image path, resolving it inside
// root as the image would see it.
func openInRoot(root, dir string) (*os.File, error) {
	r, err := containerfs.OpenRoot(root)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return containerfs.OpenInRoot(r, dir, unix.O_PATH|unix.O_DIRECTORY, 0, "open")
}

// parseChown resolves --chown=user[:group] against the image's
// /etc/passwd and /etc/group (numbers are taken as they are). The files
// are read through pkg/userdb: the image is untrusted, and a FIFO or a
// link to a host file at /etc/passwd must neither stall the build nor
// name a host user.
func parseChown(root, spec string) (int, int, error) {
	u, g, hasGroup := strings.Cut(spec, ":")
	var db *userdb.DB
	names := func() (*userdb.DB, error) {
		if db == nil {
			var err error
			if db, err = userdb.ReadPath(root); err != nil {
				return nil, err
			}
		}
		return db, nil
	}
	uid, gid := 0, 0
	if n, err := strconv.Atoi(u); err == nil {
		// A numeric user keeps its number as the group too.
		uid, gid = n, n
	} else {
		db, err := names()
		if err != nil {
			return 0, 0, err
		}
		e, err := db.LookupUser(u)
		if err != nil {
			return 0, 0, fmt.Errorf("no such user: %s", u)
		}
		uid, gid = e.Uid, e.Gid
	}
	if hasGroup {
		if n, err := strconv.Atoi(g); err == nil {
			gid = n
		} else {
			db, err := names()
			if err != nil {
				return 0, 0, err
			}
			e, err := db.LookupGroup(g)
			if err != nil {
				return 0, 0, fmt.Errorf("no such group: %s", g)
			}
			gid = e.Gid
		}
	}
	return uid, gid, nil
}
