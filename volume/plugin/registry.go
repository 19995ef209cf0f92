package plugin

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/berthd/berth/pkg/errdefs"
)

// Default discovery directories, as dockerd's.
var (
	DefaultSocketDirs = []string{"/run/docker/plugins"}
	DefaultSpecDirs   = []string{"/etc/docker/plugins", "/usr/lib/docker/plugins"}
)

// mimeType is the protocol version the engine speaks; plugins check the
// Accept header against it.
const mimeType = "application/vnd.docker.plugins.v1.2+json"

// ErrNotImplements is dockerd's message for a plugin that activated but
// does not offer the interface asked for.
var ErrNotImplements = errors.New("Plugin does not implement the requested driver")

// Registry finds and activates plugins, keeping each activated plugin for
// the life of the daemon.
type Registry struct {
	SocketDirs []string
	SpecDirs   []string
	// Managed, when set, finds an enabled managed (v2) plugin by name
	// before the directories are searched: it returns the plugin's
	// name, address and the function that turns a path the plugin reports
	// (a volume's mountpoint) into the host's, or found false when no
	// managed plugin has the name.
	Managed func(name, kind string) (m *Managed, found bool, err error)
	// ManagedNames lists the enabled managed plugins offering kind.
	ManagedNames func(kind string) []string

	mu      sync.Mutex
	plugins map[string]*Plugin
}

// NewRegistry returns a registry over the given directories; nil means
// dockerd's defaults.
func NewRegistry(socketDirs, specDirs []string) *Registry {
	if socketDirs == nil {
		socketDirs = DefaultSocketDirs
	}
	if specDirs == nil {
		specDirs = DefaultSpecDirs
	}
	return &Registry{SocketDirs: socketDirs, SpecDirs: specDirs, plugins: map[string]*Plugin{}}
}

// Managed is a managed plugin as Registry.Managed finds it.
type Managed struct {
	// Name is the plugin's full name (with its tag), which volumes
	// record as their driver, as dockerd's do.
	Name, Addr string
	// Scope maps a path the plugin reports to the host's.
	Scope func(string) string
}

// Plugin is one activated v1 plugin.
type Plugin struct {
	name       string
	addr       string
	client     *http.Client
	base       string
	implements []string
	// scope maps a path in the plugin's mount namespace to the host's;
	// nil for a legacy plugin, which runs on the host.
	scope   func(string) string
	managed bool
}

// Managed reports whether the plugin is a managed (v2) one.
func (p *Plugin) Managed() bool { return p.managed }

// HostPath is path, in the plugin's mount namespace, as the host sees
// it: beneath a managed plugin's root or propagated mount; unchanged for a
// legacy plugin, which runs on the host.
func (p *Plugin) HostPath(path string) string {
	if p.scope == nil || path == "" {
		return path
	}
	return p.scope(path)
}

// Name is the plugin's name.
func (p *Plugin) Name() string { return p.name }

// Addr is where the plugin listens.
func (p *Plugin) Addr() string { return p.addr }

// Implements reports whether the plugin offers the subsystem.
func (p *Plugin) Implements(kind string) bool { return slices.Contains(p.implements, kind) }

// specJSON is a NAME.json plugin spec.
type specJSON struct {
	Name      string
	Addr      string
	TLSConfig *struct {
		InsecureSkipVerify bool
		CAFile             string
		CertFile           string
		KeyFile            string
	}
}

// Get returns the plugin named name, activating it on first use, and
// checks that it implements kind ("VolumeDriver").
func (r *Registry) Get(ctx context.Context, name, kind string) (*Plugin, error) {
	if r.Managed != nil {
		// Not cached: a managed plugin is disabled, enabled and removed
		// by the API, and needs no activation.
		m, found, err := r.Managed(name, kind)
		if err != nil {
			return nil, err
		}
		if found {
			p, err := newPlugin(m.Name, m.Addr, nil)
			if err != nil {
				return nil, err
			}
			p.implements = []string{kind}
			p.scope, p.managed = m.Scope, true
			return p, nil
		}
	}
	r.mu.Lock()
	p, ok := r.plugins[name]
	r.mu.Unlock()
	if !ok {
		var err error
		p, err = r.discover(name)
		if err != nil {
			return nil, err
		}
		if err := p.activate(ctx); err != nil {
			return nil, err
		}
		r.mu.Lock()
		if existing, ok := r.plugins[name]; ok {
			p = existing
		} else {
			r.plugins[name] = p
		}
		r.mu.Unlock()
	}
	if kind != "" && !p.Implements(kind) {
		return nil, errdefs.InvalidParameter(ErrNotImplements)
	}
	return p, nil
}

// Forget drops an activated plugin so that the next Get finds and
// activates it again (after its socket went away, say).
func (r *Registry) Forget(name string) {
	r.mu.Lock()
	delete(r.plugins, name)
	r.mu.Unlock()
}

