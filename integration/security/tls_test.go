package security

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/berthd/berth/integration/internal/harness"
)

// TestTLSFlagAloneVerifiesClients: --tls without --tlsverify must not let a
// client without a certificate in (dockerd turns verification on unless
// --tlsverify=false names it off); with --tlsverify=false the daemon
// serves such clients but says, in dockerd's words, what that means.
func TestTLSFlagAloneVerifiesClients(t *testing.T) {
	dir := t.TempDir()
	ca := harness.IssueCert(t, dir, "ca", nil, true, 0)
	server := harness.IssueCert(t, dir, "server", ca, false, x509.ExtKeyUsageServerAuth)
	pool := x509.NewCertPool()
	pool.AddCert(ca.Cert)
	anonymous := func(addr string) error {
		hc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
		resp, err := hc.Get("https://" + addr + "/_ping")
		if err == nil {
			resp.Body.Close()
		}
		return err
	}
	tlsArgs := []string{"--tlscacert", ca.CertFile, "--tlscert", server.CertFile, "--tlskey", server.KeyFile}

	addr := fmt.Sprintf("127.0.0.1:%d", harness.FreePort(t))
	dd := harness.Fresh(t, harness.Options{}, append([]string{"-H", "tcp://" + addr, "--tls"}, tlsArgs...)...)
	if err := anonymous(addr); err == nil {
		t.Fatalf("--tls without --tlsverify served a client without a certificate: anyone on the network is root\n%s", dd.LogTail(20))
	}
	dd.Stop()

	addr = fmt.Sprintf("127.0.0.1:%d", harness.FreePort(t))
	dd = harness.Fresh(t, harness.Options{}, append([]string{"-H", "tcp://" + addr, "--tls", "--tlsverify=false"}, tlsArgs...)...)
	if err := anonymous(addr); err != nil {
		t.Fatalf("--tlsverify=false: %v", err)
	}
	if log := dd.Log(); !strings.Contains(log, "Binding to IP address without --tlsverify is insecure and gives root access on this machine to everyone who has access to your network.") {
		t.Errorf("--tlsverify=false without dockerd's warning:\n%s", dd.LogTail(20))
	}
}
