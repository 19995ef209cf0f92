package shim

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/berthd/berth/pkg/phases"
	"golang.org/x/sys/unix"
)

// Every shim starts as a spare: a shim process that has done its exec
// and its runtime's start-up (about 3 ms) and waits on its control pipe
// for the container it is to watch. Launch hands the next container to
// the waiting spare and starts another in the background, so that a
// container start pays for neither; without a spare it starts one and
// hands over at once. There is at most one spare, made on first use by
// Launch; it exits when its launcher does (its control pipe ends).
//
// The hand-over is the container's directory on one line, then its
// Config as JSON, then the end of the pipe: the config is never written
// to disk (a file per container start is an inode made and dropped, a
// cost on a busy ext4), and a shim needs it only while it starts.

// spareFd is the control pipe a spare reads its container from.
const spareFd = 5

type spare struct {
	p     *os.Process
	ctl   *os.File // write end of the control pipe
	ready *os.File // read end of the shim's ready line
	env   string   // the LaunchOpts.Env it was started with
}

var spares struct {
	mu       sync.Mutex
	next     *spare
	starting bool
}

// takeSpare returns the waiting spare if it was started with env; nil if
// there is none.
func takeSpare(env []string) *spare {
	spares.mu.Lock()
	s := spares.next
	spares.next = nil
	spares.mu.Unlock()
	if s == nil {
		return nil
	}
	if s.env == strings.Join(env, "\x00") {
		return s
	}
	// A spare for another environment: let it go.
	s.discard()
	return nil
}

// discard lets a spare go: it is killed and its pipes closed.
func (s *spare) discard() {
	s.ctl.Close()
	s.ready.Close()
	_ = s.p.Kill()
}

// handOver gives the spare its container: the directory and the config.
// A spare that died meanwhile fails the write (EPIPE); one that does not
// read a config larger than the pipe holds fails it when ctx ends.
func (s *spare) handOver(ctx context.Context, dir string, config []byte) error {
	msg := make([]byte, 0, len(dir)+1+len(config))
	msg = append(append(append(msg, dir...), '\n'), config...)
	stop := context.AfterFunc(ctx, func() { _ = s.ctl.SetWriteDeadline(time.Now()) })
	defer stop()
	_, err := s.ctl.Write(msg)
	if cerr := s.ctl.Close(); err == nil {
		err = cerr
	}
	return err
}

// run hands the spare its container and waits for its ready pipe's
// answer: the "ok" or "error: " line, trimmed, or "" with the read error
// if the pipe ended first. The "pid" line before it goes to initStarted;
// sawPid says that one came. It returns early, with "", when ctx ends.
func (s *spare) run(ctx context.Context, dir string, config []byte, initStarted func(pid int)) (line string, sawPid bool, err error) {
	if err := s.handOver(ctx, dir, config); err != nil {
		return "", false, err
	}
	tr := phases.From(ctx)
	tr.Mark("shim-hand-over")
	type result struct {
		line   string
		sawPid bool
		err    error
	}
	ch := make(chan result, 1)
	go func() {
		br := bufio.NewReader(s.ready)
		saw := false
		for {
			line, err := br.ReadString('\n')
			if rest, ok := strings.CutPrefix(line, "pid "); ok && err == nil {
				saw = true
				tr.Mark("init-namespaces")
				if pid, perr := strconv.Atoi(strings.TrimSpace(rest)); perr == nil && initStarted != nil {
					initStarted(pid)
				}
				continue
			}
			ch <- result{strings.TrimSpace(line), saw, err}
			return
		}
	}()
	select {
	case res := <-ch:
		return res.line, res.sawPid, res.err
	case <-ctx.Done():
		return "", false, ctx.Err()
	}
}

// refillSpare starts a spare for env unless one is waiting or starting.
func refillSpare(env []string, exe *os.File) {
	spares.mu.Lock()
	if spares.next != nil || spares.starting {
		spares.mu.Unlock()
		return
	}
	spares.starting = true
	spares.mu.Unlock()
	s, err := startSpare(env, exe)
	spares.mu.Lock()
	spares.starting = false
	if err == nil {
		spares.next = s
	}
	spares.mu.Unlock()
}

func startSpare(env []string, exe *os.File) (*spare, error) {
	ctlR, ctlW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	defer ctlR.Close()
	p, ready, err := spawnShim(append(append([]string(nil), env...), shimEnv()...), exe, ctlR)
	if err != nil {
		ctlW.Close()
		return nil, err
	}
	return &spare{p: p, ctl: ctlW, ready: ready, env: strings.Join(env, "\x00")}, nil
}

// awaitContainer is a spare's wait for its container. It then takes the
// container's directory as its working directory and its log as stderr.
func awaitContainer() (string, Config, error) {
	var cfg Config
	// A spare may wait long: it keeps only what it needs to wait. It
	// waits in poll(2) right after the trim, so that only the pages of a
	// blocking system call come back while it waits, not those of the
	// runtime's poller and scheduler.
	trimMemory()
	fds := []unix.PollFd{{Fd: spareFd, Events: unix.POLLIN}}
	for {
		if _, err := unix.Poll(fds, -1); err != unix.EINTR {
			break
		}
	}
	ctl := os.NewFile(spareFd, "spare")
	defer ctl.Close()
	br := bufio.NewReader(ctl)
	line, err := br.ReadString('\n')
	dir := strings.TrimSuffix(line, "\n")
	if err != nil || dir == "" {
		return "", cfg, errLauncherGone
	}
	if err := json.NewDecoder(br).Decode(&cfg); err != nil {
		return "", cfg, fmt.Errorf("read the container's config: %w", err)
	}
	if err := os.Chdir(dir); err != nil {
		return "", cfg, err
	}
	logf, err := os.OpenFile(filepath.Join(dir, LogFile), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return "", cfg, err
	}
	defer logf.Close()
	return dir, cfg, unix.Dup3(int(logf.Fd()), 2, 0)
}

// errLauncherGone: the control pipe ended without a container.
var errLauncherGone = errors.New("launcher gone")
