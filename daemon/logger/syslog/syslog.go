package syslog

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/berthd/berth/daemon/logger"
)

const secureProto = "tcp+tls"

// Driver is the syslog driver's entry in the daemon's table.
var Driver = logger.Driver{Validate: Validate, New: New}

// Validate checks the syslog driver's options.
func Validate(opts map[string]string) error {
	if err := logger.CheckKeys("syslog", opts, "syslog-address", "syslog-facility", "syslog-tls-ca-cert",
		"syslog-tls-cert", "syslog-tls-key", "syslog-tls-skip-verify", "syslog-format"); err != nil {
		return err
	}
	if _, _, err := parseAddress(opts["syslog-address"]); err != nil {
		return err
	}
	if _, err := parseFacility(opts["syslog-facility"]); err != nil {
		return err
	}
	_, err := parseFormat(opts["syslog-format"])
	return err
}

// parseAddress reads syslog-address: proto://host[:514] or
// unix[gram]:///path; empty means the host's local syslog socket.
func parseAddress(address string) (string, string, error) {
	if address == "" {
		return "", "", nil
	}
	u, err := url.Parse(address)
	if err != nil {
		return "", "", err
	}
	switch u.Scheme {
	case "unix", "unixgram":
		if _, err := os.Stat(u.Path); err != nil {
			return "", "", err
		}
		return u.Scheme, u.Path, nil
	case "udp", "tcp", secureProto:
	default:
		return "", "", fmt.Errorf("unsupported scheme: '%s'", u.Scheme)
	}
	host := u.Host
	if _, _, err := net.SplitHostPort(host); err != nil {
		if !strings.Contains(err.Error(), "missing port in address") {
			return "", "", err
		}
		host = net.JoinHostPort(host, "514")
	}
	return u.Scheme, host, nil
}

// syslogger writes one container's lines to one receiver.
type syslogger struct {
	proto, addr string
	tlsConfig   *tls.Config
	format      formatter
	// octetCount frames each message by its length (RFC 5425), for
	// rfc5424 over TLS, as dockerd does.
	octetCount bool
	facility   int
	tag        string
	hostname   string

	conn logger.Conn

	mu  sync.Mutex
	buf []byte
}

// New connects to the receiver the options name.
func New(info logger.Info) (logger.Logger, error) {
	tag, err := logger.Tag(&info)
	if err != nil {
		return nil, err
	}
	proto, addr, err := parseAddress(info.Config["syslog-address"])
	if err != nil {
		return nil, err
	}
	facility, err := parseFacility(info.Config["syslog-facility"])
	if err != nil {
		return nil, err
	}
	format, err := parseFormat(info.Config["syslog-format"])
	if err != nil {
		return nil, err
	}
	hostname, _ := os.Hostname()
	s := &syslogger{proto: proto, addr: addr, format: format, facility: facility, tag: tag, hostname: hostname}
	if proto == secureProto {
		if s.tlsConfig, err = tlsConfig(info.Config); err != nil {
			return nil, err
		}
		s.octetCount = strings.HasPrefix(info.Config["syslog-format"], "rfc5424")
	}
	s.conn.Dial = s.dial
	if err := s.conn.Connect(); err != nil {
		return nil, err
	}
	return s, nil
}

// tlsConfig is the client side of tcp+tls from the syslog-tls-* options.
func tlsConfig(opts map[string]string) (*tls.Config, error) {
	_, skip := opts["syslog-tls-skip-verify"]
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: skip}
	if ca := opts["syslog-tls-ca-cert"]; ca != "" {
		pem, err := os.ReadFile(ca)
		if err != nil {
			return nil, fmt.Errorf("could not read CA certificate %q: %v", ca, err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("failed to append certificates from PEM file: %q", ca)
		}
		cfg.RootCAs = pool
	}
	if cert, key := opts["syslog-tls-cert"], opts["syslog-tls-key"]; cert != "" || key != "" {
		pair, err := tls.LoadX509KeyPair(cert, key)
		if err != nil {
			return nil, fmt.Errorf("Could not load X509 key pair: %v. Make sure the key is not encrypted", err)
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	return cfg, nil
}

// localSockets are where a host's syslog daemon listens, in the order
// the Go and srslog clients try them.
var localSockets = []string{"/dev/log", "/var/run/syslog", "/var/run/log"}

func (s *syslogger) dial() (net.Conn, error) {
	const timeout = 10 * time.Second
	switch s.proto {
	case "":
		for _, path := range localSockets {
			for _, p := range []string{"unixgram", "unix"} {
				if c, err := net.DialTimeout(p, path, timeout); err == nil {
					return c, nil
				}
			}
		}
		return nil, errors.New("Unix syslog delivery error")
	case secureProto:
		return tls.DialWithDialer(&net.Dialer{Timeout: timeout}, "tcp", s.addr, s.tlsConfig)
	}
	return net.DialTimeout(s.proto, s.addr, timeout)
}

// Log sends one line; an empty line is not sent, as dockerd skips it. A
// write that fails is tried once more on a new connection, as dockerd's
// client does.
func (s *syslogger) Log(m *logger.Message) error {
	if len(m.Line) == 0 {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	h := header{priority: s.facility<<3 | logger.Severity(m.Source), time: m.Time.Local(), hostname: s.hostname, tag: s.tag, pid: os.Getpid()}
	// Every message ends with a newline, also inside a datagram or an
	// octet-counted frame, as dockerd's client writes it.
	msg := append(s.format(nil, h, m.Line), '\n')
	s.buf = s.buf[:0]
	if s.octetCount {
		s.buf = fmt.Appendf(s.buf, "%d ", len(msg))
	}
	s.buf = append(s.buf, msg...)
	return s.conn.Write(s.buf, 1, nil)
}

func (s *syslogger) Close() error {
	return s.conn.Close()
}
