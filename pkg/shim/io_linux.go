package shim

import (
	"encoding/json"
	"io"
	"os"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"

	"github.com/berthd/berth/pkg/jsonlog"
)

// output is one of the container's output streams. f is nil once the
// stream has ended (under outMu).
type output struct {
	f      *os.File
	stream byte
	name   string
	log    *jsonlog.StreamWriter
}

// pump starts the copier of one output stream: to the log and to the
// attached clients. pending is the start of a line that an earlier image
// of this shim read and did not log yet.
func (s *server) pump(r *os.File, stream byte, name string, pending []byte) {
	var lw *jsonlog.StreamWriter
	if s.logw != nil {
		lw = s.logw.Stream(name)
		if len(pending) > 0 {
			lw.Resume(pending)
		}
	}
	o := &output{f: r, stream: stream, name: name, log: lw}
	s.outputs = append(s.outputs, o)
	s.copiers.Add(1)
	go func() {
		defer s.copiers.Done()
		copyOutput(r, &s.outMu, func(p []byte) {
			if lw != nil {
				_, _ = lw.Write(p)
			}
			s.broadcast(stream, p)
		})
		// The end of the stream, under outMu as a read is: a rebirth
		// then finds the line either pending or logged, and the
		// descriptor either open or gone, never half-way.
		s.outMu.Lock()
		defer s.outMu.Unlock()
		if lw != nil {
			_ = lw.Flush()
		}
		r.Close()
		o.f = nil
	}()
}

// outputBuffers are the output copiers' read buffers, held only while
// there is output to read: the shim of a quiet container holds none. (A
// buffer per stream on each copier's stack was 64 KiB of memory touched
// per shim, zeroed at start.)
var outputBuffers = sync.Pool{New: func() any { b := make([]byte, 32*1024); return &b }}

// copyOutput hands what r delivers to fn until r ends or fails. It waits
// for data in the runtime's poller with no buffer, and reads into a
// pooled one. It holds mu from each read until fn has returned.
func copyOutput(r *os.File, mu *sync.Mutex, fn func([]byte)) {
	rc, err := r.SyscallConn()
	if err != nil {
		return
	}
	for {
		var buf *[]byte
		var n int
		var rerr error
		locked := false
		err := rc.Read(func(fd uintptr) bool {
			mu.Lock()
			locked = true
			buf = outputBuffers.Get().(*[]byte)
			n, rerr = unix.Read(int(fd), *buf)
			for rerr == unix.EINTR {
				n, rerr = unix.Read(int(fd), *buf)
			}
			if rerr == unix.EAGAIN {
				outputBuffers.Put(buf)
				buf = nil
				mu.Unlock()
				locked = false
				return false
			}
			return true
		})
		if n > 0 {
			fn((*buf)[:n])
		}
		if locked {
			mu.Unlock()
		}
		if buf != nil {
			outputBuffers.Put(buf)
		}
		// n == 0 is the end of the stream (all writers gone); EIO is
		// how a pty master reports that its slave side has closed.
		if err != nil || rerr != nil || n == 0 {
			return
		}
	}
}

// dupFile duplicates f; the copy is on the runtime's poller if f is.
// (Not through f.Fd, which would make f's descriptor blocking.)
func dupFile(f *os.File) (*os.File, error) {
	var fd int
	err := withFd(f, func(raw int) (err error) {
		fd, err = unix.FcntlInt(uintptr(raw), unix.F_DUPFD_CLOEXEC, 0)
		return err
	})
	if err != nil {
		return nil, err
	}
	return os.NewFile(uintptr(fd), f.Name()), nil
}

// pollable replaces f, a blocking descriptor such as the pty master a
// stage sends, by a non-blocking one on the runtime's poller: its readers
// then wait in the poller, not in a read(2) that a rebirth would have to
// wait out. (os.File decides this when it is made, so the file is made
// anew.)
func pollable(f *os.File) (*os.File, error) {
	defer f.Close()
	// O_NONBLOCK is the open file's, which the copy shares.
	if err := withFd(f, func(fd int) error { return unix.SetNonblock(fd, true) }); err != nil {
		return nil, err
	}
	return dupFile(f)
}

