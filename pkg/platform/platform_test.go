package platform

import "testing"

func TestCheck(t *testing.T) {
	for _, ok := range []string{"", "linux", "linux/amd64", "linux/arm/v7", "windows/amd64", "arm64", "Linux/x86_64"} {
		if err := Check(ok); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	for _, bad := range []string{"foobar", "linux/foobar", "foo/amd64", "linux//v7", "linux/amd64/v1/x", "/"} {
		err := Check(bad)
		if err == nil || err.Error() != `"`+bad+`": unknown operating system or architecture: invalid argument` {
			t.Errorf("%q: %v", bad, err)
		}
	}
}
