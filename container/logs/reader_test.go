package logs

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/berthd/berth/pkg/jsonlog"
)

var base = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func writeLines(t *testing.T, path string, from, to int) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var buf []byte
	for i := from; i < to; i++ {
		stream := "stdout"
		if i%2 == 1 {
			stream = "stderr"
		}
		buf = jsonlog.Append(buf, &jsonlog.Entry{Log: []byte(fmt.Sprintf("line %d\n", i)), Stream: stream, Time: base.Add(time.Duration(i) * time.Second)})
	}
	f.Write(buf)
}

func collect(t *testing.T, path string, o Options) []string {
	t.Helper()
	var got []string
	err := Read(context.Background(), path, o, func(e *jsonlog.Entry) error {
		got = append(got, strings.TrimSpace(string(e.Log)))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func TestReadAllTailSinceUntilAcrossRotation(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "c-json.log")
	writeLines(t, p+".2", 0, 3)
	writeLines(t, p+".1", 3, 6)
	writeLines(t, p, 6, 10)
	all := collect(t, p, Options{Tail: -1})
	if len(all) != 10 || all[0] != "line 0" || all[9] != "line 9" {
		t.Fatalf("all: %v", all)
	}
	for n, want := range map[int]string{1: "line 9", 3: "line 7", 4: "line 6", 5: "line 5", 8: "line 2", 10: "line 0", 50: "line 0"} {
		got := collect(t, p, Options{Tail: n})
		if got[0] != want || got[len(got)-1] != "line 9" {
			t.Errorf("tail %d: %v", n, got)
		}
	}
	if got := collect(t, p, Options{Tail: 0}); len(got) != 0 {
		t.Fatalf("tail 0: %v", got)
	}
	got := collect(t, p, Options{Tail: -1, Since: base.Add(4 * time.Second), Until: base.Add(6 * time.Second)})
	if strings.Join(got, ",") != "line 4,line 5,line 6" {
		t.Fatalf("since/until: %v", got)
	}
}

func TestTornLastLineIgnored(t *testing.T) {
	p := filepath.Join(t.TempDir(), "c-json.log")
	writeLines(t, p, 0, 2)
	f, _ := os.OpenFile(p, os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString(`{"log":"half`)
	f.Close()
	if got := collect(t, p, Options{Tail: -1}); len(got) != 2 {
		t.Fatalf("%v", got)
	}
}

func TestFollowGrowthRotationAndStop(t *testing.T) {
	p := filepath.Join(t.TempDir(), "c-json.log")
	writeLines(t, p, 0, 2)
	stopped := make(chan struct{})
	var mu sync.Mutex
	var got []string
	done := make(chan error, 1)
	go func() {
		done <- Read(context.Background(), p, Options{Tail: -1, Follow: true, Stopped: stopped}, func(e *jsonlog.Entry) error {
			mu.Lock()
			got = append(got, strings.TrimSpace(string(e.Log)))
			mu.Unlock()
			return nil
		})
	}()
	waitFor := func(n int) {
		deadline := time.Now().Add(5 * time.Second)
		for time.Now().Before(deadline) {
			mu.Lock()
			l := len(got)
			mu.Unlock()
			if l >= n {
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
		mu.Lock()
		defer mu.Unlock()
		t.Fatalf("wanted %d lines, have %v", n, got)
	}
	waitFor(2)
	// A line written in two pieces arrives whole.
	line := jsonlog.Append(nil, &jsonlog.Entry{Log: []byte("line 2\n"), Stream: "stdout", Time: base})
	f, _ := os.OpenFile(p, os.O_APPEND|os.O_WRONLY, 0)
	f.Write(line[:10])
	time.Sleep(150 * time.Millisecond)
	f.Write(line[10:])
	f.Close()
	waitFor(3)
	// Rotation: the file is renamed and a new one starts.
	writeLines(t, p, 3, 4)
	os.Rename(p, p+".1")
	writeLines(t, p, 4, 6)
	waitFor(6)
	writeLines(t, p, 6, 7)
	close(stopped)
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("follow did not end after stop")
	}
	mu.Lock()
	defer mu.Unlock()
	if strings.Join(got, ",") != "line 0,line 1,line 2,line 3,line 4,line 5,line 6" {
		t.Fatalf("followed: %v", got)
	}
}

func BenchmarkReadAll(b *testing.B) {
	p := filepath.Join(b.TempDir(), "c-json.log")
	var buf []byte
	for i := 0; i < 200000; i++ {
		buf = jsonlog.Append(buf, &jsonlog.Entry{Log: []byte("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ\n"), Stream: "stdout", Time: base})
	}
	os.WriteFile(p, buf, 0o644)
	b.SetBytes(int64(len(buf)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		Read(context.Background(), p, Options{Tail: -1}, func(e *jsonlog.Entry) error { return nil })
	}
}
