package logs

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"golang.org/x/sys/unix"

	"github.com/berthd/berth/pkg/jsonlog"
)

// Options select what to read.
type Options struct {
	Since, Until time.Time // zero: unbounded
	Tail         int       // lines from the end; < 0 for all
	Follow       bool
	// Stopped is closed when the container has exited; a follow then ends
	// at the end of the file.
	Stopped <-chan struct{}
	// NeedTime asks for parsed timestamps even without since/until.
	NeedTime bool
	// Idle, if set, is called whenever a follower has caught up and is
	// about to wait, so the caller can flush buffered output.
	Idle func()
}

// Sink receives entries in order. Returning an error stops the read.
type Sink func(e *jsonlog.Entry) error

// files lists path's rotated files oldest first, then path itself.
func files(path string) []string {
	var rotated []string
	for i := 1; ; i++ {
		p := fmt.Sprintf("%s.%d", path, i)
		if _, err := os.Stat(p); err != nil {
			break
		}
		rotated = append([]string{p}, rotated...)
	}
	return append(rotated, path)
}

// Read sends the selected entries of the log at path to sink.
func Read(ctx context.Context, path string, o Options, sink Sink) error {
	list := files(path)
	startFile, startOff := 0, int64(0)
	if o.Tail == 0 && !o.Follow {
		return nil
	}
	if o.Tail > 0 {
		startFile, startOff = tailStart(list, o.Tail)
	}
	needTime := o.NeedTime || !o.Since.IsZero() || !o.Until.IsZero()
	var e jsonlog.Entry
	emit := func(line []byte) (bool, error) {
		if len(line) == 0 || line[len(line)-1] != '\n' {
			return true, nil
		}
		if err := jsonlog.Parse(line, &e, needTime); err != nil {
			return true, nil // a torn or foreign line is skipped, as dockerd does
		}
		if !o.Since.IsZero() && e.Time.Before(o.Since) {
			return true, nil
		}
		if !o.Until.IsZero() && e.Time.After(o.Until) {
			return false, nil
		}
		return true, sink(&e)
	}
	if o.Tail == 0 {
		// Follow only: start at the end of the current file.
		startFile = len(list) - 1
		if fi, err := os.Stat(path); err == nil {
			startOff = fi.Size()
		}
	}
	for i := startFile; i < len(list)-1; i++ {
		off := int64(0)
		if i == startFile {
			off = startOff
		}
		more, err := readFile(ctx, list[i], off, emit)
		if err != nil || !more {
			return err
		}
	}
	off := int64(0)
	if startFile == len(list)-1 {
		off = startOff
	}
	if !o.Follow {
		_, err := readFile(ctx, path, off, emit)
		return err
	}
	return follow(ctx, path, off, o, emit)
}

// readFile emits whole lines of p from off. It returns false when the
// until bound was reached.
func readFile(ctx context.Context, p string, off int64, emit func([]byte) (bool, error)) (bool, error) {
	f, err := os.Open(p)
	if err != nil {
		if os.IsNotExist(err) {
			return true, nil
		}
		return false, err
	}
	defer f.Close()
	if _, err := f.Seek(off, io.SeekStart); err != nil {
		return false, err
	}
	_, more, err := readLines(ctx, bufio.NewReaderSize(f, 256<<10), emit)
	return more, err
}

// readLines emits whole lines until EOF. It returns a copy of a partial
// last line (one the writer has not finished), which a follower prepends
// to what it reads next.
func readLines(ctx context.Context, r *bufio.Reader, emit func([]byte) (bool, error)) ([]byte, bool, error) {
	var long []byte
	for {
		if ctx.Err() != nil {
			return nil, false, ctx.Err()
		}
		line, err := r.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			long = append(long, line...)
			continue
		}
		if long != nil {
			line = append(long, line...)
			long = nil
		}
		if err == io.EOF {
			return append([]byte(nil), line...), true, nil
		}
		if err != nil {
			return nil, false, err
		}
		more, err := emit(line)
		if err != nil || !more {
			return nil, more, err
		}
	}
}

