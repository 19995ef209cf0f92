package unpack

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"golang.org/x/sys/unix"
)

func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("missing prerequisite: root (chown, mknod, trusted xattrs)")
		}
		t.Skip("needs root")
	}
}

type ent struct {
	name, link string
	typ        byte
	data       string
	mode       int64
	pax        map[string]string
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
		h := &tar.Header{Name: e.name, Linkname: e.link, Typeflag: e.typ, Mode: mode, ModTime: time.Unix(1700000000, 0), PAXRecords: e.pax, Uid: 1000, Gid: 1000}
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

func apply(t *testing.T, data []byte) (string, Result, []byte, error) {
	t.Helper()
	dir := t.TempDir()
	var rec bytes.Buffer
	res, err := Apply(context.Background(), dir, bytes.NewReader(data), &rec)
	return dir, res, rec.Bytes(), err
}

func TestApplyAndReassembleRoundTrip(t *testing.T) {
	requireRoot(t)
	long := strings.Repeat("d", 120) + "/" + strings.Repeat("f", 150)
	data := mktar(t,
		ent{name: "./", typ: tar.TypeDir, mode: 0o755},
		ent{name: "bin/", typ: tar.TypeDir, mode: 0o755},
		ent{name: "bin/busybox", typ: tar.TypeReg, data: "#!binary", mode: 0o4755},
		ent{name: "bin/sh", typ: tar.TypeSymlink, link: "busybox"},
		ent{name: "bin/hard", typ: tar.TypeLink, link: "bin/busybox"},
		ent{name: "usr/bin/env", typ: tar.TypeSymlink, link: "/bin/busybox"},
		ent{name: long, typ: tar.TypeReg, data: "long name"},
		ent{name: "etc/attr", typ: tar.TypeReg, data: "x", pax: map[string]string{"SCHILY.xattr.user.foo": "bar", "SCHILY.xattr.trusted.overlay.redirect": "/evil"}},
		ent{name: "dev/null", typ: tar.TypeChar, mode: 0o666},
		ent{name: "run/fifo", typ: tar.TypeFifo},
		ent{name: "etc/.wh.motd", typ: tar.TypeReg},
		ent{name: "var/.wh..wh..opq", typ: tar.TypeReg},
		ent{name: "empty", typ: tar.TypeReg, data: ""},
	)
	dir, res, rec, err := apply(t, data)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	if want := "sha256:" + hex.EncodeToString(sum[:]); res.DiffID.String() != want {
		t.Fatalf("diff ID %s, want %s", res.DiffID, want)
	}
	if res.TarSize != int64(len(data)) {
		t.Fatalf("tar size %d, want %d", res.TarSize, len(data))
	}
	if fi, err := os.Stat(filepath.Join(dir, "bin/busybox")); err != nil || fi.Mode()&os.ModeSetuid == 0 {
		t.Fatalf("busybox: %v %v", fi, err)
	}
	if l, _ := os.Readlink(filepath.Join(dir, "usr/bin/env")); l != "/bin/busybox" {
		t.Fatalf("symlink target %q", l)
	}
	var a, b unix.Stat_t
	unix.Stat(filepath.Join(dir, "bin/busybox"), &a)
	unix.Stat(filepath.Join(dir, "bin/hard"), &b)
	if a.Ino != b.Ino {
		t.Fatal("hard link not linked")
	}
	if a.Uid != 1000 {
		t.Fatalf("owner %d", a.Uid)
	}
	var wo unix.Stat_t
	if err := unix.Lstat(filepath.Join(dir, "etc/motd"), &wo); err != nil || wo.Mode&unix.S_IFMT != unix.S_IFCHR || wo.Rdev != 0 {
		t.Fatalf("whiteout: %+v %v", wo, err)
	}
	v := make([]byte, 8)
	if n, err := unix.Getxattr(filepath.Join(dir, "var"), "trusted.overlay.opaque", v); err != nil || string(v[:n]) != "y" {
		t.Fatalf("opaque xattr: %q %v", v[:n], err)
	}
	if n, err := unix.Getxattr(filepath.Join(dir, "etc/attr"), "user.foo", v); err == nil && string(v[:n]) != "bar" {
		t.Fatalf("user xattr %q", v[:n])
	}
	if _, err := unix.Getxattr(filepath.Join(dir, "etc/attr"), "trusted.overlay.redirect", v); err == nil {
		t.Fatal("a layer set an overlay xattr")
	}
	if fi, err := os.Stat(filepath.Join(dir, "bin")); err != nil || !fi.ModTime().Equal(time.Unix(1700000000, 0)) {
		t.Fatalf("dir mtime %v %v", fi.ModTime(), err)
	}

	var out bytes.Buffer
	if err := Reassemble(dir, bytes.NewReader(rec), &out); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out.Bytes(), data) {
		t.Fatalf("reassembled tar differs: %d bytes vs %d", out.Len(), len(data))
	}
}

