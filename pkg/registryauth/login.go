package registryauth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/berthd/berth/pkg/errdefs"
)

// DefaultRegistry is where logins without a server address go.
const DefaultRegistry = "registry-1.docker.io"

// Credentials are what the client sent to POST /auth.
type Credentials struct {
	Username, Password, ServerAddress, IdentityToken string
}

// Options control transport security.
type Options struct {
	// Insecure lists registries (host[:port] or CIDR) to reach over plain
	// HTTP or with unverified TLS. Loopback registries are always insecure,
	// as in dockerd.
	Insecure []string
	Client   *http.Client
}

// Host normalises a server address: "", "docker.io" and the index URL mean
// Docker Hub; schemes and paths are dropped.
func Host(addr string) string {
	a := strings.TrimSpace(addr)
	a = strings.TrimPrefix(strings.TrimPrefix(a, "https://"), "http://")
	a, _, _ = strings.Cut(a, "/")
	switch a {
	case "", "docker.io", "index.docker.io", "registry-1.docker.io":
		return DefaultRegistry
	}
	return a
}

// IsInsecure reports whether host (host[:port]) may be reached over plain
// HTTP or unverified TLS: loopback always (as in dockerd), and whatever the
// insecure list names by host, host:port or CIDR.
func IsInsecure(host string, insecure []string) bool {
	h := host
	if hh, _, err := net.SplitHostPort(host); err == nil {
		h = hh
	}
	if h == "localhost" {
		return true
	}
	ip := net.ParseIP(h)
	if ip != nil && ip.IsLoopback() {
		return true
	}
	for _, entry := range insecure {
		if entry == host || entry == h {
			return true
		}
		if _, cidr, err := net.ParseCIDR(entry); err == nil && ip != nil && cidr.Contains(ip) {
			return true
		}
	}
	return false
}

// Login verifies the credentials and returns an identity token when the
// token service handed out a refresh token.
func Login(ctx context.Context, c Credentials, o Options) (identityToken string, err error) {
	host := Host(c.ServerAddress)
	client := o.Client
	if client == nil {
		client = &http.Client{Timeout: 30 * time.Second}
	}
	schemes := []string{"https"}
	if IsInsecure(host, o.Insecure) {
		schemes = append(schemes, "http")
	}
	var lastErr error
	for _, scheme := range schemes {
		endpoint := scheme + "://" + host + "/v2/"
		token, err := LoginAt(ctx, client, endpoint, c)
		if err == nil {
			return token, nil
		}
		lastErr = err
		var denied deniedError
		if errors.As(err, &denied) {
			break
		}
	}
	return "", lastErr
}

type deniedError struct{ error }

func (deniedError) Unauthorized() {}

// IsDenied reports whether err is the registry refusing the credentials
// (as opposed to the registry being unreachable), after which trying
// another endpoint of the same registry is pointless.
func IsDenied(err error) bool {
	var d deniedError
	return errors.As(err, &d)
}

// LoginAt checks the credentials against one /v2/ endpoint URL with the
// given client (which carries the endpoint's TLS settings).
func LoginAt(ctx context.Context, client *http.Client, endpoint string, c Credentials) (string, error) {
	client = KeepCredentialsHome(client)
	resp, err := get(ctx, client, endpoint, nil)
	if err != nil {
		return "", errdefs.Unavailable(fmt.Errorf("Get %q: %w", endpoint, err))
	}
	resp.Body.Close()
	if resp.StatusCode == http.StatusOK {
		return "", nil
	}
	if resp.StatusCode != http.StatusUnauthorized {
		return "", errdefs.Unavailable(fmt.Errorf("login attempt to %s failed with status: %d %s", endpoint, resp.StatusCode, http.StatusText(resp.StatusCode)))
	}
	base, err := url.Parse(endpoint)
	if err != nil {
		return "", errdefs.InvalidParameter(err)
	}
	if !SameOrigin(resp.Request.URL, base) {
		// The challenge came from where a redirect led (another host,
		// or https to http), not from the registry: as dockerd, which
		// keeps challenges per origin, it is not answered with the
		// credentials.
		return "", deniedError{fmt.Errorf("login attempt to %s failed with status: %d %s", endpoint, resp.StatusCode, http.StatusText(resp.StatusCode))}
	}
	scheme, params := ParseChallenge(resp.Header.Get("WWW-Authenticate"))
	switch strings.ToLower(scheme) {
	case "basic":
		resp, err := get(ctx, client, endpoint, func(r *http.Request) { r.SetBasicAuth(c.Username, c.Password) })
		if err != nil {
			return "", errdefs.Unavailable(err)
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			return "", nil
		}
		return "", deniedError{fmt.Errorf("login attempt to %s failed with status: %d %s", endpoint, resp.StatusCode, http.StatusText(resp.StatusCode))}
	case "bearer":
		return bearerLogin(ctx, client, base, params, c)
	}
	return "", errdefs.Unavailable(fmt.Errorf("login attempt to %s: unsupported authentication challenge %q", endpoint, scheme))
}

