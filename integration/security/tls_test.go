package security

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/berthd/berth/integration/internal/harness"
)

// tlsIssue writes a certificate for 127.0.0.1 and its key under dir,
// signed by ca (self-signed and a CA when ca is nil).
func tlsIssue(t *testing.T, dir, name string, ca *x509.Certificate, caKey *ecdsa.PrivateKey) (*x509.Certificate, *ecdsa.PrivateKey, string, string) {
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
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	if ca == nil {
		tmpl.IsCA, tmpl.BasicConstraintsValid = true, true
		ca, caKey = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	kb, _ := x509.MarshalECPrivateKey(key)
	certFile, keyFile := filepath.Join(dir, name+".pem"), filepath.Join(dir, name+"-key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		t.Fatal(err)
	}
	return cert, key, certFile, keyFile
}

func tlsFreeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// TestTLSFlagAloneVerifiesClients: --tls without --tlsverify must not let a
// client without a certificate in (dockerd turns verification on unless
// --tlsverify=false names it off); with --tlsverify=false the daemon
// serves such clients but says, in dockerd's words, what that means.
func TestTLSFlagAloneVerifiesClients(t *testing.T) {
	dir := t.TempDir()
	ca, caKey, caFile, _ := tlsIssue(t, dir, "ca", nil, nil)
	_, _, certFile, keyFile := tlsIssue(t, dir, "server", ca, caKey)
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	anonymous := func(addr string) error {
		hc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
		resp, err := hc.Get("https://" + addr + "/_ping")
		if err == nil {
			resp.Body.Close()
		}
		return err
	}
	tlsArgs := []string{"--tlscacert", caFile, "--tlscert", certFile, "--tlskey", keyFile}

	addr := tlsFreeAddr(t)
	dd := harness.Fresh(t, harness.Options{}, append([]string{"-H", "tcp://" + addr, "--tls"}, tlsArgs...)...)
	if err := anonymous(addr); err == nil {
		t.Fatalf("--tls without --tlsverify served a client without a certificate: anyone on the network is root\n%s", dd.LogTail(20))
	}
	dd.Stop()

	addr = tlsFreeAddr(t)
	dd = harness.Fresh(t, harness.Options{}, append([]string{"-H", "tcp://" + addr, "--tls", "--tlsverify=false"}, tlsArgs...)...)
	if err := anonymous(addr); err != nil {
		t.Fatalf("--tlsverify=false: %v", err)
	}
	if log := dd.Log(); !strings.Contains(log, "Binding to IP address without --tlsverify is insecure and gives root access on this machine to everyone who has access to your network.") {
		t.Errorf("--tlsverify=false without dockerd's warning:\n%s", dd.LogTail(20))
	}
}
