package atomicfile

import (
	"os"
	"path/filepath"
	"testing"
)

func TestWriteFileReplacesAndLeavesNoTemp(t *testing.T) {
	for name, write := range map[string]func(string, []byte, os.FileMode) error{
		"WriteFile": WriteFile, "WriteFileNoDirSync": WriteFileNoDirSync, "WriteFileVolatile": WriteFileVolatile,
	} {
		t.Run(name, func(t *testing.T) { testReplaces(t, write) })
	}
}

func testReplaces(t *testing.T, write func(string, []byte, os.FileMode) error) {
	dir := t.TempDir()
	p := filepath.Join(dir, "state.json")
	for _, content := range []string{"one", "two"} {
		if err := write(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(p)
		if err != nil || string(got) != content {
			t.Fatalf("read %q, %v; want %q", got, err, content)
		}
	}
	fi, _ := os.Stat(p)
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v, want 0600", fi.Mode().Perm())
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Fatalf("temporary files left behind: %v", entries)
	}
}

func TestWriteFilesReplacesAllAndLeavesNoTemp(t *testing.T) {
	dir := t.TempDir()
	for _, round := range []string{"one", "two"} {
		if err := WriteFiles(dir,
			File{Name: "a.json", Data: []byte("a-" + round), Perm: 0o600},
			File{Name: "b.json", Data: []byte("b-" + round), Perm: 0o644}); err != nil {
			t.Fatal(err)
		}
		for name, want := range map[string]string{"a.json": "a-" + round, "b.json": "b-" + round} {
			got, err := os.ReadFile(filepath.Join(dir, name))
			if err != nil || string(got) != want {
				t.Fatalf("%s: %q %v, want %q", name, got, err, want)
			}
		}
	}
	if fi, _ := os.Stat(filepath.Join(dir, "b.json")); fi.Mode().Perm() != 0o644 {
		t.Errorf("b.json mode %v", fi.Mode().Perm())
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 2 {
		t.Fatalf("temporary files left behind: %v", entries)
	}
	// A batch that cannot be written changes nothing and leaves nothing.
	if err := WriteFiles(filepath.Join(dir, "missing"), File{Name: "c", Data: nil, Perm: 0o600}); err == nil {
		t.Fatal("write into a missing directory succeeded")
	}
}
