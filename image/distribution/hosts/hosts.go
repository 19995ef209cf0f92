package hosts

import (
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// FileName is the configuration file in a registry host's directory.
const FileName = "hosts.toml"

// DefaultDir is the directory that serves every registry host without a
// directory of its own.
const DefaultDir = "_default"

// Capabilities are what a host may be used for.
type Capabilities uint8

const (
	// Pull fetches manifests by digest and blobs.
	Pull Capabilities = 1 << iota
	// Resolve turns a tag into a digest.
	Resolve
	// Push uploads blobs and manifests.
	Push

	// All is what a host may do when its entry lists no capabilities.
	All = Pull | Resolve | Push
)

// String names the capabilities as hosts.toml spells them.
func (c Capabilities) String() string {
	var names []string
	for _, n := range []struct {
		c    Capabilities
		name string
	}{{Pull, "pull"}, {Resolve, "resolve"}, {Push, "push"}} {
		if c.Has(n.c) {
			names = append(names, n.name)
		}
	}
	return strings.Join(names, "+")
}

// Has reports whether c includes every capability of want.
func (c Capabilities) Has(want Capabilities) bool { return c&want == want }

// TLS is the TLS material a host entry names; paths are absolute
// (relative ones in the file are taken from the host's directory).
type TLS struct {
	// CAs are PEM files of certificate authorities to trust beside the
	// system's.
	CAs []string
	// Clients are certificate and key file pairs; an empty key means the
	// certificate file holds the key too.
	Clients [][2]string
	// SkipVerify, when set, decides whether the server's certificate is
	// checked, whatever the insecure-registries list says.
	SkipVerify *bool
}

// Empty reports whether t configures nothing.
func (t TLS) Empty() bool { return len(t.CAs) == 0 && len(t.Clients) == 0 && t.SkipVerify == nil }

// Host is one place a registry can be reached.
type Host struct {
	// Scheme is http or https, Host is host[:port].
	Scheme, Host string
	// Path is the API root requests go under: /v2 unless override_path
	// says the URL's own path (at least "/") is the root.
	Path         string
	Capabilities Capabilities
	TLS          TLS
	// Header is sent with every request to this host.
	Header http.Header
	// DialTimeout bounds connecting (0: the default).
	DialTimeout time.Duration
}

// URL is the host's scheme and authority, without the API root.
func (h Host) URL() *url.URL { return &url.URL{Scheme: h.Scheme, Host: h.Host} }

// Config is the configuration of one registry host.
type Config struct {
	// Dir is the directory it was read from; empty when there was none.
	Dir string
	// Mirrors are the [host."…"] entries in file order, tried before
	// Server.
	Mirrors []Host
	// Server is the registry's own server. Its Host is empty when the
	// file names none: the caller's default (https://HOST/v2 with all
	// capabilities) applies, with the top-level TLS, header and
	// capabilities kept here.
	Server Host
}

// Dir is the directory under root that configures registry host (as a
// reference spells it: docker.io, localhost:5000): HOST_PORT_ (the
// spelling containerd accepts where ':' cannot be in a file name), then
// HOST:PORT or HOST, then _default. It returns "" when none exists.
func Dir(root, host string) (string, error) {
	if root == "" || host == "" || strings.ContainsAny(host, "/\\") || host == "." || host == ".." {
		return "", nil
	}
	var candidates []string
	if i := strings.LastIndex(host, ":"); i > 0 {
		candidates = append(candidates, host[:i]+"_"+host[i+1:]+"_")
	}
	candidates = append(candidates, host, DefaultDir)
	for _, c := range candidates {
		p := filepath.Join(root, c)
		st, err := os.Stat(p)
		switch {
		case err == nil && st.IsDir():
			return p, nil
		case err != nil && !errors.Is(err, fs.ErrNotExist):
			return "", err
		}
	}
	return "", nil
}

// Load reads the configuration of registry host under root. A host
// without a directory, or whose directory has no hosts.toml (only the
// certs.d files dockerd reads), gets an empty Config: no mirrors, the
// default server.
func Load(root, host string) (*Config, error) {
	dir, err := Dir(root, host)
	if err != nil || dir == "" {
		return &Config{}, err
	}
	b, err := os.ReadFile(filepath.Join(dir, FileName))
	if errors.Is(err, fs.ErrNotExist) {
		return &Config{Dir: dir}, nil
	}
	if err != nil {
		return nil, err
	}
	c, err := Parse(dir, b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(dir, FileName), err)
	}
	return c, nil
}
