package archive

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("missing prerequisite: root (chown, mknod)")
		}
		t.Skip("needs root")
	}
}

type ent struct {
	name, link string
	typ        byte
	data       string
	mode       int64
	uid        int
	mtime      time.Time
	pax        map[string]string
	maj, min   int64
}

func mktar(t *testing.T, es ...ent) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range es {
		mode := e.mode
		if mode == 0 {
			mode = 0o644
		}
		mt := e.mtime
		if mt.IsZero() {
			mt = time.Unix(1600000000, 0)
		}
		uid := e.uid
		if uid == 0 {
			uid = 1000
		}
		h := &tar.Header{Name: e.name, Linkname: e.link, Typeflag: e.typ, Mode: mode, ModTime: mt,
			Uid: uid, Gid: uid, PAXRecords: e.pax, Devmajor: e.maj, Devminor: e.min}
		if e.typ == tar.TypeReg {
			h.Size = int64(len(e.data))
		}
		if e.pax != nil {
			h.Format = tar.FormatPAX
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if e.typ == tar.TypeReg {
			tw.Write([]byte(e.data))
		}
	}
	tw.Close()
	return buf.Bytes()
}

func extract(t *testing.T, root string, data []byte, o ExtractOptions) error {
	t.Helper()
	f, err := os.OpenFile(root, unix.O_PATH|unix.O_DIRECTORY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	return Extract(context.Background(), bytes.NewReader(data), f, o)
}

// The callers' rule sets.
var modes = map[string]ExtractOptions{
	"layer":   {Kind: "layer", RootEntry: true, Overlay: true, Xattrs: true},
	"context": {Kind: "build context", ClampNames: true, SkipSpecial: true},
	"add":     {InRoot: true, ClampNames: true, SkipSpecial: true},
	"cp":      UntarOptions{}.ExtractOptions(""),
}

// victim is a directory outside the extraction root with a file in it,
// and the state of both that no extraction may change.
type victim struct {
	dir, file string
	state     string
}

func newVictim(t *testing.T) *victim {
	t.Helper()
	v := &victim{dir: filepath.Join(t.TempDir(), "victim")}
	v.file = filepath.Join(v.dir, "file")
	if err := os.Mkdir(v.dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(v.file, []byte("precious"), 0o644); err != nil {
		t.Fatal(err)
	}
	old := time.Unix(1234567890, 0)
	os.Chtimes(v.file, old, old)
	os.Chtimes(v.dir, old, old)
	v.state = v.snapshot(t)
	return v
}

// snapshot lists everything in and at the victim directory with mode,
// owner, mtime and content.
func (v *victim) snapshot(t *testing.T) string {
	t.Helper()
	var lines []string
	filepath.Walk(v.dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			lines = append(lines, p+" "+err.Error())
			return nil
		}
		st := fi.Sys().(*unixStat)
		line := p + " " + fi.Mode().String() + " " + fi.ModTime().String() + " " + itoa(int(st.Uid)) + ":" + itoa(int(st.Gid))
		if fi.Mode().IsRegular() {
			b, _ := os.ReadFile(p)
			line += " " + string(b)
		}
		lines = append(lines, line)
		return nil
	})
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

func (v *victim) check(t *testing.T) {
	t.Helper()
	if now := v.snapshot(t); now != v.state {
		t.Fatalf("the victim outside the root changed:\nbefore:\n%s\nafter:\n%s", v.state, now)
	}
}

func TestExtractAttacks(t *testing.T) {
	requireRoot(t)
	for _, tc := range []struct {
		name string
		tar  func(v *victim) []byte
		// inside is a path below the root that must not exist after a
		// refused or contained extraction when it is a host path
		// replayed inside (e.g. root/<victim dir>/file).
	}{
		{"symlink replaces an ancestor the extractor made", func(v *victim) []byte {
			return mktar(t,
				ent{name: "a/", typ: tar.TypeDir, mode: 0o755},
				ent{name: "a/b/", typ: tar.TypeDir, mode: 0o755},
				ent{name: "a/b/ok", typ: tar.TypeReg, data: "ok"},
				ent{name: "a", typ: tar.TypeSymlink, link: filepath.Dir(v.dir)},
				ent{name: "a/victim/file", typ: tar.TypeReg, data: "pwned", mode: 0o4777},
				ent{name: "a/victim/new", typ: tar.TypeReg, data: "pwned"})
		}},
		{"late symlink then mode and times", func(v *victim) []byte {
			return mktar(t,
				ent{name: "d/", typ: tar.TypeDir, mode: 0o4777, mtime: time.Unix(1000, 0)},
				ent{name: "d/x", typ: tar.TypeReg, data: "x"},
				ent{name: "d", typ: tar.TypeSymlink, link: v.file},
				ent{name: "e/", typ: tar.TypeDir, mode: 0o777, mtime: time.Unix(1000, 0)},
				ent{name: "e", typ: tar.TypeSymlink, link: v.dir})
		}},
		{"relative late symlink then times", func(v *victim) []byte {
			return mktar(t,
				ent{name: "d/", typ: tar.TypeDir, mode: 0o777, mtime: time.Unix(1000, 0)},
				ent{name: "d", typ: tar.TypeSymlink, link: strings.Repeat("../", 20) + strings.TrimPrefix(v.dir, "/")})
		}},
		{"hard link through a planted symlink", func(v *victim) []byte {
			return mktar(t,
				ent{name: "s", typ: tar.TypeSymlink, link: v.dir},
				ent{name: "h", typ: tar.TypeLink, link: "s/file"},
				ent{name: "h", typ: tar.TypeReg, data: "pwned", mode: 0o4777})
		}},
		{"hard link to a symlink, then modes through it", func(v *victim) []byte {
			return mktar(t,
				ent{name: "s", typ: tar.TypeSymlink, link: v.file},
				ent{name: "h", typ: tar.TypeLink, link: "s", mode: 0o4777},
				ent{name: "h2", typ: tar.TypeLink, link: "/s", mode: 0o4777})
		}},
		{"mkdir through a symlink", func(v *victim) []byte {
			return mktar(t,
				ent{name: "a", typ: tar.TypeSymlink, link: v.dir},
				ent{name: "a/newdir/deeper/f", typ: tar.TypeReg, data: "x"})
		}},
		{"dir entry through a symlink", func(v *victim) []byte {
			return mktar(t,
				ent{name: "a", typ: tar.TypeSymlink, link: filepath.Dir(v.dir)},
				ent{name: "a/victim/", typ: tar.TypeDir, mode: 0o777, uid: 4242})
		}},
		{"dot-dot names", func(v *victim) []byte {
			up := strings.Repeat("../", 30) + strings.TrimPrefix(v.dir, "/")
			return mktar(t,
				ent{name: up + "/file", typ: tar.TypeReg, data: "pwned"},
				ent{name: "x/../../" + up + "/new", typ: tar.TypeReg, data: "pwned"})
		}},
		{"absolute names", func(v *victim) []byte {
			return mktar(t,
				ent{name: v.file, typ: tar.TypeReg, data: "pwned"},
				ent{name: v.dir + "/", typ: tar.TypeDir, mode: 0o777})
		}},
		{"symlink chain", func(v *victim) []byte {
			return mktar(t,
				ent{name: "l1", typ: tar.TypeSymlink, link: "l2"},
				ent{name: "l2", typ: tar.TypeSymlink, link: "l3"},
				ent{name: "l3", typ: tar.TypeSymlink, link: v.dir},
				ent{name: "l1/file", typ: tar.TypeReg, data: "pwned"},
				ent{name: "l1/", typ: tar.TypeDir, mode: 0o777})
		}},
		{"hard link out by name", func(v *victim) []byte {
			return mktar(t,
				ent{name: "h", typ: tar.TypeLink, link: strings.Repeat("../", 30) + strings.TrimPrefix(v.file, "/")},
				ent{name: "h", typ: tar.TypeReg, data: "pwned", mode: 0o4777})
		}},
		{"whiteout through a symlink", func(v *victim) []byte {
			return mktar(t,
				ent{name: "s", typ: tar.TypeSymlink, link: v.dir},
				ent{name: "s/.wh.file", typ: tar.TypeReg},
				ent{name: "s/.wh..wh..opq", typ: tar.TypeReg})
		}},
	} {
		for mode, o := range modes {
			t.Run(tc.name+"/"+mode, func(t *testing.T) {
				v := newVictim(t)
				root := t.TempDir()
				err := extract(t, root, tc.tar(v), o)
				v.check(t)
				var ee *EntryError
				if err != nil && !errors.As(err, &ee) {
					t.Fatalf("error %v (%T) is not an EntryError", err, err)
				}
				t.Logf("%v", err)
			})
		}
	}
}

// Without symlinks in the resolution an entry below a symlink is an
// error, not a silent success.
func TestExtractBeneathRefusesSymlinkedParents(t *testing.T) {
	requireRoot(t)
	v := newVictim(t)
	for _, mode := range []string{"layer", "context"} {
		err := extract(t, t.TempDir(), mktar(t,
			ent{name: "a/", typ: tar.TypeDir},
			ent{name: "a", typ: tar.TypeSymlink, link: v.dir},
			ent{name: "a/x", typ: tar.TypeReg, data: "x"}), modes[mode])
		if err == nil || !strings.Contains(err.Error(), "symlink") {
			t.Fatalf("%s: %v", mode, err)
		}
	}
	v.check(t)
}

// In the root, symlinks resolve as after chroot: an absolute symlink in
// the archive lands below the root.
func TestExtractInRootFollowsInside(t *testing.T) {
	requireRoot(t)
	root := t.TempDir()
	err := extract(t, root, mktar(t,
		ent{name: "etc/", typ: tar.TypeDir, mode: 0o755},
		ent{name: "l", typ: tar.TypeSymlink, link: "/etc"},
		ent{name: "up", typ: tar.TypeSymlink, link: "../../../../.."},
		ent{name: "l/passwd", typ: tar.TypeReg, data: "root"},
		ent{name: "up/etc/group", typ: tar.TypeReg, data: "wheel"}), modes["add"])
	if err != nil {
		t.Fatal(err)
	}
	for p, want := range map[string]string{"etc/passwd": "root", "etc/group": "wheel"} {
		if b, err := os.ReadFile(filepath.Join(root, p)); err != nil || string(b) != want {
			t.Fatalf("%s: %q %v", p, b, err)
		}
	}
}

// A magic link (/proc/<pid>/root) is never followed, even when the root
// holds a procfs (docker cp into a container that sees the host's /proc).
func TestExtractRefusesMagicLinks(t *testing.T) {
	requireRoot(t)
	v := newVictim(t)
	root := t.TempDir()
	proc := filepath.Join(root, "proc")
	os.Mkdir(proc, 0o555)
	if err := unix.Mount("proc", proc, "proc", 0, ""); err != nil {
		t.Fatalf("mount proc: %v", err)
	}
	t.Cleanup(func() { unix.Unmount(proc, unix.MNT_DETACH) })
	for name, data := range map[string][]byte{
		"dir": mktar(t, ent{name: "file", typ: tar.TypeReg, data: "pwned"}),
		"link": mktar(t,
			ent{name: "r", typ: tar.TypeSymlink, link: "/proc/1/root"},
			ent{name: "r" + v.file, typ: tar.TypeReg, data: "pwned"}),
	} {
		o := UntarOptions{}.ExtractOptions("proc/1/root" + v.dir)
		if name == "link" {
			o.Dir = ""
		}
		err := extract(t, root, data, o)
		if err == nil {
			t.Fatalf("%s: extracted through a magic link", name)
		}
		v.check(t)
	}
}

// Device nodes and FIFOs are left out where the rules say so.
func TestExtractSkipSpecial(t *testing.T) {
	requireRoot(t)
	data := mktar(t,
		ent{name: "null", typ: tar.TypeChar, mode: 0o666, maj: 1, min: 3},
		ent{name: "sda", typ: tar.TypeBlock, mode: 0o666, maj: 8, min: 0},
		ent{name: "fifo", typ: tar.TypeFifo, mode: 0o666})
	for _, mode := range []string{"context", "add"} {
		root := t.TempDir()
		if err := extract(t, root, data, modes[mode]); err != nil {
			t.Fatal(mode, err)
		}
		if ents, _ := os.ReadDir(root); len(ents) != 0 {
			t.Fatalf("%s: %d special files made", mode, len(ents))
		}
	}
	root := t.TempDir()
	if err := extract(t, root, data, modes["cp"]); err != nil {
		t.Fatal(err)
	}
	var st unix.Stat_t
	if err := unix.Lstat(filepath.Join(root, "null"), &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFCHR || st.Rdev != unix.Mkdev(1, 3) || st.Mode&0o7777 != 0o666 {
		t.Fatalf("null: %+v %v", st, err)
	}
}

func TestExtractKeepsAttributes(t *testing.T) {
	requireRoot(t)
	mt := time.Unix(1500000000, 0)
	data := mktar(t,
		ent{name: "d/", typ: tar.TypeDir, mode: 0o1750, mtime: mt},
		ent{name: "d/f", typ: tar.TypeReg, data: "x", mode: 0o4755, mtime: mt, pax: map[string]string{"SCHILY.xattr.user.k": "v", "SCHILY.xattr.trusted.overlay.redirect": "/x"}},
		ent{name: "d/sub/g", typ: tar.TypeReg, data: "y", mode: 0o600},
		ent{name: "d/l", typ: tar.TypeSymlink, link: "f", mtime: mt},
		ent{name: "d/h", typ: tar.TypeLink, link: "d/f"},
		ent{name: "d/fifo", typ: tar.TypeFifo, mode: 0o2640, mtime: mt})
	for _, mode := range []string{"layer", "cp"} {
		root := t.TempDir()
		if err := extract(t, root, data, modes[mode]); err != nil {
			t.Fatal(mode, err)
		}
		for p, want := range map[string]uint32{"d": unix.S_IFDIR | 0o1750, "d/f": unix.S_IFREG | 0o4755, "d/sub": unix.S_IFDIR | 0o755, "d/sub/g": unix.S_IFREG | 0o600, "d/l": unix.S_IFLNK | 0o777, "d/fifo": unix.S_IFIFO | 0o2640} {
			var st unix.Stat_t
			if err := unix.Lstat(filepath.Join(root, p), &st); err != nil {
				t.Fatal(mode, err)
			}
			if st.Mode != want {
				t.Errorf("%s %s: mode %o, want %o", mode, p, st.Mode, want)
			}
			if p != "d/sub" && st.Uid != 1000 {
				t.Errorf("%s %s: uid %d", mode, p, st.Uid)
			}
			if p != "d/sub" && p != "d/sub/g" && st.Mtim.Sec != mt.Unix() {
				t.Errorf("%s %s: mtime %d", mode, p, st.Mtim.Sec)
			}
		}
		var a, b unix.Stat_t
		unix.Lstat(filepath.Join(root, "d/f"), &a)
		unix.Lstat(filepath.Join(root, "d/h"), &b)
		if a.Ino != b.Ino {
			t.Errorf("%s: hard link not linked", mode)
		}
		buf := make([]byte, 16)
		if n, err := unix.Lgetxattr(filepath.Join(root, "d/f"), "user.k", buf); err == nil && string(buf[:n]) != "v" {
			t.Errorf("%s: user xattr %q", mode, buf[:n])
		}
		if _, err := unix.Lgetxattr(filepath.Join(root, "d/f"), "trusted.overlay.redirect", buf); err == nil {
			t.Errorf("%s: an archive set an overlay xattr", mode)
		}
	}
}

func TestExtractDockerCpRules(t *testing.T) {
	requireRoot(t)
	root := t.TempDir()
	os.MkdirAll(filepath.Join(root, "dst/dir"), 0o755)
	os.WriteFile(filepath.Join(root, "dst/file"), nil, 0o644)
	o := UntarOptions{NoOverwriteDirNonDir: true, Chown: &[2]int{4242, 4343}}.ExtractOptions("dst")
	for name, tc := range map[string]struct {
		tar  []byte
		want string
	}{
		"dir over file":  {mktar(t, ent{name: "file/", typ: tar.TypeDir}), "cannot overwrite non-directory"},
		"file over dir":  {mktar(t, ent{name: "dir", typ: tar.TypeReg}), "cannot overwrite directory"},
		"symlink out":    {mktar(t, ent{name: "a/l", typ: tar.TypeSymlink, link: "../../x"}), "invalid symlink"},
		"dot-dot":        {mktar(t, ent{name: "../x", typ: tar.TypeReg}), "escapes"},
		"hard link out":  {mktar(t, ent{name: "h", typ: tar.TypeLink, link: "../file"}), "outside"},
		"missing target": {mktar(t, ent{name: "h", typ: tar.TypeLink, link: "nope"}), "does not exist"},
	} {
		if err := extract(t, root, tc.tar, o); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", name, err, tc.want)
		}
	}
	if err := extract(t, root, mktar(t,
		ent{name: "new/deep/f", typ: tar.TypeReg, data: "x"},
		ent{name: "abs", typ: tar.TypeSymlink, link: "/etc/passwd"}), o); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"dst/new", "dst/new/deep", "dst/new/deep/f", "dst/abs"} {
		var st unix.Stat_t
		if err := unix.Lstat(filepath.Join(root, p), &st); err != nil || st.Uid != 4242 || st.Gid != 4343 {
			t.Errorf("%s: owner %d:%d %v", p, st.Uid, st.Gid, err)
		}
	}
}

