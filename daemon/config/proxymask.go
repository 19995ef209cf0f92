package config

import "net/url"

// MaskProxyCredentials hides a proxy URL's user and password, as dockerd
// does wherever it shows one: GET /info is readable by anyone who may use
// the API, and the daemon's log by whoever reads it; a proxy's password is
// theirs to see in neither.
func MaskProxyCredentials(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.User == nil {
		return raw
	}
	u.User = url.UserPassword("xxxxx", "xxxxx")
	return u.String()
}
