package jsonlog

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

func TestLinesAndFormat(t *testing.T) {
	p := filepath.Join(t.TempDir(), "c.log")
	w, err := Open(p, 0, 1)
	if err != nil {
		t.Fatal(err)
	}
	out := w.Stream("stdout")
	out.Write([]byte("hel"))
	out.Write([]byte("lo\nwor"))
	out.Flush()
	w.Stream("stderr").Write([]byte("oops\n"))
	w.Close()
	b, _ := os.ReadFile(p)
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) != 3 {
		t.Fatalf("%q", b)
	}
	var e map[string]string
	json.Unmarshal([]byte(lines[0]), &e)
	if e["log"] != "hello\n" || e["stream"] != "stdout" || !strings.HasSuffix(e["time"], "Z") {
		t.Fatalf("%v", e)
	}
	json.Unmarshal([]byte(lines[1]), &e)
	if e["log"] != "wor" {
		t.Fatalf("%v", e)
	}
}

func TestRotation(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "c.log")
	w, err := Open(p, 1000, 3)
	if err != nil {
		t.Fatal(err)
	}
	s := w.Stream("stdout")
	for i := 0; i < 100; i++ {
		s.Write([]byte(strings.Repeat("x", 50) + "\n"))
	}
	w.Close()
	names, _ := filepath.Glob(p + "*")
	if len(names) != 3 {
		t.Fatalf("files %v", names)
	}
	for _, n := range names {
		st, _ := os.Stat(n)
		if st.Size() > 1000 {
			t.Errorf("%s is %d bytes", n, st.Size())
		}
		f, _ := os.Open(n)
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if !json.Valid(sc.Bytes()) {
				t.Errorf("bad line in %s", n)
			}
		}
		f.Close()
	}
}

// A writer in another process (a reborn shim) carries on a line that an
// earlier writer began: one entry, not two.
func TestResumePendingLine(t *testing.T) {
	p := filepath.Join(t.TempDir(), "c.log")
	w, err := Open(p, 0, 1)
	if err != nil {
		t.Fatal(err)
	}
	first := w.Stream("stdout")
	first.Write([]byte("one\nhal"))
	pending := append([]byte(nil), first.Pending()...)
	w.Close()
	if string(pending) != "hal" {
		t.Fatalf("pending %q", pending)
	}
	w, err = Open(p, 0, 1)
	if err != nil {
		t.Fatal(err)
	}
	next := w.Stream("stdout")
	next.Resume(pending)
	next.Write([]byte("f\n"))
	w.Close()
	b, _ := os.ReadFile(p)
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	var logs []string
	for _, l := range lines {
		var e map[string]string
		json.Unmarshal([]byte(l), &e)
		logs = append(logs, e["log"])
	}
	if strings.Join(logs, "|") != "one\n|half\n" {
		t.Fatalf("%q", logs)
	}
}

// TestRotationResumesAfterFailedReopen: a rotation that cannot create
// the new file (no inode left) drops lines until it can, then logs
// again, rather than writing to the closed file for good.
func TestRotationResumesAfterFailedReopen(t *testing.T) {
	p := filepath.Join(t.TempDir(), "c.log")
	w, err := Open(p, 250, 2) // two lines of x a file
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	s := w.Stream("stdout")
	line := []byte(strings.Repeat("x", 50) + "\n")
	s.Write(line)
	s.Write(line)
	openLog = func(string, int, os.FileMode) (*os.File, error) { return nil, syscall.ENOSPC }
	if _, err := s.Write([]byte("lost\n")); err == nil {
		t.Fatal("a write whose rotation failed reported no error")
	}
	s.Write([]byte("lost too\n"))
	openLog = os.OpenFile
	t.Cleanup(func() { openLog = os.OpenFile })
	if _, err := s.Write([]byte("back\n")); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"back\n"`) || strings.Contains(string(b), "lost too") {
		t.Fatalf("log after the failed rotation: %s", b)
	}
}

// TestResumeWithoutRoom: a writer resumed while its file cannot be
// created (no inode left) creates it at the first write once it can.
func TestResumeWithoutRoom(t *testing.T) {
	p := filepath.Join(t.TempDir(), "c.log")
	openLog = func(string, int, os.FileMode) (*os.File, error) {
		return nil, &os.PathError{Op: "open", Path: p, Err: syscall.ENOSPC}
	}
	t.Cleanup(func() { openLog = os.OpenFile })
	w, err := Resume(p, 0, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	s := w.Stream("stdout")
	if _, err := s.Write([]byte("lost\n")); err == nil {
		t.Fatal("a write without room reported no error")
	}
	openLog = os.OpenFile
	if _, err := s.Write([]byte("back\n")); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(p); !strings.Contains(string(b), `"back\n"`) || strings.Contains(string(b), "lost") {
		t.Fatalf("log: %s", b)
	}
}

// A line longer than 16 KiB is logged in 16 KiB pieces, the last with
// its newline, whether it arrives in one write or in several.
func TestLongLineSplitsWhateverTheReads(t *testing.T) {
	line := strings.Repeat("a", 20000) + "\n"
	for _, chunks := range [][]string{{line}, {line[:17000], line[17000:]}, {line[:100], line[100:]}} {
		p := filepath.Join(t.TempDir(), "c.log")
		w, err := Open(p, 0, 1)
		if err != nil {
			t.Fatal(err)
		}
		out := w.Stream("stdout")
		for _, c := range chunks {
			out.Write([]byte(c))
		}
		w.Close()
		b, _ := os.ReadFile(p)
		var logs []string
		for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
			var e map[string]string
			json.Unmarshal([]byte(l), &e)
			logs = append(logs, e["log"])
		}
		if len(logs) != 2 || len(logs[0]) != 16384 || logs[1] != strings.Repeat("a", 20000-16384)+"\n" {
			t.Fatalf("chunks of %d: %d entries, lengths %v", len(chunks), len(logs), lens(logs))
		}
	}
}

func lens(ss []string) []int {
	var out []int
	for _, s := range ss {
		out = append(out, len(s))
	}
	return out
}
