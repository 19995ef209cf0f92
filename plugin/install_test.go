package plugin

import (
	"archive/tar"
	"bytes"
	"io"
	"testing"
)

func TestSplitContext(t *testing.T) {
	var in bytes.Buffer
	tw := tar.NewWriter(&in)
	add := func(name string, typ byte, body, link string) {
		tw.WriteHeader(&tar.Header{Name: name, Typeflag: typ, Size: int64(len(body)), Mode: 0o644, Linkname: link})
		tw.Write([]byte(body))
	}
	add("config.json", tar.TypeReg, `{"Description":"d"}`, "")
	add("rootfs/", tar.TypeDir, "", "")
	add("rootfs/bin/tool", tar.TypeReg, "#!", "")
	add("./rootfs/bin/alias", tar.TypeLink, "", "rootfs/bin/tool")
	add("README", tar.TypeReg, "not in the rootfs", "")
	add("../rootfs/etc", tar.TypeDir, "", "")
	tw.Close()

	var out bytes.Buffer
	var cfg []byte
	if err := splitContext(&in, &out, &cfg); err != nil {
		t.Fatal(err)
	}
	if string(cfg) != `{"Description":"d"}` {
		t.Fatalf("config %q", cfg)
	}
	tr := tar.NewReader(&out)
	var got []string
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		s := h.Name
		if h.Linkname != "" {
			s += "->" + h.Linkname
		}
		got = append(got, s)
	}
	want := []string{"bin/tool", "bin/alias->bin/tool", "etc"}
	if len(got) != len(want) {
		t.Fatalf("entries %q; want %q", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("entries %q; want %q", got, want)
		}
	}
}
