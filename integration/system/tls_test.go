package system

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/berthd/berth/integration/internal/harness"
)

func TestTCPWithTLSVerify(t *testing.T) {
	dd, err := harness.New(harness.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(dd.Cleanup)
	dir := filepath.Join(dd.Root, "certs")
	os.MkdirAll(dir, 0o700)
	ca := harness.IssueCert(t, dir, "ca", nil, true, 0)
	server := harness.IssueCert(t, dir, "server", ca, false, x509.ExtKeyUsageServerAuth)
	clientCert := harness.IssueCert(t, dir, "client", ca, false, x509.ExtKeyUsageClientAuth)
	otherCA := harness.IssueCert(t, dir, "other-ca", nil, true, 0)
	stranger := harness.IssueCert(t, dir, "stranger", otherCA, false, x509.ExtKeyUsageClientAuth)

	addr := fmt.Sprintf("127.0.0.1:%d", harness.FreePort(t))
	if err := dd.Start("-H", "tcp://"+addr, "--tlsverify", "--tlscacert", ca.CertFile, "--tlscert", server.CertFile, "--tlskey", server.KeyFile); err != nil {
		t.Fatal(err)
	}

	// The docker CLI with a client certificate signed by the CA works.
	cmd := exec.Command("docker", "--tlsverify", "--tlscacert", ca.CertFile, "--tlscert", clientCert.CertFile, "--tlskey", clientCert.KeyFile,
		"-H", "tcp://"+addr, "version", "--format", "{{.Server.APIVersion}}")
	cmd.Env = append(os.Environ(), "DOCKER_CONFIG="+dd.DockerCfg)
	out, err := cmd.CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "1.56" {
		t.Fatalf("docker with client cert: %v %s", err, out)
	}

	pool := x509.NewCertPool()
	pool.AddCert(ca.Cert)
	try := func(certs []tls.Certificate) error {
		hc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, Certificates: certs}}}
		resp, err := hc.Get("https://" + addr + "/_ping")
		if err == nil {
			resp.Body.Close()
		}
		return err
	}
	good, _ := tls.LoadX509KeyPair(clientCert.CertFile, clientCert.KeyFile)
	if err := try([]tls.Certificate{good}); err != nil {
		t.Fatalf("client with CA-signed cert refused: %v", err)
	}
	if err := try(nil); err == nil {
		t.Fatal("client without a certificate was served")
	}
	bad, _ := tls.LoadX509KeyPair(stranger.CertFile, stranger.KeyFile)
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
