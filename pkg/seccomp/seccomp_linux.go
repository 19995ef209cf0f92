package seccomp

import (
	"fmt"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	libseccomp "github.com/seccomp/libseccomp-golang"
	"golang.org/x/sys/unix"
)

var actions = map[specs.LinuxSeccompAction]libseccomp.ScmpAction{
	specs.ActKill:        libseccomp.ActKillThread,
	specs.ActKillThread:  libseccomp.ActKillThread,
	specs.ActKillProcess: libseccomp.ActKillProcess,
	specs.ActTrap:        libseccomp.ActTrap,
	specs.ActErrno:       libseccomp.ActErrno,
	specs.ActTrace:       libseccomp.ActTrace,
	specs.ActAllow:       libseccomp.ActAllow,
	specs.ActLog:         libseccomp.ActLog,
}

var operators = map[specs.LinuxSeccompOperator]libseccomp.ScmpCompareOp{
	specs.OpNotEqual:     libseccomp.CompareNotEqual,
	specs.OpLessThan:     libseccomp.CompareLess,
	specs.OpLessEqual:    libseccomp.CompareLessOrEqual,
	specs.OpEqualTo:      libseccomp.CompareEqual,
	specs.OpGreaterEqual: libseccomp.CompareGreaterEqual,
	specs.OpGreaterThan:  libseccomp.CompareGreater,
	specs.OpMaskedEqual:  libseccomp.CompareMaskedEqual,
}

func action(a specs.LinuxSeccompAction, errnoRet *uint) (libseccomp.ScmpAction, error) {
	act, ok := actions[a]
	if !ok {
		// SCMP_ACT_NOTIFY needs a listener the daemon does not provide.
		return 0, fmt.Errorf("seccomp action %q is not supported", a)
	}
	switch act {
	case libseccomp.ActErrno:
		code := int16(unix.EPERM)
		if errnoRet != nil {
			code = int16(*errnoRet)
		}
		act = act.SetReturnCode(code)
	case libseccomp.ActTrace:
		code := int16(unix.EPERM)
		if errnoRet != nil {
			code = int16(*errnoRet)
		}
		act = act.SetReturnCode(code)
	}
	return act, nil
}

// Build compiles the spec into a libseccomp filter. The caller releases it.
// Syscall names the running libseccomp does not know are skipped, as runc
// does, so one profile serves old and new kernels.
func Build(s *specs.LinuxSeccomp, noNewPrivileges bool) (*libseccomp.ScmpFilter, error) {
	def, err := action(s.DefaultAction, s.DefaultErrnoRet)
	if err != nil {
		return nil, err
	}
	f, err := libseccomp.NewFilter(def)
	if err != nil {
		return nil, fmt.Errorf("new seccomp filter: %w", err)
	}
	ok := false
	defer func() {
		if !ok {
			f.Release()
		}
	}()
	// libseccomp sets no_new_privs itself unless told not to; the spec's
	// noNewPrivileges is the only authority on that bit.
	if err := f.SetNoNewPrivsBit(noNewPrivileges); err != nil {
		return nil, err
	}
	for _, a := range s.Architectures {
		arch, err := libseccomp.GetArchFromString(archName(a))
		if err != nil {
			return nil, fmt.Errorf("seccomp arch %q: %w", a, err)
		}
		if err := f.AddArch(arch); err != nil && err != libseccomp.ErrSyscallDoesNotExist {
			return nil, fmt.Errorf("seccomp add arch %q: %w", a, err)
		}
	}
	for _, flag := range s.Flags {
		switch flag {
		case specs.LinuxSeccompFlagLog:
			if err := f.SetLogBit(true); err != nil {
				return nil, err
			}
		case specs.LinuxSeccompFlagSpecAllow:
			if err := f.SetSSB(true); err != nil {
				return nil, err
			}
		case specs.LinuxSeccompFlagWaitKillableRecv:
			// Only meaningful with a notify listener, which is never set.
		default:
			return nil, fmt.Errorf("seccomp flag %q is not supported", flag)
		}
	}
	for _, sc := range s.Syscalls {
		act, err := action(sc.Action, sc.ErrnoRet)
		if err != nil {
			return nil, err
		}
		if act == def {
			continue // libseccomp refuses rules that repeat the default
		}
		for _, name := range sc.Names {
			call, err := libseccomp.GetSyscallFromName(name)
			if err != nil {
				continue
			}
			if err := addRule(f, call, act, sc.Args); err != nil {
				return nil, fmt.Errorf("seccomp rule for %s: %w", name, err)
			}
		}
	}
	ok = true
	return f, nil
}

