package daemon

import (
	"strings"
	"testing"

	"github.com/berthd/berth/daemon/config"
	"github.com/berthd/berth/pkg/sysinfo"
)

// TestInfoWarnsOfUnverifiedTCP: docker info names a TCP listener that
// anyone who reaches it may use, in dockerd's words.
func TestInfoWarnsOfUnverifiedTCP(t *testing.T) {
	yes, no := true, false
	cg := sysinfo.Cgroups{MemoryLimit: true, SwapLimit: true, CPUCfsQuota: true, CPUShares: true}
	hosts := []string{"unix:///run/b.sock", "tcp://0.0.0.0:2376"}
	for _, tc := range []struct {
		name        string
		tls, verify *bool
		want        string
	}{
		{"--tls=false", &no, nil, "WARNING: API is accessible on http://0.0.0.0:2376 without encryption.\n"},
		{"--tls --tlsverify=false", &yes, &no, "WARNING: API is accessible on https://0.0.0.0:2376 without TLS client verification.\n"},
		{"--tls", &yes, nil, ""},
		{"--tlsverify", nil, &yes, ""},
	} {
		w := warnings(&config.Config{Hosts: hosts, TLS: tc.tls, TLSVerify: tc.verify}, cg, true)
		switch {
		case tc.want == "" && len(w) != 0:
			t.Errorf("%s: %q", tc.name, w)
		case tc.want != "" && (len(w) != 1 || !strings.HasPrefix(w[0], tc.want) || !strings.Contains(w[0], "equivalent to root access")):
			t.Errorf("%s: %q", tc.name, w)
		}
	}
}
