package build

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"os"
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
	return errdefs.InvalidParameterf("remoteURL (%s) could not be recognized as URL", remote)
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
// chrootarchive does), owners, modes, times and xattrs (file
// capabilities: the docker CLI sends security.capability) are kept as
// dockerd keeps them, and device nodes and FIFOs are left out.
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
		Xattrs:      true,
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
	b, err := readContextFile(c.Dir, filepath.Clean("/"+name))
	if errors.Is(err, os.ErrNotExist) && c.Name == "" {
		if b2, err2 := readContextFile(c.Dir, "/dockerfile"); err2 == nil {
			b, err, name = b2, nil, "dockerfile"
		}
	}
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
	b, err := readContextFile(c.Dir, ".dockerignore")
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return errdefs.InvalidParameterf("error reading .dockerignore: %v", err)
	}
	patterns, err := ignorefile.ReadAll(bytes.NewReader(b))
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