func TestMaliciousTars(t *testing.T) {
	requireRoot(t)
	for _, tc := range []struct {
		name string
		tar  []byte
		want string
	}{
		{"dotdot", mktar(t, ent{name: "../escape", typ: tar.TypeReg, data: "x"}), "escapes the layer root"},
		{"dotdot-deep", mktar(t, ent{name: "a/../../escape", typ: tar.TypeReg, data: "x"}), "escapes the layer root"},
		{"abs-symlink-then-file", mktar(t,
			ent{name: "evil", typ: tar.TypeSymlink, link: "/tmp"},
			ent{name: "evil/pwned", typ: tar.TypeReg, data: "x"}), "symlink"},
		{"rel-symlink-then-file", mktar(t,
			ent{name: "evil", typ: tar.TypeSymlink, link: "../../.."},
			ent{name: "evil/pwned", typ: tar.TypeReg, data: "x"}), "symlink"},
		{"hardlink-out", mktar(t, ent{name: "h", typ: tar.TypeLink, link: "../../etc/passwd"}), "outside the layer root"},
		{"hardlink-abs-missing", mktar(t, ent{name: "h", typ: tar.TypeLink, link: "/etc/shadow"}), "does not exist"},
		{"hardlink-via-symlink", mktar(t,
			ent{name: "s", typ: tar.TypeSymlink, link: "/etc"},
			ent{name: "h", typ: tar.TypeLink, link: "s/passwd"}), "symlink"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			outside := t.TempDir()
			_, _, _, err := apply(t, tc.tar)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error containing %q", err, tc.want)
			}
			var ee *EntryError
			if !errors.As(err, &ee) {
				t.Fatalf("error %T is not an EntryError", err)
			}
			if _, err := os.Stat("/tmp/pwned"); err == nil {
				t.Fatal("wrote through the symlink")
			}
			if ents, _ := os.ReadDir(outside); len(ents) != 0 {
				t.Fatal("wrote outside")
			}
		})
	}
}

func TestSymlinkOverwriteDoesNotFollow(t *testing.T) {
	requireRoot(t)
	victim := filepath.Join(t.TempDir(), "victim")
	os.WriteFile(victim, []byte("keep"), 0o644)
	// A symlink, then a regular file of the same name: the file replaces
	// the link, it is not written through it.
	data := mktar(t,
		ent{name: "f", typ: tar.TypeSymlink, link: victim},
		ent{name: "f", typ: tar.TypeReg, data: "new"})
	dir, _, _, err := apply(t, data)
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(victim); string(b) != "keep" {
		t.Fatal("wrote through symlink")
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "f")); string(b) != "new" {
		t.Fatalf("f = %q", b)
	}
}

func TestDecompress(t *testing.T) {
	data := mktar(t, ent{name: "a", typ: tar.TypeReg, data: "hello"})
	var gz, zs bytes.Buffer
	gw := gzip.NewWriter(&gz)
	gw.Write(data)
	gw.Close()
	zw, _ := zstd.NewWriter(&zs)
	zw.Write(data)
	zw.Close()
	for name, in := range map[string][]byte{"plain": data, "gzip": gz.Bytes(), "zstd": zs.Bytes()} {
		rc, _, err := Decompress(bytes.NewReader(in))
		if err != nil {
			t.Fatal(name, err)
		}
		out, err := io.ReadAll(rc)
		rc.Close()
		if err != nil || !bytes.Equal(out, data) {
			t.Fatalf("%s: %v", name, err)
		}
	}
	if !LooksLikeTar(data) || LooksLikeTar([]byte(strings.Repeat("{}", 300))) || !LooksLikeTar(make([]byte, 1024)) {
		t.Fatal("LooksLikeTar")
	}
}

