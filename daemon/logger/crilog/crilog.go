package crilog

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/berthd/berth/daemon/logger"
)

// Name is the driver's name in a container's log configuration.
const Name = "cri"

// OptPath is the option that names the log file.
const OptPath = "cri-log-path"

// MaxLine is the longest content of one line of the file: a longer line
// is written in pieces tagged P, as containerd's default
// max_container_log_line_size.
const MaxLine = 16 << 10

// Driver is the "cri" log driver.
var Driver = logger.Driver{Validate: Validate, New: New}

// Validate requires the file's path, absolute.
func Validate(opts map[string]string) error {
	if err := logger.CheckKeys(Name, opts, OptPath); err != nil {
		return err
	}
	if p := opts[OptPath]; !filepath.IsAbs(p) {
		return fmt.Errorf("the %s log driver needs an absolute %s, got %q", Name, OptPath, p)
	}
	return nil
}

// New opens the container's log file for appending.
func New(info logger.Info) (logger.Logger, error) {
	w, err := Open(info.Config[OptPath])
	if err != nil {
		return nil, err
	}
	open.add(info.ContainerID, w)
	return &registered{Writer: w, id: info.ContainerID}, nil
}

// Writer appends CRI log lines to one file.
type Writer struct {
	path string
	mu   sync.Mutex
	f    *os.File
	buf  []byte
}

// Open opens (creating it and its directory) the file at path for
// appending.
func Open(path string) (*Writer, error) {
	w := &Writer{path: path}
	if err := w.Reopen(); err != nil {
		return nil, err
	}
	return w, nil
}

// Reopen closes the file and opens path again: after kubelet renamed the
// file to rotate it, the next lines go to a new file at path.
func (w *Writer) Reopen() error {
	if err := os.MkdirAll(filepath.Dir(w.path), 0o755); err != nil {
		return err
	}
	f, err := os.OpenFile(w.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
	if err != nil {
		return err
	}
	w.mu.Lock()
	old := w.f
	w.f = f
	w.mu.Unlock()
	if old != nil {
		old.Close()
	}
	return nil
}

// Log writes m as one line, or as pieces tagged P when it is longer than
// MaxLine or is itself a piece of a line the shim split.
func (w *Writer) Log(m *logger.Message) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.f == nil {
		return errors.New("crilog: file closed")
	}
	w.buf = w.buf[:0]
	ts := m.Time.UTC().Format(time.RFC3339Nano)
	line := m.Line
	ends := m.Partial == nil || m.Partial.Last
	for {
		piece, rest := line, []byte(nil)
		if len(line) > MaxLine {
			piece, rest = line[:MaxLine], line[MaxLine:]
		}
		tag := "F"
		if len(rest) > 0 || !ends {
			tag = "P"
		}
		w.buf = append(w.buf, ts...)
		w.buf = append(w.buf, ' ')
		w.buf = append(w.buf, m.Source...)
		w.buf = append(w.buf, ' ')
		w.buf = append(w.buf, tag...)
		w.buf = append(w.buf, ' ')
		w.buf = append(w.buf, piece...)
		w.buf = append(w.buf, '\n')
		if len(rest) == 0 {
			break
		}
		line = rest
	}
	_, err := w.f.Write(w.buf)
	return err
}

// Close closes the file.
func (w *Writer) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.f == nil {
		return nil
	}
	err := w.f.Close()
	w.f = nil
	return err
}

// registered is a driver's Writer, known to Reopen by container ID until
// it is closed.
type registered struct {
	*Writer
	id string
}

func (r *registered) Close() error {
	open.remove(r.id, r.Writer)
	return r.Writer.Close()
}

// writers are the open drivers' Writers by container ID.
type writers struct {
	mu sync.Mutex
	m  map[string]*Writer
}

var open writers

func (o *writers) add(id string, w *Writer) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.m == nil {
		o.m = map[string]*Writer{}
	}
	o.m[id] = w
}

func (o *writers) remove(id string, w *Writer) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.m[id] == w {
		delete(o.m, id)
	}
}

// ErrNotOpen is Reopen's answer for a container whose log is not being
// written (it is not running).
var ErrNotOpen = errors.New("crilog: the container's log is not open")

// Reopen reopens the log file of the running container id.
func Reopen(id string) error {
	open.mu.Lock()
	w := open.m[id]
	open.mu.Unlock()
	if w == nil {
		return ErrNotOpen
	}
	return w.Reopen()
}
