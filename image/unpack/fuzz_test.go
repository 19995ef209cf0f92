package unpack

import (
	"archive/tar"
	"bytes"
	"context"
	"io"
	"testing"
	"time"

	"github.com/klauspost/compress/gzip"

	"github.com/berthd/berth/pkg/fuzztest"
)

// FuzzApply feeds layer tars (plain or compressed) to Decompress and
// Apply: no panic, and nothing outside the layer directory changes.
func FuzzApply(f *testing.F) {
	sb := fuzztest.New(f, "unpack")
	type e = fuzztest.Entry
	seeds := append(fuzztest.NastyTars("unpack"),
		fuzztest.Tar(e{Name: "etc/", Type: tar.TypeDir, Mode: 0o755}, e{Name: "etc/passwd", Type: tar.TypeReg, Data: "root:x:0:0::/root:/bin/sh\n"},
			e{Name: "bin/", Type: tar.TypeDir, Mode: 0o755}, e{Name: "bin/sh", Type: tar.TypeReg, Mode: 0o755, Data: "#!"},
			e{Name: "bin/ash", Type: tar.TypeLink, Link: "bin/sh"}, e{Name: "usr/bin", Type: tar.TypeSymlink, Link: "../bin"}),
		fuzztest.Tar(e{Name: "a/", Type: tar.TypeDir, Mode: 0o755}, e{Name: "a/.wh..wh..opq", Type: tar.TypeReg}, e{Name: ".wh.b", Type: tar.TypeReg}),
		fuzztest.Tar(e{Name: "sparse", Type: tar.TypeReg, Data: "abc", PAX: map[string]string{"GNU.sparse.major": "1", "GNU.sparse.minor": "0", "GNU.sparse.name": "sparse", "GNU.sparse.realsize": "100000"}}),
		fuzztest.Tar(e{Name: "f", Type: tar.TypeReg, Data: "x", PAX: map[string]string{"SCHILY.xattr.trusted.overlay.opaque": "y"}}),
	)
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(seeds[len(seeds)-4])
	zw.Close()
	seeds = append(seeds, gz.Bytes())
	for _, s := range seeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		defer fuzztest.Watchdog(10 * time.Second)()
		sb.Reset(t)
		rc, _, err := Decompress(bytes.NewReader(data))
		if err == nil {
			// Bound what a small input can expand to, so that one
			// iteration stays fast.
			_, err = Apply(context.Background(), sb.Dest, io.LimitReader(rc, 8<<20), io.Discard)
			rc.Close()
		}
		_ = err // any error is fine; only escapes and panics are not
		sb.Check(t)
	})
}
