package jsonlog

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// maxLine is where dockerd splits a long line into partial messages.
const maxLine = 16 * 1024

// Writer appends log entries to a file, rotating it.
type Writer struct {
	mu      sync.Mutex
	path    string
	f       *os.File
	size    int64
	maxSize int64 // 0: never rotate
	maxFile int   // files kept including the current one (>= 1)
	line    []byte
}

// Open opens (appending) the log at path. maxSize <= 0 disables rotation;
// maxFile < 1 counts as 1, as dockerd treats it.
func Open(path string, maxSize int64, maxFile int) (*Writer, error) {
	f, err := openLog(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	if maxFile < 1 {
		maxFile = 1
	}
	return &Writer{path: path, f: f, size: st.Size(), maxSize: maxSize, maxFile: maxFile}, nil
}

// Resume opens the log at path as Open does, for a writer that carries
// on from an earlier one (a reborn shim). When the file cannot be created
// for want of room (an earlier rotation could not create it either), the
// writer creates it at its first write instead: the container is logged
// again once there is room, where an error would leave it unlogged for
// good.
func Resume(path string, maxSize int64, maxFile int) (*Writer, error) {
	w, err := Open(path, maxSize, maxFile)
	if errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) {
		return &Writer{path: path, maxSize: maxSize, maxFile: max(maxFile, 1)}, nil
	}
	return w, err
}

// WriteEntry writes one message (a line with its newline, or a partial
// line without) as one JSON line.
func (w *Writer) WriteEntry(stream string, msg []byte, t time.Time) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.appendLocked(stream, msg, t); err != nil {
		return err
	}
	return w.flushLocked()
}

// appendLocked encodes one entry into the pending buffer, rotating first
// when it would not fit. Append encodes without reflection or allocation:
// every line a container prints comes through here.
func (w *Writer) appendLocked(stream string, msg []byte, t time.Time) error {
	start := len(w.line)
	w.line = Append(w.line, &Entry{Log: msg, Stream: stream, Time: t})
	n := int64(len(w.line) - start)
	if w.maxSize > 0 && w.size > 0 && w.size+n > w.maxSize {
		// Everything before this entry belongs to the old file.
		entry := append([]byte(nil), w.line[start:]...)
		w.line = w.line[:start]
		if err := w.flushLocked(); err != nil {
			return err
		}
		if err := w.rotate(); err != nil {
			return err
		}
		w.line = append(w.line[:0], entry...)
	}
	w.size += n
	return nil
}

// openLog opens a log file; a variable so that a test can make it fail
// as a full inode table would.
var openLog = os.OpenFile

// flushLocked writes the pending entries in one write.
func (w *Writer) flushLocked() error {
	if len(w.line) == 0 {
		return nil
	}
	if w.f == nil {
		// A rotation could not create the new file (no inode left):
		// try again now, and drop these entries while it fails.
		f, err := openLog(w.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
		if err != nil {
			w.size -= int64(len(w.line))
			w.line = w.line[:0]
			return fmt.Errorf("reopen log after rotation: %w", err)
		}
		w.f = f
		if st, err := f.Stat(); err == nil {
			w.size = st.Size() + int64(len(w.line))
		}
	}
	n, err := w.f.Write(w.line)
	if err != nil {
		// A write cut short (ENOSPC, EDQUOT) leaves half an entry, to
		// which the next one would be glued: one torn line in the file
		// for good. Cut the file back to its whole entries and drop the
		// ones that did not fit, as dockerd drops what it cannot log.
		whole := w.size - int64(len(w.line))
		if n > 0 {
			_ = w.f.Truncate(whole)
		}
		w.size = whole
	}
	w.line = w.line[:0]
	return err
}

func (w *Writer) rotate() error {
	if w.maxFile == 1 {
		// Only one file: start it over, as dockerd does.
		if err := w.f.Truncate(0); err != nil {
			return err
		}
		w.size = 0
		return nil
	}
	if err := w.f.Close(); err != nil {
		return err
	}
	for i := w.maxFile - 1; i > 1; i-- {
		from := w.path + "." + strconv.Itoa(i-1)
		if err := os.Rename(from, w.path+"."+strconv.Itoa(i)); err != nil && !os.IsNotExist(err) {
			return err
		}
	}
	if err := os.Rename(w.path, w.path+".1"); err != nil {
		return err
	}
	f, err := openLog(w.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE|os.O_TRUNC, 0o640)
	if err != nil {
		// The old file is closed and renamed: the next flush tries to
		// create the new one again (flushLocked), so that logging
		// resumes once an inode is free.
		w.f, w.size = nil, 0
		return fmt.Errorf("reopen log after rotation: %w", err)
	}
	w.f, w.size = f, 0
	return nil
}

// Close closes the file.
func (w *Writer) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.f == nil {
		return nil
	}
	return w.f.Close()
}

// StreamWriter splits a byte stream into lines for one stream name.
type StreamWriter struct {
	w      *Writer
	stream string
	buf    []byte
}

// Stream returns an io.Writer for "stdout" or "stderr".
func (w *Writer) Stream(name string) *StreamWriter { return &StreamWriter{w: w, stream: name} }

// Write logs every complete line; a line longer than 16 KiB is written in
// 16 KiB pieces without a newline, like dockerd's partial messages.
func (s *StreamWriter) Write(p []byte) (int, error) {
	now := time.Now()
	s.buf = append(s.buf, p...)
	// All the lines of one read go to the file in one write.
	s.w.mu.Lock()
	defer s.w.mu.Unlock()
	for {
		i := bytes.IndexByte(s.buf, '\n')
		if i < 0 {
			break
		}
		// A line longer than 16 KiB is cut into pieces whether or not
		// its end came in the same read: dockerd's copier never holds
		// more, so where a line splits does not depend on the pipe.
		for i+1 > maxLine {
			if err := s.w.appendLocked(s.stream, s.buf[:maxLine], now); err != nil {
				return 0, err
			}
			s.buf = s.buf[maxLine:]
			i -= maxLine
		}
		if err := s.w.appendLocked(s.stream, s.buf[:i+1], now); err != nil {
			return 0, err
		}
		s.buf = s.buf[i+1:]
	}
	for len(s.buf) >= maxLine {
		if err := s.w.appendLocked(s.stream, s.buf[:maxLine], now); err != nil {
			return 0, err
		}
		s.buf = s.buf[maxLine:]
	}
	if err := s.w.flushLocked(); err != nil {
		return 0, err
	}
	if len(s.buf) == 0 {
		s.buf = nil
	}
	return len(p), nil
}

// Pending is the start of a line not yet logged (no newline yet), for a
// writer in another process to carry on from with Resume.
func (s *StreamWriter) Pending() []byte { return s.buf }

// Resume makes p, the Pending bytes of an earlier writer of this stream,
// the start of the next line.
func (s *StreamWriter) Resume(p []byte) { s.buf = append(s.buf[:0], p...) }

// Flush writes a trailing partial line, at end of stream.
func (s *StreamWriter) Flush() error {
	if len(s.buf) == 0 {
		return nil
	}
	err := s.w.WriteEntry(s.stream, s.buf, time.Now())
	s.buf = nil
	return err
}
