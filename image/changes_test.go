package image

import (
	"slices"
	"testing"

	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
)

// ENV changes expand the config's variables, as dockerd's commit --change.
func TestApplyChangesEnvExpands(t *testing.T) {
	c := &dockerspec.DockerOCIImageConfig{}
	c.Env = []string{"PATH=/bin", "A=x"}
	if err := ApplyChanges(c, []string{"ENV PATH=/usr/bin:$PATH", `ENV B="$A y" C='$A'`, "ENV D ${A}z w"}); err != nil {
		t.Fatal(err)
	}
	want := []string{"PATH=/usr/bin:/bin", "A=x", "B=x y", "C=$A", "D=xz w"}
	if !slices.Equal(c.Env, want) {
		t.Fatalf("env %q, want %q", c.Env, want)
	}
}
