package config

import "testing"

// TestMaskProxyCredentials: docker info and the daemon's log show that a
// proxy is used, never its password.
func TestMaskProxyCredentials(t *testing.T) {
	for in, want := range map[string]string{
		"http://user:secret@proxy.example:3128": "http://xxxxx:xxxxx@proxy.example:3128",
		"http://user@proxy.example:3128":        "http://xxxxx:xxxxx@proxy.example:3128",
		"http://proxy.example:3128":             "http://proxy.example:3128",
		"":                                      "",
		"not a url %zz":                         "not a url %zz",
	} {
		if got := MaskProxyCredentials(in); got != want {
			t.Errorf("MaskProxyCredentials(%q) = %q, want %q", in, got, want)
		}
	}
}
