package shim

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"golang.org/x/sys/unix"

	"github.com/berthd/berth/pkg/cgroups"
	"github.com/berthd/berth/pkg/jsonlog"
	"github.com/berthd/berth/pkg/runtime"
	"github.com/berthd/berth/pkg/wire"
)

// A shim is reborn once it is idle: it executes a fresh image of the
// sealed binary in its own process, which takes the container over
// (rebirthState) and goes on watching it. The process stays the container
// init's parent, its socket stays bound, and a connection that arrives
// meanwhile waits in the listener's backlog.
//
// Why: a Go program never gives its heap back without a collection, and
// a collection costs a small heap more in its own metadata than it frees.
// Creating the container (the config's and the spec's decoding, with
// encoding/json's caches for every runtime-spec type; the stage's
// config; the threads that its blocking calls took) left the first image
// holding 1.8 MiB of private memory, where watching needs 1.1. A new
// image starts with only the runtime's and the packages' own memory and
// decodes the spec only if an exec needs it. The image that created the
// container is reborn a second after its last request; a later one once
// it has grown by rebirthAfter (an exec, a stats stream) and lived
// Config.ImageLife. A rebirth costs about 8 ms of CPU.
//
// Only an idle shim is reborn: no exec or other request under way, no
// attached client's stdin being copied, no output between its read and
// its log or on its way to a client, no event unwritten. The connections
// that only wait for the exit or take output ("wait", "events", "attach"
// without stdin or after its end) are handed over, as are the output
// pipes (with the start of a line not yet logged), stdin and the pty
// master.

// envRebirth names the descriptor, in a reborn shim, of its rebirthState.
// envImage, beside it, counts the shim's images: 1 after its first
// rebirth. It stays in /proc/PID/environ, for a look from outside.
const (
	envRebirth = "_BERTH_SHIM_REBIRTH"
	envImage   = "_BERTH_SHIM_IMAGE"
)

// errNotIdle: the shim has work under way, whose end schedules the next
// idle check, or nothing to gain.
var errNotIdle = errors.New("shim is not idle")

// retryIn: not now, but the shim may be idle, or old enough, after this
// long.
type retryIn time.Duration

func (r retryIn) Error() string { return "shim is busy for now" }

// rebirthState is what a shim hands to its next image, in pkg/wire's
// encoding (marshal, unmarshalRebirthState). The numbers are
// descriptors, kept open across the execve.
type rebirthState struct {
	Dir       string
	Config    Config // but for Spec, Seccomp and CgroupV1, which serve the creation only (V1 below carries the hierarchies)
	Container containerSnapshot
	Listener  int
	Stdin     int // -1: none
	Console   int // -1: none
	Outputs   []outputState
	Waits     []int
	Events    []int
	Attaches  []int
	OOMSent   bool
	Orphans   bool
	// Keep is what trimMemory must keep of the binary, which the new
	// image then trims without parsing its ELF headers again.
	Keep keptRanges
	// V1 are the host's cgroup v1 hierarchies (none on a v2 host), which
	// the new image then does not read from /proc/self/mountinfo again.
	V1 []cgroups.Hierarchy
}

type outputState struct {
	Fd      int
	Stream  byte
	Name    string
	Pending []byte
}

// containerSnapshot is one of the two kinds of container.
type containerSnapshot struct {
	Builtin  *runtime.Snapshot
	External *externalState
}

type externalState struct {
	Bin, Root, ID, Dir, CgroupPath string
	Pid                            int
}

// stateMagic starts an encoded rebirthState.
const stateMagic = "berth-shim-state-1\n"

