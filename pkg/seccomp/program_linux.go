package seccomp

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"os"
	goruntime "runtime"
	"sync"
	"unsafe"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// Program is a filter compiled by libseccomp to classic BPF, ready for
// seccomp(2). Compiling the default profile costs milliseconds; loading
// the result costs microseconds, so the compile is done once per distinct
// profile, outside the container's start path, and only the load happens
// in the init or exec stage.
type Program struct {
	// BPF is the struct sock_filter array in the host's byte order, as
	// seccomp_export_bpf writes it.
	BPF []byte `json:"bpf"`
	// Flags are the SECCOMP_FILTER_FLAG_* bits the spec asks for (log,
	// spec_allow); Load adds TSYNC as libseccomp-golang does.
	Flags uint `json:"flags,omitempty"`
}

// Not in x/sys/unix under these names on every version.
const (
	seccompSetModeFilter = 1
	flagTsync            = 1 << 0 // SECCOMP_FILTER_FLAG_TSYNC
	flagLog              = 1 << 1 // SECCOMP_FILTER_FLAG_LOG
	flagSpecAllow        = 1 << 2 // SECCOMP_FILTER_FLAG_SPEC_ALLOW
	flagTsyncEsrch       = 1 << 4 // SECCOMP_FILTER_FLAG_TSYNC_ESRCH
	sockFilterSize       = int(unsafe.Sizeof(unix.SockFilter{}))
)

// The cache is bounded: profiles come from API requests, and a client
// sending endless distinct ones must not grow the daemon without limit.
const maxCached = 64

var (
	cacheMu sync.Mutex
	cache   = map[[sha256.Size]byte]*Program{}
)

// Compile returns the BPF program for the spec, from a per-process cache
// keyed by the profile's JSON, the architecture and no_new_privs. The
// returned Program is shared: callers must not modify it.
func Compile(s *specs.LinuxSeccomp, noNewPrivileges bool) (*Program, error) {
	if s == nil {
		return nil, nil
	}
	js, err := json.Marshal(s)
	if err != nil {
		return nil, err
	}
	h := sha256.New()
	// no_new_privs does not change the generated code (libseccomp applies
	// it at load time), but keying on it costs one compile at most and
	// keeps the cache obviously correct.
	fmt.Fprintf(h, "%s\x00%t\x00", goruntime.GOARCH, noNewPrivileges)
	h.Write(js)
	var key [sha256.Size]byte
	copy(key[:], h.Sum(nil))
	cacheMu.Lock()
	p, ok := cache[key]
	cacheMu.Unlock()
	if ok {
		return p, nil
	}
	p, err = compile(s, noNewPrivileges)
	if err != nil {
		return nil, err
	}
	cacheMu.Lock()
	if len(cache) >= maxCached {
		clear(cache)
	}
	cache[key] = p
	cacheMu.Unlock()
	return p, nil
}

func compile(s *specs.LinuxSeccomp, noNewPrivileges bool) (*Program, error) {
	f, err := Build(s, noNewPrivileges)
	if err != nil {
		return nil, err
	}
	defer f.Release()
	p := &Program{}
	if on, err := f.GetLogBit(); err == nil && on {
		p.Flags |= flagLog
	}
	if on, err := f.GetSSB(); err == nil && on {
		p.Flags |= flagSpecAllow
	}
	// ExportBPFMem needs libseccomp 2.6 (Debian 12 has 2.5): export
	// through a memfd instead.
	fd, err := unix.MemfdCreate("seccomp-bpf", unix.MFD_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("memfd_create: %w", err)
	}
	mem := os.NewFile(uintptr(fd), "seccomp-bpf")
	defer mem.Close()
	if err := f.ExportBPF(mem); err != nil {
		return nil, fmt.Errorf("export seccomp filter: %w", err)
	}
	if _, err := mem.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	if p.BPF, err = io.ReadAll(mem); err != nil {
		return nil, err
	}
	if err := p.check(); err != nil {
		return nil, err
	}
	return p, nil
}

func (p *Program) check() error {
	n := len(p.BPF) / sockFilterSize
	if n == 0 || len(p.BPF)%sockFilterSize != 0 || n > 0xffff {
		return fmt.Errorf("seccomp program of %d bytes is not a BPF program", len(p.BPF))
	}
	return nil
}

// Load installs the program on every thread of the calling process
// (TSYNC, as libseccomp-golang's filters do), setting no_new_privs first
// when asked, as seccomp_load does for a filter with that attribute.
// Without no_new_privs the kernel demands CAP_SYS_ADMIN, so the caller
// loads before dropping capabilities.
func (p *Program) Load(noNewPrivileges bool) error {
	if err := p.check(); err != nil {
		return err
	}
	if noNewPrivileges {
		if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
			return fmt.Errorf("no_new_privs: %w", err)
		}
	}
	// Copy into a properly aligned slice: the []byte has no alignment
	// guarantee for the kernel's struct sock_filter.
	filter := make([]unix.SockFilter, len(p.BPF)/sockFilterSize)
	copy(unsafe.Slice((*byte)(unsafe.Pointer(&filter[0])), len(p.BPF)), p.BPF)
	prog := unix.SockFprog{Len: uint16(len(filter)), Filter: &filter[0]}
	flags := uintptr(flagTsync | p.Flags)
	// TSYNC_ESRCH (Linux 5.7) makes a sync failure an errno rather than
	// a thread ID; libseccomp uses it where the kernel has it.
	r, _, e := unix.RawSyscall(unix.SYS_SECCOMP, seccompSetModeFilter, flags|flagTsyncEsrch, uintptr(unsafe.Pointer(&prog)))
	if e == unix.EINVAL {
		r, _, e = unix.RawSyscall(unix.SYS_SECCOMP, seccompSetModeFilter, flags, uintptr(unsafe.Pointer(&prog)))
	}
	goruntime.KeepAlive(filter)
	if e != 0 {
		return fmt.Errorf("load seccomp filter: %w", e)
	}
	if r != 0 {
		return fmt.Errorf("load seccomp filter: thread %d could not be synchronised", r)
	}
	return nil
}

// LoadCompiled loads p, which the caller compiled from s beforehand, or,
// without one, compiles s with libseccomp and loads that: a stage never
// runs with less filtering than its spec asks for.
func LoadCompiled(s *specs.LinuxSeccomp, p *Program, noNewPrivileges bool) error {
	if p != nil {
		return p.Load(noNewPrivileges)
	}
	return Load(s, noNewPrivileges)
}
