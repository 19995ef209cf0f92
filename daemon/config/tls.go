package config

// APITLS says how the API is served on TCP, decided as dockerd (20.10 and
// later) decides it: naming tlsverify at all, true or false, turns TLS on,
// and tls without tlsverify verifies clients' certificates. TLS that
// lets any client in must be asked for by name (--tlsverify=false).
func (c *Config) APITLS() (useTLS, verify bool) {
	if c.TLSVerify != nil {
		return true, *c.TLSVerify
	}
	if c.TLS != nil && *c.TLS {
		return true, true
	}
	return false, false
}
