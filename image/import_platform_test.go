package image

import (
	"archive/tar"
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/berthd/berth/pkg/errdefs"
)

// An import's platform is read as dockerd reads it: containerd's parse
// errors, then "operating system is not supported" for another OS; an
// architecture alone means linux.
func TestImportPlatform(t *testing.T) {
	s := New(t.TempDir())
	emptyTar := func() *bytes.Buffer {
		var b bytes.Buffer
		tar.NewWriter(&b).Close()
		return &b
	}
	for _, tc := range []struct{ platform, err string }{
		{"       ", "is an invalid OS component"},
		{"macos", "operating system is not supported"},
		{"macos/arm64", "operating system is not supported"},
		{"windows/amd64", "operating system is not supported"},
		{"nintendo64", "unknown operating system or architecture"},
	} {
		_, err := s.Import(context.Background(), emptyTar(), ImportOptions{Platform: tc.platform})
		if err == nil || !errdefs.Is(err, errdefs.InvalidParameter) || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("platform %q: %v, want an invalid parameter with %q", tc.platform, err, tc.err)
		}
	}
	for _, p := range []string{"linux/arm64", "arm64"} {
		id, err := s.Import(context.Background(), emptyTar(), ImportOptions{Platform: p})
		if err != nil {
			t.Fatalf("platform %q: %v", p, err)
		}
		img, err := s.Get(id.String())
		if err != nil || img.Config.OS != "linux" || img.Config.Architecture != "arm64" {
			t.Errorf("platform %q: %+v %v", p, img, err)
		}
	}
}