// tailStart finds the file and offset where the last n lines begin,
// reading backwards in blocks.
func tailStart(list []string, n int) (int, int64) {
	remaining := n
	for i := len(list) - 1; i >= 0; i-- {
		f, err := os.Open(list[i])
		if err != nil {
			continue
		}
		fi, _ := f.Stat()
		size := fi.Size()
		const block = 64 << 10
		buf := make([]byte, block)
		pos := size
		// A final newline ends the last line; it does not start one.
		skipLast := true
		for pos > 0 {
			sz := int64(block)
			if pos < sz {
				sz = pos
			}
			pos -= sz
			f.ReadAt(buf[:sz], pos)
			chunk := buf[:sz]
			for j := len(chunk) - 1; j >= 0; j-- {
				if chunk[j] != '\n' {
					continue
				}
				if skipLast && pos+int64(j) == size-1 {
					continue
				}
				remaining--
				if remaining == 0 {
					f.Close()
					return i, pos + int64(j) + 1
				}
			}
			skipLast = false
		}
		f.Close()
		if size > 0 {
			remaining-- // the file's first line
			if remaining == 0 {
				return i, 0
			}
		}
	}
	return 0, 0
}

// follow reads path from off and keeps reading as it grows, reopening it
// when it is rotated, until ctx ends or the container stopped and the file
// is drained.
func follow(ctx context.Context, path string, off int64, o Options, emit func([]byte) (bool, error)) error {
	in, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
	if err != nil {
		return err
	}
	defer unix.Close(in)
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer func() { f.Close() }()
	wd, _ := unix.InotifyAddWatch(in, path, unix.IN_MODIFY|unix.IN_MOVE_SELF|unix.IN_DELETE_SELF|unix.IN_CLOSE_WRITE)
	f.Seek(off, io.SeekStart)
	r := bufio.NewReaderSize(f, 256<<10)
	var pending []byte // a partial last line waiting for its end
	emitPending := func(line []byte) (bool, error) {
		if len(pending) > 0 {
			line = append(pending, line...)
			pending = nil
		}
		return emit(line)
	}
	stopped := o.Stopped
	drainOnce := false
	for {
		partial, more, err := readLines(ctx, r, emitPending)
		if err != nil || !more {
			return err
		}
		pending = append(pending, partial...)
		if drainOnce {
			return nil
		}
		// Rotated? The name now points at another inode.
		if rotated(f, path) {
			if nf, err := os.Open(path); err == nil {
				// The old file is complete; finish it, then switch.
				readLines(ctx, bufio.NewReader(f), emitPending)
				f.Close()
				f = nf
				r.Reset(f)
				pending = nil
				unix.InotifyRmWatch(in, uint32(wd))
				wd, _ = unix.InotifyAddWatch(in, path, unix.IN_MODIFY|unix.IN_MOVE_SELF|unix.IN_DELETE_SELF|unix.IN_CLOSE_WRITE)
				continue
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-stopped:
			// Read what the shim wrote before it exited, then stop.
			drainOnce = true
			stopped = nil
			continue
		default:
		}
		if o.Idle != nil {
			o.Idle()
		}
		waitInotify(ctx, in, 100*time.Millisecond)
	}
}

func rotated(f *os.File, path string) bool {
	var a, b unix.Stat_t
	if unix.Fstat(int(f.Fd()), &a) != nil || unix.Stat(path, &b) != nil {
		return false
	}
	return a.Ino != b.Ino || a.Dev != b.Dev
}

// waitInotify blocks until the watch fires or max passes; the timeout
// also bounds how late a stop or a cancel is noticed.
func waitInotify(ctx context.Context, fd int, max time.Duration) {
	fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
	unix.Poll(fds, int(max.Milliseconds()))
	var buf [4096]byte
	for {
		n, err := unix.Read(fd, buf[:])
		if n <= 0 || err != nil {
			return
		}
	}
}
