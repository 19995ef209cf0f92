package fuzztest

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Base is where sandboxes live. It is a fixed path so that seed archives
// can name the sentinel by an absolute path (a symlink or hard link to
// BASE/NAME/sentinel/...) as an attacker who knows the host would. It is
// on tmpfs where there is one: the image store fsyncs what it writes, and
// on a disk that made docker load's target ten times slower.
var Base = func() string {
	if fi, err := os.Stat("/dev/shm"); err == nil && fi.IsDir() {
		return "/dev/shm/berth-fuzz"
	}
	return "/tmp/berth-fuzz"
}()

// Secret is the sentinel files' content: an extractor that hands it back
// (a Dockerfile read through a symlink) read outside its destination.
const Secret = "berth-fuzz-sentinel-5d0c91ee"

// Leaked reports whether b holds a sentinel file's content.
func Leaked(b []byte) bool { return bytes.Contains(b, []byte(Secret)) }

// Sandbox is a destination directory with a sentinel tree beside it.
type Sandbox struct {
	// Root holds Dest and Sentinel and nothing else.
	Root, Dest, Sentinel string
	snap                 map[string]string
}

// New makes the sandbox BASE/name, or a private one when another process
// holds that name (a second `go test` of the same package): the seeds'
// absolute paths then miss, the relative ones still hit.
func New(tb testing.TB, name string) *Sandbox {
	tb.Helper()
	if os.Geteuid() != 0 {
		// The extractors chown and mknod: the property only means
		// something as root, and `make test` runs as root.
		tb.Fatal("fuzz targets of the extractors need root")
	}
	root := filepath.Join(Base, name)
	if err := os.MkdirAll(Base, 0o755); err != nil {
		tb.Fatal(err)
	}
	lock, err := os.OpenFile(root+".lock", os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		tb.Fatal(err)
	}
	if err := unix.Flock(int(lock.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		lock.Close()
		root = filepath.Join(tb.TempDir(), name)
	} else {
		tb.Cleanup(func() { lock.Close() })
	}
	s := &Sandbox{Root: root, Dest: filepath.Join(root, "dest"), Sentinel: filepath.Join(root, "sentinel")}
	tb.Cleanup(func() { os.RemoveAll(root) })
	s.build(tb)
	return s
}

// build (re)makes Root from nothing and takes the snapshot Check compares
// with.
func (s *Sandbox) build(tb testing.TB) {
	tb.Helper()
	if err := removeAll(s.Root); err != nil {
		tb.Fatal(err)
	}
	if err := os.MkdirAll(s.Sentinel, 0o755); err != nil {
		tb.Fatal(err)
	}
	must := func(err error) {
		if err != nil {
			tb.Helper()
			tb.Fatal(err)
		}
	}
	must(os.WriteFile(filepath.Join(s.Sentinel, "file"), []byte(Secret+" file\n"), 0o644))
	must(os.Mkdir(filepath.Join(s.Sentinel, "dir"), 0o700))
	must(os.WriteFile(filepath.Join(s.Sentinel, "dir", "inner"), []byte(Secret+" inner\n"), 0o600))
	must(os.Symlink("file", filepath.Join(s.Sentinel, "link")))
	must(unix.Mkfifo(filepath.Join(s.Sentinel, "fifo"), 0o600))
	// Old times, so that a time set through a link shows.
	old := time.Unix(1000000000, 0)
	for _, p := range []string{"file", "dir/inner", "dir", "fifo", "."} {
		must(os.Chtimes(filepath.Join(s.Sentinel, p), old, old))
	}
	must(os.Mkdir(s.Dest, 0o755))
	must(os.Chtimes(s.Root, old, old))
	s.snap = s.snapshot(tb)
}

// Reset empties Dest (creating it) for the next input.
func (s *Sandbox) Reset(tb testing.TB) {
	tb.Helper()
	if err := removeAll(s.Dest); err != nil {
		tb.Fatal(err)
	}
	if err := os.Mkdir(s.Dest, 0o755); err != nil {
		tb.Fatal(err)
	}
	// Creating and removing dest changes Root's times: reset them, so
	// that the check sees only what the extractor did.
	old := time.Unix(1000000000, 0)
	if err := os.Chtimes(s.Root, old, old); err != nil {
		tb.Fatal(err)
	}
}

// removeAll removes a tree an extractor left, whatever modes it set
// (a directory without write or search permission still goes as root, but
// a file with the immutable attribute would not: no tar sets that).
func removeAll(p string) error {
	err := os.RemoveAll(p)
	if err == nil {
		return nil
	}
	filepath.WalkDir(p, func(q string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			os.Chmod(q, 0o755)
		}
		return nil
	})
	return os.RemoveAll(p)
}

