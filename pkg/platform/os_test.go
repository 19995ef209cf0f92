package platform

import "testing"

func TestOS(t *testing.T) {
	for in, want := range map[string]string{
		"linux": "linux", "Linux/amd64": "linux", "macos/arm64": "darwin", "windows(10.0)/amd64": "windows",
		"arm64": "", "x86_64": "", "": "",
	} {
		if got := OS(in); got != want {
			t.Errorf("OS(%q) = %q, want %q", in, got, want)
		}
	}
}
