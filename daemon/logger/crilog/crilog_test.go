package crilog

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/berthd/berth/daemon/logger"
)

func readLines(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
}

func TestLineFormat(t *testing.T) {
	path := filepath.Join(t.TempDir(), "pod", "c", "0.log")
	w, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	ts := time.Date(2026, 12, 7, 21, 0, 0, 123456789, time.FixedZone("x", 3600))
	w.Log(&logger.Message{Line: []byte("hello world"), Source: "stdout", Time: ts})
	w.Log(&logger.Message{Line: []byte("first piece"), Source: "stderr", Time: ts, Partial: &logger.Partial{ID: "a", Ordinal: 1}})
	w.Log(&logger.Message{Line: []byte("last piece"), Source: "stderr", Time: ts, Partial: &logger.Partial{ID: "a", Ordinal: 2, Last: true}})
	w.Log(&logger.Message{Line: nil, Source: "stdout", Time: ts})
	want := []string{
		"2026-12-07T20:00:00.123456789Z stdout F hello world",
		"2026-12-07T20:00:00.123456789Z stderr P first piece",
		"2026-12-07T20:00:00.123456789Z stderr F last piece",
		"2026-12-07T20:00:00.123456789Z stdout F ",
	}
	got := readLines(t, path)
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestLongLineIsSplitAt16KiB(t *testing.T) {
	path := filepath.Join(t.TempDir(), "0.log")
	w, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	long := strings.Repeat("x", 2*MaxLine+5)
	w.Log(&logger.Message{Line: []byte(long), Source: "stdout", Time: time.Unix(0, 0)})
	got := readLines(t, path)
	if len(got) != 3 {
		t.Fatalf("%d lines, want 3", len(got))
	}
	for i, tag := range []string{"P", "P", "F"} {
		f := strings.SplitN(got[i], " ", 4)
		if f[2] != tag {
			t.Fatalf("line %d tagged %s, want %s", i, f[2], tag)
		}
		if want := min(MaxLine, len(long)-i*MaxLine); len(f[3]) != want {
			t.Fatalf("line %d has %d bytes, want %d", i, len(f[3]), want)
		}
	}
}

func TestReopenAfterRotation(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "0.log")
	l, err := New(logger.Info{ContainerID: "c1", Config: map[string]string{OptPath: path}})
	if err != nil {
		t.Fatal(err)
	}
	l.Log(&logger.Message{Line: []byte("before"), Source: "stdout", Time: time.Unix(0, 0)})
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	if err := Reopen("c1"); err != nil {
		t.Fatal(err)
	}
	l.Log(&logger.Message{Line: []byte("after"), Source: "stdout", Time: time.Unix(0, 0)})
	if got := readLines(t, path); len(got) != 1 || !strings.HasSuffix(got[0], " F after") {
		t.Fatalf("new file: %q", got)
	}
	if got := readLines(t, path+".1"); len(got) != 1 || !strings.HasSuffix(got[0], " F before") {
		t.Fatalf("rotated file: %q", got)
	}
	l.Close()
	if err := Reopen("c1"); err != ErrNotOpen {
		t.Fatalf("Reopen after Close: %v, want ErrNotOpen", err)
	}
}

func TestValidate(t *testing.T) {
	if err := Validate(map[string]string{OptPath: "/var/log/pods/x/0.log", "tag": "t"}); err != nil {
		t.Fatal(err)
	}
	for _, opts := range []map[string]string{{}, {OptPath: "rel/0.log"}, {OptPath: "/a", "bogus": "1"}} {
		if Validate(opts) == nil {
			t.Fatalf("%v accepted", opts)
		}
	}
}