func withFd(f *os.File, fn func(fd int) error) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var ferr error
	if err := rc.Control(func(fd uintptr) { ferr = fn(int(fd)) }); err != nil {
		return err
	}
	return ferr
}

func resize(f *os.File, w, h uint16) error {
	return withFd(f, func(fd int) error {
		return unix.IoctlSetWinsize(fd, unix.TIOCSWINSZ, &unix.Winsize{Col: w, Row: h})
	})
}

// subscriber is one attached client's output queue. ended is closed when
// the container has exited (deliver what is queued, then stop); gone when
// the client's handler returned (stop sending to it).
type subscriber struct {
	ch    chan frame
	ended chan struct{}
	gone  chan struct{}
	conn  *unixConn
	// queued counts the frames handed to ch and not yet written to
	// conn: a rebirth waits for none.
	queued atomic.Int32
}

type frame struct {
	stream byte
	data   []byte
}

// broadcast hands output to every attached client. A client that cannot
// keep up slows the container's output down, as with dockerd: attached
// output is never dropped. The lock is not held while sending, so a
// client that goes away cannot wedge the others.
func (s *server) broadcast(stream byte, p []byte) {
	s.mu.Lock()
	if len(s.subs) == 0 {
		s.mu.Unlock()
		return
	}
	subs := make([]*subscriber, 0, len(s.subs))
	for sub := range s.subs {
		subs = append(subs, sub)
	}
	s.mu.Unlock()
	data := append([]byte(nil), p...)
	for _, sub := range subs {
		sub.queued.Add(1)
		select {
		case sub.ch <- frame{stream, data}:
		case <-sub.gone:
			sub.queued.Add(-1)
		}
	}
	s.delivered.Add(1)
}

func (s *server) attach(c *unixConn, dec *json.Decoder, req request) {
	sub := &subscriber{ch: make(chan frame, 256), ended: make(chan struct{}), gone: make(chan struct{}), conn: c}
	s.mu.Lock()
	if s.exit != nil {
		s.mu.Unlock()
		_ = json.NewEncoder(c).Encode(Response{Error: "container has exited"})
		return
	}
	s.subs[sub] = struct{}{}
	s.mu.Unlock()
	defer s.unsubscribe(sub)
	if err := json.NewEncoder(c).Encode(Response{Pid: s.ctr.Pid()}); err != nil {
		return
	}
	if req.Stdin && s.stdin != nil {
		// Until it ends, the copy may hold bytes read from the client
		// and not yet written: no rebirth meanwhile.
		s.mu.Lock()
		s.inputs++
		s.mu.Unlock()
		go func() {
			defer func() {
				s.mu.Lock()
				s.inputs--
				s.mu.Unlock()
				s.scheduleIdle()
			}()
			// Bytes the decoder buffered after the request are stdin too.
			_, _ = io.Copy(s.stdin, afterJSON(dec, c))
			// Closing stdin of a terminal would hang up the pty; for
			// pipes, the client's half-close is the container's EOF. A
			// client that closed the whole connection detached or went
			// away: the container's stdin stays open for the next attach,
			// as in dockerd.
			if s.console == nil && !c.peerClosed() {
				s.stdin.Close()
			}
		}()
	}
	// From here on the connection only takes output, which a rebirth
	// can hand over (once its stdin copy, if any, has ended).
	s.park(c, "attach")
	s.forward(sub)
}

func (s *server) unsubscribe(sub *subscriber) {
	s.mu.Lock()
	delete(s.subs, sub)
	s.mu.Unlock()
	close(sub.gone)
}

// forward writes the container's output to an attached client until the
// container has exited or the client is gone.
func (s *server) forward(sub *subscriber) {
	send := func(f frame) bool {
		err := writeFrame(sub.conn, f.stream, f.data)
		sub.queued.Add(-1)
		return err == nil
	}
	for {
		select {
		case f := <-sub.ch:
			if !send(f) {
				return
			}
		case <-sub.ended:
			// The container exited: send what is still queued, then end.
			for {
				select {
				case f := <-sub.ch:
					if !send(f) {
						return
					}
				default:
					return
				}
			}
		}
	}
}
