package build

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/moby/patternmatcher"
	"github.com/moby/patternmatcher/ignorefile"
	"golang.org/x/sys/unix"

	"github.com/berthd/berth/pkg/archive"
	"github.com/berthd/berth/pkg/errdefs"
)

// DefaultDockerfileName is the Dockerfile's name when the request names none.
const DefaultDockerfileName = "Dockerfile"

// Context is a build context unpacked into a private directory.
type Context struct {
	// Dir is the context's root.
	Dir string
	// Dockerfile is the Dockerfile's content, read before .dockerignore
	// is applied (an ignored Dockerfile is still the one that is built).
	Dockerfile []byte
	// Name is the Dockerfile's path in the context as the request gave it.
	Name string
	// FSSums: the context was not sent as a tar (a git clone), so COPY
	// sums its files the way dockerd sums files it reads from disk.
	FSSums bool
}

// Close removes the context's directory.
func (c *Context) Close() error { return os.RemoveAll(c.Dir) }

// ReadContext unpacks the context of a build: body when remote is empty
// (a tar, plain, gzip, bzip2 or xz, or a bare Dockerfile), else the
// remote: a git URL (with an optional #ref:subdir), or an http(s) URL of a
// tarball or of a Dockerfile sent as text. tmp is where the directory is
// made.
func ReadContext(ctx context.Context, tmp string, body io.Reader, remote, dockerfile string) (*Context, error) {
	dir, err := os.MkdirTemp(tmp, "context-")
	if err != nil {
		return nil, errdefs.System(err)
	}
	c := &Context{Dir: dir, Name: dockerfile}
	if err := c.fill(ctx, body, remote); err != nil {
		c.Close()
		return nil, err
	}
	if err := c.readDockerfile(); err != nil {
		c.Close()
		return nil, err
	}
	if err := c.applyDockerignore(); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

func (c *Context) fill(ctx context.Context, body io.Reader, remote string) error {
	switch {
	case remote == "" || remote == "context":
		return c.fromStream(body, true)
	case isGitURL(remote):
		c.FSSums = true
		return c.fromGit(ctx, remote)
	case strings.HasPrefix(remote, "http://") || strings.HasPrefix(remote, "https://"):
		return c.fromURL(ctx, remote)
	}
	return errdefs.InvalidParameterf("remote context %q is neither a git repository nor an http(s) URL", remote)
}

// fromStream unpacks a tar stream, compressed or not. A stream that is not
// a tar is taken as the Dockerfile itself when bareOK (docker build - <
// Dockerfile through the API, a URL that serves a Dockerfile).
func (c *Context) fromStream(r io.Reader, bareOK bool) error {
	dec, _, err := archive.Decompress(r)
	if err != nil {
		return errdefs.InvalidParameterf("invalid build context: %v", err)
	}
	defer dec.Close()
	bdec := bufio.NewReaderSize(dec, 64<<10)
	blk, _ := bdec.Peek(512)
	if len(blk) == 0 {
		return nil // an empty context
	}
	if !archive.LooksLikeTar(blk) {
		if !bareOK {
			return errdefs.InvalidParameterf("the build context is not a tar archive")
		}
		name := c.Name
		if name == "" {
			name = DefaultDockerfileName
		}
		c.Name = name
		f, err := os.OpenFile(filepath.Join(c.Dir, filepath.Base(name)), os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
		if err != nil {
			return errdefs.System(err)
		}
		c.Name = filepath.Base(name)
		_, err = io.Copy(f, bdec)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		return err
	}
	return untar(bdec, c.Dir)
}

// untar extracts a context tar with archive.Extract under a context's
// rules: no entry is reached through a symlink (the docker CLI never sends
// one below a symlink; such an entry is an attack and refused), names
// that climb above the root are taken as below it (as dockerd's
// chrootarchive does), owners, modes and times are kept, and device
// nodes and FIFOs are left out.
func untar(r io.Reader, dir string) error {
	root, err := os.OpenFile(dir, unix.O_PATH|unix.O_DIRECTORY, 0)
	if err != nil {
		return errdefs.System(err)
	}
	defer root.Close()
	err = archive.Extract(context.Background(), r, root, archive.ExtractOptions{
		Kind:        "build context",
		ClampNames:  true,
		SkipSpecial: true,
	})
	var re *archive.ReadError
	if errors.As(err, &re) {
		return errdefs.InvalidParameterf("invalid build context: %v", re.Err)
	}
	return err
}

func within(root, p string) bool {
	return p == root || strings.HasPrefix(p, root+string(filepath.Separator))
}

// isGitURL follows dockerd's rule for remote contexts.
func isGitURL(s string) bool {
	if strings.HasPrefix(s, "git://") || strings.HasPrefix(s, "git@") || strings.HasPrefix(s, "github.com/") {
		return true
	}
	if strings.HasPrefix(s, "http://") || strings.HasPrefix(s, "https://") {
		u := s
		if i := strings.IndexByte(u, '#'); i >= 0 {
			u = u[:i]
		}
		return strings.HasSuffix(u, ".git")
	}
	return false
}

// fromGit clones the repository (shallow where the server allows it) and
// keeps the subdirectory the fragment names: url#ref:dir.
func (c *Context) fromGit(ctx context.Context, remote string) error {
	url, frag, _ := strings.Cut(remote, "#")
	ref, sub, _ := strings.Cut(frag, ":")
	if strings.HasPrefix(url, "github.com/") {
		url = "https://" + url
	}
	clone := c.Dir + ".git"
	defer os.RemoveAll(clone)
	git := func(dir string, args ...string) error {
		cmd := exec.CommandContext(ctx, "git", args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GIT_TERMINAL_PROMPT=0")
		out, err := cmd.CombinedOutput()
		if err != nil {
			return errdefs.InvalidParameterf("error fetching git context %s: %v: %s", remote, err, strings.TrimSpace(string(out)))
		}
		return nil
	}
	if err := git("", "init", "-q", clone); err != nil {
		return err
	}
	if err := git(clone, "remote", "add", "origin", url); err != nil {
		return err
	}
	fetchRef := ref
	if fetchRef == "" {
		fetchRef = "HEAD"
	}
	if err := git(clone, "fetch", "-q", "--depth=1", "origin", fetchRef); err != nil {
		// Servers that refuse shallow fetches of a commit: fetch all.
		if err := git(clone, "fetch", "-q", "origin"); err != nil {
			return err
		}
		if err := git(clone, "checkout", "-q", ref); err != nil {
			return err
		}
	} else if err := git(clone, "checkout", "-q", "FETCH_HEAD"); err != nil {
		return err
	}
	git(clone, "submodule", "update", "--init", "--recursive", "--depth=1")
	src := filepath.Join(clone, filepath.Clean("/"+sub))
	if real, err := filepath.EvalSymlinks(src); err != nil || !within(clone, real) {
		return errdefs.InvalidParameterf("subdirectory %q of the git context does not exist", sub)
	}
	os.RemoveAll(filepath.Join(src, ".git"))
	os.Remove(c.Dir)
	if err := os.Rename(src, c.Dir); err != nil {
		return errdefs.System(err)
	}
	return nil
}

// fromURL downloads a remote context: a tarball, or a Dockerfile as text.
func (c *Context) fromURL(ctx context.Context, url string) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return errdefs.InvalidParameter(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return errdefs.InvalidParameterf("error downloading remote context %s: %v", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 400 {
		return errdefs.InvalidParameterf("error downloading remote context %s: %s", url, resp.Status)
	}
	return c.fromStream(resp.Body, true)
}

// readDockerfile reads the Dockerfile: the named path in the context,
// or Dockerfile (dockerfile as a fallback, as dockerd does).
func (c *Context) readDockerfile() error {
	name := c.Name
	if name == "" {
		name = DefaultDockerfileName
	}
	p := filepath.Join(c.Dir, filepath.Clean("/"+name))
	real, err := filepath.EvalSymlinks(p)
	if err != nil && c.Name == "" {
		if real2, err2 := filepath.EvalSymlinks(filepath.Join(c.Dir, "dockerfile")); err2 == nil {
			real, err, name = real2, nil, "dockerfile"
		}
	}
	if err != nil || !within(c.Dir, real) {
		return errdefs.InvalidParameterf("Cannot locate specified Dockerfile: %s", name)
	}
	b, err := os.ReadFile(real)
	if err != nil {
		return errdefs.InvalidParameterf("Cannot locate specified Dockerfile: %s", name)
	}
	c.Name = name
	c.Dockerfile = b
	return nil
}

// applyDockerignore removes what .dockerignore excludes. The CLI filters
// before it sends, but remote contexts and API clients do not; applying
// it again is harmless.
func (c *Context) applyDockerignore() error {
	f, err := openInContext(c.Dir, ".dockerignore")
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	patterns, err := ignorefile.ReadAll(f)
	f.Close()
	if err != nil {
		return errdefs.InvalidParameterf("error reading .dockerignore: %v", err)
	}
	if len(patterns) == 0 {
		return nil
	}
	pm, err := patternmatcher.New(patterns)
	if err != nil {
		return errdefs.InvalidParameterf("invalid .dockerignore pattern: %v", err)
	}
	return filterDir(c.Dir, pm)
}

// openInContext opens the regular file name of the context, resolving
// symlinks inside the context as dockerd does (a .dockerignore that is a
// symlink to a host file or device must not be read).
func openInContext(dir, name string) (*os.File, error) {
	root, err := os.OpenFile(dir, unix.O_PATH|unix.O_DIRECTORY, 0)
	if err != nil {
		return nil, errdefs.System(err)
	}
	defer root.Close()
	fd, err := unix.Openat2(int(root.Fd()), name, &unix.OpenHow{
		Flags:   unix.O_RDONLY | unix.O_NONBLOCK | unix.O_CLOEXEC,
		Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS,
	})
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: name, Err: err}
	}
	f := os.NewFile(uintptr(fd), name)
	if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() {
		f.Close()
		return nil, errdefs.InvalidParameterf("error reading %s: not a regular file", name)
	}
	return f, nil
}

// filterDir removes the paths pm excludes. A directory that is excluded
// but has an exception pattern below it is walked, not removed.
func filterDir(root string, pm *patternmatcher.PatternMatcher) error {
	var walk func(rel string) error
	walk = func(rel string) error {
		ents, err := os.ReadDir(filepath.Join(root, rel))
		if err != nil {
			return err
		}
		for _, e := range ents {
			name := filepath.Join(rel, e.Name())
			excluded, err := pm.MatchesOrParentMatches(name)
			if err != nil {
				return errdefs.InvalidParameterf("invalid .dockerignore pattern: %v", err)
			}
			if e.IsDir() {
				if excluded && !pm.Exclusions() {
					if err := os.RemoveAll(filepath.Join(root, name)); err != nil {
						return err
					}
					continue
				}
				if err := walk(name); err != nil {
					return err
				}
				if excluded {
					// Keep the directory only for what an exception keeps.
					os.Remove(filepath.Join(root, name))
				}
				continue
			}
			if excluded {
				if err := os.Remove(filepath.Join(root, name)); err != nil {
					return err
				}
			}
		}
		return nil
	}
	return walk("")
}
