package cgroups

import (
	"encoding/binary"
	"fmt"
	"os"
	"runtime"
	"strings"
	"unsafe"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// cgroup v2 has no devices.allow file: access to device nodes is decided
// by a BPF_PROG_TYPE_CGROUP_DEVICE program attached to the cgroup. This
// file compiles the OCI rules into such a program by hand (a handful of
// instructions per rule), the way runc's devicefilter does with an
// assembler library.

// bpf instruction encoding (linux/bpf.h, linux/bpf_common.h).
const (
	bpfLdxMemW  = 0x61 // BPF_LDX | BPF_MEM | BPF_W
	bpfAnd64K   = 0x57 // BPF_ALU64 | BPF_AND | BPF_K
	bpfRsh64K   = 0x77 // BPF_ALU64 | BPF_RSH | BPF_K
	bpfMov64K   = 0xb7 // BPF_ALU64 | BPF_MOV | BPF_K
	bpfMov64X   = 0xbf // BPF_ALU64 | BPF_MOV | BPF_X
	bpfJneK     = 0x55 // BPF_JMP | BPF_JNE | BPF_K
	bpfJneX     = 0x5d // BPF_JMP | BPF_JNE | BPF_X
	bpfExit     = 0x95 // BPF_JMP | BPF_EXIT
	bpfInsnSize = 8
)

type insn struct {
	code     uint8
	dst, src uint8
	off      int16
	imm      int32
}

func (i insn) bytes() []byte {
	b := make([]byte, bpfInsnSize)
	b[0] = i.code
	b[1] = i.dst&0xf | i.src<<4
	binary.LittleEndian.PutUint16(b[2:], uint16(i.off))
	binary.LittleEndian.PutUint32(b[4:], uint32(i.imm))
	return b
}

// deviceProgram compiles the rules. Like the v1 files, rules apply in
// order and the last one that matches decides; a rule of type "a" without
// numbers resets the default. The program checks the rules from last to
// first and returns at the first match.
func deviceProgram(rules []specs.LinuxDeviceCgroup) []insn {
	// r2 = device type, r3 = requested access, r4 = major, r5 = minor
	// (struct bpf_cgroup_dev_ctx { u32 access_type; u32 major; u32 minor; }).
	prog := []insn{
		{code: bpfLdxMemW, dst: 2, src: 1, off: 0},
		{code: bpfAnd64K, dst: 2, imm: 0xffff},
		{code: bpfLdxMemW, dst: 3, src: 1, off: 0},
		{code: bpfRsh64K, dst: 3, imm: 16},
		{code: bpfLdxMemW, dst: 4, src: 1, off: 4},
		{code: bpfLdxMemW, dst: 5, src: 1, off: 8},
	}
	def := int32(0)
	start := 0
	for i, r := range rules {
		if (r.Type == "" || r.Type == "a") && r.Major == nil && r.Minor == nil {
			start = i + 1
			if r.Allow {
				def = 1
			} else {
				def = 0
			}
		}
	}
	for i := len(rules) - 1; i >= start; i-- {
		prog = append(prog, ruleBlock(rules[i])...)
	}
	return append(prog, insn{code: bpfMov64K, dst: 0, imm: def}, insn{code: bpfExit})
}

func ruleBlock(r specs.LinuxDeviceCgroup) []insn {
	var checks [][]insn // each ends with a jump to the next rule
	switch r.Type {
	case "c":
		checks = append(checks, []insn{{code: bpfJneK, dst: 2, imm: unix.BPF_DEVCG_DEV_CHAR}})
	case "b":
		checks = append(checks, []insn{{code: bpfJneK, dst: 2, imm: unix.BPF_DEVCG_DEV_BLOCK}})
	}
	var acc int32
	access := r.Access
	if access == "" {
		access = "rwm"
	}
	for _, c := range access {
		switch c {
		case 'r':
			acc |= unix.BPF_DEVCG_ACC_READ
		case 'w':
			acc |= unix.BPF_DEVCG_ACC_WRITE
		case 'm':
			acc |= unix.BPF_DEVCG_ACC_MKNOD
		}
	}
	if acc != unix.BPF_DEVCG_ACC_READ|unix.BPF_DEVCG_ACC_WRITE|unix.BPF_DEVCG_ACC_MKNOD {
		// Every requested bit must be in the rule: (r3 & acc) == r3.
		checks = append(checks, []insn{
			{code: bpfMov64X, dst: 1, src: 3},
			{code: bpfAnd64K, dst: 1, imm: acc},
			{code: bpfJneX, dst: 1, src: 3},
		})
	}
	if r.Major != nil && *r.Major >= 0 {
		checks = append(checks, []insn{{code: bpfJneK, dst: 4, imm: int32(*r.Major)}})
	}
	if r.Minor != nil && *r.Minor >= 0 {
		checks = append(checks, []insn{{code: bpfJneK, dst: 5, imm: int32(*r.Minor)}})
	}
	verdict := int32(0)
	if r.Allow {
		verdict = 1
	}
	tail := []insn{{code: bpfMov64K, dst: 0, imm: verdict}, {code: bpfExit}}
	n := len(tail)
	for _, c := range checks {
		n += len(c)
	}
	var out []insn
	for _, c := range checks {
		for j, in := range c {
			if j == len(c)-1 {
				// Jump over the rest of this block.
				in.off = int16(n - len(out) - 1)
			}
			out = append(out, in)
		}
	}
	return append(out, tail...)
}

// attachDeviceFilter loads the program and attaches it to dir, replacing
// any program attached before (single-program mode).
func attachDeviceFilter(dir string, rules []specs.LinuxDeviceCgroup) error {
	prog := deviceProgram(rules)
	// The kernel reads these through addresses hidden in attr: they must
	// live on the heap, where the Go runtime does not move them.
	code := heapBytes(len(prog) * bpfInsnSize)[:0]
	for _, in := range prog {
		code = append(code, in.bytes()...)
	}
	license := heapBytes(16)
	copy(license, "Apache-2.0")
	// Loaded without a verifier log first: with one, a log longer than its
	// buffer (a few rules make one longer than 4 KiB) fails the load with
	// ENOSPC. Only a program the verifier refuses is loaded again, with a
	// big log, to say why.
	fd, errno := loadDeviceProgram(code, len(prog), license, nil)
	if errno != 0 {
		logBuf := heapBytes(1 << 20)
		if _, lerr := loadDeviceProgram(code, len(prog), license, logBuf); lerr != 0 {
			errno = lerr
		}
		return fmt.Errorf("load device filter: %w: %s", errno, strings.TrimSpace(cString(logBuf)))
	}
	defer unix.Close(int(fd))
	cg, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer cg.Close()
	// BPF_PROG_ATTACH: target_fd, attach_bpf_fd, attach_type, attach_flags.
	att := make([]byte, 32)
	binary.LittleEndian.PutUint32(att[0:], uint32(cg.Fd()))
	binary.LittleEndian.PutUint32(att[4:], uint32(fd))
	binary.LittleEndian.PutUint32(att[8:], unix.BPF_CGROUP_DEVICE)
	if _, _, errno := unix.Syscall(unix.SYS_BPF, unix.BPF_PROG_ATTACH, uintptr(unsafe.Pointer(&att[0])), uintptr(len(att))); errno != 0 {
		return fmt.Errorf("attach device filter to %s: %w", dir, errno)
	}
	return nil
}

// loadDeviceProgram runs BPF_PROG_LOAD for a cgroup device program of n
// instructions, with the verifier's log in logBuf when it is not nil.
func loadDeviceProgram(code []byte, n int, license, logBuf []byte) (uintptr, unix.Errno) {
	// union bpf_attr, BPF_PROG_LOAD: prog_type, insn_cnt, insns, license,
	// log_level, log_size, log_buf.
	attr := make([]byte, 128)
	binary.LittleEndian.PutUint32(attr[0:], unix.BPF_PROG_TYPE_CGROUP_DEVICE)
	binary.LittleEndian.PutUint32(attr[4:], uint32(n))
	binary.LittleEndian.PutUint64(attr[8:], uint64(uintptr(unsafe.Pointer(&code[0]))))
	binary.LittleEndian.PutUint64(attr[16:], uint64(uintptr(unsafe.Pointer(&license[0]))))
	if logBuf != nil {
		binary.LittleEndian.PutUint32(attr[24:], 1)
		binary.LittleEndian.PutUint32(attr[28:], uint32(len(logBuf)))
		binary.LittleEndian.PutUint64(attr[32:], uint64(uintptr(unsafe.Pointer(&logBuf[0]))))
	}
	fd, _, errno := unix.Syscall(unix.SYS_BPF, unix.BPF_PROG_LOAD, uintptr(unsafe.Pointer(&attr[0])), uintptr(len(attr)))
	runtime.KeepAlive(code)
	runtime.KeepAlive(license)
	runtime.KeepAlive(logBuf)
	return fd, errno
}

//go:noinline
func heapBytes(n int) []byte { return make([]byte, n) }

func cString(b []byte) string {
	for i, c := range b {
		if c == 0 {
			return string(b[:i])
		}
	}
	return string(b)
}