// Check fails when anything outside Dest changed: a new, missing or
// altered entry of Root (other than Dest itself) or of the sentinel tree,
// in content, mode, owner, link count, size or any timestamp.
func (s *Sandbox) Check(tb testing.TB) {
	tb.Helper()
	if err := s.Changed(tb); err != nil {
		// The next input must start from an intact sentinel, or every
		// later input would fail the same way.
		s.build(tb)
		tb.Fatal(err)
	}
}

// Changed is Check's finding as an error.
func (s *Sandbox) Changed(tb testing.TB) error {
	tb.Helper()
	now := s.snapshot(tb)
	for p, want := range s.snap {
		if got, ok := now[p]; !ok {
			return fmt.Errorf("outside the destination, %s was removed (was %s)", p, want)
		} else if got != want {
			return fmt.Errorf("outside the destination, %s changed:\n was %s\n now %s", p, want, got)
		}
	}
	for p, got := range now {
		if _, ok := s.snap[p]; !ok {
			return fmt.Errorf("outside the destination, %s was created: %s", p, got)
		}
	}
	return nil
}

func (s *Sandbox) snapshot(tb testing.TB) map[string]string {
	tb.Helper()
	m := map[string]string{}
	err := filepath.WalkDir(s.Root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p == s.Dest {
			return fs.SkipDir
		}
		var st unix.Stat_t
		if err := unix.Lstat(p, &st); err != nil {
			return err
		}
		desc := fmt.Sprintf("mode=%o uid=%d gid=%d nlink=%d size=%d", st.Mode, st.Uid, st.Gid, st.Nlink, st.Size)
		if p != s.Root {
			// Root's times move with every Reset; all else keeps them.
			desc += fmt.Sprintf(" mtime=%d.%d ctime=%d.%d", st.Mtim.Sec, st.Mtim.Nsec, st.Ctim.Sec, st.Ctim.Nsec)
		}
		switch st.Mode & unix.S_IFMT {
		case unix.S_IFREG:
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			desc += fmt.Sprintf(" sha256=%x", sha256.Sum256(b))
		case unix.S_IFLNK:
			l, err := os.Readlink(p)
			if err != nil {
				return err
			}
			desc += " -> " + strconv.Quote(l)
		}
		if xs, err := listxattr(p); err == nil && xs != "" {
			desc += " xattrs=" + xs
		}
		m[p] = desc
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
	return m
}

func listxattr(p string) (string, error) {
	buf := make([]byte, 4096)
	n, err := unix.Llistxattr(p, buf)
	if err != nil {
		return "", err
	}
	return strconv.Quote(string(buf[:n])), nil
}

// Entry is one tar entry of a seed.
type Entry struct {
	Name, Link string
	Type       byte
	Data       string
	Mode       int64
	Uid, Gid   int
	PAX        map[string]string
	Dev        [2]int64
}

// Tar writes entries as a tar, for seeds.
func Tar(es ...Entry) []byte {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range es {
		mode := e.Mode
		if mode == 0 {
			mode = 0o644
		}
		h := &tar.Header{Name: e.Name, Linkname: e.Link, Typeflag: e.Type, Mode: mode, Uid: e.Uid, Gid: e.Gid,
			ModTime: time.Unix(1700000000, 0), PAXRecords: e.PAX, Devmajor: e.Dev[0], Devminor: e.Dev[1]}
		if e.Type == tar.TypeReg {
			h.Size = int64(len(e.Data))
		}
		if e.PAX != nil {
			h.Format = tar.FormatPAX
		}
		if err := tw.WriteHeader(h); err != nil {
			panic(err)
		}
		if e.Type == tar.TypeReg {
			tw.Write([]byte(e.Data))
		}
	}
	tw.Close()
	return buf.Bytes()
}

// NastyTars are archives that try to leave the destination by every known
// route, aimed at the sandbox name's sentinel; a target adds its own.
func NastyTars(name string) [][]byte {
	sent := filepath.Join(Base, name, "sentinel")
	const (
		reg, dir, sym, lnk = tar.TypeReg, tar.TypeDir, tar.TypeSymlink, tar.TypeLink
	)
	return [][]byte{
		Tar(Entry{Name: "../sentinel/file", Type: reg, Data: "pwned"}),
		Tar(Entry{Name: "a/../../sentinel/new", Type: reg, Data: "pwned"}),
		Tar(Entry{Name: "/../sentinel/new", Type: reg, Data: "pwned"}),
		Tar(Entry{Name: "evil", Type: sym, Link: "../sentinel"}, Entry{Name: "evil/file", Type: reg, Data: "pwned"}),
		Tar(Entry{Name: "evil", Type: sym, Link: sent}, Entry{Name: "evil/new", Type: reg, Data: "pwned"}),
		Tar(Entry{Name: "evil", Type: sym, Link: sent}, Entry{Name: "evil/dir/x/y", Type: dir, Mode: 0o755}),
		Tar(Entry{Name: "evil", Type: sym, Link: sent + "/file"}, Entry{Name: "evil", Type: reg, Data: "pwned"}),
		Tar(Entry{Name: "h", Type: lnk, Link: "../sentinel/file"}),
		Tar(Entry{Name: "h", Type: lnk, Link: sent + "/file"}, Entry{Name: "h", Type: reg, Data: "pwned"}),
		Tar(Entry{Name: "s", Type: sym, Link: sent}, Entry{Name: "h", Type: lnk, Link: "s/file"}),
		// A directory made first, then an ancestor replaced by a symlink,
		// then a file below the directory (the build-context escape).
		Tar(Entry{Name: "a/", Type: dir, Mode: 0o755}, Entry{Name: "a/b/", Type: dir, Mode: 0o755},
			Entry{Name: "a", Type: sym, Link: sent}, Entry{Name: "a/b/c", Type: reg, Data: "pwned"}),
		// Modes and times applied at the end through a symlink planted later.
		Tar(Entry{Name: "d/", Type: dir, Mode: 0o4777}, Entry{Name: "d", Type: sym, Link: sent + "/dir"}),
		Tar(Entry{Name: "d/", Type: dir, Mode: 0o700}, Entry{Name: "d/e/", Type: dir, Mode: 0o777},
			Entry{Name: "d", Type: sym, Link: "../sentinel"}, Entry{Name: "d/e", Type: sym, Link: "dir"}),
		Tar(Entry{Name: "f", Type: sym, Link: sent + "/file"}, Entry{Name: "f", Type: reg, Mode: 0o4755, Uid: 1234, Gid: 1234, Data: "x"}),
		Tar(Entry{Name: "l", Type: sym, Link: sent + "/link"}, Entry{Name: "l/x", Type: reg, Data: "x"}),
		Tar(Entry{Name: "x", Type: sym, Link: "/proc/self/root" + sent}, Entry{Name: "x/new", Type: reg, Data: "x"}),
		Tar(Entry{Name: "fifo", Type: lnk, Link: sent + "/fifo"}),
		Tar(Entry{Name: "dev", Type: tar.TypeChar, Mode: 0o666, Dev: [2]int64{1, 3}}, Entry{Name: "blk", Type: tar.TypeBlock, Dev: [2]int64{7, 0}}),
		Tar(Entry{Name: "f", Type: reg, Data: "x", PAX: map[string]string{"SCHILY.xattr.user.a": "b", "SCHILY.xattr.security.capability": "\x01\x00\x00\x02\xff\xff\xff\xff\x00\x00\x00\x00"}}),
		Tar(Entry{Name: ".wh..wh..opq", Type: reg}, Entry{Name: ".wh.x", Type: reg}, Entry{Name: "../.wh.sentinel", Type: reg}),
		Tar(Entry{Name: "s", Type: sym, Link: ".."}, Entry{Name: "s/.wh.sentinel", Type: reg}),
	}
}
