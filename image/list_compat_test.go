package image

import "testing"

func TestReferenceMatchLikeDockerd(t *testing.T) {
	r := mustNamed(t, "utest:latest")
	for pat, want := range map[string]bool{
		"utest": true, "utest*": true, "docker.io/library/utest": true, "docker.io/library/utest:*": true,
		"docker.io/library/utest:latest": true, "other": false, "docker.io/utest/docker": false,
	} {
		if got, err := referenceMatch(pat, r); err != nil || got != want {
			t.Errorf("%q: %v %v, want %v", pat, got, err, want)
		}
	}
	ns := mustNamed(t, "utest/docker:tag")
	if ok, _ := referenceMatch("docker.io/utest/docker", ns); !ok {
		t.Error("canonical namespaced name did not match")
	}
	if _, err := referenceMatch("[", r); err == nil {
		t.Error("bad pattern accepted")
	}
}