func (st *rebirthState) marshal() ([]byte, error) {
	w := wire.NewWriter([]byte(stateMagic))
	w.String(st.Dir)
	c := st.Config
	w.String(c.ID)
	w.String(c.Bundle)
	w.String(c.RuntimeRoot)
	w.String(c.LogPath)
	w.Int(c.LogMaxSize)
	w.Int(int64(c.LogMaxFile))
	w.Bool(c.OpenStdin)
	w.String(c.Runtime)
	w.Bool(c.NoPivot)
	w.Int(int64(c.ImageLife))
	switch sn := st.Container; {
	case sn.Builtin != nil:
		w.Uint(1)
		b, err := sn.Builtin.AppendBinary(w.Data())
		if err != nil {
			return nil, err
		}
		w = wire.NewWriter(b)
	case sn.External != nil:
		e := sn.External
		w.Uint(2)
		for _, f := range []string{e.Bin, e.Root, e.ID, e.Dir, e.CgroupPath} {
			w.String(f)
		}
		w.Int(int64(e.Pid))
	default:
		return nil, errors.New("no container to hand over")
	}
	for _, fd := range []int{st.Listener, st.Stdin, st.Console} {
		w.Int(int64(fd))
	}
	w.Uint(uint64(len(st.Outputs)))
	for _, o := range st.Outputs {
		w.Int(int64(o.Fd))
		w.Uint(uint64(o.Stream))
		w.String(o.Name)
		w.Bytes(o.Pending)
	}
	for _, fds := range [][]int{st.Waits, st.Events, st.Attaches} {
		w.Uint(uint64(len(fds)))
		for _, fd := range fds {
			w.Int(int64(fd))
		}
	}
	w.Bool(st.OOMSent)
	w.Bool(st.Orphans)
	w.Bool(st.Keep.fixed)
	w.Uint(st.Keep.firstLoad)
	w.Uint(uint64(len(st.Keep.ranges)))
	for _, r := range st.Keep.ranges {
		w.Uint(r[0])
		w.Uint(r[1])
	}
	w.Uint(uint64(len(st.V1)))
	for _, h := range st.V1 {
		w.String(h.MountPoint)
		w.Uint(uint64(len(h.Options)))
		for _, o := range h.Options {
			w.String(o)
		}
	}
	return w.Data(), nil
}

// unmarshalRebirthState reads what marshal wrote. The spec and the
// pending output alias data.
func unmarshalRebirthState(data []byte) (*rebirthState, error) {
	rest, ok := bytes.CutPrefix(data, []byte(stateMagic))
	if !ok {
		return nil, errors.New("not a shim's state")
	}
	r := wire.NewReader(rest)
	st := &rebirthState{Dir: r.String()}
	st.Config = Config{
		ID: r.String(), Bundle: r.String(), RuntimeRoot: r.String(), LogPath: r.String(),
		LogMaxSize: r.Int(), LogMaxFile: int(r.Int()), OpenStdin: r.Bool(), Runtime: r.String(), NoPivot: r.Bool(),
		ImageLife: time.Duration(r.Int()),
	}
	switch r.Uint() {
	case 1:
		sn, err := runtime.ReadSnapshot(r)
		if err != nil {
			return nil, err
		}
		st.Container.Builtin = sn
	case 2:
		e := &externalState{Bin: r.String(), Root: r.String(), ID: r.String(), Dir: r.String(), CgroupPath: r.String()}
		e.Pid = int(r.Int())
		st.Container.External = e
	default:
		return nil, fmt.Errorf("bad container kind in a shim's state: %v", r.Err(false))
	}
	st.Listener, st.Stdin, st.Console = int(r.Int()), int(r.Int()), int(r.Int())
	n := r.Uint()
	for i := uint64(0); i < n && r.Err(false) == nil; i++ {
		st.Outputs = append(st.Outputs, outputState{Fd: int(r.Int()), Stream: byte(r.Uint()), Name: r.String(), Pending: r.Bytes()})
	}
	for _, fds := range []*[]int{&st.Waits, &st.Events, &st.Attaches} {
		n := r.Uint()
		for i := uint64(0); i < n && r.Err(false) == nil; i++ {
			*fds = append(*fds, int(r.Int()))
		}
	}
	st.OOMSent = r.Bool()
	st.Orphans = r.Bool()
	st.Keep.fixed, st.Keep.firstLoad = r.Bool(), r.Uint()
	n = r.Uint()
	for i := uint64(0); i < n && r.Err(false) == nil; i++ {
		st.Keep.ranges = append(st.Keep.ranges, [2]uint64{r.Uint(), r.Uint()})
	}
	n = r.Uint()
	for i := uint64(0); i < n && r.Err(false) == nil; i++ {
		h := cgroups.Hierarchy{MountPoint: r.String()}
		m := r.Uint()
		for j := uint64(0); j < m && r.Err(false) == nil; j++ {
			h.Options = append(h.Options, r.String())
		}
		st.V1 = append(st.V1, h)
	}
	if err := r.Err(true); err != nil {
		return nil, fmt.Errorf("a shim's state: %w", err)
	}
	return st, nil
}

func (b builtin) snapshot() (containerSnapshot, error) {
	sn, err := b.Container.Snapshot()
	return containerSnapshot{Builtin: sn}, err
}

func (e *external) snapshot() (containerSnapshot, error) {
	return containerSnapshot{External: &externalState{
		Bin: e.bin, Root: e.root, ID: e.id, Dir: e.dir, CgroupPath: e.cgroupPath, Pid: e.pid,
	}}, nil
}

