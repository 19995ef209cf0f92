package security

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/berthd/berth/integration/internal/harness"
)

// Build context and ADD extraction: a context tar (docker build - <
// ctx.tar, POST /build with the tar as its body) or an archive that ADD
// unpacks is attacker content, and nothing in it may change a host file
// outside the daemon's directories: not its content, mode (set-id bits),
// owner or times, and no directory may appear beside it.

// ctxEntry is one entry of a crafted tar.
type ctxEntry struct {
	name, link string
	typ        byte
	data       string
	mode       int64
	uid        int
	mtime      time.Time
}

func ctxTar(t *testing.T, ents ...ctxEntry) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range ents {
		mode := e.mode
		if mode == 0 {
			mode = 0o644
		}
		mt := e.mtime
		if mt.IsZero() {
			mt = time.Unix(1600000000, 0)
		}
		h := &tar.Header{Name: e.name, Linkname: e.link, Typeflag: e.typ, Mode: mode, Uid: e.uid, Gid: e.uid, ModTime: mt}
		if e.typ == tar.TypeReg {
			h.Size = int64(len(e.data))
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if e.typ == tar.TypeReg {
			tw.Write([]byte(e.data))
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func ctxDockerfile(content string) ctxEntry {
	return ctxEntry{name: "Dockerfile", typ: tar.TypeReg, data: content}
}

// ctxVictim is a host directory made by the test, with a file in it, and
// the state that no build may change.
type ctxVictim struct {
	parent, dir, file string
	state             string
}

func ctxNewVictim(t *testing.T) *ctxVictim {
	t.Helper()
	v := &ctxVictim{parent: t.TempDir()}
	v.dir = filepath.Join(v.parent, "victim")
	v.file = filepath.Join(v.dir, "file")
	if err := os.Mkdir(v.dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(v.file, []byte("host data"), 0o644); err != nil {
		t.Fatal(err)
	}
	old := time.Unix(1234567890, 0)
	for _, p := range []string{v.file, v.dir, v.parent} {
		os.Chtimes(p, old, old)
	}
	v.state = v.snapshot()
	return v
}

// snapshot is every path under the victim's parent with its mode, owner,
// mtime and content.
func (v *ctxVictim) snapshot() string {
	var lines []string
	filepath.Walk(v.parent, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			lines = append(lines, p+": "+err.Error())
			return nil
		}
		st := fi.Sys().(*syscall.Stat_t)
		line := fmt.Sprintf("%s %v %d:%d mtime=%d", p, fi.Mode(), st.Uid, st.Gid, fi.ModTime().Unix())
		if fi.Mode().IsRegular() {
			b, _ := os.ReadFile(p)
			line += " content=" + string(b)
		}
		lines = append(lines, line)
		return nil
	})
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

func (v *ctxVictim) check(t *testing.T, what string) {
	t.Helper()
	if now := v.snapshot(); now != v.state {
		t.Errorf("%s changed host files outside the daemon:\nbefore:\n%s\nafter:\n%s", what, v.state, now)
	}
}

// ctxBuildCLI runs `docker build -` with the context tar on stdin and
// returns its combined output.
func ctxBuildCLI(t *testing.T, dd *harness.Daemon, tag string, context []byte) string {
	t.Helper()
	cmd := dd.DockerCmd("build", "-t", tag, "-")
	cmd.Stdin = bytes.NewReader(context)
	out, _ := cmd.CombinedOutput()
	return string(out)
}

// ctxBuildAPI posts the context tar to POST /build and returns the
// status and the body (the JSON message stream).
func ctxBuildAPI(t *testing.T, dd *harness.Daemon, tag string, context []byte) string {
	t.Helper()
	req, err := http.NewRequest("POST", "http://engine/build?t="+tag, bytes.NewReader(context))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-tar")
	c := dd.HTTPClient()
	c.Timeout = 2 * time.Minute
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("POST /build: %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return fmt.Sprintf("%d %s", resp.StatusCode, b)
}

// ctxAttacks are the context tars that escaped through the old
// extractor, each aimed at v.
var ctxAttacks = []struct {
	name string
	tar  func(t *testing.T, v *ctxVictim) []byte
}{
	// (a) "a/victim/" makes a, trusted as a parent afterwards; "a" then
	// becomes a symlink to the victim's parent, and the write below the
	// trusted directory lands on the host.
	{"write through a replaced ancestor", func(t *testing.T, v *ctxVictim) []byte {
		return ctxTar(t,
			ctxDockerfile("FROM busybox\n"),
			ctxEntry{name: "a/victim/", typ: tar.TypeDir, mode: 0o755},
			ctxEntry{name: "a", typ: tar.TypeSymlink, link: v.parent},
			ctxEntry{name: "a/victim/pwned", typ: tar.TypeReg, data: "pwned"},
			ctxEntry{name: "a/victim/file", typ: tar.TypeReg, data: "pwned"})
	}},
	// (b) a directory's mode (set-uid) and time are applied at the end,
	// through the symlink a later entry put in its place.
	{"chmod setuid through a late symlink", func(t *testing.T, v *ctxVictim) []byte {
		return ctxTar(t,
			ctxDockerfile("FROM busybox\n"),
			ctxEntry{name: "d/", typ: tar.TypeDir, mode: 0o4777, mtime: time.Unix(1000, 0)},
			ctxEntry{name: "d", typ: tar.TypeSymlink, link: v.file},
			ctxEntry{name: "e/", typ: tar.TypeDir, mode: 0o1777, mtime: time.Unix(1000, 0)},
			ctxEntry{name: "e", typ: tar.TypeSymlink, link: v.dir})
	}},
	// (c) a hard link whose target goes through a planted symlink links
	// the host file itself; its owner and mode are then set on it.
	{"chown and chmod through a hard link", func(t *testing.T, v *ctxVictim) []byte {
		return ctxTar(t,
			ctxDockerfile("FROM busybox\n"),
			ctxEntry{name: "s", typ: tar.TypeSymlink, link: v.dir},
			ctxEntry{name: "h", typ: tar.TypeLink, link: "s/file", mode: 0o4777, uid: 4242})
	}},
	// (d) the parents of an entry below a symlink were made before the
	// check.
	{"mkdir outside", func(t *testing.T, v *ctxVictim) []byte {
		return ctxTar(t,
			ctxDockerfile("FROM busybox\n"),
			ctxEntry{name: "l", typ: tar.TypeSymlink, link: v.dir},
			ctxEntry{name: "l/newdir/deeper/f", typ: tar.TypeReg, data: "x"})
	}},
}

func TestBuildContextTarStaysInside(t *testing.T) {
	dd := setup(t)
	for i, a := range ctxAttacks {
		for _, via := range []string{"cli", "api"} {
			t.Run(a.name+"/"+via, func(t *testing.T) {
				v := ctxNewVictim(t)
				tag := fmt.Sprintf("ctx-escape-%d-%s", i, via)
				t.Cleanup(func() { dd.Docker("rmi", "-f", tag) })
				var out string
				if via == "cli" {
					out = ctxBuildCLI(t, dd, tag, a.tar(t, v))
				} else {
					out = ctxBuildAPI(t, dd, tag, a.tar(t, v))
				}
				t.Logf("build: %s", out)
				v.check(t, "the build context")
			})
		}
	}
	// The daemon still builds an honest context.
	tag := "ctx-escape-honest"
	t.Cleanup(func() { dd.Docker("rmi", "-f", tag) })
	out := ctxBuildCLI(t, dd, tag, ctxTar(t,
		ctxDockerfile("FROM busybox\nCOPY d /d\nRUN test -x /d/f && test -L /d/l\n"),
		ctxEntry{name: "d/", typ: tar.TypeDir, mode: 0o755},
		ctxEntry{name: "d/f", typ: tar.TypeReg, data: "x", mode: 0o4755},
		ctxEntry{name: "d/l", typ: tar.TypeSymlink, link: "/etc/passwd"}))
	if !strings.Contains(out, "Successfully built") {
		t.Fatalf("an honest context did not build:\n%s\n%s", out, dd.LogTail(20))
	}
}

// ADD of a local archive: the directory times applied at the end must not
// follow a symlink that a later entry of the archive planted.
func TestBuildAddArchiveStaysInside(t *testing.T) {
	dd := setup(t)
	v := ctxNewVictim(t)
	evil := ctxTar(t,
		ctxEntry{name: "d/", typ: tar.TypeDir, mode: 0o755, mtime: time.Unix(1000, 0)},
		ctxEntry{name: "d", typ: tar.TypeSymlink, link: v.file},
		ctxEntry{name: "e/", typ: tar.TypeDir, mode: 0o755, mtime: time.Unix(1000, 0)},
		ctxEntry{name: "e", typ: tar.TypeSymlink, link: v.dir},
		ctxEntry{name: "ok", typ: tar.TypeReg, data: "ok"})
	tag := "ctx-add-escape"
	t.Cleanup(func() { dd.Docker("rmi", "-f", tag) })
	out := ctxBuildCLI(t, dd, tag, ctxTar(t,
		ctxDockerfile("FROM busybox\nADD evil.tar /x/\nRUN test -L /x/d && test -f /x/ok\n"),
		ctxEntry{name: "evil.tar", typ: tar.TypeReg, data: string(evil)}))
	t.Logf("build: %s", out)
	v.check(t, "ADD evil.tar")
	if !strings.Contains(out, "Successfully built") {
		t.Fatalf("ADD of the archive failed:\n%s\n%s", out, dd.LogTail(20))
	}
}
