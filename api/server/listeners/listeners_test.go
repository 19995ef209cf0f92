package listeners

import (
	"crypto/tls"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
	logtest "github.com/sirupsen/logrus/hooks/test"
)

func TestParseHost(t *testing.T) {
	good := map[string][2]string{
		"unix:///var/run/docker.sock": {"unix", "/var/run/docker.sock"},
		"/tmp/x.sock":                 {"unix", "/tmp/x.sock"},
		"tcp://127.0.0.1:2376":        {"tcp", "127.0.0.1:2376"},
		"127.0.0.1:2375":              {"tcp", "127.0.0.1:2375"},
		"fd://":                       {"fd", ""},
		"fd://3":                      {"fd", "3"},
	}
	for in, want := range good {
		p, a, err := ParseHost(in)
		if err != nil || p != want[0] || a != want[1] {
			t.Errorf("ParseHost(%q) = %q %q %v", in, p, a, err)
		}
	}
	for _, in := range []string{"", "udp://1.2.3.4:5", "tcp://nohost", "unix://"} {
		if _, _, err := ParseHost(in); err == nil {
			t.Errorf("ParseHost(%q) accepted", in)
		}
	}
}

func TestUnixSocketModeAndStaleSocket(t *testing.T) {
	p := filepath.Join(t.TempDir(), "d.sock")
	l, err := Open("unix://"+p, Options{Group: "no-such-group-berth"})
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(p)
	if err != nil || fi.Mode().Perm() != 0o660 || fi.Mode()&os.ModeSocket == 0 {
		t.Fatalf("socket mode %v, %v", fi.Mode(), err)
	}
	// Simulate a crash: the file stays, the listener is gone.
	l[0].(interface{ SetUnlinkOnClose(bool) }).SetUnlinkOnClose(false)
	l[0].Close()
	l, err = Open("unix://"+p, Options{})
	if err != nil {
		t.Fatalf("stale socket not replaced: %v", err)
	}
	l[0].Close()
	if _, err := Open("unix://"+p, Options{Group: "no-such-group-berth", GroupExplicit: true}); err == nil {
		t.Fatal("explicit missing group accepted")
	}
}

func TestPlainTCPNeedsExplicitOptOut(t *testing.T) {
	if _, err := Open("tcp://127.0.0.1:0", Options{}); err == nil {
		t.Fatal("plain TCP without --tls=false accepted")
	}
	l, err := Open("tcp://127.0.0.1:0", Options{InsecureTCP: true})
	if err != nil {
		t.Fatal(err)
	}
	l[0].Close()
}

// TestInsecureTCPWarns: a TCP listener that lets in clients without a
// verified certificate logs dockerd's warnings and pauses, as dockerd
// does; one that verifies them says nothing.
func TestInsecureTCPWarns(t *testing.T) {
	old := insecureTCPDelay
	insecureTCPDelay = 50 * time.Millisecond
	defer func() { insecureTCPDelay = old }()
	hook := logtest.NewGlobal()
	defer hook.Reset()
	for _, tc := range []struct {
		name string
		o    Options
		warn bool
	}{
		{"--tls=false", Options{InsecureTCP: true}, true},
		{"--tlsverify=false", Options{TLS: &tls.Config{ClientAuth: tls.NoClientCert}}, true},
		{"--tlsverify", Options{TLS: &tls.Config{ClientAuth: tls.RequireAndVerifyClientCert}}, false},
	} {
		hook.Reset()
		start := time.Now()
		l, err := Open("tcp://127.0.0.1:0", tc.o)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		l[0].Close()
		var got []string
		for _, e := range hook.AllEntries() {
			if e.Level == logrus.WarnLevel {
				got = append(got, e.Message)
				if e.Data["host"] != "tcp://127.0.0.1:0" {
					t.Errorf("%s: host field %v", tc.name, e.Data["host"])
				}
			}
		}
		slept := time.Since(start) >= insecureTCPDelay
		if !tc.warn {
			if len(got) != 0 || slept {
				t.Errorf("%s: warned %q, slept %v", tc.name, got, slept)
			}
			continue
		}
		if !slept || len(got) != 3 || got[0] != "Binding to IP address without --tlsverify is insecure and gives root access on this machine to everyone who has access to your network." {
			t.Errorf("%s: warned %q, slept %v", tc.name, got, slept)
		}
	}
}
