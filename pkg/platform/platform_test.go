package platform

import "testing"

func TestCheck(t *testing.T) {
	for _, ok := range []string{"", "linux", "linux/amd64", "linux/arm/v7", "windows/amd64", "arm64", "Linux/x86_64",
		"linuxDifferentOS/amd64", "linux/amd64DifferentArch", "windows(10.0.17763)/amd64"} {
		if err := Check(ok); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	for _, bad := range []string{"foobar", "foo(1)"} {
		if err := Check(bad); err == nil || err.Error() != `"`+bad+`": unknown operating system or architecture: invalid argument` {
			t.Errorf("%q: %v", bad, err)
		}
	}
	for _, bad := range []string{"linux//v7", "linux/amd64/v1/x", "/", "linux/*", "li nux/amd64"} {
		if err := Check(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
