package registry

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/berthd/berth/integration/internal/harness"
)

type mode int

const (
	plainHTTP mode = iota
	withTLS
	withAuth
)

const (
	testUser = "reguser"
	testPass = "s3cret-pass"
)

// testRegistry is one docker-registry process the test started.
type testRegistry struct {
	Addr   string // host:port clients use
	Root   string // storage and config
	Mode   mode
	CAPEM  []byte
	client *http.Client
}

// startRegistry runs docker-registry in the given mode and stops it by
// PID (and removes its files) when the test ends.
func startRegistry(t *testing.T, m mode) *testRegistry {
	t.Helper()
	root, err := os.MkdirTemp("", "bt-reg-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(root) })
	port := harness.FreePort(t)
	r := &testRegistry{Addr: fmt.Sprintf("127.0.0.1:%d", port), Root: root, Mode: m}
	var cfg strings.Builder
	fmt.Fprintf(&cfg, "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: %s/data\n  delete:\n    enabled: true\nhttp:\n  addr: %s\n", root, r.Addr)
	tr := &http.Transport{}
	switch m {
	case withTLS:
		caPEM, certPEM, keyPEM := makeCerts(t)
		r.CAPEM = caPEM
		os.WriteFile(filepath.Join(root, "cert.pem"), certPEM, 0o600)
		os.WriteFile(filepath.Join(root, "key.pem"), keyPEM, 0o600)
		fmt.Fprintf(&cfg, "  tls:\n    certificate: %s/cert.pem\n    key: %s/key.pem\n", root, root)
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM(caPEM)
		tr.TLSClientConfig = &tls.Config{RootCAs: pool}
	case withAuth:
		h, err := bcrypt.GenerateFromPassword([]byte(testPass), bcrypt.MinCost)
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(root, "htpasswd"), []byte(testUser+":"+string(h)+"\n"), 0o600)
		fmt.Fprintf(&cfg, "auth:\n  htpasswd:\n    realm: berth-test\n    path: %s/htpasswd\n", root)
	}
	r.client = &http.Client{Transport: tr, Timeout: 30 * time.Second}
	if err := os.WriteFile(filepath.Join(root, "config.yml"), []byte(cfg.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	harness.ServeRegistry(t, root, func() error {
		resp, err := r.client.Get(r.URL("/v2/"))
		if err == nil {
			resp.Body.Close()
		}
		return err
	})
	return r
}

// URL is a registry API URL.
func (r *testRegistry) URL(path string) string {
	scheme := "http"
	if r.Mode == withTLS {
		scheme = "https"
	}
	return scheme + "://" + r.Addr + path
}

// do calls the registry API directly, with credentials in auth mode.
func (r *testRegistry) do(t *testing.T, method, path, contentType string, body []byte) *http.Response {
	t.Helper()
	u := path
	if !strings.HasPrefix(path, "http") {
		u = r.URL(path)
	}
	req, err := http.NewRequest(method, u, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if strings.Contains(path, "/manifests/") && method == http.MethodGet {
		req.Header.Set("Accept", "application/vnd.docker.distribution.manifest.v2+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json")
	}
	if r.Mode == withAuth {
		req.SetBasicAuth(testUser, testPass)
	}
	resp, err := r.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

func (r *testRegistry) get(t *testing.T, path string) []byte {
	t.Helper()
	resp := r.do(t, http.MethodGet, path, "", nil)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %d %s", path, resp.StatusCode, b)
	}
	return b
}

// putBlob uploads a blob monolithically and returns its digest.
func (r *testRegistry) putBlob(t *testing.T, repo string, b []byte) string {
	t.Helper()
	dg := sha256Digest(b)
	resp := r.do(t, http.MethodPost, "/v2/"+repo+"/blobs/uploads/", "", nil)
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("start upload: %d", resp.StatusCode)
	}
	loc, _ := resp.Request.URL.Parse(resp.Header.Get("Location"))
	q := loc.Query()
	q.Set("digest", dg)
	loc.RawQuery = q.Encode()
	resp = r.do(t, http.MethodPut, loc.String(), "application/octet-stream", b)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("put blob: %d", resp.StatusCode)
	}
	return dg
}

func (r *testRegistry) putManifest(t *testing.T, repo, ref, mediaType string, b []byte) string {
	t.Helper()
	resp := r.do(t, http.MethodPut, "/v2/"+repo+"/manifests/"+ref, mediaType, b)
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		body, _ := io.ReadAll(resp.Body)
		t.Fatalf("put manifest: %d %s", resp.StatusCode, body)
	}
	return resp.Header.Get("Docker-Content-Digest")
}

