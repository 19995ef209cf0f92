package distribution

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/distribution/reference"
	"github.com/sirupsen/logrus"

	"github.com/berthd/berth/pkg/registryauth"
)

// DefaultCertsDir is where per-registry CA directories live, as
// /etc/docker/certs.d does for dockerd.
const DefaultCertsDir = "/etc/berth/certs.d"

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
	// *.cert/*.key pairs.
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
	mirror bool
}

func (e *endpoint) String() string { return e.base.String() }

// hostFor is the registry host of a reference's domain.
func hostFor(named reference.Named) string {
	d := reference.Domain(named)
	if d == "docker.io" {
		return dockerHubHost
	}
	return d
}

// endpoints lists the URLs to try for a registry, in order.
func (s *Service) endpoints(named reference.Named) ([]*endpoint, error) {
	cfg := s.config()
	domain := reference.Domain(named)
	var out []*endpoint
	if domain == "docker.io" {
		for _, m := range cfg.Mirrors {
			u, err := url.Parse(strings.TrimSuffix(m, "/"))
			if err != nil || u.Host == "" {
				logrus.WithField("mirror", m).Warn("ignoring invalid registry mirror")
				continue
			}
			c, err := s.httpClient(u.Host, cfg)
			if err != nil {
				return nil, err
			}
			out = append(out, &endpoint{host: u.Host, base: u, client: c, mirror: true})
		}
	}
	host := hostFor(named)
	c, err := s.httpClient(host, cfg)
	if err != nil {
		return nil, err
	}
	out = append(out, &endpoint{host: host, base: &url.URL{Scheme: "https", Host: host}, client: c})
	if registryauth.IsInsecure(host, cfg.Insecure) {
		out = append(out, &endpoint{host: host, base: &url.URL{Scheme: "http", Host: host}, client: c})
	}
	return out, nil
}

// clientCache keeps one HTTP client (and so one connection pool) per
// registry host and TLS setting.
type clientCache struct {
	mu      sync.Mutex
	clients map[string]*http.Client
}

func (s *Service) httpClient(host string, cfg Config) (*http.Client, error) {
	tlsCfg, key, err := tlsConfig(host, cfg)
	if err != nil {
		return nil, err
	}
	s.clients.mu.Lock()
	defer s.clients.mu.Unlock()
	if c := s.clients.clients[key]; c != nil {
		return c, nil
	}
	tr := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
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

// tlsConfig builds the TLS settings for host from certs.d and the insecure
// list. A registry that has a CA directory is verified against it even
// when it is insecure by default (loopback): whoever put a CA there wants
// it checked. The returned key identifies the settings for caching.
func tlsConfig(host string, cfg Config) (*tls.Config, string, error) {
	t := &tls.Config{MinVersion: tls.VersionTLS12}
	dir := filepath.Join(cfg.CertsDir, host)
	if cfg.CertsDir == "" || strings.ContainsAny(host, "/\\") || host == ".." {
		dir = ""
	}
	var key strings.Builder
	key.WriteString(host)
	hasCA := false
	if dir != "" {
		ents, err := os.ReadDir(dir)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, "", err
		}
		for _, e := range ents {
			p := filepath.Join(dir, e.Name())
			switch {
			case strings.HasSuffix(e.Name(), ".crt"):
				b, err := os.ReadFile(p)
				if err != nil {
					return nil, "", err
				}
				if t.RootCAs == nil {
					pool, err := x509.SystemCertPool()
					if err != nil || pool == nil {
						pool = x509.NewCertPool()
					}
					t.RootCAs = pool
				}
				if !t.RootCAs.AppendCertsFromPEM(b) {
					return nil, "", fmt.Errorf("certs.d: no certificate found in %s", p)
				}
				hasCA = true
				fmt.Fprintf(&key, "|ca:%s:%x", p, sha256.Sum256(b))
			case strings.HasSuffix(e.Name(), ".cert"):
				keyFile := strings.TrimSuffix(p, ".cert") + ".key"
				pair, err := tls.LoadX509KeyPair(p, keyFile)
				if err != nil {
					return nil, "", fmt.Errorf("certs.d: client certificate %s: %w", p, err)
				}
				t.Certificates = append(t.Certificates, pair)
				fmt.Fprintf(&key, "|cert:%s:%x", p, sha256.Sum256(pair.Certificate[0]))
			}
		}
	}
	if registryauth.IsInsecure(host, cfg.Insecure) && !hasCA {
		t.InsecureSkipVerify = true
		key.WriteString("|insecure")
	}
	return t, key.String(), nil
}
