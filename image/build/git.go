package build

import (
	"context"
	"errors"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/berthd/berth/pkg/containerfs"
	"github.com/berthd/berth/pkg/errdefs"
)

// gitURLWithFragment is dockerd's test for an http(s) URL of a repository:
// the path ends in .git, optionally followed by a non-empty #ref:dir.
var gitURLWithFragment = regexp.MustCompile(`\.git(?:#.+)?$`)

// isGitURL follows dockerd's rule for remote contexts. Nothing else reaches
// git: a local path, file:// or a remote helper (ext::) is not a git URL.
func isGitURL(s string) bool {
	if (strings.HasPrefix(s, "http://") || strings.HasPrefix(s, "https://")) && gitURLWithFragment.MatchString(s) {
		return true
	}
	return strings.HasPrefix(s, "git://") || strings.HasPrefix(s, "git@") || strings.HasPrefix(s, "github.com/")
}

// gitRemote is a git context split as dockerd splits it: url#ref:sub.
type gitRemote struct {
	url, ref, sub string
}

// parseGitRemote splits a remote context. A ref that starts with "-" is
// refused: git would read it as an option (--upload-pack=CMD runs CMD,
// CVE-2019-13139), whatever "--" guards the command line with.
func parseGitRemote(remote string) (gitRemote, error) {
	var r gitRemote
	switch {
	case strings.HasPrefix(remote, "git@"):
		// scp-like, not a URL: the fragment is split off by hand.
		var frag string
		r.url, frag, _ = strings.Cut(remote, "#")
		r.ref, r.sub, _ = strings.Cut(frag, ":")
	default:
		if !isGitTransport(remote) {
			remote = "https://" + remote // github.com/x/y
		}
		u, err := url.Parse(remote)
		if err != nil {
			return r, errdefs.InvalidParameter(err)
		}
		r.ref, r.sub, _ = strings.Cut(u.Fragment, ":")
		u.Fragment, u.RawFragment = "", ""
		r.url = u.String()
	}
	if strings.HasPrefix(r.url, "-") {
		return r, errdefs.InvalidParameterf("invalid repository URL: %s", r.url)
	}
	if strings.HasPrefix(r.ref, "-") {
		return r, errdefs.InvalidParameterf("invalid refspec: %s", r.ref)
	}
	return r, nil
}

// isGitTransport: the URL forms dockerd hands to git as they are.
func isGitTransport(s string) bool {
	if strings.HasPrefix(s, "git@") {
		return true
	}
	u, err := url.Parse(s)
	if err != nil {
		return false
	}
	switch u.Scheme {
	case "git", "http", "https", "ssh":
		return true
	}
	return false
}

// gitConfig is passed on every git command line. git exports -c settings
// to the processes it starts (GIT_CONFIG_PARAMETERS), so they hold for the
// submodule clones too: a .gitmodules naming ext::CMD or a path on the
// host is refused as firmly as the remote itself. Only the network
// transports dockerd accepts are allowed; hooks are pointed nowhere (a
// fresh repository has only the *.sample templates, but git must not run
// anything found in the clone).
var gitConfig = []string{
	"-c", "protocol.allow=never",
	"-c", "protocol.https.allow=always",
	"-c", "protocol.http.allow=always",
	"-c", "protocol.git.allow=always",
	"-c", "protocol.ssh.allow=always",
	"-c", "protocol.file.allow=never",
	"-c", "protocol.ext.allow=never",
	"-c", "core.hooksPath=" + os.DevNull,
}

// gitEnv isolates git from the host's configuration, as dockerd's
// WithIsolatedConfig does, and marks every URL as not the user's own
// (GIT_PROTOCOL_FROM_USER=0): git then refuses the transports it allows
// only on a user's explicit request.
func gitEnv() []string {
	return append(os.Environ(),
		"GIT_TERMINAL_PROMPT=0",
		"GIT_PROTOCOL_FROM_USER=0",
		"GIT_CONFIG_NOSYSTEM=1",
		"GIT_CONFIG_GLOBAL="+os.DevNull,
		"HOME="+os.DevNull,
	)
}

