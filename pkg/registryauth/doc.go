// Package registryauth checks registry credentials the way `docker login`
// needs: ping the registry's /v2/ endpoint, answer its challenge (basic, or
// bearer through the token service named in WWW-Authenticate) with the
// credentials, and report success or the registry's refusal.
package registryauth
