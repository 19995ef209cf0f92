package listeners

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/coreos/go-systemd/v22/activation"
	"github.com/sirupsen/logrus"
)

// Options is how the operator asked for the API to be exposed.
type Options struct {
	// Group owns unix sockets. GroupExplicit says the operator named it:
	// then a missing group is an error rather than a fall back to root.
	Group         string
	GroupExplicit bool
	// TLS is non-nil when TLS is on (--tls or --tlsverify).
	TLS *tls.Config
	// InsecureTCP is true only when the operator passed --tls=false.
	InsecureTCP bool
}

// InsecureTCPWarnings are dockerd's warnings, word for word, for a TCP
// listener that does not verify clients' certificates (no TLS, or
// --tlsverify=false): whoever reaches it is root on this host.
var InsecureTCPWarnings = []string{
	"Binding to IP address without --tlsverify is insecure and gives root access on this machine to everyone who has access to your network.",
	"Binding to an IP address, even on localhost, can also give access to scripts run in a browser. Be safe out there!",
	"[DEPRECATION NOTICE] In future versions this will be a hard failure preventing the daemon from starting! Learn more at: https://docs.docker.com/go/api-security/",
}

// insecureTCPDelay is the pause after those warnings, as dockerd makes
// it: a start that is a second slower gets the log read.
var insecureTCPDelay = time.Second

// TLSFiles are the PEM files for the server's TLS config.
type TLSFiles struct {
	CA, Cert, Key string
	Verify        bool
}

// ServerTLS builds the server TLS config. With Verify, clients must present
// a certificate signed by the CA, and are refused at the handshake if not.
func ServerTLS(f TLSFiles) (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(f.Cert, f.Key)
	if err != nil {
		return nil, fmt.Errorf("could not load X509 key pair (cert: %q, key: %q): %w", f.Cert, f.Key, err)
	}
	cfg := &tls.Config{
		MinVersion:   tls.VersionTLS12,
		Certificates: []tls.Certificate{cert},
		ClientAuth:   tls.NoClientCert,
	}
	if f.Verify {
		pem, err := os.ReadFile(f.CA)
		if err != nil {
			return nil, fmt.Errorf("could not read CA certificate %q: %w", f.CA, err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("failed to append certificates from PEM file: %q", f.CA)
		}
		cfg.ClientCAs = pool
		cfg.ClientAuth = tls.RequireAndVerifyClientCert
	}
	return cfg, nil
}

// ParseHost splits "unix:///path", "tcp://host:port" or "fd://[N]" into a
// protocol and address. A bare path is a unix socket, "host:port" is TCP.
func ParseHost(h string) (proto, addr string, err error) {
	h = strings.TrimSpace(h)
	if h == "" {
		return "", "", errors.New("empty host")
	}
	proto, addr, ok := strings.Cut(h, "://")
	if !ok {
		if strings.HasPrefix(h, "/") {
			return "unix", h, nil
		}
		return "tcp", h, nil
	}
	switch proto {
	case "unix":
		if addr == "" {
			return "", "", fmt.Errorf("invalid bind address format: %s", h)
		}
	case "tcp":
		if _, _, err := net.SplitHostPort(addr); err != nil {
			return "", "", fmt.Errorf("invalid bind address format: %s", h)
		}
	case "fd":
	default:
		return "", "", fmt.Errorf("invalid bind address (%s): unsupported proto '%s'", h, proto)
	}
	return proto, addr, nil
}

// Open opens the listener(s) for one -H value.
func Open(host string, o Options) ([]net.Listener, error) {
	proto, addr, err := ParseHost(host)
	if err != nil {
		return nil, err
	}
	switch proto {
	case "unix":
		l, err := openUnix(addr, o)
		if err != nil {
			return nil, err
		}
		return []net.Listener{l}, nil
	case "tcp":
		if o.TLS == nil && !o.InsecureTCP {
			return nil, fmt.Errorf("API is accessible on http://%s without encryption: access to the remote API is equivalent to root access on the host; "+
				"use --tlsverify with --tlscacert, --tlscert and --tlskey, or pass --tls=false to allow it explicitly", addr)
		}
		if o.TLS == nil || o.TLS.ClientAuth != tls.RequireAndVerifyClientCert {
			for _, w := range InsecureTCPWarnings {
				logrus.WithField("host", "tcp://"+addr).Warn(w)
			}
			time.Sleep(insecureTCPDelay)
		}
		l, err := net.Listen("tcp", addr)
		if err != nil {
			return nil, err
		}
		if o.TLS != nil {
			l = tls.NewListener(l, o.TLS)
		}
		return []net.Listener{l}, nil
	case "fd":
		return openFD(addr, o)
	}
	return nil, fmt.Errorf("unsupported protocol %s", proto)
}

func socketGID(o Options) (int, error) {
	if o.Group == "" {
		return 0, nil
	}
	if gid, err := strconv.Atoi(o.Group); err == nil {
		return gid, nil
	}
	g, err := user.LookupGroup(o.Group)
	if err != nil {
		if !o.GroupExplicit {
			logrus.WithField("group", o.Group).Debug("socket group does not exist; socket is owned by root only")
			return 0, nil
		}
		return 0, fmt.Errorf("can't create unix socket: group %s not found", o.Group)
	}
	return strconv.Atoi(g.Gid)
}

func openUnix(path string, o Options) (net.Listener, error) {
	gid, err := socketGID(o)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, err
	}
	// A socket left by a daemon that was killed is removed; the caller
	// holds the data-root lock, so no live daemon owns it. Anything that
	// is not a socket is left alone and the listen fails.
	if fi, err := os.Lstat(path); err == nil && fi.Mode()&os.ModeSocket != 0 {
		os.Remove(path)
	}
	// Create the socket with no access for others, then open it to the
	// group: no window where the socket is world-reachable.
	old := syscall.Umask(0o777)
	l, err := net.Listen("unix", path)
	syscall.Umask(old)
	if err != nil {
		return nil, err
	}
	if err := os.Chown(path, 0, gid); err != nil {
		l.Close()
		return nil, err
	}
	if err := os.Chmod(path, 0o660); err != nil {
		l.Close()
		return nil, err
	}
	return l, nil
}

