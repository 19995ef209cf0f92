package runtime

import (
	"encoding/json"
	"fmt"
	"os"
	goruntime "runtime"
	"strconv"
	"strings"
	"unsafe"

	pathrs "github.com/cyphar/filepath-securejoin/pathrs-lite"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/berthd/berth/pkg/caps"
	"github.com/berthd/berth/pkg/faultpoint"
	"github.com/berthd/berth/pkg/seccomp"
)

// The stage takes over from this package's initialisation, not from
// main: the packages of a large program that are initialised after this
// one (a daemon's HTTP, image and network stacks) then cost the stage
// nothing, about 3 ms per container for berthd. Only the environment
// variable that spawn sets triggers it.
func init() {
	InitStage()
}

// InitStage runs the init or exec stage when this process is one, and
// never returns then. In any other process it returns at once. The
// package's init already calls it; calling it again is harmless.
func InitStage() {
	stage := os.Getenv(envStage)
	if stage == "" {
		return
	}
	// Everything below (setns, capabilities, seccomp, execve) acts on the
	// calling thread: stay on one.
	goruntime.LockOSThread()
	os.Unsetenv(envStage)
	sync := os.NewFile(fdSync, "sync")
	var cfg stageConfig
	syncDecoder = json.NewDecoder(sync)
	err := syncDecoder.Decode(&cfg)
	if err == nil {
		switch stage {
		case stageInit:
			err = initContainer(sync, &cfg)
		case stageExec:
			err = execProcess(&cfg)
		default:
			err = fmt.Errorf("unknown stage %q", stage)
		}
	}
	// Only reached on failure: a successful stage has exec'd. After the
	// ready message nobody reads the socket any more, so say it on the
	// container's stderr as well.
	if readySent {
		fmt.Fprintf(os.Stderr, "berth: %v\n", err)
	}
	_ = json.NewEncoder(sync).Encode(syncMsg{Type: "error", Error: err.Error(), Errno: ErrnoOf(err)})
	os.Exit(1)
}

// readySent records that the parent stopped listening on the sync socket.
var readySent bool

// syncDecoder reads the parent's messages: the config, then "cgroup".
var syncDecoder *json.Decoder

// awaitCgroup returns once the parent has moved this process into the
// container's cgroup. That move costs the parent an RCU grace period on
// a cgroup v1 host (about 10 ms, most of a container's start), which the
// stage spends setting the container up instead of waiting.
func awaitCgroup(cfg *stageConfig) error {
	if !cfg.AwaitCgroup {
		return nil
	}
	cfg.AwaitCgroup = false
	var m syncMsg
	if err := syncDecoder.Decode(&m); err != nil {
		return fmt.Errorf("wait for the cgroup: %w", err)
	}
	if m.Type != "cgroup" {
		return fmt.Errorf("unexpected message %q while waiting for the cgroup", m.Type)
	}
	return nil
}

// awaitStart blocks until Start: until it writes its byte on the start
// pipe, or opens the exec FIFO's read side. The FIFO lives in the host's
// state directory; the O_PATH descriptor reaches it through our own
// /proc/self/fd after pivot_root.
func awaitStart(cfg *stageConfig) error {
	if cfg.StartPipe {
		var b [1]byte
		n, err := unix.Read(fdFifo, b[:])
		for err == unix.EINTR {
			n, err = unix.Read(fdFifo, b[:])
		}
		if n != 1 {
			unix.Close(fdFifo)
			// The creator is gone, or deleted the container unstarted.
			return fmt.Errorf("start pipe closed before start: %v", err)
		}
		// Kept open until the execve closes it: Start waits for that
		// hang-up (awaitExec) so that it returns with the command running.
		if _, err := unix.FcntlInt(fdFifo, unix.F_SETFD, unix.FD_CLOEXEC); err != nil {
			unix.Close(fdFifo)
		}
		return nil
	}
	// Reopened through the verified procfs handle, not the container's
	// /proc, which a mount could have made point elsewhere.
	handle := os.NewFile(fdFifo, "exec-fifo")
	defer handle.Close()
	fifo, err := pathrs.Reopen(handle, unix.O_WRONLY|unix.O_CLOEXEC)
	if err != nil {
		return fmt.Errorf("open exec fifo: %w", err)
	}
	defer fifo.Close()
	if _, err := fifo.Write([]byte{'0'}); err != nil {
		return fmt.Errorf("write exec fifo: %w", err)
	}
	return nil
}