// addRule follows libseccomp's limit of one comparison per argument per
// rule: when the spec compares one argument several times the comparisons
// are alternatives, so each becomes its own rule.
func addRule(f *libseccomp.ScmpFilter, call libseccomp.ScmpSyscall, act libseccomp.ScmpAction, args []specs.LinuxSeccompArg) error {
	if len(args) == 0 {
		return f.AddRule(call, act)
	}
	conds := make([]libseccomp.ScmpCondition, 0, len(args))
	seen := map[uint]bool{}
	repeated := false
	for _, a := range args {
		op, ok := operators[a.Op]
		if !ok {
			return fmt.Errorf("operator %q", a.Op)
		}
		var c libseccomp.ScmpCondition
		var err error
		if op == libseccomp.CompareMaskedEqual {
			c, err = libseccomp.MakeCondition(a.Index, op, a.Value, a.ValueTwo)
		} else {
			c, err = libseccomp.MakeCondition(a.Index, op, a.Value)
		}
		if err != nil {
			return err
		}
		repeated = repeated || seen[a.Index]
		seen[a.Index] = true
		conds = append(conds, c)
	}
	if !repeated {
		return f.AddRuleConditional(call, act, conds)
	}
	for _, c := range conds {
		if err := f.AddRuleConditional(call, act, []libseccomp.ScmpCondition{c}); err != nil {
			return err
		}
	}
	return nil
}

// archName maps the spec's SCMP_ARCH_X86_64 spelling to libseccomp's.
func archName(a specs.Arch) string {
	m := map[specs.Arch]string{
		specs.ArchX86: "x86", specs.ArchX86_64: "amd64", specs.ArchX32: "x32",
		specs.ArchARM: "arm", specs.ArchAARCH64: "arm64", specs.ArchMIPS: "mips",
		specs.ArchMIPS64: "mips64", specs.ArchMIPS64N32: "mips64n32", specs.ArchMIPSEL: "mipsel",
		specs.ArchMIPSEL64: "mipsel64", specs.ArchMIPSEL64N32: "mipsel64n32", specs.ArchPPC: "ppc",
		specs.ArchPPC64: "ppc64", specs.ArchPPC64LE: "ppc64le", specs.ArchS390: "s390",
		specs.ArchS390X: "s390x", specs.ArchPARISC: "parisc", specs.ArchPARISC64: "parisc64",
		specs.ArchRISCV64: "riscv64", specs.ArchLOONGARCH64: "loong64", specs.ArchM68K: "m68k",
		specs.ArchSH: "sh", specs.ArchSHEB: "sheb",
	}
	if n, ok := m[a]; ok {
		return n
	}
	return string(a)
}

// Load builds the filter and loads it into the calling thread. Without
// no_new_privs the kernel demands CAP_SYS_ADMIN, so the runtime calls this
// before it drops capabilities in that case.
func Load(s *specs.LinuxSeccomp, noNewPrivileges bool) error {
	if s == nil {
		return nil
	}
	f, err := Build(s, noNewPrivileges)
	if err != nil {
		return err
	}
	defer f.Release()
	if err := f.Load(); err != nil {
		return fmt.Errorf("load seccomp filter: %w", err)
	}
	return nil
}