// gitRun runs git in dir. The caller puts "--" before every positional
// argument that comes from the request.
func gitRun(ctx context.Context, dir string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, "git", append(append([]string{}, gitConfig...), args...)...)
	cmd.Dir = dir
	cmd.Env = gitEnv()
	return cmd.CombinedOutput()
}

// gitClone fetches r into the new directory clone (shallow where the
// server allows it), checks it out and updates its submodules.
func gitClone(ctx context.Context, clone string, r gitRemote) error {
	fail := func(what string, out []byte, err error) error {
		return errdefs.InvalidParameterf("error fetching git context %s: %s: %v: %s", r.url, what, err, strings.TrimSpace(string(out)))
	}
	if out, err := gitRun(ctx, "", "init", "-q", "--", clone); err != nil {
		return fail("failed to init repo", out, err)
	}
	if out, err := gitRun(ctx, clone, "remote", "add", "--", "origin", r.url); err != nil {
		return fail("failed add origin repo at "+r.url, out, err)
	}
	ref := r.ref
	if ref == "" {
		ref = "HEAD"
	}
	_, err := gitRun(ctx, clone, "fetch", "-q", "--depth=1", "origin", "--", ref)
	if err != nil {
		// A server without shallow fetches (dumb HTTP): the ref in full.
		_, err = gitRun(ctx, clone, "fetch", "-q", "origin", "--", ref)
	}
	if err != nil {
		// A commit the server will not send by name: fetch all.
		if out, err := gitRun(ctx, clone, "fetch", "-q", "origin"); err != nil {
			return fail("fetch", out, err)
		}
		// "--" after the ref makes it a revision, never a path.
		if out, err := gitRun(ctx, clone, "checkout", "-q", ref, "--"); err != nil {
			return fail("error checking out "+ref, out, err)
		}
	} else if out, err := gitRun(ctx, clone, "checkout", "-q", "FETCH_HEAD", "--"); err != nil {
		return fail("error checking out "+ref, out, err)
	}
	if out, err := gitRun(ctx, clone, "submodule", "update", "--init", "--recursive", "--depth=1"); err != nil {
		return fail("error initializing submodules", out, err)
	}
	return nil
}

// gitSubdir resolves sub beneath clone the way a process chrooted into
// the clone would: a symlink in the repository (sub -> /, sub -> ../..)
// cannot lead out of it. It returns the directory's real path.
func gitSubdir(clone, sub string) (string, error) {
	root, err := containerfs.OpenRoot(clone)
	if err != nil {
		return "", errdefs.System(err)
	}
	defer root.Close()
	d, err := containerfs.OpenInRoot(root, filepath.Clean("/"+sub), unix.O_PATH|unix.O_DIRECTORY, unix.RESOLVE_NO_XDEV, "open")
	switch {
	case errors.Is(err, unix.ENOTDIR):
		return "", errdefs.InvalidParameterf("error setting git context, not a directory: %s", sub)
	case err != nil:
		return "", errdefs.InvalidParameterf("subdirectory %q of the git context does not exist", sub)
	}
	defer d.Close()
	real, err := os.Readlink("/proc/self/fd/" + strconv.Itoa(int(d.Fd())))
	if err != nil {
		return "", errdefs.System(err)
	}
	if !within(clone, real) {
		return "", errdefs.InvalidParameterf("error setting git context, %q not within git root", sub)
	}
	return real, nil
}

// fromGit clones the repository and keeps the subdirectory the fragment
// names: url#ref:dir.
func (c *Context) fromGit(ctx context.Context, remote string) error {
	r, err := parseGitRemote(remote)
	if err != nil {
		return err
	}
	clone := c.Dir + ".git"
	defer os.RemoveAll(clone)
	if err := gitClone(ctx, clone, r); err != nil {
		return err
	}
	src, err := gitSubdir(clone, r.sub)
	if err != nil {
		return err
	}
	os.RemoveAll(filepath.Join(src, ".git"))
	os.Remove(c.Dir)
	if err := os.Rename(src, c.Dir); err != nil {
		return errdefs.System(err)
	}
	return nil
}
