package distribution

import (
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/distribution/reference"
	"github.com/sirupsen/logrus"

	"github.com/berthd/berth/image/distribution/hosts"
	"github.com/berthd/berth/pkg/errdefs"
	"github.com/berthd/berth/pkg/registryauth"
)

// dockerHubHost is the registry behind "docker.io" names.
const dockerHubHost = "registry-1.docker.io"

// Config is the daemon settings distribution uses.
type Config struct {
	// Insecure are the insecure-registries entries (host, host:port or
	// CIDR); loopback registries are insecure whatever the list says.
	Insecure []string
	// Mirrors are registry-mirrors URLs, tried before Docker Hub for
	// docker.io names.
	Mirrors []string
	// CertsDir holds HOST[:PORT]/ directories of *.crt CAs and client
	// *.cert/*.key pairs, and of containerd's hosts.toml (mirrors).
	CertsDir string
	// MaxDownloads and MaxUploads bound the layers transferred at once,
	// daemon-wide.
	MaxDownloads, MaxUploads int
	// MaxDownloadAttempts is how many times a registry request is tried
	// and a blob download started (dockerd's max-download-attempts);
	// 0 is 5.
	MaxDownloadAttempts int
	// ChunkSize, when positive, uploads layers in PATCH requests of this
	// many bytes (Content-Range) instead of one streamed PATCH.
	ChunkSize int64
	// UserAgent is sent with every request.
	UserAgent string
}

// endpoint is one base URL serving a registry.
type endpoint struct {
	// host is the registry's name as references spell it (docker.io,
	// 127.0.0.1:5000); base the URL actually requested.
	host   string
	base   *url.URL
	client *http.Client
	// mirror endpoints hand over to the next one whatever their error.
	mirror bool
	// root is the API root path (hosts.toml's path or override_path);
	// empty means base's path + /v2.
	root string
	// caps says what the endpoint may be used for; 0 means anything.
	caps hosts.Capabilities
	// header is added to every request (hosts.toml's header).
	header http.Header
	// ownCredsOnly endpoints (hosts.toml mirrors) get the caller's
	// credentials only when those name no registry or this very host:
	// a password for registry.k8s.io is not the mirror's to see.
	ownCredsOnly bool
}

func (e *endpoint) String() string { return e.base.String() }

// apiRoot is the path /v2/ requests are made under, without its slash.
func (e *endpoint) apiRoot() string {
	if e.root == "" {
		return strings.TrimSuffix(e.base.Path, "/") + "/v2"
	}
	return strings.TrimSuffix(e.root, "/")
}

// can reports whether the endpoint may serve an operation needing want.
func (e *endpoint) can(want hosts.Capabilities) bool { return e.caps == 0 || e.caps.Has(want) }

// setHeader adds the endpoint's configured headers to req.
func (e *endpoint) setHeader(req *http.Request) {
	for k, v := range e.header {
		req.Header[k] = append([]string(nil), v...)
	}
}

// hostFor is the registry host of a reference's domain.
func hostFor(named reference.Named) string {
	d := reference.Domain(named)
	if d == "docker.io" {
		return dockerHubHost
	}
	return d
}

// endpoints lists the URLs to try for a registry, in order: the mirrors
// of its hosts.toml, then (for docker.io) registry-mirrors, then its
// server (https, and http when insecure), as containerd and dockerd
// combined would.
func (s *Service) endpoints(named reference.Named) ([]*endpoint, error) {
	cfg := s.config()
	domain := reference.Domain(named)
	hc, err := hosts.Load(cfg.CertsDir, domain)
	if err != nil {
		return nil, errdefs.InvalidParameter(err)
	}
	var out []*endpoint
	for _, h := range hc.Mirrors {
		c, err := s.httpClient(h.Host, cfg, h.TLS, h.DialTimeout)
		if err != nil {
			return nil, err
		}
		out = append(out, &endpoint{host: h.Host, base: h.URL(), client: c, mirror: true, root: h.Path, caps: h.Capabilities, header: h.Header, ownCredsOnly: true})
	}
	if domain == "docker.io" {
		for _, m := range cfg.Mirrors {
			u, err := url.Parse(strings.TrimSuffix(m, "/"))
			if err != nil || u.Host == "" {
				logrus.WithField("mirror", m).Warn("ignoring invalid registry mirror")
				continue
			}
			c, err := s.httpClient(u.Host, cfg, hosts.TLS{}, 0)
			if err != nil {
				return nil, err
			}
			out = append(out, &endpoint{host: u.Host, base: u, client: c, mirror: true, caps: hosts.Pull | hosts.Resolve})
		}
	}
	srv := hc.Server
	host, scheme := hostFor(named), "https"
	if srv.Host != "" {
		host, scheme = srv.Host, srv.Scheme
	}
	c, err := s.httpClient(host, cfg, srv.TLS, srv.DialTimeout)
	if err != nil {
		return nil, err
	}
	server := func(scheme string) *endpoint {
		return &endpoint{host: host, base: &url.URL{Scheme: scheme, Host: host}, client: c, root: srv.Path, caps: srv.Capabilities, header: srv.Header}
	}
	out = append(out, server(scheme))
	if scheme == "https" && registryauth.IsInsecure(host, cfg.Insecure) {
		out = append(out, server("http"))
	}
	return out, nil
}

// clientCache keeps one HTTP client (and so one connection pool) per
// registry host and TLS setting.
type clientCache struct {
	mu      sync.Mutex
	clients map[string]*http.Client
}

// httpClient is the client for host with certs.d's TLS settings, the
// extra ones of hosts.toml and its dial timeout (0: 30s).
func (s *Service) httpClient(host string, cfg Config, extra hosts.TLS, dialTimeout time.Duration) (*http.Client, error) {
	tlsCfg, key, err := tlsConfig(host, cfg, extra)
	if err != nil {
		return nil, err
	}
	if dialTimeout <= 0 {
		dialTimeout = 30 * time.Second
	}
	key += "|dial:" + dialTimeout.String()
	s.clients.mu.Lock()
	defer s.clients.mu.Unlock()
	if c := s.clients.clients[key]; c != nil {
		return c, nil
	}
	tr := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: dialTimeout, KeepAlive: 30 * time.Second}).DialContext,
		TLSClientConfig:       tlsCfg,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: 60 * time.Second,
		MaxIdleConnsPerHost:   16,
		IdleConnTimeout:       90 * time.Second,
		// Layers are already compressed; asking for gzip transport
		// encoding would only make Content-Length useless for progress.
		DisableCompression: true,
		ForceAttemptHTTP2:  true,
	}
	c := &http.Client{Transport: tr}
	if s.clients.clients == nil {
		s.clients.clients = map[string]*http.Client{}
	}
	s.clients.clients[key] = c
	return c, nil
}
