package daemon

import (
	"testing"

	"github.com/berthd/berth/image"
	"github.com/berthd/berth/pkg/errdefs"
)

func TestMatchPlatform(t *testing.T) {
	c, err := image.ParseConfig([]byte(`{"os":"linux","architecture":"amd64","rootfs":{"type":"layers","diff_ids":[]}}`))
	if err != nil {
		t.Fatal(err)
	}
	img := &image.Image{Config: c}
	for want, ok := range map[string]bool{"linux": true, "linux/amd64": true, "Linux/x86_64": true, "linux/amd64/v2": true,
		"linuxDifferentOS/amd64": false, "linux/arm64": false, "windows/amd64": false} {
		err := matchPlatform("busybox:latest", img, want)
		if (err == nil) != ok {
			t.Errorf("%s: %v", want, err)
		}
		if err != nil && (!errdefs.Is(err, errdefs.NotFound) || err.Error() != "image with reference busybox:latest was found but does not match the specified platform: wanted "+want+", actual: linux/amd64") {
			t.Errorf("%s: %v", want, err)
		}
	}
}