// rebirthAfter is how much private memory an image gains (decoding an
// exec's process and the spec, streaming stats, ...) before it is worth
// a rebirth, about 8 ms of CPU. A request that takes little (a state)
// does not make one, and an image lives Config.ImageLife at least.
const rebirthAfter = 256 << 10

// hasGrown says (nil) that this image holds more than a new one would,
// and has lived long enough to be replaced; errNotIdle or a retryIn if
// not. The measure is the kernel's, the Anonymous memory of smaps_rollup
// (heap, stacks, written data; not the code, which the other shims share,
// or which counts as private in the only shim), against the baseline
// taken as the image began: runtime.ReadMemStats would itself cost an
// idle shim 180 KiB.
func (s *server) hasGrown() error {
	if s.grown {
		return nil
	}
	if !s.served || s.baseline == 0 {
		return errNotIdle
	}
	life := s.cfg.ImageLife
	if life <= 0 {
		life = DefaultImageLife
	}
	if age := time.Since(s.born); age < life {
		// Come back when it is old enough: nothing else may wake it.
		return retryIn(max(life-age, 100*time.Millisecond))
	}
	if now, ok := anonymousMemory(); ok && now > s.baseline+rebirthAfter {
		return nil
	}
	return errNotIdle
}

// anonymousMemory reads this process's anonymous memory, in bytes,
// through the pooled output buffer and plain system calls (trimMemory).
func anonymousMemory() (uint64, bool) {
	fd, err := unix.Open("/proc/self/smaps_rollup", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return 0, false
	}
	defer unix.Close(fd)
	pooled := outputBuffers.Get().(*[]byte)
	defer outputBuffers.Put(pooled)
	buf := *pooled
	n := 0
	for n < len(buf) {
		m, err := rawRead(fd, buf[n:])
		if err == unix.EINTR {
			continue
		}
		if err != nil || m == 0 {
			break
		}
		n += m
	}
	_, rest, ok := bytes.Cut(buf[:n], []byte("\nAnonymous:"))
	if !ok {
		return 0, false
	}
	line, _, _ := bytes.Cut(rest, []byte("\n"))
	kib, err := strconv.ParseUint(string(bytes.TrimSuffix(bytes.TrimSpace(line), []byte(" kB"))), 10, 64)
	return kib << 10, err == nil
}

// rebirth executes the next image of the shim when the shim is idle. It
// returns only if it did not: errNotIdle, or why the execve failed.
func (s *server) rebirth() error {
	exe, err := runtime.SealedExecutable()
	if err != nil {
		return err
	}
	// Output copiers hold outMu from a read until it is logged; one that
	// is slowed down by an attached client is not idle either.
	busy := retryIn(idleAfter)
	if !s.outMu.TryLock() {
		return busy
	}
	defer s.outMu.Unlock()
	// Held until the execve: no request, event or exit moves on meanwhile.
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.started || s.exiting || s.exit != nil || s.inputs > 0 || s.execOutputs > 0 || s.active != len(s.parked) {
		return errNotIdle
	}
	for sub := range s.evsubs {
		if sub.inflight > 0 {
			return busy
		}
	}
	if len(s.oomEvents) > 0 {
		return busy
	}
	for sub := range s.subs {
		// With outMu held no frame is being queued: one in the queue
		// or being written would be lost.
		if s.parked[sub.conn] != "attach" {
			return errNotIdle
		}
		if sub.queued.Load() != 0 {
			return busy
		}
	}
	if err := s.hasGrown(); err != nil {
		return err
	}
	snap, err := s.ctr.snapshot()
	if err != nil {
		return err
	}
	st := rebirthState{
		Dir: s.dir, Config: s.cfg, Container: snap, Listener: fdOf(s.l.f),
		Stdin: fdOf(s.stdin), Console: fdOf(s.console), OOMSent: s.oomSent, Orphans: s.orphans,
	}
	if keep, err := binaryWrittenRanges(); err == nil {
		st.Keep = keep
	}
	if !cgroups.IsV2() {
		if hs, err := cgroups.V1Hierarchies(); err == nil {
			st.V1 = hs
		}
	}
	for _, o := range s.outputs {
		if o.f == nil {
			continue // ended
		}
		out := outputState{Fd: fdOf(o.f), Stream: o.stream, Name: o.name}
		if o.log != nil {
			out.Pending = o.log.Pending()
		}
		st.Outputs = append(st.Outputs, out)
	}
	for c, kind := range s.parked {
		fd := fdOf(c.File)
		if fd < 0 || hungUp(fd) {
			// The client is gone; its handler would only learn so on
			// its next write, which may never come.
			continue
		}
		switch kind {
		case "wait":
			st.Waits = append(st.Waits, fd)
		case "events":
			st.Events = append(st.Events, fd)
		case "attach":
			st.Attaches = append(st.Attaches, fd)
		}
	}
	data, err := st.marshal()
	if err != nil {
		return err
	}
	mfd, err := unix.MemfdCreate("berthd-shim-state", 0)
	if err != nil {
		return fmt.Errorf("memfd_create: %w", err)
	}
	defer unix.Close(mfd)
	if err := writeAll(mfd, data); err != nil {
		return err
	}
	if _, err := unix.Seek(mfd, 0, io.SeekStart); err != nil {
		return err
	}
	exeFd := int(exe.Fd())
	keep := append(st.fds(), exeFd)
	var cleared []int
	defer func() {
		// Only reached when the execve failed: this image goes on.
		for _, fd := range cleared {
			_, _ = unix.FcntlInt(uintptr(fd), unix.F_SETFD, unix.FD_CLOEXEC)
		}
	}()
	for _, fd := range keep {
		if _, err := unix.FcntlInt(uintptr(fd), unix.F_SETFD, 0); err != nil {
			return fmt.Errorf("keep descriptor %d: %w", fd, err)
		}
		cleared = append(cleared, fd)
	}
	env := append(os.Environ(),
		envRebirth+"="+strconv.Itoa(mfd),
		envImage+"="+strconv.Itoa(s.image+1),
		runtime.EnvSealedExeFd+"="+strconv.Itoa(exeFd))
	env = append(env, shimRuntimeEnv...)
	err = unix.Exec("/proc/self/fd/"+strconv.Itoa(exeFd), []string{"berthd", "shim"}, env)
	return fmt.Errorf("execve: %w", err)
}