// blobPath is where the registry's filesystem driver keeps a blob.
func (r *testRegistry) blobPath(dg string) string {
	hex := strings.TrimPrefix(dg, "sha256:")
	return filepath.Join(r.Root, "data", "docker", "registry", "v2", "blobs", "sha256", hex[:2], hex, "data")
}

// makeCerts returns a test CA and a server certificate for 127.0.0.1.
func makeCerts(t *testing.T) (caPEM, certPEM, keyPEM []byte) {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "berth test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := x509.MarshalECPrivateKey(key)
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}),
		pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb})
}

// installCA puts a CA into the daemon's certs.d for addr.
func installCA(t *testing.T, addr string, caPEM []byte) {
	t.Helper()
	dir := filepath.Join(certsDir, addr)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "ca.crt"), caPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
}

// faultProxy sits between berthd and a registry to count blob downloads
// and to inject slowness, 5xx answers and dropped connections.
type faultProxy struct {
	Addr string

	mu        sync.Mutex
	blobGets  map[string]int
	delay     time.Duration
	fail5xx   int  // answer this many blob GETs with 503
	dropFirst bool // cut the first GET of each blob half way
	dropped   map[string]bool
	failures  atomic.Int64
}

func startProxy(t *testing.T, r *testRegistry) *faultProxy {
	t.Helper()
	target, _ := url.Parse(r.URL(""))
	rp := httputil.NewSingleHostReverseProxy(target)
	p := &faultProxy{blobGets: map[string]int{}, dropped: map[string]bool{}}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p.Addr = l.Addr().String()
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.Method == http.MethodGet && strings.Contains(req.URL.Path, "/blobs/sha256:") {
			dg := req.URL.Path[strings.LastIndex(req.URL.Path, "/")+1:]
			p.mu.Lock()
			p.blobGets[dg]++
			delay, fail := p.delay, p.fail5xx > 0
			if fail {
				p.fail5xx--
			}
			drop := p.dropFirst && !p.dropped[dg] && req.Header.Get("Range") == ""
			if drop {
				p.dropped[dg] = true
			}
			p.mu.Unlock()
			if delay > 0 {
				select {
				case <-time.After(delay):
				case <-req.Context().Done():
					return
				}
			}
			if fail {
				p.failures.Add(1)
				http.Error(w, "injected", http.StatusServiceUnavailable)
				return
			}
			if drop {
				p.failures.Add(1)
				p.dropHalf(w, req, target)
				return
			}
		}
		rp.ServeHTTP(w, req)
	})}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return p
}

// dropHalf sends the headers and half the blob, then cuts the connection.
func (p *faultProxy) dropHalf(w http.ResponseWriter, req *http.Request, target *url.URL) {
	u := *target
	u.Path, u.RawQuery = req.URL.Path, req.URL.RawQuery
	out, _ := http.NewRequest(http.MethodGet, u.String(), nil)
	out.Header = req.Header.Clone()
	resp, err := http.DefaultClient.Do(out)
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for k, v := range resp.Header {
		w.Header()[k] = v
	}
	w.Header().Set("Content-Length", fmt.Sprint(len(b)))
	w.WriteHeader(resp.StatusCode)
	w.Write(b[:len(b)/2])
	w.(http.Flusher).Flush()
	panic(http.ErrAbortHandler)
}

func (p *faultProxy) gets(dg string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.blobGets[dg]
}

func (p *faultProxy) set(f func(p *faultProxy)) {
	p.mu.Lock()
	defer p.mu.Unlock()
	f(p)
}

func sha256Digest(b []byte) string {
	h := sha256Sum(b)
	return "sha256:" + h
}

// authHeader is X-Registry-Auth as the docker CLI builds it.
func authHeader(user, pass, server string) string {
	b, _ := json.Marshal(map[string]string{"username": user, "password": pass, "serveraddress": server})
	return base64.URLEncoding.EncodeToString(b)
}
