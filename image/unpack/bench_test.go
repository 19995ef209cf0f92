package unpack

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"testing"
	"time"
)

// benchLayer is a layer shaped like a distribution's root: many small
// files in a few hundred directories, some symlinks and hard links, and
// a few big files.
func benchLayer(b *testing.B) []byte {
	b.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	mt := time.Unix(1700000000, 0)
	small := bytes.Repeat([]byte("s"), 3000)
	big := bytes.Repeat([]byte("b"), 8<<20)
	write := func(h *tar.Header, data []byte) {
		h.ModTime, h.Uid, h.Gid = mt, 0, 0
		if h.Mode == 0 {
			h.Mode = 0o644
		}
		h.Size = int64(len(data))
		if err := tw.WriteHeader(h); err != nil {
			b.Fatal(err)
		}
		tw.Write(data)
	}
	write(&tar.Header{Name: "./", Typeflag: tar.TypeDir, Mode: 0o755}, nil)
	for d := 0; d < 200; d++ {
		dir := fmt.Sprintf("usr/lib/pkg%03d/", d)
		if d == 0 {
			write(&tar.Header{Name: "usr/", Typeflag: tar.TypeDir, Mode: 0o755}, nil)
			write(&tar.Header{Name: "usr/lib/", Typeflag: tar.TypeDir, Mode: 0o755}, nil)
		}
		write(&tar.Header{Name: dir, Typeflag: tar.TypeDir, Mode: 0o755}, nil)
		for f := 0; f < 40; f++ {
			write(&tar.Header{Name: fmt.Sprintf("%sfile%02d.so", dir, f), Typeflag: tar.TypeReg, Mode: 0o755}, small)
		}
		write(&tar.Header{Name: dir + "link", Typeflag: tar.TypeSymlink, Linkname: "file00.so"}, nil)
		write(&tar.Header{Name: dir + "hard", Typeflag: tar.TypeLink, Linkname: dir + "file01.so"}, nil)
	}
	for i := 0; i < 4; i++ {
		write(&tar.Header{Name: fmt.Sprintf("opt/big%d", i), Typeflag: tar.TypeReg}, big)
	}
	tw.Close()
	return buf.Bytes()
}

// BenchmarkApply is the layer part of docker load: measure it before and
// after a change to the extractor.
func BenchmarkApply(b *testing.B) {
	requireRootB(b)
	data := benchLayer(b)
	b.SetBytes(int64(len(data)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		dir := b.TempDir()
		b.StartTimer()
		if _, err := Apply(context.Background(), dir, bytes.NewReader(data), io.Discard); err != nil {
			b.Fatal(err)
		}
	}
}

func requireRootB(b *testing.B) {
	b.Helper()
	if os.Geteuid() != 0 {
		b.Skip("needs root")
	}
}
