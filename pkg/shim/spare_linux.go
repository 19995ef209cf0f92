package shim

import (
	"bufio"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

// A spare is a shim process started ahead of need: it has done its exec
// and its runtime's start-up (about 3 ms) and waits for the directory of
// the container it is to watch. Launch hands the next container to the
// spare and starts another in the background, so that a container start
// pays for neither. There is at most one spare, made on first use by
// Launch; it exits when its launcher does (its control pipe ends).

// spareDir is EnvShimDir's value for a spare; spareFd is the control pipe
// it reads the real directory from.
const (
	spareDir = "-"
	spareFd  = 5
)

type spare struct {
	p     *os.Process
	ctl   *os.File // write end: the container's directory, one line
	ready *os.File // read end of the shim's ready line
	env   string   // the LaunchOpts.Env it was started with
}

var spares struct {
	mu       sync.Mutex
	next     *spare
	starting bool
}

// takeSpare hands dir to the spare if one started with env is waiting,
// and returns its process and ready pipe; nil if there is none.
func takeSpare(env []string, dir string) *spare {
	spares.mu.Lock()
	s := spares.next
	spares.next = nil
	spares.mu.Unlock()
	if s == nil {
		return nil
	}
	if s.env == strings.Join(env, "\x00") {
		_, err := s.ctl.WriteString(dir + "\n")
		s.ctl.Close()
		if err == nil {
			return s
		}
	}
	// A spare for another environment, or one that died: let it go.
	s.ctl.Close()
	s.ready.Close()
	_ = s.p.Kill()
	return nil
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
	p, ready, err := spawnShim([]string{"shim"}, "/", append(append([]string(nil), env...), shimEnv(spareDir)...), nil, exe, ctlR)
	if err != nil {
		ctlW.Close()
		return nil, err
	}
	return &spare{p: p, ctl: ctlW, ready: ready, env: strings.Join(env, "\x00")}, nil
}

// awaitContainer is a spare's wait for its container's directory. It
// then takes the directory as its working directory and its log as
// stderr, as Launch gives a shim started for one container.
func awaitContainer() (string, error) {
	// A spare may wait long: it keeps only what it needs to wait.
	trim(true)
	ctl := os.NewFile(spareFd, "spare")
	line, err := bufio.NewReader(ctl).ReadString('\n')
	ctl.Close()
	dir := strings.TrimSuffix(line, "\n")
	if err != nil || dir == "" {
		return "", errors.New("launcher gone")
	}
	if err := os.Chdir(dir); err != nil {
		return "", err
	}
	logf, err := os.OpenFile(filepath.Join(dir, LogFile), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return "", err
	}
	defer logf.Close()
	return dir, unix.Dup3(int(logf.Fd()), 2, 0)
}