// openFD returns the listeners systemd passed (LISTEN_FDS/LISTEN_PID):
// all of them for fd://, or the one with the given descriptor for fd://N.
func openFD(addr string, o Options) ([]net.Listener, error) {
	ls, err := activation.Listeners()
	if err != nil {
		return nil, err
	}
	var live []net.Listener
	for _, l := range ls {
		if l != nil {
			live = append(live, l)
		}
	}
	if len(live) == 0 {
		return nil, errors.New("no sockets found via socket activation: make sure the service was started by systemd")
	}
	wrap := func(l net.Listener) net.Listener {
		if o.TLS != nil {
			if _, isTCP := l.Addr().(*net.TCPAddr); isTCP {
				return tls.NewListener(l, o.TLS)
			}
		}
		return l
	}
	if addr == "" || addr == "*" {
		for i := range live {
			live[i] = wrap(live[i])
		}
		return live, nil
	}
	want, err := strconv.Atoi(addr)
	if err != nil {
		return nil, fmt.Errorf("failed to parse systemd fd address: should be a number: %v", addr)
	}
	// activation numbers descriptors from SD_LISTEN_FDS_START (3).
	idx := want - 3
	if idx < 0 || idx >= len(ls) || ls[idx] == nil {
		return nil, fmt.Errorf("too few socket activated files passed in by systemd")
	}
	for i, l := range ls {
		if i != idx && l != nil {
			l.Close()
		}
	}
	return []net.Listener{wrap(ls[idx])}, nil
}
