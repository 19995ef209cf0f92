package shim

import (
	"bytes"
	"debug/elf"
	"encoding/json"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"
)

// The pages trimMemory must keep hold what the loader and the program
// wrote (relocations in RELRO, data): they read the same after it. It
// runs before any other test trims (source order), so that "before" still
// has the loader's writes.
func TestTrimMemoryKeepsWrittenPages(t *testing.T) {
	f, err := elf.Open("/proc/self/exe")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if f.Type != elf.ET_EXEC {
		t.Skip("test binary is not loaded at fixed addresses")
	}
	mem, err := os.Open("/proc/self/mem")
	if err != nil {
		t.Fatal(err)
	}
	defer mem.Close()
	var relro *elf.Prog
	for _, p := range f.Progs {
		if p.Type == elf.PT_GNU_RELRO {
			relro = p
		}
	}
	if relro == nil {
		t.Skip("no RELRO segment")
	}
	read := func() []byte {
		b := make([]byte, relro.Memsz)
		if _, err := mem.ReadAt(b, int64(relro.Vaddr)); err != nil {
			t.Fatal(err)
		}
		return b
	}
	before := read()
	trimMemory()
	if !bytes.Equal(before, read()) {
		t.Fatal("trimMemory dropped relocated RELRO pages")
	}
}

// After trimMemory the process goes on as before: code, read-only data,
// relocated (RELRO) and written data all still right. Calls into libc
// (exec) and the runtime's own paths (GC, stack growth) are what would
// crash first.
func TestTrimMemoryKeepsTheProcessWorking(t *testing.T) {
	trimMemory()
	trimMemory()
	runtime.GC()
	out, err := exec.Command("/bin/sh", "-c", "echo ok").Output()
	if err != nil || strings.TrimSpace(string(out)) != "ok" {
		t.Fatalf("exec after trim: %q %v", out, err)
	}
	var deep func(n int) int
	deep = func(n int) int {
		if n == 0 {
			return 0
		}
		var pad [256]byte
		pad[n%256] = byte(n)
		return deep(n-1) + int(pad[n%256]&1)
	}
	deep(10000)
	b, err := json.Marshal(map[string]any{"a": []int{1, 2}})
	if err != nil || string(b) != `{"a":[1,2]}` {
		t.Fatalf("json after trim: %s %v", b, err)
	}
	if _, err := os.ReadFile("/proc/self/maps"); err != nil {
		t.Fatal(err)
	}
}
