package systemd

import "testing"

func TestExpandSlice(t *testing.T) {
	for in, want := range map[string]string{
		"system.slice":                           "/system.slice",
		"-.slice":                                "/",
		"a-b.slice":                              "/a.slice/a-b.slice",
		"kubepods-besteffort-pod1234_5678.slice": "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod1234_5678.slice",
		"kubepods-burstable-podabc.slice":        "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-podabc.slice",
	} {
		if got, err := ExpandSlice(in); err != nil || got != want {
			t.Errorf("%s: %q %v, want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"", ".slice", "system", "a--b.slice", "-a.slice", "a-.slice", "/a.slice", "a/b.slice", "x.scope"} {
		if got, err := ExpandSlice(bad); err == nil {
			t.Errorf("%q: %q, want an error", bad, got)
		}
	}
	if got := ScopeName("abc"); got != "docker-abc.scope" {
		t.Errorf("ScopeName: %s", got)
	}
}
