package logging

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/berthd/berth/integration/internal/harness"
)

// TestSyslog: each transport and format delivers the container's lines
// with their priority (facility local3: <158> for stdout, <155> for
// stderr), the tag template expanded, the format's header, and over TLS
// with rfc5424 the octet-counted framing of RFC 5425.
func TestSyslog(t *testing.T) {
	dir := t.TempDir()
	ca := harness.IssueCert(t, dir, "ca", nil, true, 0)
	srv := harness.IssueCert(t, dir, "server", ca, false, x509.ExtKeyUsageServerAuth)
	pair, err := tls.LoadX509KeyPair(srv.CertFile, srv.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	serverTLS := &tls.Config{Certificates: []tls.Certificate{pair}}
	host, _ := os.Hostname()
	hostRE := regexp.QuoteMeta(host)
	const stamp = `[A-Z][a-z]{2} [ 1-3][0-9] \d\d:\d\d:\d\d`
	const stamp5424 = `\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(Z|[+-]\d\d:\d\d)`
	const micro5424 = `\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}(Z|[+-]\d\d:\d\d)`
	for _, c := range []struct {
		proto, format string
		octets        bool
		// out and err match the stdout and stderr lines (TAG: the tag).
		out, err string
	}{
		{"udp", "rfc3164", false, `^<158>` + stamp + ` ` + hostRE + ` TAG\[\d+\]: out-line\n$`, `^<155>` + stamp + ` ` + hostRE + ` TAG\[\d+\]: err-line\n$`},
		{"tcp", "rfc5424", false, `^<158>1 ` + stamp5424 + ` ` + hostRE + ` TAG \d+ TAG - out-line\n$`, `^<155>1 .* err-line\n$`},
		{"unix", "", false, `^<158>` + stamp + ` TAG\[\d+\]: out-line\n$`, `^<155>` + stamp + ` TAG\[\d+\]: err-line\n$`},
		{"unixgram", "rfc5424micro", false, `^<158>1 ` + micro5424 + ` ` + hostRE + ` TAG \d+ TAG - out-line\n$`, `^<155>1 .* err-line\n$`},
		{"tcp+tls", "rfc5424", true, `^<158>1 ` + stamp5424 + ` ` + hostRE + ` TAG \d+ TAG - out-line\n$`, `^<155>1 .* err-line\n$`},
		{"tcp+tls", "rfc3164", false, `^<158>` + stamp + ` ` + hostRE + ` TAG\[\d+\]: out-line\n$`, `^<155>.* err-line\n$`},
	} {
		t.Run(c.proto+"-"+c.format, func(t *testing.T) {
			r := syslogReceiver(t, c.proto, serverTLS, c.octets)
			name := fmt.Sprintf("syslog-%s-%s", strings.ReplaceAll(c.proto, "+", ""), c.format)
			opts := []string{"syslog-address=" + r.addr, "syslog-facility=local3", "tag={{.Name}}-{{.ImageName}}"}
			if c.format != "" {
				opts = append(opts, "syslog-format="+c.format)
			}
			if c.proto == "tcp+tls" {
				opts = append(opts, "syslog-tls-ca-cert="+ca.CertFile)
			}
			runLogged(t, name, "syslog", opts, "echo out-line; echo err-line >&2")
			tag := regexp.QuoteMeta(name + "-busybox")
			for _, want := range []struct{ text, re string }{{"out-line", c.out}, {"err-line", c.err}} {
				got := r.waitFor(t, want.text)
				re := regexp.MustCompile(regexp.MustCompile(`TAG`).ReplaceAllLiteralString(want.re, tag))
				if !re.Match(got) {
					t.Errorf("%s received %q; want %s", c.proto, got, re)
				}
			}
			cacheHas(t, name, "out-line\n", "err-line\n")
		})
	}
}

// TestSyslogRefusals: what the syslog driver does not take is refused
// at create, with dockerd's words.
func TestSyslogRefusals(t *testing.T) {
	d.LoadTestImages(t)
	dockerFails(t, "unknown log opt 'syslog-adress' for syslog log driver", "create", "--log-driver", "syslog", "--log-opt", "syslog-adress=udp://127.0.0.1", "busybox")
	dockerFails(t, "unsupported scheme: 'http'", "create", "--log-driver", "syslog", "--log-opt", "syslog-address=http://127.0.0.1", "busybox")
	dockerFails(t, "invalid syslog facility", "create", "--log-driver", "syslog", "--log-opt", "syslog-facility=mars", "busybox")
	dockerFails(t, "Invalid syslog format", "create", "--log-driver", "syslog", "--log-opt", "syslog-format=rfc1", "busybox")
}
