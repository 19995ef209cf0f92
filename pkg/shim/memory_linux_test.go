package shim

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"encoding/json"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
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

// trimMapping drops every page of a read-only mapping of the binary but
// the kept ranges. Checked on a mapping of a memfd, as a shim's binary
// is, through /proc/self/pagemap, which reads which pages are mapped
// without touching them. (The Rss of this test binary would not do: it
// runs from disk, where the kernel maps it in large folios, and the code
// that reads the Rss faults back in whatever it runs.)
func TestTrimMappingDropsAllButKept(t *testing.T) {
	const pages = 32
	mem, base, line := memfdMapping(t, "trimtest", pages, unix.PROT_READ)
	mapped := func() []bool { return mappedPages(t, base, pages) }
	path := "/memfd:trimtest (deleted)"
	// Pages 10 and 11 hold, say, written data: they stay.
	keep := keptRanges{fixed: true, ranges: [][2]uint64{{base + 10*4096, base + 12*4096}}}
	var bias uint64
	trimMapping(line, path, &keep, &bias)
	for i, m := range mapped() {
		if want := i == 10 || i == 11; m != want {
			t.Fatalf("after trimMapping, page %d mapped: %v, want %v (line %q)", i, m, want, line)
		}
	}
	// A mapping of another file is left alone.
	sum := 0
	for i := 0; i < pages; i++ {
		sum += int(mem[i*4096])
	}
	trimMapping(line, "/some/other/binary", &keep, &bias)
	for i, m := range mapped() {
		if !m {
			t.Fatalf("trimMapping dropped page %d of a mapping of another file (read back %d)", i, sum)
		}
	}
}

// A shared library's code is dropped whole; its read-only data, which
// may be RELRO the loader wrote, is not (the test above: a read-only
// mapping of another file stays).
func TestTrimMappingDropsLibraryCode(t *testing.T) {
	const pages = 16
	mem, base, line := memfdMapping(t, "trimlib", pages, unix.PROT_READ|unix.PROT_EXEC)
	present := func() int {
		n := 0
		for _, m := range mappedPages(t, base, pages) {
			if m {
				n++
			}
		}
		return n
	}
	if !bytes.Contains(line, []byte(" r-xp ")) {
		t.Fatalf("mapping at %x is not private code: %q", base, line)
	}
	var keep keptRanges
	var bias uint64
	trimMapping(line, "/the/shim/binary", &keep, &bias)
	if n := present(); n != 0 {
		t.Fatalf("%d pages of a library's code still mapped after trimMapping (line %q)", n, line)
	}
	if mem[5*4096] != 1 {
		t.Fatal("code read back wrong after the trim")
	}
	for _, c := range []struct {
		path, perms string
		want        bool
	}{
		{"/usr/lib/x86_64-linux-gnu/libc.so.6", "r-xp", true},
		{"/usr/lib/x86_64-linux-gnu/libc.so.6", "r--p", false}, // may be RELRO
		{"/usr/lib/x86_64-linux-gnu/libc.so.6", "rw-p", false},
		{"/usr/lib/x86_64-linux-gnu/libc.so.6", "r-xs", false},
		{"[vdso]", "r-xp", false},
		{"", "r-xp", false},
	} {
		if got := isLibraryCode([]byte(c.path), []byte(c.perms)); got != c.want {
			t.Errorf("isLibraryCode(%q, %q) = %v, want %v", c.path, c.perms, got, c.want)
		}
	}
}

// memfdMapping maps pages of a new memfd, each read once so that all are
// mapped, with prot, as a shim's binary or a library is mapped: it
// answers the memory, its address and its line of /proc/self/maps.
func memfdMapping(t *testing.T, name string, pages, prot int) ([]byte, uint64, []byte) {
	t.Helper()
	fd, err := unix.MemfdCreate(name, unix.MFD_CLOEXEC)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	if _, err := unix.Write(fd, bytes.Repeat([]byte{1}, pages*4096)); err != nil {
		t.Fatal(err)
	}
	mem, err := unix.Mmap(fd, 0, pages*4096, prot, unix.MAP_PRIVATE)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Munmap(mem) })
	sum := 0
	for i := 0; i < pages; i++ {
		sum += int(mem[i*4096])
	}
	base := uint64(uintptr(unsafe.Pointer(&mem[0])))
	for i, m := range mappedPages(t, base, pages) {
		if !m {
			t.Fatalf("page %d of %d not mapped after reading all %d", i, pages, sum)
		}
	}
	maps, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range bytes.Split(maps, []byte("\n")) {
		if bytes.HasPrefix(l, []byte(strconv.FormatUint(base, 16)+"-")) {
			return mem, base, l
		}
	}
	t.Fatalf("no mapping at %x in /proc/self/maps", base)
	return nil, 0, nil
}

// mappedPages reads which of the pages at base are mapped, through
// /proc/self/pagemap, which tells without touching them.
func mappedPages(t *testing.T, base uint64, pages int) []bool {
	t.Helper()
	f, err := os.Open("/proc/self/pagemap")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, pages*8)
	if _, err := f.ReadAt(b, int64(base/4096*8)); err != nil {
		t.Fatal(err)
	}
	out := make([]bool, pages)
	for i := range out {
		out[i] = binary.LittleEndian.Uint64(b[i*8:])>>63 == 1
	}
	return out
}

// A library's read-only data is dropped when none of its pages is a
// private copy, and kept whole when one is: RELRO, which the loader
// relocated and then made read-only, is such a mapping. Both are made
// here from memfds, the second written through before it became
// read-only.
func TestTrimMemoryDropsCleanLibraryDataOnly(t *testing.T) {
	const pages = 8
	clean, cleanBase, _ := memfdMapping(t, "trimclean", pages, unix.PROT_READ)
	relro, relroBase, _ := memfdMapping(t, "trimrelro", pages, unix.PROT_READ)
	if err := unix.Mprotect(relro, unix.PROT_READ|unix.PROT_WRITE); err != nil {
		t.Fatal(err)
	}
	relro[3*4096] = 42 // one private copy, as a relocation makes
	if err := unix.Mprotect(relro, unix.PROT_READ); err != nil {
		t.Fatal(err)
	}
	trimMemory()
	for i, m := range mappedPages(t, cleanBase, pages) {
		if m {
			t.Fatalf("page %d of clean read-only data still mapped after the trim", i)
		}
	}
	for i, m := range mappedPages(t, relroBase, pages) {
		if !m {
			t.Fatalf("page %d of a mapping with a private copy dropped", i)
		}
	}
	if relro[3*4096] != 42 || relro[0] != 1 || clean[2*4096] != 1 {
		t.Fatalf("read back after the trim: %d %d %d", relro[3*4096], relro[0], clean[2*4096])
	}
}
