package main

import (
	"os"
	"strings"
	"testing"
	"time"
)

func TestDumpStacksWritesEveryGoroutine(t *testing.T) {
	block := make(chan struct{})
	defer close(block)
	go func() { <-block }() // a goroutine parked elsewhere must show too
	path, err := dumpStacks(t.TempDir(), time.Date(2026, 12, 7, 22, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(path, "goroutine-stacks-2026-12-07T220000.000000000Z.log") {
		t.Errorf("path %s", path)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), "TestDumpStacksWritesEveryGoroutine") || !strings.Contains(string(b), "chan receive") {
		t.Errorf("the dump lacks this test's goroutines:\n%s", b)
	}
}