func initContainer(sync *os.File, cfg *stageConfig) error {
	spec := cfg.Spec
	// Namespaces given by path that a multi-threaded process can still
	// join on its own thread; pid, user and mnt were joined by nsenter.
	for _, ns := range spec.Linux.Namespaces {
		if ns.Path == "" {
			continue
		}
		switch ns.Type {
		case specs.NetworkNamespace, specs.IPCNamespace, specs.UTSNamespace, specs.CgroupNamespace, specs.TimeNamespace:
			fd, err := unix.Open(ns.Path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
			if err != nil {
				return fmt.Errorf("open namespace %s: %w", ns.Path, err)
			}
			err = unix.Setns(fd, int(nsFlags[ns.Type]))
			unix.Close(fd)
			if err != nil {
				return fmt.Errorf("join %s namespace %s: %w", ns.Type, ns.Path, err)
			}
		}
	}
	if cfg.NewCgroupNS {
		// The namespace is rooted at the cgroup we are in.
		if err := awaitCgroup(cfg); err != nil {
			return err
		}
		// Per-thread, like everything else here; the exec'ing thread is
		// the one that counts.
		if err := unix.Unshare(unix.CLONE_NEWCGROUP); err != nil {
			return fmt.Errorf("unshare cgroup namespace: %w", err)
		}
	}
	if _, err := unix.Setsid(); err != nil {
		return fmt.Errorf("setsid: %w", err)
	}
	faultpoint.Hit("stage.init.before-rootfs")
	if err := prepareRootfs(cfg); err != nil {
		return err
	}
	faultpoint.Hit("stage.init.after-rootfs")
	if cfg.Console {
		if err := setupConsole(true, cfg.Process.ConsoleSize); err != nil {
			return err
		}
	}
	if h := spec.Hostname; h != "" {
		if err := unix.Sethostname([]byte(h)); err != nil {
			return fmt.Errorf("sethostname: %w", err)
		}
	}
	if h := spec.Domainname; h != "" {
		if err := unix.Setdomainname([]byte(h)); err != nil {
			return fmt.Errorf("setdomainname: %w", err)
		}
	}
	if err := checkNetSysctls(cfg); err != nil {
		return err
	}
	for k, v := range spec.Linux.Sysctl {
		if err := writeSysctl(k, v); err != nil {
			return fmt.Errorf("sysctl %s=%s: %w", k, v, err)
		}
	}
	if err := finalizeRootfs(cfg); err != nil {
		return err
	}
	if err := applyProcessLimits(&cfg.Process); err != nil {
		return err
	}
	if err := applyLabels(&cfg.Process, cfg.AppArmor); err != nil {
		return err
	}
	path, err := lookPath(&cfg.Process)
	if err != nil {
		return err
	}
	// A WORKDIR that the image lacks is created, as dockerd does; on a
	// read-only root the chdir in finalize reports the problem. Beneath
	// the root: with --pid host, /proc/1/root in a symlink is the host's.
	if cwd := cfg.Process.Cwd; cwd != "" && cwd != "/" {
		if root, err := unix.Open("/", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0); err == nil {
			if fd, err := mkdirInRoot(root, cwd); err == nil {
				unix.Close(fd)
			}
			unix.Close(root)
		}
	}
	// Nothing of the container's runs before it is in its cgroup.
	if err := awaitCgroup(cfg); err != nil {
		return err
	}
	if err := json.NewEncoder(sync).Encode(syncMsg{Type: "ready"}); err != nil {
		return err
	}
	readySent = true
	if err := awaitStart(cfg); err != nil {
		return err
	}
	faultpoint.Hit("stage.init.before-exec")
	return finalize(&cfg.Process, path, spec.Linux.Seccomp, cfg.Seccomp)
}

func execProcess(cfg *stageConfig) error {
	if _, err := unix.Setsid(); err != nil {
		return fmt.Errorf("setsid: %w", err)
	}
	if cfg.Console {
		if err := setupConsole(false, cfg.Process.ConsoleSize); err != nil {
			return err
		}
	}
	if err := applyProcessLimits(&cfg.Process); err != nil {
		return err
	}
	if err := applyLabels(&cfg.Process, cfg.AppArmor); err != nil {
		return err
	}
	path, err := lookPath(&cfg.Process)
	if err != nil {
		return err
	}
	var filter *specs.LinuxSeccomp
	if cfg.Spec != nil && cfg.Spec.Linux != nil {
		filter = cfg.Spec.Linux.Seccomp
	}
	if err := awaitCgroup(cfg); err != nil {
		return err
	}
	faultpoint.Hit("stage.exec.before-exec")
	return finalize(&cfg.Process, path, filter, cfg.Seccomp)
}

var rlimits = map[string]int{
	"RLIMIT_AS": unix.RLIMIT_AS, "RLIMIT_CORE": unix.RLIMIT_CORE, "RLIMIT_CPU": unix.RLIMIT_CPU,
	"RLIMIT_DATA": unix.RLIMIT_DATA, "RLIMIT_FSIZE": unix.RLIMIT_FSIZE, "RLIMIT_LOCKS": unix.RLIMIT_LOCKS,
	"RLIMIT_MEMLOCK": unix.RLIMIT_MEMLOCK, "RLIMIT_MSGQUEUE": unix.RLIMIT_MSGQUEUE, "RLIMIT_NICE": unix.RLIMIT_NICE,
	"RLIMIT_NOFILE": unix.RLIMIT_NOFILE, "RLIMIT_NPROC": unix.RLIMIT_NPROC, "RLIMIT_RSS": unix.RLIMIT_RSS,
	"RLIMIT_RTPRIO": unix.RLIMIT_RTPRIO, "RLIMIT_RTTIME": unix.RLIMIT_RTTIME, "RLIMIT_SIGPENDING": unix.RLIMIT_SIGPENDING,
	"RLIMIT_STACK": unix.RLIMIT_STACK,
}

func applyProcessLimits(p *specs.Process) error {
	for _, r := range p.Rlimits {
		res, ok := rlimits[r.Type]
		if !ok {
			return fmt.Errorf("unknown rlimit %q", r.Type)
		}
		if err := unix.Prlimit(0, res, &unix.Rlimit{Cur: r.Soft, Max: r.Hard}, nil); err != nil {
			return fmt.Errorf("setrlimit %s: %w", r.Type, err)
		}
	}
	if p.OOMScoreAdj != nil {
		if err := procWrite(procThreadSelf, "oom_score_adj", []byte(strconv.Itoa(*p.OOMScoreAdj))); err != nil {
			return fmt.Errorf("oom_score_adj: %w", err)
		}
	}
	return nil
}

// applyLabels sets the AppArmor profile or SELinux label that the next
// execve of this thread (the user process's) enters, through the verified
// procfs writer. A profile on a host without AppArmor is an error, as in
// runc (a daemon asks for one only where the host has it); a host without
// SELinux gets a warning for a label, the way dockerd degrades.
func applyLabels(p *specs.Process, apparmor bool) error {
	if err := applyApparmor(p.ApparmorProfile, apparmor, setLSMExecAttr); err != nil {
		return err
	}
	if p.SelinuxLabel != "" {
		if _, err := os.Stat("/sys/fs/selinux/enforce"); err == nil {
			if err := procWrite(procThreadSelf, "attr/exec", []byte(p.SelinuxLabel)); err != nil {
				return fmt.Errorf("selinux label %q: %w", p.SelinuxLabel, err)
			}
		} else {
			fmt.Fprintf(os.Stderr, "berth: warning: SELinux is not enabled on this host; label %q not applied\n", p.SelinuxLabel)
		}
	}
	return nil
}

func envValue(env []string, key string) string {
	for i := len(env) - 1; i >= 0; i-- {
		if k, v, ok := strings.Cut(env[i], "="); ok && k == key {
			return v
		}
	}
	return ""
}

// lookPath resolves args[0] inside the container before reporting ready,
// so that a missing command fails `create` the way runc makes it fail.
func lookPath(p *specs.Process) (string, error) {
	name := p.Args[0]
	if strings.Contains(name, "/") {
		if err := checkExecutable(name); err != nil {
			return "", fmt.Errorf("exec: %q: %w", name, err)
		}
		return name, nil
	}
	path := envValue(p.Env, "PATH")
	if path == "" {
		path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
	}
	for _, dir := range strings.Split(path, ":") {
		if dir == "" {
			dir = "."
		}
		cand := dir + "/" + name
		if checkExecutable(cand) == nil {
			return cand, nil
		}
	}
	return "", fmt.Errorf("exec: %q: %w", name, errNotInPath)
}

func checkExecutable(path string) error {
	st, err := os.Stat(path)
	if err != nil {
		return err
	}
	// The errnos execve would give, whose words dockerd's messages use.
	if st.IsDir() {
		return unix.EISDIR
	}
	if st.Mode()&0o111 == 0 {
		return unix.EACCES
	}
	return nil
}

// finalize drops to the process's user, capabilities and filters, checks
// the descriptors and working directory, and execs. Everything here acts on
// the locked thread, whose credentials execve keeps.
func finalize(p *specs.Process, path string, filter *specs.LinuxSeccomp, prog *seccomp.Program) error {
	sets, err := caps.FromSpec(p.Capabilities)
	if err != nil {
		return err
	}
	// Without no_new_privs, loading a filter needs CAP_SYS_ADMIN: load it
	// while we still have it (the filter then also covers the calls below,
	// which every sane profile allows).
	if !p.NoNewPrivileges {
		if err := seccomp.LoadCompiled(filter, prog, false); err != nil {
			return err
		}
	}
	if err := caps.DropBounding(sets.Bounding); err != nil {
		return err
	}
	// Keep permitted capabilities across the uid change; capset below
	// then trims them to what the spec grants.
	if err := unix.Prctl(unix.PR_SET_KEEPCAPS, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("keepcaps: %w", err)
	}
	if err := setUser(&p.User); err != nil {
		return err
	}
	if err := unix.Prctl(unix.PR_SET_KEEPCAPS, 0, 0, 0, 0); err != nil {
		return fmt.Errorf("keepcaps: %w", err)
	}
	if err := caps.SetThread(sets); err != nil {
		return err
	}
	cwd := p.Cwd
	if cwd == "" {
		cwd = "/"
	}
	if err := unix.Chdir(cwd); err != nil {
		return fmt.Errorf("chdir %s: %w", cwd, err)
	}
	// CVE-2024-21626: a working directory reached through a leaked host
	// descriptor shows up as "(unreachable)/..." or outside "/".
	// getcwd(2) fails with ENOENT (older kernels: "(unreachable)" prefix).
	if wd, err := unix.Getwd(); err != nil || !strings.HasPrefix(wd, "/") {
		return fmt.Errorf("working directory %q is outside the container (getcwd: %q, %v)", cwd, wd, err)
	}
	if p.NoNewPrivileges {
		if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
			return fmt.Errorf("no_new_privs: %w", err)
		}
		if err := seccomp.LoadCompiled(filter, prog, true); err != nil {
			return err
		}
	}
	if err := closeExtraFds(); err != nil {
		return err
	}
	env := p.Env
	if envValue(env, "HOME") == "" {
		env = append(env, "HOME=/")
	}
	err = unix.Exec(path, p.Args, env)
	return fmt.Errorf("exec %s: %w", path, err)
}

