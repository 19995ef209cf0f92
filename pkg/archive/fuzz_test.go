package archive

import (
	"archive/tar"
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/berthd/berth/pkg/fuzztest"
)

// FuzzUntar feeds docker cp archives to UntarAt, with each of its options
// and a destination directory below the root as the client names it: no
// panic, and nothing outside the root changes.
func FuzzUntar(f *testing.F) {
	sb := fuzztest.New(f, "archive")
	type e = fuzztest.Entry
	seeds := append(fuzztest.NastyTars("archive"),
		fuzztest.Tar(e{Name: "a/", Type: tar.TypeDir, Mode: 0o755}, e{Name: "a/b", Type: tar.TypeReg, Data: "x", Uid: 1000, Gid: 1000}, e{Name: "c", Type: tar.TypeSymlink, Link: "a/b"}, e{Name: "d", Type: tar.TypeLink, Link: "a/b"}),
		fuzztest.Tar(e{Name: "a", Type: tar.TypeReg, Data: "file"}, e{Name: "a/", Type: tar.TypeDir, Mode: 0o755}),
		fuzztest.Tar(e{Name: "a/", Type: tar.TypeDir, Mode: 0o755}, e{Name: "a", Type: tar.TypeReg, Data: "file"}),
	)
	for _, s := range seeds {
		f.Add(s, "", false, false)
	}
	f.Add(seeds[0], "/", true, true)
	f.Add(seeds[3], "../..", false, true)
	f.Add(seeds[4], "/../sentinel", false, false)
	f.Add(seeds[len(seeds)-3], "a/b/", true, false)
	f.Fuzz(func(t *testing.T, data []byte, dir string, noOverwrite, chown bool) {
		defer fuzztest.Watchdog(10 * time.Second)()
		sb.Reset(t)
		o := UntarOptions{NoOverwriteDirNonDir: noOverwrite}
		if chown {
			o.Chown = &[2]int{1000, 1000}
		}
		// docker cp makes the directory first; so do some inputs' own
		// entries.
		os.MkdirAll(filepath.Join(sb.Dest, "a", "b"), 0o755)
		root, err := os.OpenFile(sb.Dest, unix.O_PATH|unix.O_DIRECTORY, 0)
		if err != nil {
			t.Fatal(err)
		}
		UntarAt(context.Background(), bytes.NewReader(data), root, dir, o)
		root.Close()
		sb.Check(t)
	})
}