func TestSparseFile(t *testing.T) {
	requireRoot(t)
	gnutar, err := exec.LookPath("tar")
	if err != nil {
		t.Fatal("GNU tar is needed to write a sparse archive")
	}
	src := t.TempDir()
	f, _ := os.Create(filepath.Join(src, "sparse"))
	f.WriteAt([]byte("hello"), 0)
	f.WriteAt([]byte("world"), 4<<20)
	f.Close()
	for _, format := range []string{"pax", "gnu"} {
		out, err := exec.Command(gnutar, "-C", src, "--sparse", "--format="+format, "-cf", "-", "sparse").Output()
		if err != nil {
			t.Fatal(err)
		}
		dir, _, rec, err := apply(t, out)
		if err != nil {
			t.Fatal(format, err)
		}
		b, err := os.ReadFile(filepath.Join(dir, "sparse"))
		if err != nil || len(b) != 4<<20+5 || string(b[:5]) != "hello" || string(b[4<<20:]) != "world" {
			t.Fatalf("%s: sparse content wrong: %d bytes, %v", format, len(b), err)
		}
		var st unix.Stat_t
		unix.Stat(filepath.Join(dir, "sparse"), &st)
		if st.Blocks*512 >= 1<<20 {
			t.Fatalf("%s: file is not sparse: %d blocks", format, st.Blocks)
		}
		var re bytes.Buffer
		if err := Reassemble(dir, bytes.NewReader(rec), &re); err != nil || !bytes.Equal(re.Bytes(), out) {
			t.Fatalf("%s: sparse reassembly differs: %v", format, err)
		}
	}
}

// dribble returns at most n bytes a read, as a network stream does.
type dribble struct {
	r io.Reader
	n int
}

func (d dribble) Read(p []byte) (int, error) {
	if len(p) > d.n {
		p = p[:d.n]
	}
	return d.r.Read(p)
}

// archive.Extract's copy buffer and writeback steps.
const (
	copyBuf    = 256 << 10
	flushEvery = 4 << 20
	flushMin   = 1 << 20
)

// Files bigger than the copy buffer and than the writeback step, read in
// odd-sized pieces, come out whole, and the stream's diff ID and
// reassembly still cover every byte.
func TestApplyBigFilesInPieces(t *testing.T) {
	requireRoot(t)
	big := make([]byte, flushEvery+copyBuf+12345)
	for i := range big {
		big[i] = byte(i*7 + i/4096)
	}
	data := mktar(t,
		ent{name: "a", typ: tar.TypeReg, data: string(big)},
		ent{name: "small", typ: tar.TypeReg, data: "x"},
		ent{name: "b", typ: tar.TypeReg, data: string(big[:copyBuf])},
		ent{name: "c", typ: tar.TypeReg, data: string(big[:flushMin+1])},
	)
	for _, piece := range []int{1000, 32 << 10, 1 << 20} {
		dir := t.TempDir()
		var rec bytes.Buffer
		res, err := Apply(context.Background(), dir, dribble{bytes.NewReader(data), piece}, &rec)
		if err != nil {
			t.Fatal(err)
		}
		if sum := sha256.Sum256(data); res.DiffID.Encoded() != hex.EncodeToString(sum[:]) || res.TarSize != int64(len(data)) {
			t.Fatalf("pieces of %d: diff ID %s size %d", piece, res.DiffID, res.TarSize)
		}
		for name, want := range map[string][]byte{"a": big, "small": []byte("x"), "b": big[:copyBuf], "c": big[:flushMin+1]} {
			got, err := os.ReadFile(filepath.Join(dir, name))
			if err != nil || !bytes.Equal(got, want) {
				t.Fatalf("pieces of %d: %s differs (%d bytes, want %d): %v", piece, name, len(got), len(want), err)
			}
		}
		var out bytes.Buffer
		if err := Reassemble(dir, bytes.NewReader(rec.Bytes()), &out); err != nil || !bytes.Equal(out.Bytes(), data) {
			t.Fatalf("pieces of %d: reassembly differs: %v", piece, err)
		}
		if _, err := Apply(context.Background(), t.TempDir(), dribble{bytes.NewReader(data[:flushEvery+100]), piece}, io.Discard); err == nil {
			t.Fatalf("pieces of %d: a layer cut inside a file was applied", piece)
		}
	}
}
