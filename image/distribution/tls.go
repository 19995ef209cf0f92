package distribution

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/berthd/berth/image/distribution/hosts"
	"github.com/berthd/berth/pkg/registryauth"
)

// certsDirTLS lists the TLS files dockerd's certs.d layout keeps for
// host: CERTS_D/HOST/*.crt are CAs, *.cert with the *.key beside it are
// client pairs.
func certsDirTLS(host string, cfg Config) (hosts.TLS, error) {
	var t hosts.TLS
	if cfg.CertsDir == "" || strings.ContainsAny(host, "/\\") || host == ".." || host == "." {
		return t, nil
	}
	dir := filepath.Join(cfg.CertsDir, host)
	ents, err := os.ReadDir(dir)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return t, err
	}
	for _, e := range ents {
		p := filepath.Join(dir, e.Name())
		switch {
		case strings.HasSuffix(e.Name(), ".crt"):
			t.CAs = append(t.CAs, p)
		case strings.HasSuffix(e.Name(), ".cert"):
			t.Clients = append(t.Clients, [2]string{p, strings.TrimSuffix(p, ".cert") + ".key"})
		}
	}
	return t, nil
}

// tlsConfig builds the TLS settings for host from certs.d, the extra
// settings of its hosts.toml entry and the insecure list. A registry
// that has a CA is verified against it even when it is insecure by
// default (loopback): whoever put a CA there wants it checked; an
// explicit skip_verify decides over both. The returned key identifies
// the settings for caching.
func tlsConfig(host string, cfg Config, extra hosts.TLS) (*tls.Config, string, error) {
	files, err := certsDirTLS(host, cfg)
	if err != nil {
		return nil, "", err
	}
	files.CAs = append(files.CAs, extra.CAs...)
	files.Clients = append(files.Clients, extra.Clients...)

	t := &tls.Config{MinVersion: tls.VersionTLS12}
	var key strings.Builder
	key.WriteString(host)
	for _, p := range files.CAs {
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, "", fmt.Errorf("registry CA: %w", err)
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
		fmt.Fprintf(&key, "|ca:%s:%x", p, sha256.Sum256(b))
	}
	for _, c := range files.Clients {
		keyFile := c[1]
		if keyFile == "" {
			keyFile = c[0]
		}
		pair, err := tls.LoadX509KeyPair(c[0], keyFile)
		if err != nil {
			return nil, "", fmt.Errorf("certs.d: client certificate %s: %w", c[0], err)
		}
		t.Certificates = append(t.Certificates, pair)
		fmt.Fprintf(&key, "|cert:%s:%x", c[0], sha256.Sum256(pair.Certificate[0]))
	}
	switch {
	case extra.SkipVerify != nil:
		t.InsecureSkipVerify = *extra.SkipVerify
	default:
		t.InsecureSkipVerify = registryauth.IsInsecure(host, cfg.Insecure) && len(files.CAs) == 0
	}
	if t.InsecureSkipVerify {
		key.WriteString("|insecure")
	}
	return t, key.String(), nil
}
