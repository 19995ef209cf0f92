package runtime_test

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/berthd/berth/pkg/runtime"
	"github.com/berthd/berth/pkg/runtime/bundletest"
)

// The runc escape classes, against the runtime alone: what a second
// container sharing a volume does is done here by the test, on the host
// side of that directory.

// attempt creates, starts and waits for b, returning its stdout or the
// error that refused it.
func attempt(t *testing.T, rt *runtime.Runtime, b *bundletest.Bundle) (string, error) {
	t.Helper()
	outR, outW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer outR.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, err := rt.Create(ctx, runtime.CreateOpts{ID: nextID(t), Bundle: b.Dir, Spec: b.Spec, Stdout: outW, Stderr: outW})
	outW.Close()
	if err != nil {
		return "", err
	}
	defer c.Delete(true)
	if err := c.Start(); err != nil {
		return "", err
	}
	out, _ := io.ReadAll(outR)
	_, _ = c.Init.Wait()
	return string(out), nil
}

// loop runs f in a goroutine until the returned stop is called.
func loop(f func()) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-done:
				return
			default:
				f()
			}
		}
	}()
	return func() { close(done); wg.Wait() }
}

// bindDev replaces the container's /dev tmpfs with a bind of a host
// directory: a /dev shared with whoever else can write that directory.
func bindDev(t *testing.T, b *bundletest.Bundle) string {
	t.Helper()
	dev := t.TempDir()
	for i, m := range b.Spec.Mounts {
		if m.Destination == "/dev" {
			b.Spec.Mounts[i] = specs.Mount{Destination: "/dev", Type: "bind", Source: dev, Options: []string{"rbind"}}
		}
	}
	return dev
}

// CVE-2021-30465: a directory on the way to a mount point is exchanged
// with a symlink to a host directory while containers start.
func TestMountTargetSwapStaysInRootfs(t *testing.T) {
	victim := t.TempDir()
	b := bundletest.New(t, "true")
	vol := filepath.Join(b.Dir, "rootfs", "vol")
	d, e := filepath.Join(vol, "d"), filepath.Join(vol, "e")
	if err := os.MkdirAll(d, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(victim, e); err != nil {
		t.Fatal(err)
	}
	b.Spec.Mounts = append(b.Spec.Mounts, specs.Mount{Destination: "/vol/d/sub", Type: "tmpfs", Source: "tmpfs"})
	rt := newRuntime(t)
	stop := loop(func() { _ = unix.Renameat2(unix.AT_FDCWD, d, unix.AT_FDCWD, e, unix.RENAME_EXCHANGE) })
	defer stop()
	deadline := time.Now().Add(6 * time.Second)
	for i := 0; i < 200 && time.Now().Before(deadline); i++ {
		_, _ = attempt(t, rt, b)
		if entries, _ := os.ReadDir(victim); len(entries) != 0 {
			t.Fatalf("start %d created %v in the host directory", i, entries)
		}
	}
}

// CVE-2025-31133: /dev/null vanishes (another container shares /dev)
// between its creation and the masks. The start fails or the mask holds.
func TestMaskHoldsWhenDevNullVanishes(t *testing.T) {
	b := bundletest.New(t, "head", "-c", "64", "/proc/timer_list")
	dev := bindDev(t, b)
	rt := newRuntime(t)
	stop := loop(func() { _ = unix.Unlink(filepath.Join(dev, "null")) })
	defer stop()
	deadline := time.Now().Add(3 * time.Second)
	refused := 0
	for i := 0; i < 40 && time.Now().Before(deadline); i++ {
		out, err := attempt(t, rt, b)
		if err != nil {
			if !strings.Contains(err.Error(), "/dev/null") {
				t.Fatalf("start %d: %v", i, err)
			}
			refused++
			continue
		}
		if out != "" {
			t.Fatalf("start %d: /proc/timer_list readable: %q", i, out)
		}
	}
	t.Logf("%d starts refused", refused)
}

// CVE-2025-52565: the pty is bound by descriptor onto a /dev/console that
// is no symlink, and it is the container's pty.
func TestConsoleBoundByDescriptor(t *testing.T) {
	b := sh(t, "stat -c '%t %F' /dev/console; grep -c ' /dev/console ' /proc/self/mountinfo")
	b.Spec.Process.Terminal = true
	rt := newRuntime(t)
	run := func() (string, error) {
		parent, child, err := runtime.NewConsoleSocketPair()
		if err != nil {
			t.Fatal(err)
		}
		defer parent.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		c, err := rt.Create(ctx, runtime.CreateOpts{ID: nextID(t), Bundle: b.Dir, Spec: b.Spec, ConsoleSocket: child})
		child.Close()
		if err != nil {
			return "", err
		}
		defer c.Delete(true)
		master, err := runtime.RecvConsole(parent)
		if err != nil {
			t.Fatal(err)
		}
		defer master.Close()
		if err := c.Start(); err != nil {
			return "", err
		}
		var out strings.Builder
		buf := make([]byte, 4096)
		for {
			n, err := master.Read(buf)
			out.Write(buf[:n])
			if err != nil {
				break
			}
		}
		_, _ = c.Init.Wait()
		return out.String(), nil
	}
	out, err := run()
	// 0x88 is 136, the first pty slave major.
	if err != nil || !strings.Contains(out, "88 character special file") || !strings.Contains(out, "1") {
		t.Fatalf("%q %v", out, err)
	}
	// A /dev shared through a volume, where /dev/console was made a
	// symlink: the pty must not be bound over what it points to.
	dev := bindDev(t, b)
	if err := os.Symlink("/etc/hostname", filepath.Join(dev, "console")); err != nil {
		t.Fatal(err)
	}
	if out, err = run(); err == nil || !strings.Contains(err.Error(), "/dev/console") {
		t.Fatalf("console over a symlink: %q %v", out, err)
	}
}

// Mounts over /proc are refused, also when a symlink in the image leads
// the destination there.
func TestProcMountsRefused(t *testing.T) {
	f := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(f, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	rt := newRuntime(t)
	for _, c := range []struct{ link, dest, want string }{
		{"", "/proc/sys/kernel/core_pattern", `"/proc/sys/kernel/core_pattern" cannot be mounted because it is inside /proc`},
		{"/etc/p", "/etc/p/kernel/core_pattern", `"/proc/sys/kernel/core_pattern" cannot be mounted because it is inside /proc`},
		{"", "/proc/cpuinfo", ""},
	} {
		b := bundletest.New(t, "true")
		if c.link != "" {
			if err := os.Symlink("/proc/sys", filepath.Join(b.Dir, "rootfs", c.link)); err != nil {
				t.Fatal(err)
			}
		}
		b.Spec.Mounts = append(b.Spec.Mounts, specs.Mount{Destination: c.dest, Type: "bind", Source: f, Options: []string{"bind", "ro"}})
		_, err := attempt(t, rt, b)
		if c.want == "" && err != nil || c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)) {
			t.Errorf("%s: %v, want %q", c.dest, err, c.want)
		}
	}
}

