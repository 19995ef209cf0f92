package distribution

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/url"
	"strings"

	"github.com/distribution/reference"

	"github.com/berthd/berth/pkg/errdefs"
	"github.com/berthd/berth/pkg/registryauth"
)

// Auth is what the client sent in X-Registry-Auth (or the body of POST
// /auth).
type Auth struct {
	registryauth.Credentials
	// RegistryToken is a bearer token to use as is.
	RegistryToken string
}

// authJSON is the header's JSON, the docker CLI's AuthConfig.
type authJSON struct {
	Username      string `json:"username,omitempty"`
	Password      string `json:"password,omitempty"`
	Auth          string `json:"auth,omitempty"`
	ServerAddress string `json:"serveraddress,omitempty"`
	IdentityToken string `json:"identitytoken,omitempty"`
	RegistryToken string `json:"registrytoken,omitempty"`
}

// DecodeAuthHeader reads X-Registry-Auth: base64url of the JSON the CLI
// builds (padding optional, standard alphabet tolerated, as dockerd
// does). An empty header is anonymous access.
func DecodeAuthHeader(h string) (Auth, error) {
	h = strings.TrimSpace(h)
	if h == "" {
		return Auth{}, nil
	}
	var raw []byte
	var err error
	for _, enc := range []*base64.Encoding{base64.URLEncoding, base64.RawURLEncoding, base64.StdEncoding, base64.RawStdEncoding} {
		if raw, err = enc.DecodeString(h); err == nil {
			break
		}
	}
	if err != nil {
		return Auth{}, errdefs.InvalidParameterf("invalid X-Registry-Auth header: %v", err)
	}
	var a authJSON
	if err := json.Unmarshal(raw, &a); err != nil {
		return Auth{}, errdefs.InvalidParameterf("invalid X-Registry-Auth header: %v", err)
	}
	return FromAuthConfig(a.Username, a.Password, a.Auth, a.ServerAddress, a.IdentityToken, a.RegistryToken)
}

// FromAuthConfig builds credentials from an AuthConfig's fields; "auth"
// is base64 "user:password" and fills in what the other fields lack.
func FromAuthConfig(user, password, auth, server, identity, registryToken string) (Auth, error) {
	a := Auth{Credentials: registryauth.Credentials{Username: user, Password: password, ServerAddress: server, IdentityToken: identity}, RegistryToken: registryToken}
	if auth != "" && a.Username == "" && a.Password == "" {
		b, err := base64.StdEncoding.DecodeString(auth)
		if err != nil {
			return Auth{}, errdefs.InvalidParameterf("invalid auth configuration: %v", err)
		}
		u, p, ok := strings.Cut(string(b), ":")
		if !ok {
			return Auth{}, errdefs.InvalidParameter(errors.New("invalid auth configuration: auth is not user:password"))
		}
		a.Username, a.Password = u, p
	}
	// An identity token stands in for the password with token services.
	if a.IdentityToken != "" && a.Password == "" {
		a.Password = a.IdentityToken
	}
	return a, nil
}

// Login checks credentials against a registry, over each of its
// endpoints in turn (https, then http for insecure ones), with the TLS
// settings of certs.d. It returns an identity token when the registry's
// token service issued one.
func (s *Service) Login(ctx context.Context, a Auth) (string, error) {
	host := registryauth.Host(a.ServerAddress)
	named, err := reference.ParseNormalizedNamed(host + "/x")
	if err != nil || host == registryauth.DefaultRegistry {
		named, _ = reference.ParseNormalizedNamed("library/x")
	}
	eps, err := s.endpoints(named)
	if err != nil {
		return "", err
	}
	var firstErr error
	for _, ep := range eps {
		if ep.mirror {
			continue
		}
		u := *ep.base
		u.Path = ep.apiRoot() + "/"
		tok, err := registryauth.LoginAt(ctx, ep.client, u.String(), a.Credentials)
		if err == nil {
			return tok, nil
		}
		if registryauth.IsDenied(err) {
			return "", err
		}
		if firstErr == nil || tlsToPlain(firstErr) {
			firstErr = err
		}
	}
	return "", firstErr
}

// tlsToPlain reports the error of speaking TLS to a plain-HTTP server,
// which is not worth reporting when the http endpoint was tried after it.
func tlsToPlain(err error) bool {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return err != nil && strings.Contains(err.Error(), "server gave HTTP response to HTTPS client")
}