// Names that climb out are clamped below the root where the rules say
// so, as under chroot.
func TestExtractClampNames(t *testing.T) {
	requireRoot(t)
	root := t.TempDir()
	if err := extract(t, root, mktar(t,
		ent{name: "../../x", typ: tar.TypeReg, data: "x"},
		ent{name: "/y", typ: tar.TypeReg, data: "y"},
		ent{name: "h", typ: tar.TypeLink, link: "../../x"}), modes["context"]); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"x", "y", "h"} {
		if _, err := os.Stat(filepath.Join(root, p)); err != nil {
			t.Fatal(err)
		}
	}
}

// A directory that a later entry replaces is removed without following
// the symlinks inside it.
func TestExtractReplaceDirDoesNotFollow(t *testing.T) {
	requireRoot(t)
	v := newVictim(t)
	for mode, o := range modes {
		root := t.TempDir()
		err := extract(t, root, mktar(t,
			ent{name: "d/sub/", typ: tar.TypeDir},
			ent{name: "d/sub/l", typ: tar.TypeSymlink, link: v.dir},
			ent{name: "d/sub/f", typ: tar.TypeReg, data: "x"},
			ent{name: "d", typ: tar.TypeReg, data: "file now"}), o)
		if err != nil {
			t.Fatal(mode, err)
		}
		if b, _ := os.ReadFile(filepath.Join(root, "d")); string(b) != "file now" {
			t.Fatalf("%s: d = %q", mode, b)
		}
	}
	v.check(t)
}

type unixStat = syscall.Stat_t

func itoa(i int) string { return strconv.Itoa(i) }
