package shim

import (
	"bytes"
	"debug/elf"
	"encoding/json"
	"fmt"
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

// trimMemory gives back the binary's code pages: the Rss of its read-only
// mappings falls. (By less than in a shim: a test binary runs from disk,
// where the kernel maps some of it in large folios, and this test's own
// code faults back in at once.)
func TestTrimMemoryDropsCode(t *testing.T) {
	exe, err := os.Readlink("/proc/self/exe")
	if err != nil {
		t.Fatal(err)
	}
	rss := func() int {
		b, err := os.ReadFile("/proc/self/smaps")
		if err != nil {
			t.Fatal(err)
		}
		total, ours := 0, false
		for _, line := range strings.Split(string(b), "\n") {
			f := strings.Fields(line)
			if len(f) >= 5 && strings.Contains(f[0], "-") {
				ours = len(f) >= 6 && strings.Join(f[5:], " ") == exe && !strings.Contains(f[1], "w")
				continue
			}
			if ours && len(f) == 3 && f[0] == "Rss:" {
				var kb int
				fmt.Sscan(f[1], &kb)
				total += kb
			}
		}
		return total
	}
	before := rss()
	trimMemory()
	after := rss()
	if before == 0 || after > before*3/4 {
		t.Fatalf("read-only Rss of %s: %d KiB before trimMemory, %d after", exe, before, after)
	}
}