// Scan lists the names of every plugin the directories offer.
func (r *Registry) Scan() []string {
	seen := map[string]bool{}
	var names []string
	add := func(n string) {
		if n != "" && !seen[n] {
			seen[n] = true
			names = append(names, n)
		}
	}
	for _, dir := range r.SocketDirs {
		filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return nil
			}
			if d.Type()&fs.ModeSocket != 0 {
				add(strings.TrimSuffix(d.Name(), filepath.Ext(d.Name())))
			}
			return nil
		})
	}
	for _, dir := range r.SpecDirs {
		filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return nil
			}
			if ext := filepath.Ext(d.Name()); ext == ".spec" || ext == ".json" {
				add(strings.TrimSuffix(d.Name(), ext))
			}
			return nil
		})
	}
	r.mu.Lock()
	for n := range r.plugins {
		add(n)
	}
	r.mu.Unlock()
	if r.ManagedNames != nil {
		for _, n := range r.ManagedNames("VolumeDriver") {
			add(n)
		}
	}
	return names
}

func candidates(dir, name, ext string) []string {
	return []string{filepath.Join(dir, name+ext), filepath.Join(dir, name, name+ext)}
}

func (r *Registry) discover(name string) (*Plugin, error) {
	// A name is a file name in the directories: nothing that walks out.
	if name == "" || strings.ContainsAny(name, "/\x00") || name == "." || name == ".." {
		return nil, errdefs.NotFoundf("plugin %q not found", name)
	}
	for _, dir := range r.SocketDirs {
		for _, p := range candidates(dir, name, ".sock") {
			if fi, err := os.Stat(p); err == nil && fi.Mode()&fs.ModeSocket != 0 {
				return newPlugin(name, "unix://"+p, nil)
			}
		}
	}
	for _, dir := range r.SpecDirs {
		for _, ext := range []string{".spec", ".json"} {
			for _, p := range candidates(dir, name, ext) {
				b, err := os.ReadFile(p)
				if err != nil {
					continue
				}
				if ext == ".json" {
					var s specJSON
					if err := json.Unmarshal(b, &s); err != nil {
						return nil, fmt.Errorf("plugin spec %s: %w", p, err)
					}
					tc, err := tlsConfig(s)
					if err != nil {
						return nil, err
					}
					return newPlugin(name, s.Addr, tc)
				}
				return newPlugin(name, strings.TrimSpace(string(b)), nil)
			}
		}
	}
	return nil, errdefs.NotFoundf("plugin %q not found", name)
}

func tlsConfig(s specJSON) (*tls.Config, error) {
	t := s.TLSConfig
	if t == nil || (t.CAFile == "" && t.CertFile == "" && !t.InsecureSkipVerify) {
		return nil, nil
	}
	c := &tls.Config{InsecureSkipVerify: t.InsecureSkipVerify}
	if t.CAFile != "" {
		pem, err := os.ReadFile(t.CAFile)
		if err != nil {
			return nil, err
		}
		c.RootCAs = x509.NewCertPool()
		c.RootCAs.AppendCertsFromPEM(pem)
	}
	if t.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			return nil, err
		}
		c.Certificates = []tls.Certificate{cert}
	}
	return c, nil
}

func newPlugin(name, addr string, tc *tls.Config) (*Plugin, error) {
	u, err := url.Parse(addr)
	if err != nil {
		return nil, err
	}
	if u.Scheme == "" {
		return nil, fmt.Errorf("Unknown protocol")
	}
	tr := &http.Transport{
		MaxIdleConnsPerHost: 4,
		IdleConnTimeout:     30 * time.Second,
	}
	p := &Plugin{name: name, addr: addr}
	switch u.Scheme {
	case "unix":
		sock := u.Path
		tr.DialContext = func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", sock)
		}
		p.base = "http://plugin"
	case "tcp", "http", "https":
		scheme := "http"
		if tc != nil || u.Scheme == "https" {
			tr.TLSClientConfig = tc
			scheme = "https"
		}
		p.base = scheme + "://" + u.Host
	default:
		return nil, fmt.Errorf("Unknown protocol")
	}
	p.client = &http.Client{Transport: tr}
	return p, nil
}

func (p *Plugin) activate(ctx context.Context) error {
	var m struct{ Implements []string }
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := p.Call(ctx, "Plugin.Activate", nil, &m); err != nil {
		return fmt.Errorf("activate plugin %s: %w", p.name, err)
	}
	p.implements = m.Implements
	return nil
}

// RemoteError is an error the plugin reported (its Err field), as opposed
// to a failure to reach it.
type RemoteError struct {
	Method string
	Msg    string
}

func (e *RemoteError) Error() string { return e.Msg }

// Call posts args as JSON to the plugin's method and decodes the answer
// into ret. A non-200 answer becomes a RemoteError with the plugin's Err.
func (p *Plugin) Call(ctx context.Context, method string, args, ret any) error {
	body, err := json.Marshal(args)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.base+"/"+method, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Accept", mimeType)
	req.Header.Set("Content-Type", mimeType)
	resp, err := p.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		var e struct{ Err string }
		if json.Unmarshal(b, &e) == nil && e.Err != "" {
			return &RemoteError{Method: method, Msg: e.Err}
		}
		return &RemoteError{Method: method, Msg: fmt.Sprintf("%s: %s", method, strings.TrimSpace(string(b)))}
	}
	if ret == nil || len(bytes.TrimSpace(b)) == 0 {
		return nil
	}
	if err := json.Unmarshal(b, ret); err != nil {
		return fmt.Errorf("%s: bad answer from plugin %s: %w", method, p.name, err)
	}
	return nil
}