func get(ctx context.Context, client *http.Client, u string, decorate func(*http.Request)) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	if decorate != nil {
		decorate(req)
	}
	return client.Do(req)
}

func bearerLogin(ctx context.Context, client *http.Client, registry *url.URL, params map[string]string, c Credentials) (string, error) {
	tok, err := FetchToken(ctx, client, registry, params, c, nil)
	if err != nil {
		return "", err
	}
	return tok.RefreshToken, nil
}

// Token is a token service's answer.
type Token struct {
	Token        string `json:"token"`
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	ExpiresIn    int    `json:"expires_in"`
}

// Bearer is the token to send: token services may fill either field.
func (t Token) Bearer() string {
	if t.Token != "" {
		return t.Token
	}
	return t.AccessToken
}

// FetchToken asks the token service named by a bearer challenge for a
// token covering scopes (e.g. "repository:library/busybox:pull"), with the
// credentials when there are any and anonymously otherwise. registry is
// the registry's own endpoint, never where a redirect led: the
// credentials go to the realm only if checkRealm allows it.
func FetchToken(ctx context.Context, client *http.Client, registry *url.URL, params map[string]string, c Credentials, scopes []string) (Token, error) {
	realm := params["realm"]
	if realm == "" {
		return Token{}, errdefs.Unavailable(errors.New("bearer challenge without realm"))
	}
	u, err := url.Parse(realm)
	if err != nil {
		return Token{}, errdefs.Unavailable(fmt.Errorf("invalid token realm %q: %w", realm, err))
	}
	if u.Scheme != "https" && u.Scheme != "http" {
		return Token{}, errdefs.Unavailable(fmt.Errorf("invalid token realm %q: not an http(s) URL", realm))
	}
	withCreds := c.IdentityToken != "" || c.Username != "" || c.Password != ""
	if withCreds {
		if err := checkRealm(registry, u); err != nil {
			return Token{}, errdefs.Forbidden(err)
		}
	}
	q := u.Query()
	if s := params["service"]; s != "" {
		q.Set("service", s)
	}
	for _, sc := range scopes {
		q.Add("scope", sc)
	}
	q.Set("client_id", "berth")
	if c.Username != "" {
		q.Set("account", c.Username)
		q.Set("offline_token", "true")
	}
	u.RawQuery = q.Encode()
	resp, err := get(ctx, KeepCredentialsHome(client), u.String(), func(r *http.Request) {
		if c.IdentityToken != "" {
			r.Header.Set("Authorization", "Bearer "+c.IdentityToken)
		} else if c.Username != "" || c.Password != "" {
			r.SetBasicAuth(c.Username, c.Password)
		}
	})
	if err != nil {
		return Token{}, errdefs.Unavailable(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden {
		return Token{}, deniedError{errors.New("unauthorized: incorrect username or password")}
	}
	if resp.StatusCode != http.StatusOK {
		return Token{}, errdefs.Unavailable(fmt.Errorf("token request to %s failed with status: %d %s", realm, resp.StatusCode, http.StatusText(resp.StatusCode)))
	}
	var body Token
	// The token server is the registry's to name: bound what is read of
	// its answer: a token is a few KiB, 1 MiB is far beyond any.
	_ = json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&body)
	return body, nil
}

// ParseChallenge splits `Bearer realm="x",service="y"` into scheme and params.
func ParseChallenge(h string) (string, map[string]string) {
	scheme, rest, _ := strings.Cut(strings.TrimSpace(h), " ")
	params := map[string]string{}
	for rest != "" {
		rest = strings.TrimLeft(rest, " ,")
		k, v, ok := strings.Cut(rest, "=")
		if !ok {
			break
		}
		k = strings.ToLower(strings.TrimSpace(k))
		if strings.HasPrefix(v, `"`) {
			end := strings.Index(v[1:], `"`)
			if end < 0 {
				params[k] = v[1:]
				break
			}
			params[k] = v[1 : end+1]
			rest = v[end+2:]
		} else {
			val, r, _ := strings.Cut(v, ",")
			params[k] = strings.TrimSpace(val)
			rest = r
		}
	}
	return scheme, params
}
