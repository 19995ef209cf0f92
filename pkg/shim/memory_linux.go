package shim

import (
	"bufio"
	"bytes"
	"debug/elf"
	"os"
	"strconv"
	"sync"

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
	exe, err := os.Readlink("/proc/self/exe")
	if err != nil {
		return
	}
	keep, err := binaryWrittenRanges()
	if err != nil {
		return
	}
	maps, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		return
	}
	var bias uint64
	sc := bufio.NewScanner(bytes.NewReader(maps))
	for sc.Scan() {
		// "start-end perms offset dev inode path", the path last and
		// possibly with spaces (" (deleted)").
		f := bytes.Fields(sc.Bytes())
		if len(f) < 6 || string(bytes.Join(f[5:], []byte(" "))) != exe {
			continue
		}
		lo, hi, _ := bytes.Cut(f[0], []byte("-"))
		start, _ := strconv.ParseUint(string(lo), 16, 64)
		end, _ := strconv.ParseUint(string(hi), 16, 64)
		if off, _ := strconv.ParseUint(string(f[2]), 16, 64); off == 0 && !keep.fixed && bias == 0 {
			bias = start - keep.firstLoad
		}
		if f[1][1] == 'w' || f[1][3] != 'p' {
			continue
		}
		for _, r := range keep.ranges {
			// Shrink [start, end) so that it overlaps no kept range.
			rs, re := (r[0]+bias)&^pageMask, (r[1]+bias+pageMask)&^pageMask
			if rs < end && re > start {
				if rs > start {
					end = rs
				} else {
					start = re
				}
			}
		}
		if end > start {
			_, _, _ = unix.Syscall(unix.SYS_MADVISE, uintptr(start), uintptr(end-start), unix.MADV_DONTNEED)
		}
	}
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