func setUser(u *specs.User) error {
	gids := make([]int, len(u.AdditionalGids))
	for i, g := range u.AdditionalGids {
		gids[i] = int(g)
	}
	// Raw, per-thread calls: the glibc/Go wrappers would broadcast to all
	// threads, which is unnecessary since only this one execs.
	if err := rawSetgroups(gids); err != nil {
		return fmt.Errorf("setgroups: %w", err)
	}
	if _, _, e := unix.RawSyscall(unix.SYS_SETRESGID, uintptr(u.GID), uintptr(u.GID), uintptr(u.GID)); e != 0 {
		return fmt.Errorf("setgid %d: %w", u.GID, e)
	}
	if _, _, e := unix.RawSyscall(unix.SYS_SETRESUID, uintptr(u.UID), uintptr(u.UID), uintptr(u.UID)); e != 0 {
		return fmt.Errorf("setuid %d: %w", u.UID, e)
	}
	if u.Umask != nil {
		unix.Umask(int(*u.Umask))
	} else {
		unix.Umask(0o022)
	}
	return nil
}

// closeExtraFds marks every descriptor above stderr close-on-exec, so
// nothing of the daemon, shim or Go runtime reaches the user process, and
// really closes those that name a file or directory: execve resolves its
// path before close-on-exec applies, so an inherited host directory would
// otherwise let "/proc/self/fd/N/..." run a host binary (CVE-2024-21626).
// The Go runtime's own descriptors (epoll, eventfd, pipes) stay open
// until the exec, since the runtime may still use them.
func closeExtraFds() error {
	if entries, err := os.ReadDir("/proc/self/fd"); err == nil {
		for _, e := range entries {
			fd, err := strconv.Atoi(e.Name())
			if err != nil || fd <= fdSync {
				continue
			}
			var st unix.Stat_t
			if unix.Fstat(fd, &st) == nil {
				if t := st.Mode & unix.S_IFMT; t == unix.S_IFDIR || t == unix.S_IFREG || t == unix.S_IFLNK {
					unix.Close(fd)
				}
			}
		}
	}
	err := unix.CloseRange(3, ^uint(0), unix.CLOSE_RANGE_CLOEXEC)
	if err == nil {
		return nil
	}
	entries, rerr := os.ReadDir("/proc/self/fd")
	if rerr != nil {
		return fmt.Errorf("close_range: %v; list fds: %w", err, rerr)
	}
	for _, e := range entries {
		if fd, err := strconv.Atoi(e.Name()); err == nil && fd > 2 {
			unix.CloseOnExec(fd)
		}
	}
	return nil
}

func rawSetgroups(gids []int) error {
	list := make([]uint32, len(gids))
	for i, g := range gids {
		list[i] = uint32(g)
	}
	var ptr uintptr
	if len(list) > 0 {
		ptr = uintptr(unsafe.Pointer(&list[0]))
	}
	if _, _, e := unix.RawSyscall(unix.SYS_SETGROUPS, uintptr(len(list)), ptr, 0); e != 0 {
		return e
	}
	return nil
}