// fdOf is f's descriptor, or -1 for a nil or closed file. Unlike Fd it
// leaves a non-blocking descriptor so, for this image to go on with if
// the execve fails.
func fdOf(f *os.File) int {
	if f == nil {
		return -1
	}
	rc, err := f.SyscallConn()
	if err != nil {
		return -1
	}
	fd := -1
	if rc.Control(func(u uintptr) { fd = int(u) }) != nil {
		return -1
	}
	return fd
}

// hungUp reports that the peer of the socket fd has closed it: POLLHUP,
// which a half-close (shutdown of its writing side) does not raise.
func hungUp(fd int) bool {
	p := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN | unix.POLLRDHUP}}
	n, err := unix.Poll(p, 0)
	return err == nil && n > 0 && p[0].Revents&unix.POLLHUP != 0
}

// readSized reads the whole of a file whose size does not change, into
// one allocation.
func readSized(f *os.File) ([]byte, error) {
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	data := make([]byte, fi.Size())
	_, err = io.ReadFull(f, data)
	return data, err
}

func writeAll(fd int, data []byte) error {
	for len(data) > 0 {
		n, err := unix.Write(fd, data)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return err
		}
		data = data[n:]
	}
	return nil
}

// resume is a reborn shim's start: it takes the container over from the
// state its previous image left at descriptor fd, and watches it until
// its exit is recorded.
func resume(fd int) error {
	f := os.NewFile(uintptr(fd), "rebirth-state")
	data, err := readSized(f)
	f.Close()
	if err != nil {
		return fmt.Errorf("read the state of the previous image: %w", err)
	}
	st, err := unmarshalRebirthState(data)
	if err != nil {
		return fmt.Errorf("read the state of the previous image: %w", err)
	}
	s, l, err := st.resume()
	if err != nil {
		// Nothing has reaped the init yet: its PID is still its own.
		st.abandon(err)
		return err
	}
	defer l.Close()
	if s.logw != nil {
		defer s.logw.Close()
	}
	return s.monitor(l)
}

