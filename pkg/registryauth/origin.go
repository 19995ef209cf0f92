package registryauth

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
)

// SameOrigin reports whether a and b are the same scheme, host and port
// (a missing port is the scheme's default). Credentials for one origin
// never go to another: not to another port of the same host, not to a
// subdomain, not over plain HTTP to the same host.
func SameOrigin(a, b *url.URL) bool {
	return strings.EqualFold(a.Scheme, b.Scheme) && strings.EqualFold(hostPort(a), hostPort(b))
}

func hostPort(u *url.URL) string {
	port := u.Port()
	if port == "" {
		switch strings.ToLower(u.Scheme) {
		case "https":
			port = "443"
		case "http":
			port = "80"
		}
	}
	return net.JoinHostPort(u.Hostname(), port)
}

// KeepCredentialsHome returns a copy of c whose redirects drop the
// Authorization header when they leave the origin of the first request.
// Go's own rule keeps it for another port, for a subdomain and for a
// downgrade to http, so a registry's 307 to a blob store on
// cdn.registry.example or on :8443 would otherwise carry its credentials.
func KeepCredentialsHome(c *http.Client) *http.Client {
	cc := *c
	next := c.CheckRedirect
	cc.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if len(via) > 0 && !SameOrigin(req.URL, via[0].URL) {
			req.Header.Del("Authorization")
		}
		if next != nil {
			return next(req, via)
		}
		if len(via) >= 10 {
			return errors.New("stopped after 10 redirects")
		}
		return nil
	}
	return &cc
}

// checkRealm decides whether a token realm may receive the registry's
// credentials: when it is the registry itself, or when the registry named
// it over https and it is https too. A realm on another host that a
// plain-HTTP answer named, or that is itself plain HTTP, could be anyone's
// (a man in the middle's, or a registry pointing users' passwords at a
// host it watches), so it gets nothing.
func checkRealm(registry, realm *url.URL) error {
	if SameOrigin(registry, realm) {
		return nil
	}
	if strings.EqualFold(registry.Scheme, "https") && strings.EqualFold(realm.Scheme, "https") {
		return nil
	}
	return fmt.Errorf("credentials for %s not sent to token realm %s: a realm on another host must be https and named over https", registry.Host, realm.Redacted())
}
