package system

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/berthd/berth/integration/internal/harness"
)

type certPair struct {
	cert              *x509.Certificate
	key               *ecdsa.PrivateKey
	certFile, keyFile string
}

// issue makes a certificate signed by parent (self-signed when nil) and
// writes it and its key as PEM files under dir.
func issue(t *testing.T, dir, name string, parent *certPair, isCA bool, usage x509.ExtKeyUsage) *certPair {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: name},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
	}
	if isCA {
		tmpl.IsCA = true
		tmpl.BasicConstraintsValid = true
		tmpl.KeyUsage |= x509.KeyUsageCertSign
	} else {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{usage}
		tmpl.IPAddresses = []net.IP{net.ParseIP("127.0.0.1")}
		tmpl.DNSNames = []string{"localhost"}
	}
	signer, signerKey := tmpl, key
	if parent != nil {
		signer, signerKey = parent.cert, parent.key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, signer, &key.PublicKey, signerKey)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	kb, _ := x509.MarshalECPrivateKey(key)
	p := &certPair{cert: cert, key: key, certFile: filepath.Join(dir, name+".pem"), keyFile: filepath.Join(dir, name+"-key.pem")}
	os.WriteFile(p.certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
	os.WriteFile(p.keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600)
	return p
}

func TestTCPWithTLSVerify(t *testing.T) {
	dd, err := harness.New(harness.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(dd.Cleanup)
	dir := filepath.Join(dd.Root, "certs")
	os.MkdirAll(dir, 0o700)
	ca := issue(t, dir, "ca", nil, true, 0)
	server := issue(t, dir, "server", ca, false, x509.ExtKeyUsageServerAuth)
	clientCert := issue(t, dir, "client", ca, false, x509.ExtKeyUsageClientAuth)
	otherCA := issue(t, dir, "other-ca", nil, true, 0)
	stranger := issue(t, dir, "stranger", otherCA, false, x509.ExtKeyUsageClientAuth)

	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	if err := dd.Start("-H", "tcp://"+addr, "--tlsverify", "--tlscacert", ca.certFile, "--tlscert", server.certFile, "--tlskey", server.keyFile); err != nil {
		t.Fatal(err)
	}

	// The docker CLI with a client certificate signed by the CA works.
	cmd := exec.Command("docker", "--tlsverify", "--tlscacert", ca.certFile, "--tlscert", clientCert.certFile, "--tlskey", clientCert.keyFile,
		"-H", "tcp://"+addr, "version", "--format", "{{.Server.APIVersion}}")
	cmd.Env = append(os.Environ(), "DOCKER_CONFIG="+dd.DockerCfg)
	out, err := cmd.CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "1.50" {
		t.Fatalf("docker with client cert: %v %s", err, out)
	}

	pool := x509.NewCertPool()
	pool.AddCert(ca.cert)
	try := func(certs []tls.Certificate) error {
		hc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, Certificates: certs}}}
		resp, err := hc.Get("https://" + addr + "/_ping")
		if err == nil {
			resp.Body.Close()
		}
		return err
	}
	good, _ := tls.LoadX509KeyPair(clientCert.certFile, clientCert.keyFile)
	if err := try([]tls.Certificate{good}); err != nil {
		t.Fatalf("client with CA-signed cert refused: %v", err)
	}
	if err := try(nil); err == nil {
		t.Fatal("client without a certificate was served")
	}
	bad, _ := tls.LoadX509KeyPair(stranger.certFile, stranger.keyFile)
	if err := try([]tls.Certificate{bad}); err == nil {
		t.Fatal("client with a certificate from another CA was served")
	}
	// Without --tlsverify on the CLI side the docker CLI cannot connect
	// either: plain HTTP to a TLS port.
	cmd = exec.Command("docker", "-H", "tcp://"+addr, "version")
	cmd.Env = append(os.Environ(), "DOCKER_CONFIG="+dd.DockerCfg)
	if out, err := cmd.CombinedOutput(); err == nil {
		t.Fatalf("plain client served: %s", out)
	}
}