// resume sets up the server of a reborn shim from its state. On error
// nothing has been started.
func (st *rebirthState) resume() (*server, *unixListener, error) {
	// The descriptors handed over were kept open across the execve, and
	// must not go further: to an exec stage, runc, or the next image
	// (which gets those it needs again).
	for _, fd := range st.fds() {
		unix.CloseOnExec(fd)
	}
	if len(st.V1) > 0 {
		cgroups.SetV1Hierarchies(st.V1)
	}
	// Kept across execve; set again in case a kernel does not.
	if err := becomeSubreaper(); err != nil {
		return nil, nil, err
	}
	s := newServer(st.Dir, st.Config)
	s.oomSent = st.OOMSent
	s.orphans = st.Orphans
	s.started = true
	s.image, _ = strconv.Atoi(os.Getenv(envImage))
	os.Unsetenv(envImage)
	switch sn := st.Container; {
	case sn.Builtin != nil:
		c, err := runtime.New(st.Config.RuntimeRoot).Adopt(sn.Builtin)
		if err != nil {
			return nil, nil, err
		}
		s.ctr = builtin{c}
	case sn.External != nil:
		e := sn.External
		s.ctr = &external{bin: e.Bin, root: e.Root, id: e.ID, dir: e.Dir, cgroupPath: e.CgroupPath, pid: e.Pid}
	default:
		return nil, nil, errors.New("no container in the state of the previous image")
	}
	sock := filepath.Join(st.Dir, SocketFile)
	l := &unixListener{f: os.NewFile(uintptr(st.Listener), sock), path: sock}
	s.l = l
	if st.Config.LogPath != "" {
		var err error
		if s.logw, err = jsonlog.Resume(st.Config.LogPath, st.Config.LogMaxSize, st.Config.LogMaxFile); err != nil {
			// Not worth the container: it goes on, unlogged, and the
			// reason is in the shim's log.
			fmt.Fprintf(os.Stderr, "shim: container log: %v\n", err)
			s.logw = nil
		}
	}
	if st.Console >= 0 {
		s.console = os.NewFile(uintptr(st.Console), "console")
	}
	if st.Stdin >= 0 {
		if st.Stdin == st.Console {
			s.stdin = s.console
		} else {
			s.stdin = os.NewFile(uintptr(st.Stdin), "stdin")
		}
	}
	// The clients come back before the output does: output that came
	// during the execve, waiting in the pipes, reaches them too.
	s.mu.Lock()
	s.active += len(st.Waits) + len(st.Events) + len(st.Attaches)
	s.mu.Unlock()
	for _, fd := range st.Attaches {
		c := &unixConn{os.NewFile(uintptr(fd), sock)}
		sub := &subscriber{ch: make(chan frame, 256), ended: make(chan struct{}), gone: make(chan struct{}), conn: c}
		s.mu.Lock()
		s.subs[sub] = struct{}{}
		s.mu.Unlock()
		s.serveConn(c, func(*unixConn) {
			defer s.unsubscribe(sub)
			s.park(c, "attach")
			s.forward(sub)
		})
	}
	for _, fd := range st.Events {
		c := &unixConn{os.NewFile(uintptr(fd), sock)}
		sub := s.subscribeEvents(c)
		s.serveConn(c, func(c *unixConn) { s.streamEvents(c, sub, false) })
	}
	for _, fd := range st.Waits {
		s.serveConn(&unixConn{os.NewFile(uintptr(fd), sock)}, s.waitExit)
	}
	for _, o := range st.Outputs {
		s.pump(os.NewFile(uintptr(o.Fd), o.Name), o.Stream, o.Name, o.Pending)
	}
	if len(st.Keep.ranges) > 0 {
		binaryWrittenRanges = func() (keptRanges, error) { return st.Keep, nil }
	}
	s.born = time.Now()
	s.baseline, _ = anonymousMemory()
	// The code that starting this image ran is shared with the other
	// shims' but counts in this one's Rss until dropped: idle trims it,
	// once the monitor has settled.
	s.scheduleIdleIn(100 * time.Millisecond)
	return s, l, nil
}

// fds lists the descriptors the state hands over.
func (st *rebirthState) fds() []int {
	fds := []int{st.Listener, st.Stdin, st.Console}
	for _, o := range st.Outputs {
		fds = append(fds, o.Fd)
	}
	fds = append(fds, st.Waits...)
	fds = append(fds, st.Events...)
	fds = append(fds, st.Attaches...)
	out := fds[:0]
	for _, fd := range fds {
		if fd >= 0 {
			out = append(out, fd)
		}
	}
	return out
}

// abandon is the end of a reborn shim that could not take its container
// over: the container is killed rather than left running unwatched, and
// the exit is recorded for the daemon, whose wait ends as the shim exits.
func (st *rebirthState) abandon(cause error) {
	pid := 0
	switch {
	case st.Container.Builtin != nil:
		pid = st.Container.Builtin.Pid
	case st.Container.External != nil:
		pid = st.Container.External.Pid
	}
	if pid > 0 {
		_ = unix.Kill(pid, unix.SIGKILL)
	}
	if st.Dir == "" {
		return
	}
	data, _ := json.Marshal(&Exit{Code: 137, ExitedAt: time.Now().UTC(), Error: "shim: " + cause.Error()})
	_ = writeAtomic(filepath.Join(st.Dir, ExitFile), data, 0o644)
	_ = os.Remove(filepath.Join(st.Dir, SocketFile))
}
