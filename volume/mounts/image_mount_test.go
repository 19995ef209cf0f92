package mounts

import (
	"strings"
	"testing"

	"github.com/moby/moby/api/types/mount"
)

// An image mount is read-only whatever the request says, and its
// image-subpath must stay inside the image, with dockerd's message.
func TestParseImageMount(t *testing.T) {
	mp, err := ParseMountSpec(mount.Mount{Type: mount.TypeImage, Source: "busybox", Target: "/img", ImageOptions: &mount.ImageOptions{Subpath: "a/b"}})
	if err != nil {
		t.Fatal(err)
	}
	if mp.RW || mp.Subpath() != "a/b" || mp.Source != "busybox" {
		t.Fatalf("parsed %+v (subpath %q)", mp, mp.Subpath())
	}
	for _, sub := range []string{"../../etc/passwd", "/abs"} {
		_, err := ParseMountSpec(mount.Mount{Type: mount.TypeImage, Source: "busybox", Target: "/img", ImageOptions: &mount.ImageOptions{Subpath: sub}})
		if err == nil || !strings.Contains(err.Error(), `invalid mount config for type "image": subpath must be a relative path within the volume`) {
			t.Errorf("subpath %q: %v", sub, err)
		}
	}
}
