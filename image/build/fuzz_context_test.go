package build

import (
	"archive/tar"
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/berthd/berth/pkg/fuzztest"
)

// FuzzBuildContext feeds build contexts (a tar, compressed or not, or a
// bare Dockerfile) and the dockerfile query parameter to ReadContext, as
// POST /build does: no panic, nothing outside the context directory
// changes, and the Dockerfile it returns is never a file from outside.
func FuzzBuildContext(f *testing.F) {
	sb := fuzztest.New(f, "buildctx")
	type e = fuzztest.Entry
	sent := fuzztest.Base + "/buildctx/sentinel"
	seeds := append(fuzztest.NastyTars("buildctx"),
		fuzztest.Tar(e{Name: "Dockerfile", Type: tar.TypeReg, Data: "FROM busybox\nCOPY . /\n"}, e{Name: ".dockerignore", Type: tar.TypeReg, Data: "*.log\n!keep.log\n**/tmp\n../x\n"},
			e{Name: "a.log", Type: tar.TypeReg}, e{Name: "keep.log", Type: tar.TypeReg}, e{Name: "d/tmp/", Type: tar.TypeDir, Mode: 0o755}, e{Name: "d/tmp/x", Type: tar.TypeReg}),
		fuzztest.Tar(e{Name: "Dockerfile", Type: tar.TypeSymlink, Link: sent + "/file"}),
		fuzztest.Tar(e{Name: "Dockerfile", Type: tar.TypeSymlink, Link: "../sentinel/file"}),
		fuzztest.Tar(e{Name: "Dockerfile", Type: tar.TypeLink, Link: sent + "/file"}),
		fuzztest.Tar(e{Name: "sub", Type: tar.TypeSymlink, Link: sent}, e{Name: "Dockerfile", Type: tar.TypeReg, Data: "FROM x"}),
		fuzztest.Tar(e{Name: ".dockerignore", Type: tar.TypeSymlink, Link: sent + "/dir"}, e{Name: "Dockerfile", Type: tar.TypeReg, Data: "FROM x"}),
		fuzztest.Tar(e{Name: "Dockerfile", Type: tar.TypeFifo, Mode: 0o644}),
		fuzztest.Tar(e{Name: "Dockerfile/", Type: tar.TypeDir, Mode: 0o755}),
		[]byte("FROM busybox\nRUN true\n"), []byte{}, []byte("\x1f\x8b"), []byte("\xfd7zXZ\x00"), []byte("BZh91AY&SY"),
	)
	for _, s := range seeds {
		f.Add(s, "")
	}
	f.Add(fuzztest.Tar(e{Name: "x/Dockerfile.dev", Type: tar.TypeReg, Data: "FROM x"}), "x/Dockerfile.dev")
	f.Add(fuzztest.Tar(e{Name: "Dockerfile", Type: tar.TypeReg, Data: "FROM x"}), "../sentinel/file")
	f.Add(fuzztest.Tar(e{Name: "Dockerfile", Type: tar.TypeReg, Data: "FROM x"}), sent+"/file")
	f.Add(fuzztest.Tar(e{Name: "l", Type: tar.TypeSymlink, Link: "../sentinel"}), "l/file")
	f.Add([]byte("FROM busybox\n"), "../../x")
	f.Fuzz(func(t *testing.T, data []byte, dockerfile string) {
		defer fuzztest.Watchdog(10 * time.Second)()
		sb.Reset(t)
		c, err := ReadContext(context.Background(), sb.Dest, bytes.NewReader(data), "", dockerfile)
		if err == nil {
			if fuzztest.Leaked(c.Dockerfile) && !fuzztest.Leaked(data) {
				t.Fatalf("the Dockerfile read is a file outside the context: %q", c.Dockerfile)
			}
			c.Close()
		}
		sb.Check(t)
	})
}
