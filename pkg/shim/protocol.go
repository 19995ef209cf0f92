package shim

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"syscall"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/berthd/berth/pkg/cgroups"
	"github.com/berthd/berth/pkg/runtime"
	"github.com/berthd/berth/pkg/seccomp"
)

// Config describes a shim's container; Launch hands it to the shim over
// its control pipe.
type Config struct {
	ID          string `json:"id"`
	Bundle      string `json:"bundle"`
	RuntimeRoot string `json:"runtimeRoot"`
	// Spec overrides Bundle/config.json when set.
	Spec *specs.Spec `json:"spec,omitempty"`
	// LogPath is the json-file log; empty disables logging.
	LogPath    string `json:"logPath,omitempty"`
	LogMaxSize int64  `json:"logMaxSize,omitempty"`
	LogMaxFile int    `json:"logMaxFile,omitempty"`
	// OpenStdin keeps a stdin pipe for attach (docker run -i).
	OpenStdin bool `json:"openStdin,omitempty"`
	// Runtime is an external OCI runtime binary (e.g. /usr/sbin/runc,
	// from the daemon's --add-runtime); empty runs berth's own.
	Runtime string `json:"runtime,omitempty"`
	NoPivot bool   `json:"noPivot,omitempty"`
	// Seccomp is Spec's seccomp profile compiled to BPF. Launch fills it
	// from a cache in the launching process, so that a daemon compiles
	// each distinct profile once instead of every container doing so.
	Seccomp *seccomp.Program `json:"seccompProgram,omitempty"`
	// ImageLife is how long an image of the shim that did not create the
	// container lives at least before it is reborn again (rebirth_linux.go);
	// 0 is DefaultImageLife. Tests shorten it.
	ImageLife time.Duration `json:"imageLife,omitempty"`
	// CgroupV1 are the launcher's cgroup v1 hierarchies (cgroup v1 hosts
	// only). The shim would otherwise find them in /proc/self/mountinfo,
	// which holds every running container's mounts: each start would cost
	// more the more containers run.
	CgroupV1 []cgroups.Hierarchy `json:"cgroupV1,omitempty"`
}

// DefaultImageLife bounds how often requests can make a shim reborn: a
// docker stats stream allocates enough for one every few seconds, at
// about 8 ms of CPU each.
const DefaultImageLife = 30 * time.Second

// Exit is <dir>/exit.json.
type Exit struct {
	Code      int       `json:"exitCode"`
	OOMKilled bool      `json:"oomKilled"`
	ExitedAt  time.Time `json:"exitedAt"`
	Error     string    `json:"error,omitempty"`
}

// Event is one line of an "events" stream: "oom" when the kernel
// OOM-kills a process of the container (it may go on running), "exit"
// (with the status) last.
type Event struct {
	Type string `json:"type"`
	Exit *Exit  `json:"exit,omitempty"`
}

// Request is one control call.
type Request struct {
	Op     string `json:"op"` // state start kill wait attach resize exec pause resume stats events update pids
	Signal int    `json:"signal,omitempty"`
	All    bool   `json:"all,omitempty"`
	ExecID string `json:"execID,omitempty"`
	Width  uint16 `json:"width,omitempty"`
	Height uint16 `json:"height,omitempty"`
	// Process is the exec'd process.
	Process *specs.Process `json:"process,omitempty"`
	// Stdin asks attach to forward the client's bytes to the container.
	Stdin bool `json:"stdin,omitempty"`
	// Resources are the new limits for "update" (docker update).
	Resources *specs.LinuxResources `json:"resources,omitempty"`
}

// Response answers a Request.
type Response struct {
	Error string `json:"error,omitempty"`
	// Errno is the errno behind Error, when it had one: a client tells
	// an exec's command not found (ENOENT) from one it may not run by it.
	Errno  syscall.Errno `json:"errno,omitempty"`
	Status string        `json:"status,omitempty"`
	Pid    int           `json:"pid,omitempty"`
	// ShimPid lets the daemon measure and signal the shim.
	ShimPid int   `json:"shimPid,omitempty"`
	Exit    *Exit `json:"exit,omitempty"`
	// Stats is filled for "stats".
	Stats json.RawMessage `json:"stats,omitempty"`
	// Pids lists the container's processes for "pids" (docker top).
	Pids []int `json:"pids,omitempty"`
}

// errorResponse answers a call that failed with err.
func errorResponse(err error) Response {
	return Response{Error: err.Error(), Errno: runtime.ErrnoOf(err)}
}

// responseError is the error a client gets for a failed call.
func responseError(r Response) error {
	return &runtime.Error{Msg: r.Error, Errno: r.Errno}
}

// readyErrorLine is what a shim that could not take or start its
// container writes to the ready pipe: "error <errno>: <message>".
func readyErrorLine(err error) string {
	return fmt.Sprintf("error %d: %v\n", runtime.ErrnoOf(err), err)
}

// readyError reads a readyErrorLine (trimmed) back into an error.
func readyError(line string) error {
	rest, _ := strings.CutPrefix(line, "error")
	var errno int
	if n, msg, ok := strings.Cut(rest, ": "); ok {
		errno, _ = strconv.Atoi(strings.TrimSpace(n))
		rest = msg
	}
	return &runtime.Error{Msg: rest, Errno: syscall.Errno(errno)}
}

// Stream numbers in the framing.
const (
	Stdout = 1
	Stderr = 2
	// ExitFrame ends an exec stream with the exit code.
	ExitFrame = 3
)

func writeFrame(w io.Writer, stream byte, p []byte) error {
	var hdr [8]byte
	hdr[0] = stream
	binary.BigEndian.PutUint32(hdr[4:], uint32(len(p)))
	if _, err := w.Write(hdr[:]); err != nil {
		return err
	}
	_, err := w.Write(p)
	return err
}

// ReadFrame reads one frame.
func ReadFrame(r io.Reader) (stream byte, p []byte, err error) {
	var hdr [8]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return 0, nil, err
	}
	n := binary.BigEndian.Uint32(hdr[4:])
	if n > 1<<24 {
		return 0, nil, errors.New("shim: frame too large")
	}
	p = make([]byte, n)
	_, err = io.ReadFull(r, p)
	return hdr[0], p, err
}

// afterJSON returns what follows a JSON message on a connection. The
// encoder ends each message with a newline that the decoder leaves
// unread; it is not part of the stream.
func afterJSON(dec *json.Decoder, conn io.Reader) io.Reader {
	r := bufio.NewReader(io.MultiReader(dec.Buffered(), conn))
	if b, err := r.Peek(1); err == nil && b[0] == '\n' {
		_, _ = r.ReadByte()
	}
	return r
}
