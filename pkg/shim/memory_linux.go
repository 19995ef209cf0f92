package shim

import (
	"bytes"
	"debug/elf"
	"strconv"
	"sync"
	"unsafe"

	"golang.org/x/sys/unix"
)

// trimMemory drops from the shim's page tables the code and read-only
// data it touched while starting the container, with the neighbours the
// kernel mapped around each fault: most of berthd's binary, which an idle
// shim never runs again. The pages stay in the sealed copy's memory,
// shared with every other shim; those an idle shim still needs come back
// as minor faults, each with the 64 KiB around it (MADV_RANDOM does not
// change that for a memfd's pages: measured on Linux 6.18, it only stops
// readahead). On this machine that took a shim's Rss from 11 to 5 MiB.
//
// Only the binary's read-only segments are dropped, never a page of its
// RELRO range or of a writable segment: those hold copies written at
// start (relocations, data), which the file does not.
//
// A spare trims too while it waits for a container.
func trimMemory() {
	// System calls straight from x/sys/unix, not through os: this runs
	// on goroutines with small stacks (the accept loop), and in a reborn
	// shim (rebirth_linux.go) the first stack to grow past a size makes
	// the runtime carve a whole 32 KiB span of stacks of that size,
	// writing into each: resident memory for as long as the shim lives.
	var exeBuf [512]byte
	n, err := unix.Readlink("/proc/self/exe", exeBuf[:])
	if err != nil || n == len(exeBuf) {
		return
	}
	exe := string(exeBuf[:n])
	keep, err := binaryWrittenRanges()
	if err != nil {
		return
	}
	fd, err := unix.Open("/proc/self/maps", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return
	}
	defer unix.Close(fd)
	// The output copiers' buffer, read again: a shim trims after every
	// burst of requests, and each allocation here would stay in its
	// heap. A read of /proc/PID/maps returns whole lines; one that does
	// not fit is cut off at the buffer's end and kept for the next read.
	pooled := outputBuffers.Get().(*[]byte)
	defer outputBuffers.Put(pooled)
	buf := (*pooled)[:4096]
	var bias uint64
	held := 0
	for {
		n, err := rawRead(fd, buf[held:])
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			n = 0
		}
		n += held
		data := buf[:n]
		for {
			nl := bytes.IndexByte(data, '\n')
			if nl < 0 {
				break
			}
			trimMapping(data[:nl], exe, &keep, &bias)
			data = data[nl+1:]
		}
		held = copy(buf, data)
		if held == len(buf) {
			// A line longer than the buffer: not one of ours.
			held = 0
		}
		if err != nil || n == 0 {
			return
		}
	}
}

// trimMapping drops the pages of one line of /proc/self/maps ("start-end
// perms offset dev inode path") if it maps the binary's read-only part.
func trimMapping(line []byte, exe string, keep *keptRanges, bias *uint64) {
	field := func() []byte {
		line = bytes.TrimLeft(line, " ")
		i := bytes.IndexByte(line, ' ')
		if i < 0 {
			f := line
			line = nil
			return f
		}
		f := line[:i]
		line = line[i+1:]
		return f
	}
	addr, perms, offset := field(), field(), field()
	field() // dev
	field() // inode
	// The path is the rest, possibly with spaces (" (deleted)").
	if string(bytes.TrimLeft(line, " ")) != exe || len(perms) < 4 {
		return
	}
	lo, hi, _ := bytes.Cut(addr, []byte("-"))
	start, _ := strconv.ParseUint(string(lo), 16, 64)
	end, _ := strconv.ParseUint(string(hi), 16, 64)
	if off, _ := strconv.ParseUint(string(offset), 16, 64); off == 0 && !keep.fixed && *bias == 0 {
		*bias = start - keep.firstLoad
	}
	if perms[1] == 'w' || perms[3] != 'p' {
		return
	}
	dropExcept(start, end, keep.ranges, *bias)
}

// dropExcept drops the pages of [start, end) but those of the kept
// ranges (link-time addresses, plus bias), on either side of each.
func dropExcept(start, end uint64, ranges [][2]uint64, bias uint64) {
	for _, r := range ranges {
		rs, re := (r[0]+bias)&^pageMask, (r[1]+bias+pageMask)&^pageMask
		if rs < end && re > start {
			if rs > start {
				dropExcept(start, rs, ranges, bias)
			}
			if re < end {
				dropExcept(re, end, ranges, bias)
			}
			return
		}
	}
	if end > start {
		_, _, _ = unix.RawSyscall(unix.SYS_MADVISE, uintptr(start), uintptr(end-start), unix.MADV_DONTNEED)
	}
}

// rawRead is read(2) without telling the scheduler: a read of /proc/self
// that walks the page tables takes long enough (tens of µs) for the
// runtime to hand the processor to another thread, and a thread made for
// it idles on in a shim for good, with its stacks. For a short read that
// cannot block.
func rawRead(fd int, p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	n, _, errno := unix.RawSyscall(unix.SYS_READ, uintptr(fd), uintptr(unsafe.Pointer(&p[0])), uintptr(len(p)))
	if errno != 0 {
		return 0, errno
	}
	return int(n), nil
}

const pageMask = 4095

type keptRanges struct {
	// fixed is set for an executable loaded at its link-time addresses;
	// otherwise (PIE) the mapping at file offset 0 is at firstLoad, the
	// lowest PT_LOAD address, plus the load bias.
	fixed     bool
	firstLoad uint64
	// ranges are [start, end) link-time addresses that must stay.
	ranges [][2]uint64
}

// binaryWrittenRanges is writtenRanges, read once per process: a shim
// trims after every burst of requests, and its binary does not change.
var binaryWrittenRanges = sync.OnceValues(writtenRanges)

// writtenRanges lists the running binary's RELRO and writable segments.
func writtenRanges() (keptRanges, error) {
	var k keptRanges
	f, err := elf.Open("/proc/self/exe")
	if err != nil {
		return k, err
	}
	defer f.Close()
	k.firstLoad = ^uint64(0)
	for _, p := range f.Progs {
		switch {
		case p.Type == elf.PT_LOAD:
			k.firstLoad = min(k.firstLoad, p.Vaddr&^pageMask)
			if p.Flags&elf.PF_W != 0 {
				k.ranges = append(k.ranges, [2]uint64{p.Vaddr, p.Vaddr + p.Memsz})
			}
		case p.Type == elf.PT_GNU_RELRO:
			k.ranges = append(k.ranges, [2]uint64{p.Vaddr, p.Vaddr + p.Memsz})
		}
	}
	k.fixed = f.Type == elf.ET_EXEC
	return k, nil
}

// TrimBinary is trimMemory for any berthd process: the daemon calls it
// once its start has settled, when most of the binary it touched while
// starting (every package's init, with the pages the kernel maps around
// each fault) is not needed again until used.
func TrimBinary() { trimMemory() }