// CVE-2025-52565 class: a container sharing /dev through a volume puts a
// device of its choice where the pty multiplexer is looked up (here
// /dev/null's numbers; a watchdog arms when opened). The runtime must
// refuse it before opening it: the node must never be opened for I/O.
func TestPtmxCheckedBeforeOpen(t *testing.T) {
	b := sh(t, "true")
	b.Spec.Process.Terminal = true
	dev := bindDev(t, b)
	// No devpts of the container's own: /dev/pts is the sharer's directory.
	mounts := b.Spec.Mounts[:0]
	for _, m := range b.Spec.Mounts {
		if m.Destination != "/dev/pts" {
			mounts = append(mounts, m)
		}
	}
	b.Spec.Mounts = mounts
	fake := filepath.Join(dev, "pts", "ptmx")
	if err := os.Mkdir(filepath.Dir(fake), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mknod(fake, unix.S_IFCHR|0o666, int(unix.Mkdev(1, 3))); err != nil {
		t.Fatal(err)
	}
	in, err := unix.InotifyInit1(unix.IN_NONBLOCK | unix.IN_CLOEXEC)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(in)
	if _, err := unix.InotifyAddWatch(in, fake, unix.IN_OPEN); err != nil {
		t.Fatal(err)
	}
	parent, child, err := runtime.NewConsoleSocketPair()
	if err != nil {
		t.Fatal(err)
	}
	defer parent.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	rt := newRuntime(t)
	c, err := rt.Create(ctx, runtime.CreateOpts{ID: nextID(t), Bundle: b.Dir, Spec: b.Spec, ConsoleSocket: child})
	child.Close()
	if err == nil {
		defer c.Delete(true)
		err = c.Start()
	}
	buf := make([]byte, 4096)
	if n, _ := unix.Read(in, buf); n > 0 {
		t.Errorf("the fake /dev/pts/ptmx (1:3) was opened")
	}
	if err == nil || !strings.Contains(err.Error(), "/dev/pts/ptmx is not on a devpts mount") {
		t.Errorf("start: %v, want the ptmx check to refuse it", err)
	}
}

// A net.* sysctl for a container whose network namespace path names a
// process in the host's (the engine checked that PID, which then exited
// and was reused) must not reach the host: the stage checks again where
// it is. The value is the host's own, so a failure changes nothing.
func TestNetSysctlRefusedInHostNetns(t *testing.T) {
	const key = "net.core.somaxconn"
	cur, err := os.ReadFile("/proc/sys/net/core/somaxconn")
	if err != nil {
		t.Fatal(err)
	}
	b := bundletest.New(t, "true")
	for i, ns := range b.Spec.Linux.Namespaces {
		if ns.Type == specs.NetworkNamespace {
			b.Spec.Linux.Namespaces[i].Path = fmt.Sprintf("/proc/%d/ns/net", os.Getpid())
		}
	}
	b.Spec.Linux.Sysctl = map[string]string{key: strings.TrimSpace(string(cur))}
	_, err = attempt(t, newRuntime(t), b)
	if err == nil || !strings.Contains(err.Error(), `sysctl "net.core.somaxconn" not allowed in host network namespace`) {
		t.Fatalf("start: %v, want the sysctl refused", err)
	}
	// In a namespace of its own, it is written.
	b.Spec.Linux.Namespaces = bundletest.New(t, "true").Spec.Linux.Namespaces
	b.Spec.Process.Args = []string{"cat", "/proc/sys/net/core/somaxconn"}
	b.Spec.Linux.Sysctl = map[string]string{key: "77"}
	if out, err := attempt(t, newRuntime(t), b); err != nil || strings.TrimSpace(out) != "77" {
		t.Fatalf("own namespace: %q %v", out, err)
	}
}
